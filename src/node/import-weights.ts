/**
 * Importing float weights (torchvision or our own names) from a safetensors or ONNX file into a
 * model, and writing them as a float-stage checkpoint that the fixed-point stage starts from
 * (fp_pretrained_file).
 *
 * Layouts need no change: torchvision convolutions are OIHW and linear weights [out, in], as
 * ours. F16, BF16 and F64 tensors become f32. The F8Net state that a float network has no
 * counterpart for (alpha, input_fraclen_run, input_fraclen, weight_fraclen) keeps its initial
 * values unless the file has it.
 *
 * @example
 *   const { stateDict, report } = importWeights('resnet18.safetensors', model, nameRulesFor('resnet18'));
 *   model.loadStateDict(stateDict, { strict: false });
 */
import { openSync, readSync, closeSync } from 'node:fs';
import { extname } from 'node:path';
import { F8Error } from '../runtime/errors.js';
import { type StTensor } from '../io/safetensors.js';
import { readSafetensors } from './safetensors-file.js';
import { readOnnx } from './onnx-file.js';
import { checkStateValues } from '../io/finite.js';
import { checkRegularFile } from './untrusted.js';
import { mapNames, nameRulesFor, type NameRules } from '../io/name-maps.js';
import { readTorchCheckpoint } from './torch-file.js';
import { isPaperNames, paperNameMap, paperShape } from '../io/paper-names.js';
import type { Module, StateDict, StateEntry } from '../nn/module.js';
import { CHECKPOINT_FORMAT } from '../train/checkpoint.js';
import { saveCheckpoint } from './checkpoint-files.js';
import { resolveConfig, type TrainConfig } from '../train/config.js';
import { quantFromConfig } from '../train/loop.js';
import { buildModel, defaultDataShape, modelArgs } from '../models/index.js';
import { classifierFormOfPaper } from '../quant/classifier-form.js';
import { poolFormOfPaper } from '../quant/pool-form.js';
import { Rng, mixSeed } from '../runtime/rng.js';

export type WeightsFormat = 'safetensors' | 'onnx' | 'torch';

export interface WeightsFile {
  format: WeightsFormat;
  source: string;
  tensors: Map<string, StTensor>;
  /** File names dropped while reading (an f8net checkpoint's optimizer state). */
  dropped: string[];
}

/** State that only F8Net layers have: kept at its initial value when the file lacks it. */
export const F8NET_ONLY = ['alpha', 'input_fraclen_run', 'input_fraclen', 'weight_fraclen'];

function sniff(file: string): WeightsFormat {
  const ext = extname(file).toLowerCase();
  if (ext === '.safetensors') return 'safetensors';
  if (ext === '.onnx') return 'onnx';
  if (ext === '.pt' || ext === '.pth' || ext === '.tar') return 'torch';
  const head = new Uint8Array(9);
  let got = 0;
  checkRegularFile(file, { what: 'a safetensors or ONNX weights file' });
  try {
    const fd = openSync(file, 'r');
    try {
      got = readSync(fd, head, 0, 9, 0);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw new F8Error('IO', `${file}: cannot read: ${(e as Error).message}`);
  }
  // safetensors: 8-byte header length, then '{'. ONNX: field 1 (ir_version) as a varint: 0x08.
  if (got === 9 && head[8] === 0x7b) return 'safetensors';
  if (got > 0 && head[0] === 0x08) return 'onnx';
  if (got >= 2 && ((head[0] === 0x50 && head[1] === 0x4b) || head[0] === 0x80)) return 'torch';
  throw new F8Error('BAD_INPUT', `${file}: neither safetensors, ONNX nor a torch checkpoint (name it .safetensors, .onnx or .pt)`);
}

/** Reads the tensors of a safetensors or ONNX file (format by extension, else by content). */
export function readWeights(file: string): WeightsFile {
  const format = sniff(file);
  if (format === 'onnx') {
    const o = readOnnx(file);
    return { format, source: file, tensors: o.initializers, dropped: [] };
  }
  if (format === 'torch') {
    const t = readTorchCheckpoint(file);
    return { format, source: file, tensors: t.tensors, dropped: t.dropped };
  }
  const st = readSafetensors(file);
  if (st.metadata.format !== CHECKPOINT_FORMAT) return { format, source: file, tensors: st.tensors, dropped: [] };
  // An f8net checkpoint: the model's tensors under model., the optimizer's under optim.
  const tensors = new Map<string, StTensor>();
  const dropped: string[] = [];
  for (const [k, t] of st.tensors) {
    if (k.startsWith('model.')) tensors.set(k.slice(6), { ...t, name: k.slice(6) });
    else dropped.push(k);
  }
  return { format, source: file, tensors, dropped };
}

/** F16 bits -> value, for all 65536 patterns (built on first use: a lookup beats the arithmetic). */
let halfTable: Float32Array | null = null;
function halfToFloat(): Float32Array {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    const s = h & 0x8000 ? -1 : 1;
    halfTable[h] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return halfTable;
}

/** The values of a tensor as `want` (f32 from F32/F16/BF16/F64, i32 from I32/I64), or a reason. */
function convert(t: StTensor, want: StateEntry['dtype']): StateEntry['data'] | string {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const d = t.data;
  const bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  const aligned = (k: number) => (d.byteOffset % k === 0 ? bytes : bytes.slice());
  const view = <T>(C: new (b: ArrayBufferLike, o: number, n: number) => T, k: number): T => {
    const b = aligned(k);
    return new C(b.buffer, b.byteOffset, n);
  };
  if (want === 'f32') {
    switch (t.dtype) {
      case 'F32':
        return view(Float32Array, 4);
      case 'F64':
        return Float32Array.from(view(Float64Array, 8));
      case 'F16': {
        const h = view(Uint16Array, 2);
        const table = halfToFloat();
        const out = new Float32Array(n);
        for (let i = 0; i < n; i++) out[i] = table[h[i]];
        return out;
      }
      case 'BF16': {
        const u = new Uint32Array(n);
        const h = view(Uint16Array, 2);
        for (let i = 0; i < n; i++) u[i] = h[i] << 16;
        return new Float32Array(u.buffer);
      }
      default:
        return `${t.dtype} is not a float type`;
    }
  }
  if (want === 'i32') {
    if (t.dtype === 'I32') return view(Int32Array, 4);
    if (t.dtype === 'I64') {
      const v = view(BigInt64Array, 8);
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        if (v[i] < -2147483648n || v[i] > 2147483647n) return `value ${v[i]} does not fit i32`;
        out[i] = Number(v[i]);
      }
      return out;
    }
    return `${t.dtype} is not an integer type`;
  }
  return `model dtype ${want} is not imported`;
}

export interface ImportReport {
  format: WeightsFormat;
  source: string;
  /** Model entries set from the file. */
  loaded: number;
  /** File names that mapped to another name of ours: [file name, ours]. */
  renamed: [string, string][];
  /** File names dropped (num_batches_tracked, optimizer state, ONNX integer graph constants). */
  ignored: string[];
  /** Model entries the file lacks that keep their initial values (F8NET_ONLY). */
  kept: string[];
  /** Source dtypes converted, with counts, e.g. { F16: 62 }. */
  converted: Record<string, number>;
}

const list = (xs: string[], sep = ', ') => `${xs.slice(0, 8).join(sep)}${xs.length > 8 ? `${sep}... (+${xs.length - 8})` : ''}`;
const shapeOf = (s: readonly number[]) => `[${s.join(', ')}]`;

/**
 * Maps a file's tensors onto `model` with `rules` and checks them against it. Throws one error
 * listing the missing, unexpected and wrongly shaped tensors (up to 8 of each, with counts).
 */
export function importWeights(file: string | WeightsFile, model: Module, rules: NameRules): { stateDict: StateDict; report: ImportReport } {
  const wf = typeof file === 'string' ? readWeights(file) : file;
  // The paper's checkpoints (head.0, stage_s_layer_b) have their own map (paper-names.ts).
  const paper = rules.family !== 'identity' && isPaperNames(wf.tensors.keys());
  const names = paper ? paperNameMap([...wf.tensors.keys()], rules.family) : mapNames(wf.tensors.keys(), rules);
  const own = new Map<string, { shape: number[]; dtype: StateEntry['dtype'] }>();
  for (const [n, t] of [...model.namedParameters(), ...model.namedBuffers()]) if (!own.has(n)) own.set(n, { shape: [...t.shape], dtype: t.dtype });
  const report: ImportReport = { format: wf.format, source: wf.source, loaded: 0, renamed: [], ignored: [...wf.dropped], kept: [], converted: {} };
  const sd: StateDict = new Map();
  const present = new Set<string>();
  const unexpected: string[] = [];
  const wrong: string[] = [];
  const as = (from: string, to: string) => (from === to ? from : `${from} (as ${to})`);
  for (const [from, to] of names) {
    const t = paper ? paperShape(wf.tensors.get(from)!) : wf.tensors.get(from)!;
    if (to === null) {
      report.ignored.push(from);
      continue;
    }
    const m = own.get(to);
    if (!m) {
      // ONNX graphs may keep integer constants (shapes, axes) as initializers.
      if (wf.format === 'onnx' && !/^(F|BF)/.test(t.dtype)) report.ignored.push(from);
      else unexpected.push(as(from, to));
      continue;
    }
    present.add(to);
    if (m.shape.length !== t.shape.length || m.shape.some((d, i) => d !== t.shape[i])) {
      wrong.push(`${as(from, to)}: file ${shapeOf(t.shape)}, model ${shapeOf(m.shape)}`);
      continue;
    }
    const data = convert(t, m.dtype);
    if (typeof data === 'string') {
      wrong.push(`${as(from, to)}: ${data} (model ${m.dtype})`);
      continue;
    }
    if (from !== to) report.renamed.push([from, to]);
    if (!(m.dtype === 'f32' && t.dtype === 'F32') && !(m.dtype === 'i32' && t.dtype === 'I32')) report.converted[t.dtype] = (report.converted[t.dtype] ?? 0) + 1;
    sd.set(to, { shape: m.shape, dtype: m.dtype, data });
  }
  const missing: string[] = [];
  for (const n of own.keys()) {
    if (present.has(n)) continue;
    if (F8NET_ONLY.includes(n.slice(n.lastIndexOf('.') + 1))) report.kept.push(n);
    else missing.push(n);
  }
  if (missing.length || unexpected.length || wrong.length) {
    const parts = [
      missing.length && `${missing.length} missing: ${list(missing)}`,
      unexpected.length && `${unexpected.length} unexpected: ${list(unexpected)}`,
      wrong.length && `${wrong.length} wrongly shaped: ${list(wrong, '; ')}`,
    ].filter(Boolean);
    const hint = unexpected.some((u) => u.startsWith('onnx::'))
      ? ' (onnx:: names: the exporter folded the batch norms into the convolutions; export with training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False, or save a safetensors file)'
      : ` (names mapped with the ${rules.family} rules; --model-args, --num-classes and --in-channels set the model's shape)`;
    throw new F8Error('BAD_INPUT', `${wf.source}: does not fit the model: ${parts.join('; ')}${hint}`);
  }
  checkStateValues(sd, wf.source);
  report.loaded = sd.size;
  return { stateDict: sd, report };
}

export interface ImportOptions {
  from: string;
  model: string;
  modelArgs?: Record<string, unknown>;
  /** Classes of the classifier (default: rows of the file's only rank-2 float tensor). */
  numClasses?: number;
  /** Channels of the input image (default: the network's usual data, 3; 1 for cnn). */
  inChannels?: number;
  out: string;
  /** More config keys (key=value) for the checkpoint's stored config, e.g. dataset=folder. */
  sets?: string[];
  /**
   * 'float' (default): a float-stage checkpoint, the start of the fixed-point stage. 'fixed': a
   * fixed-point checkpoint of weights trained in fixed point (the paper's fix_quant models, with
   * their alpha and running lengths), for `f8net eval` and `f8net export` as they are.
   */
  stage?: 'float' | 'fixed';
}

/**
 * Builds the model, imports the file into it and writes a float-stage checkpoint
 * ({ stage: 'float', epoch: 0, step: 0, config }). Needs an open Engine. paperForms: the file has
 * the paper's names, so its config took the paper's forms.
 *
 * @example
 *   await importCheckpoint({ from: 'resnet18.safetensors', model: 'resnet18', numClasses: 1000, out: 'resnet18-float.safetensors' });
 */
export async function importCheckpoint(o: ImportOptions): Promise<{ report: ImportReport; config: TrainConfig; paperForms: boolean }> {
  const wf = readWeights(o.from);
  let numClasses = o.numClasses;
  if (numClasses === undefined) {
    const mats = [...wf.tensors.values()].filter((t) => t.shape.length === 2 && /^(F|BF)/.test(t.dtype));
    if (mats.length !== 1) throw new F8Error('BAD_INPUT', `${o.from}: cannot tell the number of classes (${mats.length} matrices in the file); give --num-classes`);
    numClasses = mats[0].shape[0];
  }
  const stage = o.stage ?? 'float';
  const raw: Record<string, unknown> = { model: o.model, model_args: o.modelArgs ?? {}, num_classes: numClasses, floating_model: stage === 'float' };
  // The paper's checkpoints carry its forms (src/quant/classifier-form.ts, src/quant/pool-form.ts,
  // src/nn/residual.ts AlphaSharing, QuantConfig.foldOrder): its classifier quantises the weight
  // alone, rescaled as its configs do (rescale_forward True, rescale_forward_conv False), and
  // reads the float mean of its default pool (quant_avgpool False), a projection
  // shortcut that starts a sharing chain (ResNet-50's first) owns its alpha, its fold has its
  // f32 operation order, and its blocks add the identity unscaled. Recorded in the checkpoint's config; an explicit --set classifier_form /
  // fold_order or --model-args alpha_sharing wins.
  const paperForms = nameRulesFor(o.model).family !== 'identity' && isPaperNames(wf.tensors.keys());
  if (paperForms) {
    raw.classifier_form = classifierFormOfPaper(true);
    raw.pool_form = poolFormOfPaper(false);
    // Every config of the paper rescales its classifier (fix_train.py's default too), no conv.
    raw.rescale_forward = true;
    raw.rescale_forward_conv = false;
    raw.fold_order = 'paper';
    raw.identity_add = 'paper';
    const args = raw.model_args as Record<string, unknown>;
    if (modelArgs(o.model).includes('alpha_sharing') && !('alpha_sharing' in args)) raw.model_args = { ...args, alpha_sharing: 'paper' };
  }
  const cfg = resolveConfig(raw, o.sets ?? [], o.numClasses === undefined ? `${o.from} (num_classes from its classifier)` : 'f8net import');
  if (cfg.model !== o.model || cfg.floating_model !== (stage === 'float') || cfg.num_classes !== numClasses) {
    throw new F8Error('BAD_CONFIG', 'f8net import: --set must not change model, num_classes or floating_model (use --model, --num-classes, --stage)');
  }
  const usual = defaultDataShape(cfg.model);
  const data = { inChannels: o.inChannels ?? usual.inChannels, numClasses, imageSize: cfg.image_size ?? usual.imageSize };
  const model = buildModel(cfg.model, cfg.model_args, data, quantFromConfig(cfg), new Rng(mixSeed(cfg.random_seed, 0x1417)));
  try {
    const { stateDict, report } = importWeights(wf, model, nameRulesFor(cfg.model));
    model.loadStateDict(stateDict, { strict: false, source: o.from });
    await saveCheckpoint(o.out, { model, meta: { stage, epoch: 0, step: 0, config: cfg as unknown as Record<string, unknown> } });
    return { report, config: cfg, paperForms };
  } finally {
    model.dispose();
  }
}
