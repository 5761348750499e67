/** ONNX files on disk: size checked before the read; decoding and checks are src/io/onnx-reader.ts. */
import { readUntrusted } from './untrusted.js';
import { decodeOnnx, MAX_ONNX_FILE as MAX_FILE, type OnnxFile } from '../io/onnx-reader.js';

/** Reads and validates an ONNX file's initializers (see decodeOnnx). */
export function readOnnx(file: string): OnnxFile {
  // protobuf's 2 GiB limit: larger models keep weights as external data, which f8net does not read.
  return decodeOnnx(readUntrusted(file, { what: "an ONNX file (under protobuf's 2 GiB limit; external data is not read)", maxBytes: MAX_FILE - 1 }), file);
}
