/**
 * The paper's module names (snap-research/F8Net models/fix_resnet.py, fix_mobilenet_v1.py,
 * fix_mobilenet_v2.py) to f8net's. Each paper layer is a ReLUClipFXQConvBN (`.conv`, `.bn`,
 * `.alpha`, and `.input_fraclen` once quantised) or a linear (`classifier.0`); ours are one
 * QConv2d / QLinear each:
 *
 *   paper                                   ResNet (resnet18/34/50)       MobileNet V1 / V2
 *   head.0                                  conv1                         features.0
 *   stage_{s}_layer_{b}.body.{k}            layer{s+1}.{b}.conv{k+1}      features.{N}.dw|pw (V1) / features.{N}.conv.{k} (V2)
 *   stage_{s}_layer_{b}.shortcut.0          layer{s+1}.{b}.downsample     -
 *   tail.0                                  -                             features.{last} (V2)
 *   classifier.0                            fc                            classifier
 *
 * N counts the blocks in the paper's order (stage by stage), from 1. Inside a layer:
 * conv.weight -> weight, bn.weight|bias -> gamma|beta, bn.running_mean|var as they are,
 * alpha -> alpha, input_fraclen -> input_fraclen_run (our running length; the rounded one is
 * derived), weight_fraclen -> weight_fraclen; num_batches_tracked is dropped. The paper's
 * scalars (alpha, per-layer lengths) have shape [], ours [1].
 *
 * @example
 *   paperNameMap(['module.head.0.conv.weight'], 'resnet18').get('module.head.0.conv.weight'); // 'conv1.weight'
 */
import type { StTensor } from './safetensors.js';

const FIELDS: Record<string, string | null> = {
  'conv.weight': 'weight',
  'bn.weight': 'gamma',
  'bn.bias': 'beta',
  'bn.running_mean': 'running_mean',
  'bn.running_var': 'running_var',
  'bn.num_batches_tracked': null,
  alpha: 'alpha',
  input_fraclen: 'input_fraclen_run',
  weight_fraclen: 'weight_fraclen',
  weight: 'weight',
  bias: 'bias',
};

/** True when the names are the paper's (its stem is `head.0`). */
export function isPaperNames(names: Iterable<string>): boolean {
  for (const n of names) if (/^(module\.)?head\.0\.(conv\.weight|weight)$/.test(n)) return true;
  return false;
}

type Family = 'resnet' | 'mobilenet_v1' | 'mobilenet_v2';

export function paperFamily(model: string): Family | null {
  if (/^resnet/i.test(model)) return 'resnet';
  if (/^mobilenet_?v1/i.test(model)) return 'mobilenet_v1';
  if (/^mobilenet/i.test(model)) return 'mobilenet_v2';
  return null;
}

/**
 * Maps each paper name to ours (null: dropped). A name that fits no rule keeps its (prefix-
 * stripped) form, so the import's mismatch report names it as unexpected.
 */
export function paperNameMap(names: string[], model: string): Map<string, string | null> {
  const fam = paperFamily(model);
  const strip = names.length > 0 && names.every((n) => n.startsWith('module.'));
  const base = (n: string) => (strip ? n.slice(7) : n);
  // Global block numbers for the MobileNets, in the paper's stage/layer order.
  const blocks = new Map<string, number>();
  const sl = [...new Set(names.map((n) => /^stage_(\d+)_layer_(\d+)\./.exec(base(n))).filter((m) => m).map((m) => `${m![1]}_${m![2]}`))];
  sl.sort((a, b) => {
    const [a0, a1] = a.split('_').map(Number);
    const [b0, b1] = b.split('_').map(Number);
    return a0 - b0 || a1 - b1;
  });
  sl.forEach((k, i) => blocks.set(k, i + 1));
  const out = new Map<string, string | null>();
  for (const full of names) {
    const n = base(full);
    let layer: string | null = null;
    let rest = '';
    let m: RegExpExecArray | null;
    if ((m = /^head\.0\.(.+)$/.exec(n))) {
      layer = fam === 'resnet' ? 'conv1' : 'features.0';
      rest = m[1];
    } else if ((m = /^stage_(\d+)_layer_(\d+)\.body\.(\d+)\.(.+)$/.exec(n))) {
      const [s, b, k] = [Number(m[1]), Number(m[2]), Number(m[3])];
      const N = blocks.get(`${s}_${b}`)!;
      if (fam === 'resnet') layer = `layer${s + 1}.${b}.conv${k + 1}`;
      else if (fam === 'mobilenet_v1') layer = k === 0 ? `features.${N}.dw` : k === 1 ? `features.${N}.pw` : null;
      else if (fam === 'mobilenet_v2') layer = `features.${N}.conv.${k}`;
      rest = m[4];
    } else if ((m = /^stage_(\d+)_layer_(\d+)\.shortcut\.0\.(.+)$/.exec(n)) && fam === 'resnet') {
      layer = `layer${Number(m[1]) + 1}.${m[2]}.downsample`;
      rest = m[3];
    } else if ((m = /^tail\.0\.(.+)$/.exec(n)) && fam === 'mobilenet_v2') {
      layer = `features.${sl.length + 1}`;
      rest = m[1];
    } else if ((m = /^classifier\.0\.(.+)$/.exec(n))) {
      layer = fam === 'resnet' ? 'fc' : 'classifier';
      rest = m[1];
    }
    const field = layer === null ? undefined : FIELDS[rest];
    if (layer === null || field === undefined) out.set(full, n);
    else out.set(full, field === null ? null : `${layer}.${field}`);
  }
  return out;
}

/** Our scalars are [1]; the paper's are []. */
export function paperShape(t: StTensor): StTensor {
  return t.shape.length === 0 ? { ...t, shape: [1] } : t;
}

/** Blocks per stage of the paper's MobileNets (their block_setting's n column). */
const STAGES: Record<'mobilenet_v1' | 'mobilenet_v2', number[]> = { mobilenet_v1: [1, 2, 2, 6, 2], mobilenet_v2: [1, 2, 3, 4, 3, 3, 1] };

// weight_fraclen is left out: the paper derives it from the weights.
const FIELDS_BACK: Record<string, string> = { weight: 'conv.weight', gamma: 'bn.weight', beta: 'bn.bias', running_mean: 'bn.running_mean', running_var: 'bn.running_var', alpha: 'alpha', input_fraclen_run: 'input_fraclen' };

/**
 * Ours -> the paper's (the inverse of paperNameMap, `module.` omitted: fix_train.py loads
 * either form), or null for state the paper's model has no slot for (input_fraclen, which it
 * derives from the running length).
 */
export function paperNameOf(name: string, model: string): string | null {
  const fam = paperFamily(model);
  const dot = name.lastIndexOf('.');
  const layer = name.slice(0, dot);
  const field = name.slice(dot + 1);
  const linear = layer === 'fc' || layer === 'classifier';
  if (linear) return field === 'input_fraclen' || field === 'weight_fraclen' ? null : `classifier.0.${field === 'input_fraclen_run' ? 'input_fraclen' : field}`;
  const f = FIELDS_BACK[field];
  if (!f) return null;
  let m: RegExpExecArray | null;
  if (layer === 'conv1' || layer === 'features.0') return `head.0.${f}`;
  if (fam === 'resnet') {
    if ((m = /^layer(\d+)\.(\d+)\.conv(\d+)$/.exec(layer))) return `stage_${Number(m[1]) - 1}_layer_${m[2]}.body.${Number(m[3]) - 1}.${f}`;
    if ((m = /^layer(\d+)\.(\d+)\.downsample$/.exec(layer))) return `stage_${Number(m[1]) - 1}_layer_${m[2]}.shortcut.0.${f}`;
    return null;
  }
  if (fam !== 'mobilenet_v1' && fam !== 'mobilenet_v2') return null;
  if (!(m = /^features\.(\d+)(?:\.(dw|pw|conv\.(\d+)))?$/.exec(layer))) return null;
  let n = Number(m[1]) - 1;
  const stages = STAGES[fam];
  if (fam === 'mobilenet_v2' && m[2] === undefined && n === stages.reduce((a, b) => a + b, 0)) return `tail.0.${f}`;
  let s = 0;
  while (s < stages.length && n >= stages[s]) n -= stages[s++];
  if (s === stages.length || m[2] === undefined) return null;
  const k = m[2] === 'dw' ? 0 : m[2] === 'pw' ? 1 : Number(m[3]);
  return `stage_${s}_layer_${n}.body.${k}.${f}`;
}
