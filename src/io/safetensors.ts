/**
 * safetensors files: an 8-byte little-endian header length, a JSON header mapping names to
 * {dtype, shape, data_offsets} (plus an optional string map `__metadata__`), then the data.
 *
 * Files are untrusted input. The reader checks the header length against the file, every
 * dtype, shape (non-negative safe integers whose byte product fits), that offsets lie inside
 * the data section, and that tensors neither overlap nor leave holes (the format's rule).
 * It allocates nothing beyond the file's own bytes. This module works on bytes; the files
 * (readSafetensors, writeSafetensors: temporary file renamed over the target) are in
 * src/node/safetensors-file.ts.
 *
 * @example
 *   const bytes = encodeSafetensors([{ name: 'w', dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) }], { epoch: '3' });
 *   const { tensors, metadata } = decodeSafetensors(concat(bytes), 'm.safetensors');
 */
import { jsonDepth } from './text-limits.js';
import { F8Error } from '../runtime/errors.js';

export type StDType = 'F32' | 'F16' | 'F64' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'U32' | 'BOOL' | 'BF16';
const ITEM: Record<StDType, number> = { F64: 8, I64: 8, F32: 4, I32: 4, U32: 4, F16: 2, BF16: 2, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export interface StTensor {
  name: string;
  dtype: StDType;
  shape: number[];
  /** A view of the bytes (read) or the values to write. */
  data: ArrayBufferView;
}

export interface StFile {
  tensors: Map<string, StTensor>;
  metadata: Record<string, string>;
}

/** Header larger than this is refused (the format's own reference limit is 100 MB). */
const MAX_HEADER = 100_000_000;

/** Serialises tensors (in the given order) and string metadata into safetensors bytes. */
export function encodeSafetensors(tensors: StTensor[], metadata: Record<string, string> = {}): Uint8Array[] {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let off = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const bytes = n * ITEM[t.dtype];
    if (t.data.byteLength < bytes) throw new F8Error('SHAPE_MISMATCH', `safetensors: tensor ${t.name} has ${t.data.byteLength} bytes, shape [${t.shape}] ${t.dtype} needs ${bytes}`);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned.
  json += ' '.repeat((8 - ((8 + new TextEncoder().encode(json).byteLength) % 8)) % 8);
  const hb = new TextEncoder().encode(json);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(hb.byteLength), true);
  const chunks: Uint8Array[] = [len, hb];
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1) * ITEM[t.dtype];
    chunks.push(new Uint8Array(t.data.buffer, t.data.byteOffset, n));
  }
  return chunks;
}

/** Parses safetensors bytes; `source` names the file in errors. */
export function decodeSafetensors(buf: Uint8Array, source: string): StFile {
  const bad = (what: string): never => {
    throw new F8Error('BAD_INPUT', `${source}: ${what}`);
  };
  if (buf.byteLength < 8) bad(`${buf.byteLength} bytes is too short for a safetensors file (8-byte header length expected)`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const hlen = dv.getBigUint64(0, true);
  // The JSON header opens with '{' right after the length: a file that claims more than it
  // holds and has no '{' there (a text file, an image) is another kind of file, not a damaged one.
  if (hlen > BigInt(buf.byteLength - 8) && buf[8] !== 0x7b) {
    const head = Array.from(buf.subarray(0, 12), (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    bad(`not a safetensors file (expected an 8-byte header length and a JSON header opening with '{'; the file starts with "${head}")`);
  }
  if (hlen > BigInt(buf.byteLength - 8)) bad(`header claims ${hlen} bytes but the file has ${buf.byteLength - 8} after the length`);
  if (hlen > BigInt(MAX_HEADER)) bad(`header of ${hlen} bytes exceeds the ${MAX_HEADER}-byte limit`);
  const h = Number(hlen);
  let header: unknown;
  const htext = new TextDecoder('utf-8', { ignoreBOM: true }).decode(new Uint8Array(buf.buffer, buf.byteOffset + 8, h));
  // The format nests 3 deep ({name: {shape: [..]}}); check before JSON.parse sees '[' * 1e6.
  if (jsonDepth(htext, 8) > 8) bad('header JSON nests more than 8 levels deep, expected {name: {dtype, shape, data_offsets}}');
  try {
    header = JSON.parse(htext);
  } catch (e) {
    bad(`header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) bad('header is not a JSON object');
  const dataStart = 8 + h;
  const dataLen = buf.byteLength - dataStart;
  const tensors = new Map<string, StTensor>();
  const metadata: Record<string, string> = {};
  const spans: [number, number, string][] = [];
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) bad('__metadata__ is not an object of strings');
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== 'string') bad(`__metadata__.${k} is not a string`);
        metadata[k] = s as string;
      }
      continue;
    }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!e || typeof e !== 'object') bad(`tensor ${name}: entry is not an object`);
    const dtype = e.dtype as StDType;
    if (typeof dtype !== 'string' || !(dtype in ITEM)) bad(`tensor ${name}: dtype ${JSON.stringify(e.dtype)} is not one of ${Object.keys(ITEM).join(', ')}`);
    if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) bad(`tensor ${name}: shape ${JSON.stringify(e.shape)} is not a list of non-negative integers`);
    const shape = e.shape as number[];
    let bytes = ITEM[dtype];
    for (const d of shape) {
      bytes *= d;
      if (!Number.isSafeInteger(bytes) || bytes > dataLen) bad(`tensor ${name}: shape [${shape.join(', ')}] needs more bytes than the file's ${dataLen}-byte data section`);
    }
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || off.some((o) => !Number.isSafeInteger(o) || o < 0)) bad(`tensor ${name}: data_offsets ${JSON.stringify(off)} is not [begin, end]`);
    const [b, en] = off as [number, number];
    if (en < b || en > dataLen) bad(`tensor ${name}: data_offsets [${b}, ${en}] lie outside the ${dataLen}-byte data section`);
    if (en - b !== bytes) bad(`tensor ${name}: data_offsets span ${en - b} bytes, shape [${shape.join(', ')}] ${dtype} needs ${bytes}`);
    spans.push([b, en, name]);
    const abs = buf.byteOffset + dataStart + b;
    // Copy unaligned tensors so that typed views are valid; aligned ones are views.
    const item = ITEM[dtype];
    const bytesView = abs % item === 0 ? new Uint8Array(buf.buffer, abs, bytes) : new Uint8Array(buf.buffer.slice(abs, abs + bytes));
    tensors.set(name, { name, dtype, shape, data: bytesView });
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let pos = 0;
  for (const [b, en, name] of spans) {
    if (b < pos) bad(`tensor ${name} overlaps the tensor before it (starts at ${b}, previous ends at ${pos})`);
    if (b > pos) bad(`a hole of ${b - pos} bytes lies before tensor ${name} (safetensors data must be contiguous)`);
    pos = en;
  }
  if (pos !== dataLen) bad(`${dataLen - pos} trailing bytes after the last tensor`);
  return { tensors, metadata };
}

/** The values of a tensor as a typed array of its dtype (F32, I32, U32, I8, U8 only). */
export function typedData(t: StTensor): Float32Array | Int32Array | Uint32Array | Int8Array | Uint8Array {
  const d = t.data;
  const n = t.shape.reduce((a, b) => a * b, 1);
  switch (t.dtype) {
    case 'F32':
      return new Float32Array(d.buffer, d.byteOffset, n);
    case 'I32':
      return new Int32Array(d.buffer, d.byteOffset, n);
    case 'U32':
      return new Uint32Array(d.buffer, d.byteOffset, n);
    case 'I8':
      return new Int8Array(d.buffer, d.byteOffset, n);
    case 'U8':
      return new Uint8Array(d.buffer, d.byteOffset, n);
    default:
      throw new F8Error('UNSUPPORTED', `tensor ${t.name}: dtype ${t.dtype} is not supported here (F32, I32, U32, I8, U8)`);
  }
}
