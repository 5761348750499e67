/**
 * An f8net checkpoint as the paper's checkpoint: `{'model': OrderedDict, 'last_epoch': N}` in
 * torch's zip form, names under `module.` as fix_train.py's DataParallel/DDP wrapper has them
 * (its fp_pretrained_file loader silently drops names its model lacks, so the prefix matters).
 * Scalars (alpha) go back to shape []. The running input length goes out as the paper's
 * input_fraclen; weight_fraclen, which it derives, is left out; every BN gets a
 * num_batches_tracked of 0 (we keep none), so that the strict pretrained_file load accepts it.
 *
 * Forms. The paper's code has one classifier form (src/quant/classifier-form.ts 'paper') and
 * gives the projection shortcut of a chain-starting block (ResNet-50's first) its own alpha
 * (src/nn/residual.ts AlphaSharing). A checkpoint of those forms goes out as it is. For one made
 * with f8net's forms the report says what the paper's code will compute differently (a 'folded'
 * classifier's weights are quantised there as Q(w), not Q(s_in w); pool_form folded, where the
 * pool's k^2 is not a power of two; alpha_sharing f8net, fold_order fused, identity_add aligned);
 * the tensors go out as they are either way (export then import is
 * the identity).
 *
 * @example
 *   exportPaperCheckpoint('runs/r18/best.safetensors', 'best_model.pt');
 */
import { F8Error } from '../runtime/errors.js';
import { loadCheckpoint } from './checkpoint-files.js';
import { paperFamily, paperNameOf } from '../io/paper-names.js';
import { writeTorchCheckpoint } from './torch-file.js';
import type { StDType, StTensor } from '../io/safetensors.js';

export interface PaperExportReport {
  written: number;
  skipped: string[];
  model: string;
  /** What the paper's code will compute differently from f8net, one line each (empty: nothing). */
  notes: string[];
}

export function exportPaperCheckpoint(from: string, out: string): PaperExportReport {
  const ck = loadCheckpoint(from);
  const model = String(ck.meta.config.model ?? '');
  if (!paperFamily(model)) throw new F8Error('BAD_INPUT', `${from}: model ${model} has no counterpart in the paper's code (resnet18/34/50, mobilenet_v1, mobilenet_v2)`);
  const tensors: StTensor[] = [];
  const skipped: string[] = [];
  const notes: string[] = [];
  const cfg = ck.meta.config;
  if ((cfg.classifier_form ?? 'folded') !== 'paper') notes.push("classifier_form folded: the paper's linear quantises the weight alone (Q(w), not Q(s_in w)); its logits differ by that rounding (train with --set classifier_form=paper for the same predictions)");
  const args = (cfg.model_args ?? {}) as Record<string, unknown>;
  const sharedShortcuts = paperFamily(model) === 'resnet' && args.alpha_sharing !== 'paper';
  for (const [name, e] of ck.model) {
    const p = paperNameOf(name, model);
    if (p === null) {
      skipped.push(name);
      continue;
    }
    if (e.dtype !== 'f32') throw new F8Error('BAD_INPUT', `${from}: ${name} is ${e.dtype}; the paper's ${p} is float`);
    const shape = p.endsWith('.alpha') && e.shape.length === 1 && e.shape[0] === 1 ? [] : e.shape;
    tensors.push({ name: `module.${p}`, dtype: 'F32' as StDType, shape, data: e.data });
    // The paper's pretrained_file loader is strict (load_state_dict): every BN has this counter, which we do not keep.
    if (p.endsWith('.bn.running_var')) tensors.push({ name: `module.${p.slice(0, -'running_var'.length)}num_batches_tracked`, dtype: 'I64', shape: [], data: new BigInt64Array(1) });
  }
  writeTorchCheckpoint(out, tensors, { last_epoch: ck.meta.epoch });
  if (sharedShortcuts) notes.push("alpha_sharing f8net: the paper's classifier (and ResNet-50's first projection shortcut) own their alphas where f8net's use a master's; the file holds each layer's own alpha, so the paper scales those layers differently (train with model_args alpha_sharing paper for the same predictions)");
  // Every config of the paper rescales its classifier and no conv (rescale_forward True, rescale_forward_conv False).
  if (cfg.rescale_forward !== true) notes.push("rescale_forward false: the paper's configs (and fix_train.py's default) rescale the classifier's quantised weight; give the paper's config rescale_forward: False for the same predictions");
  else if (cfg.rescale_forward_conv !== false) notes.push("rescale_forward_conv true: f8net rescaled the convolutions too; give the paper's config rescale_forward_conv: True (a depthwise conv's fan-out still differs, docs/INTEROP.md), or train with --set rescale_forward_conv=false");
  // The paper's default pool (quant_avgpool False) is the float mean; f8net's folded form differs where k^2 is not a power of two.
  if ((cfg.pool_form ?? 'folded') !== 'paper') notes.push("pool_form folded: the paper's default pool (quant_avgpool False) feeds its classifier the float mean, where f8net's folded form reads sum / 2^round(log2 k^2) and scales the classifier's weight by 2^s / k^2; where k^2 is not a power of two (7 x 7 at 224 x 224) predictions differ (train with --set pool_form=paper for the same predictions)");
  if ((cfg.fold_order ?? 'fused') !== 'paper' || (cfg.identity_add ?? 'aligned') !== 'paper') notes.push("fold_order / identity_add not paper: the paper's evaluation folds in its own f32 order and adds identities unscaled; weight codes at rounding boundaries and identity sums where lengths differ come out differently (set both to paper for the same predictions)");
  return { written: tensors.length, skipped, model, notes };
}
