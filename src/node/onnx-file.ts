/** ONNX files on disk: size checked before the read; decoding and checks are src/io/onnx-reader.ts. */
import { readFileSync, statSync } from 'node:fs';
import { F8Error } from '../runtime/errors.js';
import { decodeOnnx, MAX_ONNX_FILE as MAX_FILE, type OnnxFile } from '../io/onnx-reader.js';

/** Reads and validates an ONNX file's initializers (see decodeOnnx). */
export function readOnnx(file: string): OnnxFile {
  let buf: Buffer;
  try {
    const s = statSync(file);
    if (!s.isFile()) throw new Error('not a regular file');
    if (s.size >= MAX_FILE) throw new F8Error('BAD_INPUT', `${file}: ${s.size} bytes exceeds protobuf's 2 GiB limit (such models keep their weights as external data, which f8net does not read)`);
    buf = readFileSync(file);
  } catch (e) {
    if (e instanceof F8Error) throw e;
    throw new F8Error('IO', `${file}: cannot read: ${(e as Error).message}`);
  }
  return decodeOnnx(buf, file);
}
