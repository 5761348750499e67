/**
 * ONNX files: the initializers (named tensors) of a ModelProto, its graph's input and output
 * names and its metadata_props; and a writer of initializer-only models for tests and tools.
 *
 * Files are untrusted input. Reading walks the protobuf wire format itself, over only the fields
 * it needs (ModelProto 1 ir_version, 2-3 producer, 7 graph, 14 metadata_props; GraphProto 5
 * initializer, 11 input, 12 output, 15 sparse_initializer; TensorProto; ValueInfoProto 1 name),
 * and skips the rest (nodes, types) after checking that their lengths fit. Every length must fit
 * inside its enclosing message, every varint within 10 bytes; dims must be non-negative safe
 * integers whose product times the item size equals the data's length; tensors keep views of
 * raw_data, and the only allocations that grow with the file (typed fields such as float_data
 * decoded to arrays, copies of unaligned raw_data) share a budget of the file's size plus 1 MiB.
 * protobufjs' decoder is not used for reading: it truncates length varints to 32 bits (a length
 * of 2^40 reads as 0 and decoding carries on in garbage), decodes every node attribute, and
 * makes one Long object per int64 value. Writing uses onnx-proto (protobufjs static code).
 *
 * @example
 *   writeFileAtomic('w.onnx', [encodeOnnxInitializers([{ name: 'fc.weight', dtype: 'F32', shape: [2, 3], data: w }])]);
 *   const { initializers } = readOnnx('w.onnx');
 */
import { readUntrusted } from './untrusted.js';
import onnxProto from 'onnx-proto';
import { F8Error } from '../runtime/errors.js';
import type { StDType, StTensor } from './safetensors.js';

const { onnx } = onnxProto;

export interface OnnxFile {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  /** Graph input and output names (inputs may include initializers in IR < 4 files). */
  inputs: string[];
  outputs: string[];
  metadata: Record<string, string>;
  initializers: Map<string, StTensor>;
}

/** ONNX TensorProto.DataType: name, our dtype where supported, and the typed field that holds it. */
const TYPES: Record<number, { name: string; st?: StDType; field?: number }> = {
  0: { name: 'UNDEFINED' },
  1: { name: 'FLOAT', st: 'F32', field: 4 },
  2: { name: 'UINT8', st: 'U8', field: 5 },
  3: { name: 'INT8', st: 'I8', field: 5 },
  4: { name: 'UINT16' },
  5: { name: 'INT16', st: 'I16', field: 5 },
  6: { name: 'INT32', st: 'I32', field: 5 },
  7: { name: 'INT64', st: 'I64', field: 7 },
  8: { name: 'STRING' },
  9: { name: 'BOOL', st: 'BOOL', field: 5 },
  10: { name: 'FLOAT16', st: 'F16', field: 5 },
  11: { name: 'DOUBLE', st: 'F64', field: 10 },
  12: { name: 'UINT32', st: 'U32', field: 11 },
  13: { name: 'UINT64' },
  14: { name: 'COMPLEX64' },
  15: { name: 'COMPLEX128' },
  16: { name: 'BFLOAT16', st: 'BF16', field: 5 },
  17: { name: 'FLOAT8E4M3FN' },
  18: { name: 'FLOAT8E4M3FNUZ' },
  19: { name: 'FLOAT8E5M2' },
  20: { name: 'FLOAT8E5M2FNUZ' },
  21: { name: 'UINT4' },
  22: { name: 'INT4' },
  23: { name: 'FLOAT4E2M1' },
};
const SUPPORTED = Object.values(TYPES).filter((t) => t.st).map((t) => t.name).join(', ');
const ONNX_OF: Partial<Record<StDType, number>> = Object.fromEntries(
  Object.entries(TYPES)
    .filter(([, t]) => t.st)
    .map(([k, t]) => [t.st, Number(k)]),
);
const ITEM: Record<StDType, number> = { F64: 8, I64: 8, F32: 4, I32: 4, U32: 4, F16: 2, BF16: 2, I16: 2, I8: 1, U8: 1, BOOL: 1 };
const FIELD_NAMES: Record<number, string> = { 4: 'float_data', 5: 'int32_data', 7: 'int64_data', 10: 'double_data', 11: 'uint64_data' };

/** protobuf's own limit; bigger models keep weights as external data. */
const MAX_FILE = 2 ** 31;
const MAX_RANK = 64;
const MAX_ENTRIES = 100_000;
const SLACK = 1 << 20;

type Bad = (what: string) => never;

/** One varint at `pos` (< end): the low and high 32 bits and the position after it. */
interface Varint {
  lo: number;
  hi: number;
  next: number;
}

function varint(buf: Uint8Array, pos: number, end: number, bad: Bad): Varint {
  let lo = 0;
  let hi = 0;
  const start = pos;
  for (let i = 0; ; i++) {
    if (i === 10) bad(`varint at byte ${start} is longer than 10 bytes`);
    if (pos >= end) bad(`varint at byte ${start} runs past the end of its message`);
    const b = buf[pos++];
    if (i < 4) lo |= (b & 0x7f) << (7 * i);
    else if (i === 4) {
      lo |= (b & 0x0f) << 28;
      hi = (b & 0x7f) >> 4;
    } else hi |= (b & 0x7f) << (7 * i - 32);
    if (b < 0x80) return { lo: lo >>> 0, hi: hi >>> 0, next: pos };
  }
}

/** Unsigned value; exact below 2^53 (larger ones only ever fail a bound). */
const unsigned = (v: Varint) => v.hi * 4294967296 + v.lo;
/** int64 value as a number (two's complement in 64 bits). */
const signed64 = (v: Varint) => (v.hi >= 0x80000000 ? (v.hi - 4294967296) * 4294967296 + v.lo : unsigned(v));

/**
 * Visits the fields of the message in buf[start, end): for wire type 2 the payload's span, for
 * 0 the varint's span, for 1 and 5 the 8 or 4 bytes.
 */
function walk(buf: Uint8Array, start: number, end: number, bad: Bad, visit: (field: number, wire: number, a: number, b: number) => void): void {
  let pos = start;
  while (pos < end) {
    const at = pos;
    const t = varint(buf, pos, end, bad);
    pos = t.next;
    const key = unsigned(t);
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field < 1 || field >= 2 ** 29) bad(`field number ${field} at byte ${at} is out of range (not protobuf?)`);
    let a = pos;
    switch (wire) {
      case 0:
        pos = varint(buf, pos, end, bad).next;
        break;
      case 1:
      case 5: {
        const n = wire === 1 ? 8 : 4;
        if (end - pos < n) bad(`field ${field} at byte ${at} needs ${n} bytes, ${end - pos} remain in its message`);
        pos += n;
        break;
      }
      case 2: {
        const l = varint(buf, pos, end, bad);
        const len = unsigned(l);
        a = l.next;
        if (len > end - a) bad(`field ${field} at byte ${at} claims ${len} bytes, ${end - a} remain in its message`);
        pos = a + len;
        break;
      }
      default:
        bad(`field ${field} at byte ${at} has wire type ${wire} (${wire === 3 || wire === 4 ? 'groups are not used by ONNX' : 'invalid'}; not protobuf?)`);
    }
    visit(field, wire, a, pos);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses ONNX ModelProto bytes; `source` names the file in errors. */
export function decodeOnnx(buf: Uint8Array, source: string): OnnxFile {
  const bad: Bad = (what) => {
    throw new F8Error('BAD_INPUT', `${source}: ${what}`);
  };
  const text = (a: number, b: number, what: string): string => {
    try {
      return utf8.decode(buf.subarray(a, b));
    } catch {
      return bad(`${what} is not valid UTF-8`);
    }
  };
  const wireIs = (wire: number, want: number, what: string) => {
    if (wire !== want) bad(`not an ONNX model (${what} has wire type ${wire}, expected ${want})`);
  };
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let budget = buf.byteLength + SLACK;
  const spend = (bytes: number, what: string) => {
    budget -= bytes;
    if (budget < 0) bad(`${what}: decoded tensors would take more memory than the file's ${buf.byteLength} bytes allow`);
  };

  const out: OnnxFile = { irVersion: 0, producerName: '', producerVersion: '', inputs: [], outputs: [], metadata: {}, initializers: new Map() };
  let graph = null as [number, number] | null;
  let haveIr = false;
  walk(buf, 0, buf.byteLength, (w) => bad(`not an ONNX model (invalid protobuf: ${w})`), (f, wire, a, b) => {
    if (f === 1) {
      wireIs(wire, 0, 'ModelProto.ir_version');
      out.irVersion = signed64(varint(buf, a, b, bad));
      haveIr = true;
    } else if (f === 2 || f === 3) {
      wireIs(wire, 2, 'ModelProto.producer');
      out[f === 2 ? 'producerName' : 'producerVersion'] = text(a, b, 'producer');
    } else if (f === 7) {
      wireIs(wire, 2, 'ModelProto.graph');
      graph = [a, b];
    } else if (f === 14) {
      wireIs(wire, 2, 'ModelProto.metadata_props');
      if (Object.keys(out.metadata).length >= MAX_ENTRIES) bad(`more than ${MAX_ENTRIES} metadata entries`);
      let key = '';
      let value = '';
      walk(buf, a, b, bad, (g, w2, c, d) => {
        if (g === 1 || g === 2) {
          wireIs(w2, 2, 'metadata_props entry');
          if (g === 1) key = text(c, d, 'metadata key');
          else value = text(c, d, `metadata ${key}`);
        }
      });
      if (key === '__proto__') bad('metadata key __proto__ is not allowed');
      out.metadata[key] = value;
    }
  });
  if (!haveIr || out.irVersion < 1) bad('not an ONNX model (no ir_version)');
  if (!graph) bad('not an ONNX model (no graph)');
  const [ga, gb] = graph!;
  const tensors: [number, number][] = [];
  walk(buf, ga, gb, bad, (f, wire, a, b) => {
    if (f === 5) {
      wireIs(wire, 2, 'GraphProto.initializer');
      if (tensors.length >= MAX_ENTRIES) bad(`more than ${MAX_ENTRIES} initializers`);
      tensors.push([a, b]);
    } else if (f === 11 || f === 12) {
      wireIs(wire, 2, 'GraphProto.input/output');
      const list = f === 11 ? out.inputs : out.outputs;
      if (list.length >= MAX_ENTRIES) bad(`more than ${MAX_ENTRIES} graph inputs or outputs`);
      let name = '';
      walk(buf, a, b, bad, (g, w2, c, d) => {
        if (g === 1) {
          wireIs(w2, 2, 'ValueInfoProto.name');
          name = text(c, d, 'graph input/output name');
        }
      });
      list.push(name);
    } else if (f === 15) {
      bad('sparse initializers are not supported (save the model with dense initializers)');
    }
  });
  tensors.forEach(([a, b], i) => {
    const t = decodeTensor(buf, dv, a, b, i, bad, text, spend);
    if (out.initializers.has(t.name)) bad(`initializer ${t.name} appears twice`);
    out.initializers.set(t.name, t);
  });
  return out;
}

/** One TensorProto in buf[a, b): two passes (describe, then fill typed fields). */
function decodeTensor(
  buf: Uint8Array,
  dv: DataView,
  a: number,
  b: number,
  index: number,
  bad0: Bad,
  text: (a: number, b: number, what: string) => string,
  spend: (bytes: number, what: string) => void,
): StTensor {
  let name = '';
  const dims: number[] = [];
  let dataType = -1;
  let raw = null as [number, number] | null;
  let external = false;
  let location = '';
  let segment = false;
  let strings = false;
  const counts = new Map<number, number>();
  const bad: Bad = (w) => bad0(`initializer ${name || `#${index}`}: ${w}`);
  const count = (f: number, n: number) => counts.set(f, (counts.get(f) ?? 0) + n);
  walk(buf, a, b, bad, (f, wire, c, d) => {
    switch (f) {
      case 1: {
        const add = (v: Varint) => {
          if (dims.length >= MAX_RANK) bad(`more than ${MAX_RANK} dims`);
          dims.push(signed64(v));
        };
        if (wire === 2) {
          for (let p = c; p < d; ) {
            const v = varint(buf, p, d, bad);
            add(v);
            p = v.next;
          }
        } else if (wire === 0) add(varint(buf, c, d, bad));
        else bad(`dims has wire type ${wire}`);
        break;
      }
      case 2:
        if (wire !== 0) bad(`data_type has wire type ${wire}`);
        dataType = signed64(varint(buf, c, d, bad));
        break;
      case 3:
        segment = true;
        break;
      case 4:
      case 10: {
        const n = f === 4 ? 4 : 8;
        if (wire === 2) {
          if ((d - c) % n) bad(`packed ${FIELD_NAMES[f]} of ${d - c} bytes is not a multiple of ${n}`);
          count(f, (d - c) / n);
        } else if (wire === (f === 4 ? 5 : 1)) count(f, 1);
        else bad(`${FIELD_NAMES[f]} has wire type ${wire}`);
        break;
      }
      case 5:
      case 7:
      case 11:
        if (wire === 2) {
          if (d > c && buf[d - 1] >= 0x80) bad(`packed ${FIELD_NAMES[f]} ends inside a varint`);
          let n = 0;
          for (let p = c; p < d; p++) if (buf[p] < 0x80) n++;
          count(f, n);
        } else if (wire === 0) count(f, 1);
        else bad(`${FIELD_NAMES[f]} has wire type ${wire}`);
        break;
      case 6:
        strings = true;
        break;
      case 8:
        if (wire !== 2) bad(`name has wire type ${wire}`);
        name = text(c, d, `initializer #${index} name`);
        break;
      case 9:
        if (wire !== 2) bad(`raw_data has wire type ${wire}`);
        raw = [c, d];
        break;
      case 13:
        external = true;
        if (wire === 2) {
          let key = '';
          walk(buf, c, d, bad, (g, w2, e, h) => {
            if (w2 !== 2) return;
            if (g === 1) key = text(e, h, 'external_data key');
            else if (g === 2 && key === 'location') location = text(e, h, 'external_data location');
          });
        }
        break;
      case 14:
        if (wire === 0 && signed64(varint(buf, c, d, bad)) === 1) external = true;
        break;
    }
  });
  if (!name) bad('has no name');
  if (external) bad(`data is in an external file${location ? ` (${JSON.stringify(location.slice(0, 200))})` : ''}; save the model with its weights inside (torch.onnx.export(..., external_data=False), or onnx.save_model(m, f, save_as_external_data=False))`);
  if (segment) bad('is segmented (TensorProto.segment), which is not supported');
  const type = TYPES[dataType];
  if (!type?.st) {
    bad(`data type ${type ? `${type.name} (${dataType})` : `${dataType} (unknown)`} is not supported; supported: ${SUPPORTED}`);
  }
  if (strings) bad('has string_data, which a numeric tensor cannot have');
  const st = type!.st!;
  const item = ITEM[st];
  let n = 1;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) bad(`dims [${dims.join(', ')}] are not non-negative integers`);
    n *= d;
    if (!Number.isSafeInteger(n * item) || n * item > buf.byteLength + SLACK) bad(`dims [${dims.join(', ')}] need more bytes than the file has`);
  }
  const bytes = n * item;
  const shape = dims;
  for (const [f, c] of counts) {
    if (f !== type!.field) bad(`has ${c} values in ${FIELD_NAMES[f]}, but ${type!.name} data belongs in ${FIELD_NAMES[type!.field!]} or raw_data`);
  }
  const typed = counts.get(type!.field!) ?? 0;
  if (raw) {
    const [c, d] = raw;
    if (typed) bad(`has both raw_data and ${FIELD_NAMES[type!.field!]}`);
    if (d - c !== bytes) bad(`raw_data has ${d - c} bytes, dims [${shape.join(', ')}] ${type!.name} need ${bytes}`);
    const abs = buf.byteOffset + c;
    if (abs % item === 0) return { name, dtype: st, shape, data: new Uint8Array(buf.buffer, abs, bytes) };
    spend(bytes, `initializer ${name}`);
    return { name, dtype: st, shape, data: new Uint8Array(buf.buffer.slice(abs, abs + bytes)) };
  }
  if (typed !== n) bad(`has ${typed} values in ${FIELD_NAMES[type!.field!]}, dims [${shape.join(', ')}] need ${n}`);
  spend(bytes, `initializer ${name}`);
  const data = new Uint8Array(bytes);
  const ov = new DataView(data.buffer);
  let k = 0;
  const put = (v: Varint) => {
    switch (st) {
      case 'I64':
        ov.setUint32(8 * k, v.lo, true);
        ov.setUint32(8 * k + 4, v.hi, true);
        break;
      case 'U32':
        if (v.hi !== 0) bad(`uint64_data value ${unsigned(v)} does not fit UINT32`);
        ov.setUint32(4 * k, v.lo, true);
        break;
      case 'I32':
        ov.setInt32(4 * k, v.lo | 0, true);
        break;
      case 'I16':
      case 'F16':
      case 'BF16':
        ov.setUint16(2 * k, v.lo & 0xffff, true);
        break;
      default:
        data[k] = v.lo & 0xff;
    }
    k++;
  };
  walk(buf, a, b, bad, (f, wire, c, d) => {
    if (f !== type!.field) return;
    if (f === 4 || f === 10) {
      const w = f === 4 ? 4 : 8;
      for (let p = c; p < d; p += w, k++) {
        if (w === 4) ov.setFloat32(4 * k, dv.getFloat32(p, true), true);
        else ov.setFloat64(8 * k, dv.getFloat64(p, true), true);
      }
    } else if (wire === 2) {
      for (let p = c; p < d; ) {
        const v = varint(buf, p, d, bad);
        put(v);
        p = v.next;
      }
    } else put(varint(buf, c, d, bad));
  });
  return { name, dtype: st, shape, data };
}

/** Reads and validates an ONNX file's initializers (see decodeOnnx). */
export function readOnnx(file: string): OnnxFile {
  // protobuf's 2 GiB limit: larger models keep weights as external data, which f8net does not read.
  return decodeOnnx(readUntrusted(file, { what: 'an ONNX file (under protobuf\'s 2 GiB limit; external data is not read)', maxBytes: MAX_FILE - 1 }), file);
}

export interface OnnxWriteOptions {
  inputs?: string[];
  outputs?: string[];
  metadata?: Record<string, string>;
  /** Write F32 tensors to float_data instead of raw_data (as some exporters do). */
  typedFields?: boolean;
  producerName?: string;
}

/**
 * A ModelProto (IR 8, opset 13) whose graph holds only the given initializers (and input/output
 * names): the bytes of an .onnx file.
 */
export function encodeOnnxInitializers(tensors: StTensor[], opts: OnnxWriteOptions = {}): Uint8Array {
  const initializer = tensors.map((t) => {
    const dataType = ONNX_OF[t.dtype];
    if (dataType === undefined) throw new F8Error('UNSUPPORTED', `onnx: tensor ${t.name}: dtype ${t.dtype} has no ONNX type here`);
    const n = t.shape.reduce((x, y) => x * y, 1);
    const bytes = n * ITEM[t.dtype];
    if (t.data.byteLength < bytes) throw new F8Error('SHAPE_MISMATCH', `onnx: tensor ${t.name} has ${t.data.byteLength} bytes, shape [${t.shape}] ${t.dtype} needs ${bytes}`);
    const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, bytes);
    const base = { name: t.name, dims: t.shape, dataType };
    if (opts.typedFields && t.dtype === 'F32') return onnx.TensorProto.create({ ...base, floatData: [...new Float32Array(raw.slice().buffer)] });
    return onnx.TensorProto.create({ ...base, rawData: raw });
  });
  const vi = (name: string) => onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: 1 } } });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: opts.producerName ?? 'f8net',
    opsetImport: [{ domain: '', version: 13 }],
    graph: { name: 'weights', initializer, input: (opts.inputs ?? []).map(vi), output: (opts.outputs ?? []).map(vi) },
    metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
  });
  return onnx.ModelProto.encode(model).finish();
}
