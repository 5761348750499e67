/**
 * Files in a page: the CLI's formats read from and made as bytes (an uploaded File's
 * arrayBuffer(), a download's Blob), with the CLI's one-line errors naming the file.
 */
import { decodeSafetensors } from '../io/safetensors.js';
import { decodeCheckpoint, configOfCheckpoint, type Checkpoint } from '../train/checkpoint.js';
import { parseIntModel } from '../export/format.js';
import type { TrainConfig } from '../train/config.js';
import type { IntGraph } from '../export/graph.js';

/** A checkpoint from the bytes of a .safetensors file; `name` is the file's name for errors. */
export function checkpointFromBytes(bytes: Uint8Array, name: string): Checkpoint {
  return decodeCheckpoint(decodeSafetensors(bytes, name), name);
}

/** A checkpoint and its resolved config, as `f8net export` / `eval` read one. */
export function checkpointBytesToConfig(bytes: Uint8Array, name: string): { ck: Checkpoint; cfg: TrainConfig } {
  const ck = checkpointFromBytes(bytes, name);
  return { ck, cfg: configOfCheckpoint(ck, name) };
}

/** An integer model from its model.json text and weights.bin bytes (as `f8net export` writes them). */
export function intModelFromFiles(json: string | Uint8Array, bin: Uint8Array, where = 'model.json'): IntGraph {
  return parseIntModel(json, bin, where);
}
