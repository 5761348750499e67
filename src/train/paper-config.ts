/**
 * The F8Net paper's YAML files as they are (docs/INTEROP.md): duplicate keys (its files repeat
 * keys in an "Override Settings" section; PyYAML keeps the last, so do we), `!include` of a file
 * in the config's own folder (the paper's loader has it), and its vocabulary translated onto
 * f8net's keys, one notice line per key mapped or ignored. Keys neither side knows stay in
 * place, so config.ts still rejects them by name.
 *
 * @example
 *   const { raw, notices } = readPaperYaml(text, 'apps/res18_fix_quant_train.yml');
 */
import { parse as parseYaml, type ScalarTag } from 'yaml';
import { F8Error } from '../runtime/errors.js';
import { headFormOfNormalize } from '../quant/head-form.js';
import { classifierFormOfPaper } from '../quant/classifier-form.js';
import { poolFormOfPaper } from '../quant/pool-form.js';

/** The paper's keys with no effect in f8net, with why. */
const IGNORED: Record<string, string> = {
  num_gpus_per_job: 'f8net trains on one GPU; scale out with the paper\'s DDP launcher (docs/INTEROP.md)',
  distributed: 'one GPU', distributed_all_reduce: 'one GPU', use_diff_seed: 'one GPU',
  data_loader_workers: 'f8net loads data in-process', data_transforms: 'the folder reader has the ImageNet transforms', data_loader: 'the folder reader',
  topk: 'f8net reports top-1', pretrained_dir: 'paths are given whole', reset_parameters: 'f8net always initialises', print_each_iter: 'log_interval',
  rescale_type: 'f8net rescales with the constant type',
  int_infer: "test mode: export the integer model ('f8net export') and evaluate it", int_op_only: "test mode: 'f8net export' + 'f8net eval' of the integer model",
  int_op_only_file_path: 'test mode', integize: "test mode: 'f8net export'", integize_file_path: 'test mode', test_only: "use 'f8net eval'",
  quant_bias: 'f8net\'s integer model rounds the bias by its own rule (docs/INTEROP.md)', no_clipping: 'f8net clips with alpha',
  pool_fusing: "f8net's pool_form folded puts the global-pool factor into the classifier, not the last conv", quant_maxpool: 'f8net quantises max pooling',
  finetune_iters: 'train with num_epochs', ptcv_pretrained: "import the weights with 'f8net import'", nvidia_pretrained: "import the weights with 'f8net import'",
  nvidia_pretrained_file: "import the weights with 'f8net import'", width_divisor: 'f8net rounds widths to 8', min_width: 'f8net rounds widths to 8',
};

const MODELS: Record<string, string> = { 'models.fix_mobilenet_v1': 'mobilenet_v1', 'models.fix_mobilenet_v2': 'mobilenet_v2' };
const SCHEDULERS: Record<string, string> = { cos_annealing_iter: 'cosine', constant: 'constant', multistep: 'step' };

/**
 * Reads the file an `!include` names, relative to the including config and confined to its
 * folder; set by the platform (Node: src/node/config-file.ts). Without one, `!include` is refused.
 */
export type IncludeReader = (fromFile: string, name: string) => { path: string; text: string };

let includeReader: IncludeReader | null = null;

/** Sets how `!include` reads files (the portable core reads none itself). */
export function setIncludeReader(r: IncludeReader | null): void {
  includeReader = r;
}

/** Parses YAML text: last duplicate wins, `!include` confined to `file`'s folder. */
export function parsePaperYaml(text: string, file: string, depth = 0): unknown {
  if (depth > 8) throw new F8Error('BAD_CONFIG', `${file}: !include nested deeper than 8`);
  const include: ScalarTag = {
    tag: '!include',
    resolve(name: string) {
      if (!includeReader) throw new F8Error('BAD_CONFIG', `${file}: !include ${name}: this platform reads no included files`);
      const { path, text: t } = includeReader(file, name);
      return /\.ya?ml$/i.test(path) ? parsePaperYaml(t, path, depth + 1) : t;
    },
  };
  return parseYaml(text, { uniqueKeys: false, customTags: [include] });
}

/** Translates the paper's vocabulary; returns the f8net keys and one notice per key touched. */
export function translatePaperKeys(raw: Record<string, unknown>, where: string): { raw: Record<string, unknown>; notices: string[] } {
  const out: Record<string, unknown> = {};
  const notices: string[] = [];
  const note = (s: string) => notices.push(`${where}: ${s}`);
  const paper = typeof raw.model === 'string' && raw.model.startsWith('models.');
  for (const [k, v] of Object.entries(raw)) {
    if (k in IGNORED) {
      note(`${k} ignored (${IGNORED[k]})`);
    } else if (k === 'depth') {
      if (!paper) out[k] = v; // not the paper's: let config.ts name it
    } else if (k === 'model' && typeof v === 'string' && v.startsWith('models.')) {
      const m = v === 'models.fix_resnet' ? `resnet${raw.depth}` : MODELS[v];
      if (!m || (v === 'models.fix_resnet' && ![18, 34, 50].includes(raw.depth as number))) throw new F8Error('BAD_CONFIG', `${where}: model ${v}${v === 'models.fix_resnet' ? ` depth ${raw.depth}` : ''} has no f8net counterpart (fix_resnet 18/34/50, fix_mobilenet_v1, fix_mobilenet_v2)`);
      out.model = m;
      note(`model ${v}${v === 'models.fix_resnet' ? ` depth ${raw.depth}` : ''} -> ${m}`);
      // fix_resnet gives a chain-starting block's projection shortcut its own alpha (src/nn/residual.ts).
      const margs = (raw.model_args ?? {}) as Record<string, unknown>;
      if (v === 'models.fix_resnet' && !('alpha_sharing' in margs)) {
        out.model_args = { ...margs, alpha_sharing: 'paper' };
        note('fix_resnet -> model_args alpha_sharing paper (its first projection shortcut and its classifier own their alphas)');
      }
    } else if (k === 'dataset' && v === 'imagenet1k') {
      out.dataset = 'folder';
      note('dataset imagenet1k -> folder (dataset_dir holds train/ and val/ with one sub-folder per class)');
    } else if (k === 'lr_scheduler' && typeof v === 'string' && v in SCHEDULERS) {
      out[k] = SCHEDULERS[v];
      if (SCHEDULERS[v] !== v) note(`lr_scheduler ${v} -> ${SCHEDULERS[v]}`);
    } else if (paper && (v === '' || v === null) && k !== 'model') {
      note(`${k} ${JSON.stringify(v)} -> unset`);
    } else if (k === 'model' && v === '') {
      note("model '' -> unset (the paper's files set it in Override Settings)");
    } else if (k === 'normalize' && typeof v === 'boolean') {
      // The paper's head switch (F8NET.md §3): false = weight_only (its default), true = double_side.
      const form = headFormOfNormalize(v);
      if ('head_form' in raw && raw.head_form !== form) throw new F8Error('BAD_CONFIG', `${where}: normalize ${v} means head_form ${form}, but head_form is ${String(raw.head_form)}; keep one of them`);
      out.head_form = form;
      note(`normalize ${v} -> head_form ${form}`);
    } else if (k === 'quant_avgpool' && typeof v === 'boolean') {
      // The paper's pool switch: False (its default) = the float mean, True = sum and shift.
      const form = poolFormOfPaper(v);
      if ('pool_form' in raw && raw.pool_form !== form) throw new F8Error('BAD_CONFIG', `${where}: quant_avgpool ${v} means pool_form ${form}, but pool_form is ${String(raw.pool_form)}; keep one of them`);
      out.pool_form = form;
      note(`quant_avgpool ${v} -> pool_form ${form}${v ? " (f8net's sum and shift, its 2^s/k^2 in the classifier's weight)" : ' (the float mean before the classifier)'}`);
    } else if (k === 'pretrained_file') {
      out.fp_pretrained_file = v;
      note(`pretrained_file -> fp_pretrained_file ${v}`);
    } else {
      out[k] = v;
    }
  }
  // The paper's head form when its file says nothing: normalize false.
  if (paper && !('normalize' in raw) && !('head_form' in raw)) {
    out.head_form = headFormOfNormalize(false);
    note("normalize unset -> head_form weight_only (the paper's default)");
  }
  // The paper's code has one classifier form: its linear quantises the weight alone.
  if (paper && !('classifier_form' in raw)) {
    out.classifier_form = classifierFormOfPaper(true);
    note("classifier -> classifier_form paper (its linear quantises the weight alone and scales input and output)");
  }
  // The paper's linear layers rescale unless told (fix_train.py: rescale_forward default True), its convolutions only when told.
  if (paper && !('rescale_forward' in raw)) {
    out.rescale_forward = true;
    note("rescale_forward unset -> true (the paper's default for its classifier)");
  }
  if (paper && !('rescale_forward_conv' in raw)) {
    out.rescale_forward_conv = false;
    note("rescale_forward_conv unset -> false (the paper's default: the classifier alone)");
  }
  if (paper && !('quant_avgpool' in raw) && !('pool_form' in raw)) {
    out.pool_form = poolFormOfPaper(false);
    note('quant_avgpool unset -> pool_form paper (the float mean before the classifier, the paper\'s default)');
  }
  if (paper && !('identity_add' in raw)) {
    out.identity_add = 'paper';
    note('res += x -> identity_add paper (its blocks add the block input unscaled)');
  }
  if (paper && !('fold_order' in raw)) {
    out.fold_order = 'paper';
    note('fold -> fold_order paper (its f32 operation order of the conv-BN fold)');
  }
  // The paper's default stage is the fixed-point one; its float files say floating_model: True.
  if (paper && !('floating_model' in raw)) {
    out.floating_model = false;
    note('floating_model unset -> false (the paper\'s default)');
  }
  // The paper's layers test format_grid_search first.
  if (paper && out.format_from_metric === true && out.format_grid_search === true) {
    out.format_from_metric = false;
    note('format_from_metric and format_grid_search both true -> format_grid_search (the paper checks it first)');
  }
  if (out.floating_model === true && out.fp_pretrained_file) {
    note('fp_pretrained_file dropped: the float stage starts from scratch');
    delete out.fp_pretrained_file;
  }
  return { raw: out, notices };
}
