/**
 * From torchvision's state_dict names to ours. Our QConv2d carries its batch norm, so a
 * torchvision conv + BN pair becomes one module:
 *
 *   torchvision                                   f8net
 *   <conv>.weight                                 <ours>.weight          (OIHW, same layout)
 *   <bn>.weight | bias                            <ours>.gamma | beta
 *   <bn>.running_mean | running_var               <ours>.running_mean | running_var
 *   <bn>.num_batches_tracked                      (dropped)
 *
 * Which <conv> and <ours> go with a BN module <bn> is what a family's rules say:
 *
 *   ResNet (resnet*)
 *     <p>bnK                 conv <p>convK              ours <p>convK        (stem: bn1 + conv1 -> conv1)
 *     <p>.downsample.1       conv <p>.downsample.0      ours <p>.downsample
 *     fc.weight | fc.bias -> fc.weight | fc.bias (Linear [out, in], same layout)
 *   MobileNetV2 (mobilenet*)
 *     <p>.1                  conv <p>.0                 ours <p>            (ConvBNReLU: features.0,
 *                                                                            features.18, features.i.conv.j)
 *     <p>.conv.(k+1)         conv <p>.conv.k            ours <p>.conv.k     (the block's projection)
 *     classifier.1.weight | bias -> classifier.weight | bias
 *   MobileNetV1 (mobilenet_v1; torchvision has none: the common layout, model.N = Sequential(
 *   conv, bn, relu, conv, bn, relu), as models/mobilenet_v1.ts documents)
 *     model.0.1              conv model.0.0             ours features.0
 *     model.N.1              conv model.N.0             ours features.N.dw
 *     model.N.4              conv model.N.3             ours features.N.pw
 *     fc.weight | fc.bias -> classifier.weight | bias
 *
 * A module is a torchvision BN when the file has `<bn>.running_mean` and no `<bn>.gamma` (our
 * own QConv2d has both), and a rule applies only when the file holds `<conv>.weight`; the rules
 * are tried in order. That check settles `features.1.conv.2`, a BN in MobileNetV2's first block
 * (no expansion) but a projection conv in the others. Every other name passes unchanged, so our
 * own state dicts (and f8net checkpoints) map onto themselves, and a file saved from a
 * DataParallel model (every name under `module.`) has that prefix removed first.
 *
 * @example
 *   const m = mapNames(['conv1.weight', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var'], nameRulesFor('resnet18'));
 *   m.get('bn1.weight'); // 'conv1.gamma'
 */
import { F8Error } from '../runtime/errors.js';

type Replacement = string | ((m: RegExpExecArray) => string);

/** A BN module matching `bn` whose conv is `conv` becomes our module `ours` (`$1`-style or a function). */
export interface ConvBnRule {
  bn: RegExp;
  conv: Replacement;
  ours: Replacement;
}

export interface NameRules {
  family: string;
  convBn: ConvBnRule[];
  /** Other names, first match wins: a replacement, or null to drop the tensor. */
  rename: { from: RegExp; to: string | null }[];
}

/** Applied by every family after its own rules. */
const COMMON_RENAME: NameRules['rename'] = [{ from: /(^|\.)num_batches_tracked$/, to: null }];

export const RESNET_RULES: NameRules = {
  family: 'resnet',
  convBn: [
    { bn: /^((?:.*\.)?)bn(\d+)$/, conv: '$1conv$2', ours: '$1conv$2' },
    { bn: /^(.*)\.downsample\.1$/, conv: '$1.downsample.0', ours: '$1.downsample' },
  ],
  rename: [],
};

export const MOBILENET_V2_RULES: NameRules = {
  family: 'mobilenet',
  convBn: [
    { bn: /^(.*)\.1$/, conv: '$1.0', ours: '$1' },
    { bn: /^(.*\.conv)\.(\d+)$/, conv: (m) => `${m[1]}.${Number(m[2]) - 1}`, ours: (m) => `${m[1]}.${Number(m[2]) - 1}` },
  ],
  rename: [{ from: /^classifier\.1\.(weight|bias)$/, to: 'classifier.$1' }],
};

export const MOBILENET_V1_RULES: NameRules = {
  family: 'mobilenet_v1',
  convBn: [
    { bn: /^model\.0\.1$/, conv: 'model.0.0', ours: 'features.0' },
    { bn: /^model\.(\d+)\.1$/, conv: 'model.$1.0', ours: 'features.$1.dw' },
    { bn: /^model\.(\d+)\.4$/, conv: 'model.$1.3', ours: 'features.$1.pw' },
  ],
  rename: [{ from: /^fc\.(weight|bias)$/, to: 'classifier.$1' }],
};

/** Our own names (the small CNN, f8net state dicts exported to safetensors or ONNX). */
export const IDENTITY_RULES: NameRules = { family: 'identity', convBn: [], rename: [] };

/** The rules for a model of the registry, by the start of its name. */
export function nameRulesFor(model: string): NameRules {
  if (/^resnet/i.test(model)) return RESNET_RULES;
  if (/^mobilenet_?v1/i.test(model)) return MOBILENET_V1_RULES;
  if (/^mobilenet/i.test(model)) return MOBILENET_V2_RULES;
  return IDENTITY_RULES;
}

function apply(r: Replacement, m: RegExpExecArray): string {
  return typeof r === 'function' ? r(m) : r.replace(/\$(\d)/g, (_, i: string) => m[Number(i)] ?? '');
}

const BN_FIELDS: [string, string][] = [
  ['weight', 'gamma'],
  ['bias', 'beta'],
  ['running_mean', 'running_mean'],
  ['running_var', 'running_var'],
];

/**
 * Maps every name of a file to ours (or to null: dropped). Throws when two file names land on
 * the same name of ours.
 */
export function mapNames(names: Iterable<string>, rules: NameRules): Map<string, string | null> {
  const all = [...names];
  const set = new Set(all);
  const out = new Map<string, string | null>();
  // DataParallel checkpoints prefix every name with `module.`.
  const strip = all.length > 0 && all.every((n) => n.startsWith('module.'));
  const base = (n: string) => (strip ? n.slice(7) : n);
  const has = (n: string) => set.has(strip ? `module.${n}` : n);
  const assign = (fileName: string, ours: string | null) => {
    if (!out.has(fileName)) out.set(fileName, ours);
  };
  for (const full of all) {
    const n = base(full);
    if (!n.endsWith('.running_mean')) continue;
    const bn = n.slice(0, -'.running_mean'.length);
    if (has(`${bn}.gamma`)) continue; // one of ours
    for (const rule of rules.convBn) {
      const m = rule.bn.exec(bn);
      if (!m) continue;
      const conv = apply(rule.conv, m);
      if (!has(`${conv}.weight`)) continue;
      const ours = apply(rule.ours, m);
      const pre = strip ? 'module.' : '';
      assign(`${pre}${conv}.weight`, `${ours}.weight`);
      for (const [t, o] of BN_FIELDS) if (has(`${bn}.${t}`)) assign(`${pre}${bn}.${t}`, `${ours}.${o}`);
      if (has(`${bn}.num_batches_tracked`)) assign(`${pre}${bn}.num_batches_tracked`, null);
      break;
    }
  }
  for (const full of all) {
    if (out.has(full)) continue;
    const n = base(full);
    let to: string | null = n;
    for (const r of [...rules.rename, ...COMMON_RENAME]) {
      const m = r.from.exec(n);
      if (!m) continue;
      to = r.to === null ? null : apply(r.to, m);
      break;
    }
    out.set(full, to);
  }
  const seen = new Map<string, string>();
  for (const [from, to] of out) {
    if (to === null) continue;
    const prev = seen.get(to);
    if (prev !== undefined) throw new F8Error('BAD_INPUT', `tensors ${prev} and ${from} both map to ${to} (${rules.family} names)`);
    seen.set(to, from);
  }
  return out;
}
