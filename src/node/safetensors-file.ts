/**
 * safetensors files on disk; the format and its checks are src/io/safetensors.ts.
 *
 * @example
 *   writeSafetensors('m.safetensors', [{ name: 'w', dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) }], { epoch: '3' });
 *   const { tensors, metadata } = readSafetensors('m.safetensors');
 */
import { readFileSync, statSync } from 'node:fs';
import { F8Error } from '../runtime/errors.js';
import { decodeSafetensors, encodeSafetensors, type StFile, type StTensor } from '../io/safetensors.js';
import { writeFileAtomic } from './files.js';

export function writeSafetensors(file: string, tensors: StTensor[], metadata: Record<string, string> = {}): void {
  writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}

/** Reads and validates a safetensors file (see decodeSafetensors). */
export function readSafetensors(file: string): StFile {
  let buf: Buffer;
  try {
    if (!statSync(file).isFile()) throw new Error('not a regular file');
    buf = readFileSync(file);
  } catch (e) {
    throw new F8Error('IO', `${file}: cannot read: ${(e as Error).message}`);
  }
  return decodeSafetensors(buf, file);
}
