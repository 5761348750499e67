/** Torch checkpoint files on disk; the restricted unpickler and the writer are src/io/torch-pt.ts. */
import { decodeTorchCheckpoint, encodeTorchCheckpoint, type TorchCheckpoint } from '../io/torch-pt.js';
import type { StTensor } from '../io/safetensors.js';
import { readUntrusted } from './untrusted.js';
import { writeFileAtomic } from './files.js';

/** Reads a torch zip checkpoint (regular file only), refusing anything but tensors and plain values. */
export function readTorchCheckpoint(file: string): TorchCheckpoint {
  return decodeTorchCheckpoint(readUntrusted(file, { what: 'a torch checkpoint (.pt, zip)' }), file);
}

/** Writes tensors as a torch zip checkpoint that torch.load reads (temporary file, then rename). */
export function writeTorchCheckpoint(file: string, tensors: StTensor[], extra: Record<string, number> = {}): void {
  writeFileAtomic(file, [encodeTorchCheckpoint(tensors, extra)]);
}
