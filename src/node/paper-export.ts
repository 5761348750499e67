/**
 * An f8net checkpoint as the paper's checkpoint: `{'model': OrderedDict, 'last_epoch': N}` in
 * torch's zip form, names under `module.` as fix_train.py's DataParallel/DDP wrapper has them
 * (its fp_pretrained_file loader silently drops names its model lacks, so the prefix matters).
 * Scalars (alpha) go back to shape []. The running input length goes out as the paper's
 * input_fraclen; weight_fraclen, which it derives, is left out; every BN gets a
 * num_batches_tracked of 0 (we keep none), so that the strict pretrained_file load accepts it.
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
}

export function exportPaperCheckpoint(from: string, out: string): PaperExportReport {
  const ck = loadCheckpoint(from);
  const model = String(ck.meta.config.model ?? '');
  if (!paperFamily(model)) throw new F8Error('BAD_INPUT', `${from}: model ${model} has no counterpart in the paper's code (resnet18/34/50, mobilenet_v1, mobilenet_v2)`);
  const tensors: StTensor[] = [];
  const skipped: string[] = [];
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
  return { written: tensors.length, skipped, model };
}
