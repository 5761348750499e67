/**
 * safetensors files on disk; the format and its checks are src/io/safetensors.ts.
 *
 * @example
 *   writeSafetensors('m.safetensors', [{ name: 'w', dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) }], { epoch: '3' });
 *   const { tensors, metadata } = readSafetensors('m.safetensors');
 */
import { readUntrusted } from './untrusted.js';
import { decodeSafetensors, encodeSafetensors, type StFile, type StTensor } from '../io/safetensors.js';
import { writeFileAtomic } from './files.js';

export function writeSafetensors(file: string, tensors: StTensor[], metadata: Record<string, string> = {}): void {
  writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}

/** Reads and validates a safetensors file (see decodeSafetensors). */
export function readSafetensors(file: string): StFile {
  return decodeSafetensors(readUntrusted(file, { what: 'a safetensors file' }), file);
}
