/**
 * Files in a page: the CLI's formats read from and made as bytes (an uploaded File's
 * arrayBuffer(), a download's Blob), with the CLI's one-line errors naming the file.
 */
import { decodeCheckpoint, type Checkpoint } from '../train/checkpoint.js';
import { resolveConfig, withStoredHeadForm } from '../train/config.js';
import { F8Error } from '../runtime/errors.js';
import { parseIntModel } from '../export/format.js';
import type { TrainConfig } from '../train/config.js';
import type { IntGraph } from '../export/graph.js';

/** A checkpoint from the bytes of a .safetensors file; `name` is the file's name for errors. */
export function checkpointFromBytes(bytes: Uint8Array, name: string): Checkpoint {
  return decodeCheckpoint(bytes, name);
}

/** A checkpoint and its resolved config, as `f8net export` / `eval` read one. */
export function checkpointBytesToConfig(bytes: Uint8Array, name: string): { ck: Checkpoint; cfg: TrainConfig } {
  const ck = checkpointFromBytes(bytes, name);
  // As checkpointConfig in src/cli/export-commands.ts (Node-only file): evaluation ignores how the run was started.
  try {
    const raw = { ...withStoredHeadForm(ck.meta.config), resume: null, fp_pretrained_file: null, floating_model: ck.meta.stage === 'float' };
    return { ck, cfg: resolveConfig(raw, [], `${name} (config)`) };
  } catch (e) {
    if (e instanceof F8Error) throw new F8Error('BAD_INPUT', `${name}: stored config is not valid: ${e.message}`);
    throw e;
  }
}

/** An integer model from its model.json text and weights.bin bytes (as `f8net export` writes them). */
export function intModelFromFiles(json: string | Uint8Array, bin: Uint8Array, where = 'model.json'): IntGraph {
  return parseIntModel(json, bin, where);
}
