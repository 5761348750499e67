/**
 * The paper's checkpoints where training reads a checkpoint: `fp_pretrained_file`, the paper's
 * `pretrained_file` (mapped onto it) and `resume` given a torch file (`.pt`, `.pth.tar`, or a
 * zip by content) go through the reader and name maps of `f8net import` (torch-pt.ts,
 * paper-names.ts, importWeights) and become an f8net Checkpoint for the loop.
 *
 * From the paper's latest_checkpoint.pt ({'model', 'optimizer', 'last_epoch', 'best_val',
 * 'meters'}) a resume takes what maps: the weights, the epoch (last_epoch, epochs complete),
 * the best top-1 (1 - best_val, the paper keeps the error) and the SGD momentum buffers when
 * every one of them maps onto a parameter of ours of the same size. Otherwise the optimizer
 * state starts fresh, said in one notice. The data order cannot be the paper's: the loader
 * starts epoch last_epoch with this run's seed. meters are not read.
 *
 * @example
 *   const { ck, notes } = readTrainingCheckpoint('latest_checkpoint.pt', loop.model, cfg, loop.loader.getState());
 *   loop.resumeFrom(ck);
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { extname } from 'node:path';
import { F8Error } from '../runtime/errors.js';
import { type Checkpoint, type CheckpointMeta } from '../train/checkpoint.js';
import { loadCheckpoint } from './checkpoint-files.js';
import type { TrainConfig } from '../train/config.js';
import type { Module } from '../nn/module.js';
import type { StTensor } from '../io/safetensors.js';
import type { TorchCheckpoint } from '../io/torch-pt.js';
import { importWeights } from './import-weights.js';
import { nameRulesFor } from '../io/name-maps.js';
import { paperNameMap } from '../io/paper-names.js';
import { readTorchCheckpoint } from './torch-file.js';

/** Whether `file` is a torch checkpoint: by its extension, else by a zip or pickle first byte. */
export function isTorchFile(file: string): boolean {
  const ext = extname(file).toLowerCase();
  if (ext === '.pt' || ext === '.pth' || ext === '.tar') return true;
  if (ext === '.safetensors') return false;
  const b = new Uint8Array(2);
  let got = 0;
  try {
    const fd = openSync(file, 'r');
    try {
      got = readSync(fd, b, 0, 2, 0);
    } finally {
      closeSync(fd);
    }
  } catch {
    return false; // loadCheckpoint names the problem
  }
  return got === 2 && ((b[0] === 0x50 && b[1] === 0x4b) || b[0] === 0x80);
}

/** Names of the paper's buffers; every other state_dict entry is a parameter (named_parameters order = state_dict order). */
const PAPER_BUFFER = /(running_mean|running_var|num_batches_tracked|input_fraclen|weight_fraclen)$/;

const asMap = (v: unknown): Map<string, unknown> | null => (v instanceof Map ? (v as Map<string, unknown>) : null);
const isTensor = (v: unknown): v is StTensor => !!v && typeof v === 'object' && 'dtype' in v && 'shape' in v && 'data' in v;

/**
 * The paper optimizer's momentum buffers as ours (`<index>.momentum_buffer`), or the reason they
 * do not map. The paper's SGD (fix_train.py get_optimizer) numbers its parameters in the order of
 * named_parameters over its param groups; each maps through the paper's names onto one of ours.
 */
export function paperMomentum(tc: TorchCheckpoint, model: Module, family: string): { state: Record<string, Float32Array> } | { reason: string } {
  const opt = asMap(tc.extras.get('optimizer'));
  if (!opt) return { reason: 'the file has no optimizer state' };
  const state = asMap(opt.get('state'));
  const groups = opt.get('param_groups');
  if (!state || !Array.isArray(groups)) return { reason: "its optimizer is not a torch optimizer state_dict ('state', 'param_groups')" };
  const ids: number[] = [];
  for (const g of groups) {
    const ps = asMap(g)?.get('params');
    if (!Array.isArray(ps) || !ps.every((x) => Number.isInteger(x))) return { reason: "a param group without a 'params' list" };
    ids.push(...(ps as number[]));
  }
  const names = [...tc.tensors.keys()];
  const paperParams = names.filter((n) => !PAPER_BUFFER.test(n));
  if (ids.length !== paperParams.length) return { reason: `the optimizer has ${ids.length} parameters, the model state ${paperParams.length}` };
  const map = paperNameMap(names, family);
  const ours = new Map<string, number>();
  const params = model.parameters();
  for (const [n, t] of model.namedParameters()) ours.set(n, params.indexOf(t));
  const out: Record<string, Float32Array> = {};
  for (const [key, entry] of state) {
    const pos = ids.indexOf(Number(key));
    if (pos < 0) return { reason: `optimizer state ${key} belongs to no param group` };
    const buf = asMap(entry)?.get('momentum_buffer');
    if (buf === undefined || buf === null) continue;
    const from = paperParams[pos];
    if (!isTensor(buf) || buf.dtype !== 'F32') return { reason: `the momentum buffer of ${from} is not a float32 tensor` };
    const to = map.get(from);
    const i = to ? ours.get(to) : undefined;
    if (i === undefined) return { reason: `${from} has a momentum buffer and no parameter of ours` };
    const n = buf.shape.reduce((a, b) => a * b, 1);
    if (n !== params[i].size) return { reason: `the momentum buffer of ${from} has ${n} values, our ${to} ${params[i].size}` };
    const d = buf.data;
    out[`${i}.momentum_buffer`] = new Float32Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength));
  }
  return { state: out };
}

/** What a torch checkpoint gives the loop: an f8net Checkpoint and notices (one line each). */
export interface TorchTrainingCheckpoint {
  ck: Checkpoint;
  notes: string[];
}

/**
 * A paper torch checkpoint as an f8net Checkpoint for `model` (built from `cfg`). With `loader`
 * (resume) it carries the epoch, best top-1, momentum buffers and a loader state at the start of
 * epoch last_epoch; without it (fp_pretrained_file) only the weights, as a float-stage start.
 */
export function torchTrainingCheckpoint(file: string, tc: TorchCheckpoint, model: Module, cfg: TrainConfig, loader?: CheckpointMeta['loader']): TorchTrainingCheckpoint {
  const { stateDict, report } = importWeights({ format: 'torch', source: file, tensors: tc.tensors, dropped: tc.dropped }, model, nameRulesFor(cfg.model));
  const notes: string[] = [];
  const config = cfg as unknown as Record<string, unknown>;
  if (!loader) {
    notes.push(`${file}: ${report.loaded} tensors of the paper's names into ${cfg.model}${report.kept.length ? `, ${report.kept.length} F8Net entries at their initial values` : ''}`);
    return { ck: { meta: { stage: 'float', epoch: 0, step: 0, config }, model: stateDict, optimizer: {}, source: file }, notes };
  }
  const last = tc.extras.get('last_epoch');
  if (last !== undefined && !(Number.isInteger(last) && (last as number) >= 0)) throw new F8Error('BAD_INPUT', `${file}: last_epoch ${JSON.stringify(last)} is not a count of epochs`);
  const epoch = (last as number | undefined) ?? 0;
  const bv = tc.extras.get('best_val');
  const best = typeof bv === 'number' && bv >= 0 && bv <= 1 ? 1 - bv : -1;
  const m = paperMomentum(tc, model, cfg.model);
  const optimizer = 'state' in m ? m.state : {};
  if ('reason' in m) notes.push(`${file}: the optimizer state starts fresh (${m.reason})`);
  notes.push(
    `${file}: the paper's checkpoint at epoch ${epoch}${best >= 0 ? `, best top-1 ${(100 * best).toFixed(2)}%` : ''}: ${report.loaded} tensors into ${cfg.model}` +
      `${'state' in m ? `, ${Object.keys(optimizer).length} momentum buffers` : ''}; the data order is this run's (seed ${cfg.random_seed}), not the paper's`,
  );
  const meta: CheckpointMeta = { stage: cfg.floating_model ? 'float' : 'fixed', epoch, step: 0, config, loader: { ...loader, epoch, batch: 0 }, ...(best >= 0 ? { best } : {}) };
  return { ck: { meta, model: stateDict, optimizer, source: file }, notes };
}

/**
 * The checkpoint a training run starts from: an f8net checkpoint as it is, or a torch file
 * through torchTrainingCheckpoint (`loader` for a resume).
 */
export function readTrainingCheckpoint(file: string, model: Module, cfg: TrainConfig, loader?: CheckpointMeta['loader']): TorchTrainingCheckpoint {
  if (!isTorchFile(file)) return { ck: loadCheckpoint(file), notes: [] };
  return torchTrainingCheckpoint(file, readTorchCheckpoint(file), model, cfg, loader);
}
