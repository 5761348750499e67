/**
 * Checkpoints: one safetensors file (docs/CHECKPOINT.md) holding the model state under
 * `model.<name>`, the optimizer state under `optim.<name>`, and in `__metadata__` the format
 * name and version, stage, epoch, step, the config, the data order's RNG state and metrics.
 * Bytes only (portable); the file reader and the atomic writer are src/node/checkpoint-files.ts.
 *
 * @example
 *   const bytes = await encodeCheckpoint({ model, optimizer: opt, meta: { stage: 'float', epoch: 3, step: 375, config } });
 *   const ck = decodeCheckpoint(concat(bytes), 'page.safetensors');
 */
import { encodeSafetensors, decodeSafetensors, typedData, type StTensor, type StDType, type StFile } from '../io/safetensors.js';
import { F8Error } from '../runtime/errors.js';
import { checkStateValues } from '../io/finite.js';
import { parseJsonUntrusted } from '../io/text-limits.js';
import type { Module, StateDict, StateEntry } from '../nn/module.js';
import type { DType } from '../tensor.js';

export const CHECKPOINT_FORMAT = 'f8net-checkpoint';
export const CHECKPOINT_VERSION = 1;

export interface CheckpointMeta {
  stage: 'float' | 'fixed';
  epoch: number;
  step: number;
  /** The full resolved config (JSON). */
  config: Record<string, unknown>;
  /** State of the training data loader after `epoch` epochs (order RNG, epoch, batch). */
  loader?: { rng: [number, number, number, number]; epoch: number; batch: number };
  metrics?: Record<string, number>;
  best?: number;
  /**
   * Present when written mid-epoch (after an interrupt): the epoch's training-loss sum and
   * images so far, so that the resumed epoch reports the same mean loss. `epoch` then counts
   * the complete epochs and `loader.batch` the steps done in the one in progress.
   */
  partial?: { loss_sum: number; images: number };
  /** Class names of the data set (folder data sets), label k is classes[k]. */
  classes?: string[];
}

export interface Checkpoint {
  meta: CheckpointMeta;
  model: StateDict;
  optimizer: Record<string, Float32Array>;
  source: string;
}

const toSt: Record<DType, StDType> = { f32: 'F32', i32: 'I32', u32: 'U32', i8x4: 'I8' };
const fromSt: Partial<Record<StDType, DType>> = { F32: 'f32', I32: 'i32', U32: 'u32', I8: 'i8x4' };

export interface CheckpointContent {
  model: Module;
  optimizer?: { stateTensors(): Promise<Record<string, Float32Array>> } | null;
  meta: CheckpointMeta;
}

/** A checkpoint as the chunks of its safetensors file (portable: no file system). */
export async function encodeCheckpoint(what: CheckpointContent): Promise<Uint8Array[]> {
  const tensors: StTensor[] = [];
  for (const [k, e] of await what.model.stateDict()) tensors.push({ name: `model.${k}`, dtype: toSt[e.dtype], shape: e.shape, data: e.data });
  if (what.optimizer) {
    for (const [k, v] of Object.entries(await what.optimizer.stateTensors())) tensors.push({ name: `optim.${k}`, dtype: 'F32', shape: [v.length], data: v });
  }
  return encodeSafetensors(tensors, {
    format: CHECKPOINT_FORMAT,
    version: String(CHECKPOINT_VERSION),
    meta: JSON.stringify(what.meta),
  });
}

/** Parses a checkpoint from its file's bytes; `source` names it in errors. */
export function decodeCheckpoint(bytes: Uint8Array, source: string): Checkpoint {
  return checkpointFrom(decodeSafetensors(bytes, source), source);
}

/** A checkpoint from a parsed safetensors file (its reader checked the bytes); `file` names it in errors. */
export function checkpointFrom(st: StFile, file: string): Checkpoint {
  const md = st.metadata;
  if (md.format !== CHECKPOINT_FORMAT) {
    throw new F8Error('BAD_INPUT', `${file}: not an f8net checkpoint (metadata format is ${JSON.stringify(md.format ?? null)}, expected "${CHECKPOINT_FORMAT}"); to load foreign weights use 'f8net import'`);
  }
  if (md.version !== String(CHECKPOINT_VERSION)) {
    throw new F8Error('BAD_INPUT', `${file}: checkpoint version ${md.version} is not supported (this f8net reads version ${CHECKPOINT_VERSION})`);
  }
  let meta: CheckpointMeta;
  try {
    meta = parseJsonUntrusted(md.meta ?? '', `${file}: metadata 'meta'`) as CheckpointMeta;
  } catch {
    throw new F8Error('BAD_INPUT', `${file}: checkpoint metadata 'meta' is not valid JSON`);
  }
  if (!meta || (meta.stage !== 'float' && meta.stage !== 'fixed') || !Number.isInteger(meta.epoch) || typeof meta.config !== 'object') {
    throw new F8Error('BAD_INPUT', `${file}: checkpoint metadata lacks stage, epoch or config`);
  }
  if (meta.partial !== undefined) {
    const p = meta.partial;
    if (!p || typeof p !== 'object' || !Number.isFinite(p.loss_sum) || !Number.isInteger(p.images) || p.images < 0 || !meta.loader || !Number.isInteger(meta.loader.batch) || meta.loader.batch < 1) {
      throw new F8Error('BAD_INPUT', `${file}: checkpoint metadata 'partial' (a mid-epoch state) needs a finite loss_sum, a count of images and a loader state with batch >= 1`);
    }
  }
  const model: StateDict = new Map();
  const optimizer: Record<string, Float32Array> = {};
  for (const [name, t] of st.tensors) {
    if (name.startsWith('model.')) {
      const dtype = fromSt[t.dtype];
      if (!dtype) throw new F8Error('BAD_INPUT', `${file}: tensor ${name} has dtype ${t.dtype}; checkpoints hold F32, I32, U32 or I8`);
      const data = typedData(t) as StateEntry['data'];
      model.set(name.slice(6), { shape: t.shape, dtype, data: data.slice() as StateEntry['data'] });
    } else if (name.startsWith('optim.')) {
      if (t.dtype !== 'F32') throw new F8Error('BAD_INPUT', `${file}: optimizer tensor ${name} has dtype ${t.dtype}, expected F32`);
      optimizer[name.slice(6)] = (typedData(t) as Float32Array).slice();
    } else {
      throw new F8Error('BAD_INPUT', `${file}: unexpected tensor ${name} (checkpoint tensors start with model. or optim.)`);
    }
  }
  checkStateValues(model, file);
  checkStateValues(Object.entries(optimizer).map(([k, v]) => [`optim.${k}`, { data: v }]), file);
  return { meta, model, optimizer, source: file };
}

