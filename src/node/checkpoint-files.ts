/**
 * Checkpoint files: the safetensors bytes of src/train/checkpoint.ts read through the untrusted
 * reader and written atomically (temporary file, fsync, rename).
 *
 * @example
 *   await saveCheckpoint('runs/x/last.safetensors', { model, optimizer: opt, meta: { stage: 'float', epoch: 3, step: 375, config } });
 *   const ck = loadCheckpoint('runs/x/last.safetensors');
 */
import { checkpointFrom, encodeCheckpoint, type Checkpoint, type CheckpointContent } from '../train/checkpoint.js';
import { readSafetensors } from './safetensors-file.js';
import { writeFileAtomic } from './files.js';

/** Writes a checkpoint file atomically. */
export async function saveCheckpoint(file: string, what: CheckpointContent): Promise<void> {
  writeFileAtomic(file, await encodeCheckpoint(what));
}

/** Reads and checks a checkpoint file (the CLI's one-line errors name `file`). */
export function loadCheckpoint(file: string): Checkpoint {
  return checkpointFrom(readSafetensors(file), file);
}
