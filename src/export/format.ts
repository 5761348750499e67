/**
 * The integer model file format (docs/INT_MODEL.md): a directory holding
 *  - model.json: the graph of ./graph.ts (format, version, producer, model, input, output,
 *    values, nodes, layers), a `tensors` table name -> { dtype, shape, offset, length } into
 *    weights.bin, and `weights` { bytes, sha256 } that ties the two files together;
 *  - weights.bin: the tensors' raw little-endian bytes, back to back in offset order, each
 *    starting at a multiple of 4 (zero padding between them).
 *
 * Files are untrusted input. The reader checks sizes against the real files before it reads
 * or allocates anything (model.json <= 64 MiB; weights.bin exactly the size the table declares,
 * <= 2 GiB), checks the table (dtypes, shapes, offsets, lengths, layout) against those sizes,
 * the SHA-256 of weights.bin, then the whole graph (./validate.ts). Every problem is an
 * F8Error('BAD_INPUT') naming the file. The writer validates first, writes both files under
 * temporary names in the directory, then renames weights.bin and model.json over the old ones;
 * the hash makes a reader refuse the pair if a crash fell between the two renames.
 *
 * Reading and writing the two files is src/node/int-model-files.ts; this module works on bytes.
 *
 * @example
 *   writeIntModel('runs/x/int', g);                    // src/node/int-model-files.ts
 *   const g2 = readIntModel('runs/x/int');            // or 'runs/x/int/model.json'
 *   const { json, bin } = serializeIntModel(g);        // bytes only, no files
 *   const g3 = parseIntModel(json, bin, 'runs/x/int'); // names files in errors as runs/x/int/model.json
 */
import { F8Error } from '../runtime/errors.js';
import { checkJsonDepth, MAX_TEXT_DEPTH } from '../io/text-limits.js';
import { sha256Hex } from '../runtime/sha256.js';
import { baseName as basename, joinPath as join } from '../runtime/paths.js';
import { INT_MODEL_FORMAT, INT_MODEL_VERSION, type IntGraph, type IntNode, type IntTensor } from './graph.js';
import { badName, validateGraph } from './validate.js';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';
export const MAX_JSON_BYTES = 64 * 2 ** 20;
export const MAX_WEIGHTS_BYTES = 2 * 2 ** 30;

const ITEM = { int8: 1, int32: 4 } as const;

/** The fields of every JSON object, in the order the writer puts them. */
const FIELDS = {
  top: ['format', 'version', 'producer', 'model', 'input', 'output', 'values', 'nodes', 'layers', 'tensors', 'weights'],
  model: ['name', 'args', 'dataset', 'classes', 'checkpoint', 'classNames'],
  input: ['name', 'dtype', 'shape', 'fl', 'scale', 'mean', 'std', 'headForm'],
  output: ['name', 'fl', 'classifierForm'],
  value: ['name', 'dtype', 'shape', 'fl'],
  layer: ['name', 'inputSigned', 'inputFl', 'weightFl', 'alpha'],
  epilogue: ['relu', 'shift', 'out'],
  tensor: ['dtype', 'shape', 'offset', 'length'],
  weights: ['bytes', 'sha256'],
} as const;
const NODE_FIELDS: Record<IntNode['op'], readonly string[]> = {
  conv: ['name', 'op', 'input', 'output', 'weight', 'bias', 'stride', 'padding', 'dilation', 'groups', 'epilogue'],
  linear: ['name', 'op', 'input', 'output', 'weight', 'bias', 'epilogue'],
  maxpool: ['name', 'op', 'input', 'output', 'kernel', 'stride', 'padding'],
  sumpool: ['name', 'op', 'input', 'output', 'epilogue', 'divisor'],
  add: ['name', 'op', 'inputs', 'output', 'relu', 'shifts', 'epilogue'],
  requant: ['name', 'op', 'input', 'output', 'epilogue'],
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const align4 = (n: number): number => Math.ceil(n / 4) * 4;
const show = (v: unknown): string => {
  const s = typeof v === 'number' ? String(v) : (JSON.stringify(v) ?? String(v));
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

function badInput(file: string, msg: string): never {
  throw new F8Error('BAD_INPUT', `${file}: ${msg}`);
}

const OPTIONAL_FIELDS: ReadonlySet<string> = new Set(['classNames', 'headForm', 'classifierForm', 'divisor']);

/** A copy of `raw` with exactly `fields` (none missing, none unknown); nested objects by `nested`. */
function pick(raw: unknown, fields: readonly string[], what: string, file: string): Obj {
  if (!isObj(raw)) badInput(file, `${what} is ${show(raw)}, expected an object`);
  for (const k of Object.keys(raw)) if (!fields.includes(k)) badInput(file, `${what}: unknown field "${k}" (expected ${fields.join(', ')})`);
  const out: Obj = {};
  for (const f of fields) {
    if (!Object.hasOwn(raw, f)) {
      // Added in a later release; files without it stay readable.
      if (OPTIONAL_FIELDS.has(f)) continue;
      badInput(file, `${what}: missing field "${f}"`);
    }
    out[f] = raw[f];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writing.

/** One line of JSON per array element and per tensor, so model.json reads and diffs well. */
function formatJson(doc: Obj): string {
  const lines = Object.entries(doc).map(([k, v]) => {
    let s: string;
    if (Array.isArray(v) && v.length > 0 && v.every(isObj)) s = `[\n${v.map((e) => `    ${JSON.stringify(e)}`).join(',\n')}\n  ]`;
    else if (k === 'tensors' && isObj(v) && Object.keys(v).length > 0) s = `{\n${Object.entries(v).map(([n, e]) => `    ${JSON.stringify(n)}: ${JSON.stringify(e)}`).join(',\n')}\n  }`;
    else s = JSON.stringify(v);
    return `  ${JSON.stringify(k)}: ${s}`;
  });
  return `{\n${lines.join(',\n')}\n}\n`;
}

function encode(g: IntGraph, where: string): { json: string; bin: Uint8Array } {
  validateGraph(g, where);
  const table: Obj = {};
  const names = Object.keys(g.tensors);
  let pos = 0;
  for (const n of names) {
    const t = g.tensors[n];
    const offset = align4(pos);
    const length = t.data.byteLength;
    table[n] = { dtype: t.dtype, shape: [...t.shape], offset, length };
    pos = offset + length;
  }
  const total = align4(pos);
  if (total > MAX_WEIGHTS_BYTES) throw new F8Error('BAD_INPUT', `${where}: ${total} bytes of tensors exceed the ${MAX_WEIGHTS_BYTES}-byte limit of weights.bin`);
  const bin = new Uint8Array(total);
  const dv = new DataView(bin.buffer);
  for (const n of names) {
    const t = g.tensors[n];
    const { offset } = table[n] as { offset: number };
    if (t.dtype === 'int8') bin.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), offset);
    else t.data.forEach((v, i) => dv.setInt32(offset + 4 * i, v, true));
  }
  const sha256 = sha256Hex(bin);
  const keep = (o: object, fields: readonly string[]): Obj => Object.fromEntries(fields.filter((f) => (o as Obj)[f] !== undefined).map((f) => [f, (o as Obj)[f]]));
  const doc: Obj = {
    format: g.format,
    version: g.version,
    producer: g.producer,
    model: keep(g.model, FIELDS.model),
    input: keep(g.input, FIELDS.input),
    output: keep(g.output, FIELDS.output),
    values: g.values.map((v) => keep(v, FIELDS.value)),
    nodes: g.nodes.map((nd) => {
      const o = keep(nd, NODE_FIELDS[nd.op]);
      if ('epilogue' in nd) o.epilogue = keep(nd.epilogue, FIELDS.epilogue);
      return o;
    }),
    layers: g.layers.map((l) => keep(l, FIELDS.layer)),
    tensors: table,
    weights: { bytes: total, sha256 },
  };
  let json: string;
  try {
    json = formatJson(doc);
  } catch (e) {
    // model.args is free-form: a BigInt or a cycle there cannot be written as JSON.
    throw new F8Error('BAD_INPUT', `${where}: model.args cannot be written as JSON (${(e as Error).message})`);
  }
  return { json, bin };
}

/**
 * model.json text and weights.bin bytes of a graph (validated first).
 * @example const { json, bin } = serializeIntModel(g);
 */
export function serializeIntModel(g: IntGraph): { json: string; bin: Uint8Array } {
  return encode(g, 'serializeIntModel');
}

interface TableEntry {
  name: string;
  dtype: 'int8' | 'int32';
  shape: number[];
  offset: number;
  length: number;
}

interface ParsedDoc {
  doc: Obj;
  entries: TableEntry[];
  /** Bytes weights.bin must have. */
  total: number;
  sha256: string;
}

/**
 * model.json -> header checks and the tensor table checked against the size of weights.bin
 * (known from the file system before the file is read).
 */
function parseDoc(json: string | Uint8Array, file: string, binSize: number, binFile: string): ParsedDoc {
  if (binSize > MAX_WEIGHTS_BYTES) badInput(binFile, `${binSize} bytes exceed the ${MAX_WEIGHTS_BYTES}-byte limit of weights.bin`);
  const bytes = typeof json === 'string' ? json.length : json.byteLength;
  if (bytes > MAX_JSON_BYTES) badInput(file, `${bytes} bytes exceed the ${MAX_JSON_BYTES}-byte limit of model.json`);
  let text: string;
  if (typeof json === 'string') text = json;
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(json);
    } catch {
      badInput(file, 'is not valid UTF-8 text');
    }
  }
  let doc: unknown;
  // Checked before JSON.parse and the recursive graph walk: '[' * 100000 is a one-line error.
  checkJsonDepth(text, file, MAX_TEXT_DEPTH);
  try {
    doc = JSON.parse(text);
  } catch (e) {
    // V8 quotes the text around the error, newlines included: keep the message one short line.
    const why = (e as Error).message.replace(/[\u0000-\u001f\u007f\s]+/g, ' ').slice(0, 160);
    badInput(file, `is not valid JSON (${why})`);
  }
  if (!isObj(doc)) badInput(file, `is ${show(doc)}, expected a JSON object`);
  if (doc.format !== INT_MODEL_FORMAT) badInput(file, `not an f8net integer model (format is ${show(doc.format ?? null)}, expected "${INT_MODEL_FORMAT}")`);
  if (doc.version !== INT_MODEL_VERSION) badInput(file, `integer model version ${show(doc.version ?? null)} is not supported (this f8net reads version ${INT_MODEL_VERSION})`);
  const top = pick(doc, FIELDS.top, 'the model', file);

  const w = pick(top.weights, FIELDS.weights, 'weights', file);
  if (!Number.isSafeInteger(w.bytes) || (w.bytes as number) < 0) badInput(file, `weights.bytes is ${show(w.bytes)}, expected a non-negative integer`);
  if (typeof w.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(w.sha256)) badInput(file, `weights.sha256 is ${show(w.sha256)}, expected 64 lowercase hex digits`);

  if (!isObj(top.tensors)) badInput(file, `tensors is ${show(top.tensors)}, expected an object (name -> { dtype, shape, offset, length })`);
  const entries: TableEntry[] = [];
  for (const [name, raw] of Object.entries(top.tensors)) {
    const why = badName(name);
    if (why) badInput(file, `tensors: ${why}`);
    const what = `tensor ${name}`;
    const e = pick(raw, FIELDS.tensor, what, file);
    if (e.dtype !== 'int8' && e.dtype !== 'int32') badInput(file, `${what}: unknown dtype ${show(e.dtype)} (expected "int8" or "int32")`);
    const dtype = e.dtype as 'int8' | 'int32';
    for (const k of ['offset', 'length'] as const) {
      if (!Number.isSafeInteger(e[k]) || (e[k] as number) < 0) badInput(file, `${what}: ${k} is ${show(e[k])}, expected a non-negative integer`);
    }
    const offset = e.offset as number;
    const length = e.length as number;
    if (offset % 4 !== 0) badInput(file, `${what}: offset ${offset} is not a multiple of 4`);
    const shape = e.shape;
    if (!Array.isArray(shape) || shape.length < 1 || shape.length > 4 || shape.some((d) => !Number.isSafeInteger(d) || d < 1)) {
      badInput(file, `${what}: shape ${show(shape)} is not a list of 1 to 4 positive integers`);
    }
    // The product is compared with the declared length step by step: no overflow, no allocation.
    let need = ITEM[dtype];
    for (const d of shape as number[]) {
      need *= d;
      if (need > length) badInput(file, `${what}: shape [${(shape as number[]).join(', ')}] ${dtype} needs more than its length of ${length} bytes`);
    }
    if (need !== length) badInput(file, `${what}: length ${length} bytes, shape [${(shape as number[]).join(', ')}] ${dtype} needs ${need}`);
    if (offset + length > binSize) badInput(file, `${what}: offset ${offset} + length ${length} exceeds ${basename(binFile)} (${binSize} bytes)`);
    entries.push({ name, dtype, shape: shape as number[], offset, length });
  }
  // Back to back in offset order, each 4-byte aligned: no overlap and no hidden bytes.
  const sorted = [...entries].sort((a, b) => a.offset - b.offset || a.length - b.length);
  let end = 0;
  for (const e of sorted) {
    if (e.offset !== align4(end)) {
      badInput(file, `tensor ${e.name}: offset ${e.offset}, expected ${align4(end)} (tensors lie back to back in offset order, each 4-byte aligned${e.offset < end ? '; this one overlaps the previous' : ''})`);
    }
    end = e.offset + e.length;
  }
  const total = align4(end);
  if (w.bytes !== total) badInput(file, `weights.bytes is ${w.bytes}, the tensor table needs ${total}`);
  if (binSize !== total) badInput(binFile, `has ${binSize} bytes, the tensor table of ${basename(file)} declares ${total}`);
  return { doc: top, entries, total, sha256: w.sha256 as string };
}

/** The IntGraph from a checked doc and weights.bin bytes; validated. */
function buildGraph(p: ParsedDoc, bin: Uint8Array, file: string, binFile: string): IntGraph {
  if (bin.byteLength !== p.total) badInput(binFile, `has ${bin.byteLength} bytes, the tensor table of ${basename(file)} declares ${p.total}`);
  const sha = sha256Hex(bin);
  if (sha !== p.sha256) badInput(binFile, `SHA-256 ${sha} differs from weights.sha256 in ${basename(file)} (damaged, or not the weights of this model.json)`);
  const tensors: Record<string, IntTensor> = {};
  for (const e of p.entries) {
    const at = bin.byteOffset + e.offset;
    let data: Int8Array | Int32Array;
    if (e.dtype === 'int8') data = new Int8Array(bin.buffer.slice(at, at + e.length));
    else {
      const dv = new DataView(bin.buffer, at, e.length);
      data = new Int32Array(e.length / 4);
      for (let i = 0; i < data.length; i++) data[i] = dv.getInt32(4 * i, true);
    }
    // defineProperty: a tensor may be named "__proto__" without touching the prototype.
    Object.defineProperty(tensors, e.name, { value: { dtype: e.dtype, shape: e.shape, data }, enumerable: true, writable: true, configurable: true });
  }
  const d = p.doc;
  const arr = (v: unknown, what: string): unknown[] => {
    if (!Array.isArray(v)) badInput(file, `${what} is ${show(v)}, expected an array`);
    return v as unknown[];
  };
  const nodes = arr(d.nodes, 'nodes').map((raw, i) => {
    const op = isObj(raw) ? raw.op : undefined;
    const label = isObj(raw) && typeof raw.name === 'string' ? `node ${raw.name}` : `nodes[${i}]`;
    if (typeof op !== 'string' || !Object.hasOwn(NODE_FIELDS, op)) badInput(file, `${label}: unknown op ${show(op ?? null)} (expected one of ${Object.keys(NODE_FIELDS).join(', ')})`);
    const n = pick(raw, NODE_FIELDS[op as IntNode['op']], label, file);
    if ('epilogue' in n) n.epilogue = pick(n.epilogue, FIELDS.epilogue, `${label}: epilogue`, file);
    return n;
  });
  const g = {
    format: d.format,
    version: d.version,
    producer: d.producer,
    model: pick(d.model, FIELDS.model, 'model', file),
    input: pick(d.input, FIELDS.input, 'input', file),
    output: pick(d.output, FIELDS.output, 'output', file),
    values: arr(d.values, 'values').map((v, i) => pick(v, FIELDS.value, `values[${i}]`, file)),
    nodes,
    tensors,
    layers: arr(d.layers, 'layers').map((l, i) => pick(l, FIELDS.layer, `layers[${i}]`, file)),
  } as unknown as IntGraph;
  validateGraph(g, file);
  return g;
}

/**
 * The graph from model.json (text or bytes) and weights.bin bytes, fully checked; no files.
 * `where` is the model directory, used to name the two files in errors.
 * @example parseIntModel(json, bin, 'runs/x/int')
 */
export function parseIntModel(json: string | Uint8Array, bin: Uint8Array, where: string): IntGraph {
  const file = join(where, MODEL_JSON);
  const binFile = join(where, WEIGHTS_BIN);
  return buildGraph(parseDoc(json, file, bin.byteLength, binFile), bin, file, binFile);
}

// For the file reader and writer of the Node platform (src/node/int-model-files.ts).
export { encode as encodeIntModel, parseDoc as parseIntModelDoc, buildGraph as buildIntGraph, badInput as badIntModelInput, type ParsedDoc };
