/**
 * The paper's checkpoints: torch zip pickles (`torch.save`, protocol 2: a zip holding
 * `<root>/data.pkl` and one raw little-endian storage per `<root>/data/<key>`).
 *
 * Reading is a restricted unpickler. It knows only the opcodes that build plain values, and
 * only the globals in GLOBALS; REDUCE calls nothing but those constructors, BUILD only sets an
 * OrderedDict's `_metadata`. Every other global or opcode (os.system, builtins.eval, INST, OBJ,
 * NEWOBJ, EXT*, ...) is refused with one line naming the file and what it asked for, before
 * anything runs. No size is trusted: zip entries are checked against the file's size before
 * inflating, tensors against their storage before any view is made. Legacy (non-zip) torch
 * pickles are refused with a line saying how to re-save them.
 *
 * Writing produces the same form, so torch.load reads it (tools/seed_roundtrip.py checks this
 * against the paper's code).
 *
 * @example
 *   const { tensors } = decodeTorchCheckpoint(bytes, 'best_model.pt'); // model state_dict, names as saved
 *   const out = encodeTorchCheckpoint([...tensors.values()]);          // files: src/node/torch-file.ts
 */
import { unzipSync, zipSync } from 'fflate';
import { F8Error } from '../runtime/errors.js';
import type { StDType, StTensor } from './safetensors.js';

/** Storage class name -> dtype and item size. */
const STORAGES: Record<string, [StDType, number]> = {
  FloatStorage: ['F32', 4],
  DoubleStorage: ['F64', 8],
  HalfStorage: ['F16', 2],
  BFloat16Storage: ['BF16', 2],
  LongStorage: ['I64', 8],
  IntStorage: ['I32', 4],
  ShortStorage: ['I16', 2],
  CharStorage: ['I8', 1],
  ByteStorage: ['U8', 1],
  BoolStorage: ['BOOL', 1],
};

class Global {
  constructor(readonly name: string) {}
}
class StorageRef {
  constructor(
    readonly dtype: StDType,
    readonly item: number,
    readonly key: string,
    readonly numel: number,
  ) {}
}
class OrderedDictVal {
  constructor(readonly map: Map<string, unknown>) {}
}
/** An instance of an inert class (INERT_CLASSES): built from its name only; its state is dropped. */
export class OpaqueObject {
  constructor(readonly className: string) {}
}
/** numpy.dtype('<code>'), as the arguments of a numpy scalar. */
class NumpyDtype {
  constructor(readonly code: string) {}
}
/** A tensor as the pickle describes it, resolved against its storage after parsing. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

/**
 * Plain classes of the paper's training checkpoints (latest_checkpoint.pt keeps its `meters`):
 * NEWOBJ makes an OpaqueObject of the name and BUILD drops its state; nothing of theirs is called.
 */
const INERT_CLASSES = new Set(['myutils.meters.ScalarMeter', 'myutils.meters.Meter']);

/** numpy scalars (the paper's best_val is one): decoded here from their dtype code and bytes. */
const NUMPY_SCALAR = { F: { f8: 8, f4: 4 }, I: { i8: 8, i4: 4 } } as const;

const GLOBALS = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  'torch.Size',
  ...Object.keys(STORAGES).map((s) => `torch.${s}`),
  // Data only, decoded without calling anything: numpy scalars and protocol-2 bytes.
  'numpy.core.multiarray.scalar',
  'numpy.dtype',
  '_codecs.encode',
  ...INERT_CLASSES,
]);

/** The value of numpy scalar bytes of dtype `code` (little-endian f8, f4, i8, i4), or null. */
function numpyScalar(code: string, b: Uint8Array): number | null {
  const c = code.replace(/^[<|=]/, '');
  const size = (NUMPY_SCALAR.F as Record<string, number>)[c] ?? (NUMPY_SCALAR.I as Record<string, number>)[c];
  if (size === undefined || b.length !== size) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (c === 'f8') return dv.getFloat64(0, true);
  if (c === 'f4') return dv.getFloat32(0, true);
  if (c === 'i4') return dv.getInt32(0, true);
  const v = dv.getBigInt64(0, true);
  return v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(v);
}

/** Limits: a checkpoint of the paper's largest network is ~100 MB; 8 GiB is far beyond any of them. */
const MAX_ENTRIES = 100_000;
const MAX_DEPTH = 64;

type Val = unknown;

/** Parses a protocol 2..5 pickle with the restricted opcode and global set. */
export function unpickle(buf: Uint8Array, source: string, persistent: (pid: Val) => Val): Val {
  const bad = (what: string): never => {
    throw new F8Error('BAD_INPUT', `${source}: refused: ${what} (only tensors, ordered dicts and plain values are read from a torch checkpoint)`);
  };
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let p = 0;
  const need = (n: number) => {
    if (n < 0 || p + n > buf.length) throw new F8Error('BAD_INPUT', `${source}: truncated pickle at byte ${p} (needs ${n} more)`);
  };
  const u8 = () => (need(1), buf[p++]);
  const u16 = () => (need(2), (p += 2), dv.getUint16(p - 2, true));
  const u32 = () => (need(4), (p += 4), dv.getUint32(p - 4, true));
  const i32 = () => (need(4), (p += 4), dv.getInt32(p - 4, true));
  const bytes = (n: number) => (need(n), (p += n), buf.subarray(p - n, p));
  const utf8 = (n: number) => {
    const b = bytes(n);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(b);
    } catch {
      return bad(`a string at byte ${p - n} that is not UTF-8`);
    }
  };
  const line = () => {
    const e = buf.indexOf(0x0a, p);
    if (e < 0) throw new F8Error('BAD_INPUT', `${source}: truncated pickle (line without end)`);
    const s = new TextDecoder().decode(buf.subarray(p, e));
    p = e + 1;
    return s;
  };
  const stack: Val[] = [];
  const marks: number[] = [];
  const memo = new Map<number, Val>();
  let entries = 0;
  const push = (v: Val) => {
    if (++entries > MAX_ENTRIES * 10) bad('more values than any checkpoint holds');
    stack.push(v);
  };
  const pop = () => (stack.length ? stack.pop() : bad('stack underflow'));
  const popMark = () => {
    const m = marks.pop();
    if (m === undefined) bad('no MARK');
    return stack.splice(m!);
  };
  const top = () => (stack.length ? stack[stack.length - 1] : bad('stack underflow'));
  const global = (mod: string, name: string) => {
    const g = `${mod}.${name}`;
    if (!GLOBALS.has(g)) bad(`global ${g}`);
    return new Global(g);
  };
  const setItems = (d: Val, kv: Val[]) => {
    const map = d instanceof OrderedDictVal ? d.map : d instanceof Map ? d : bad('SETITEMS on a non-dict');
    for (let i = 0; i + 1 < kv.length; i += 2) {
      const k = kv[i];
      if (typeof k !== 'string' && typeof k !== 'number') bad('a dict key that is not a string or number');
      (map as Map<string, unknown>).set(String(k), kv[i + 1]);
    }
  };
  const reduce = (f: Val, args: Val): Val => {
    if (!(f instanceof Global)) bad('REDUCE of a value that is not a whitelisted global');
    if (!Array.isArray(args)) bad('REDUCE arguments that are not a tuple');
    const a = args as Val[];
    const g = (f as Global).name;
    if (g === 'collections.OrderedDict') {
      if (a.length !== 0) bad('OrderedDict with arguments');
      return new OrderedDictVal(new Map());
    }
    if (g === 'torch.Size') return a[0];
    if (g === 'numpy.dtype') {
      if (typeof a[0] !== 'string' || a[0].length > 8) bad('numpy.dtype of a non-code');
      return new NumpyDtype(a[0] as string);
    }
    if (g === 'numpy.core.multiarray.scalar') {
      const v = a[0] instanceof NumpyDtype && a[1] instanceof Uint8Array ? numpyScalar(a[0].code, a[1]) : null;
      if (v === null) bad('a numpy scalar other than float32/64 or int32/64');
      return v;
    }
    if (g === '_codecs.encode') {
      // Protocol 2 writes bytes as _codecs.encode(latin-1 text, 'latin1').
      if (typeof a[0] !== 'string' || a[1] !== 'latin1') bad("_codecs.encode other than (text, 'latin1')");
      const t = a[0] as string;
      const out = new Uint8Array(t.length);
      for (let i = 0; i < t.length; i++) {
        const c = t.charCodeAt(i);
        if (c > 255) bad('_codecs.encode of text beyond latin-1');
        out[i] = c;
      }
      return out;
    }
    if (INERT_CLASSES.has(g)) bad(`REDUCE of ${g} (made by NEWOBJ only)`);
    if (g === 'torch._utils._rebuild_parameter') {
      if (!(a[0] instanceof TensorRef)) bad('_rebuild_parameter of a non-tensor');
      return a[0];
    }
    if (g === 'torch._utils._rebuild_tensor_v2') {
      const [st, off, size, stride] = a;
      const ints = (x: Val) => Array.isArray(x) && x.every((v) => Number.isSafeInteger(v) && (v as number) >= 0);
      if (!(st instanceof StorageRef) || !Number.isSafeInteger(off) || (off as number) < 0 || !ints(size) || !ints(stride)) bad('_rebuild_tensor_v2 with malformed arguments');
      if ((size as number[]).length !== (stride as number[]).length || (size as number[]).length > 8) bad('tensor size and stride of different ranks');
      return new TensorRef(st as StorageRef, off as number, size as number[], stride as number[]);
    }
    return bad(`REDUCE of ${g}`);
  };
  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: bytes(8); break; // FRAME (length only; we read the whole buffer)
      case 0x2e: { // STOP
        if (stack.length !== 1) bad('stack not of one value at STOP');
        return stack[0];
      }
      case 0x28: marks.push(stack.length); if (marks.length > MAX_DEPTH) bad('nesting deeper than 64'); break; // MARK
      case 0x7d: push(new Map()); break; // EMPTY_DICT
      case 0x5d: push([]); break; // EMPTY_LIST
      case 0x29: push([]); break; // EMPTY_TUPLE
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4a: push(i32()); break; // BININT
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x8a: { // LONG1
        const n = u8();
        const b = bytes(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
        if (n > 0 && b[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) bad('an integer beyond 2^53');
        push(Number(v));
        break;
      }
      case 0x47: need(8); push(dv.getFloat64(p, false)); p += 8; break; // BINFLOAT
      case 0x58: push(utf8(u32())); break; // BINUNICODE
      case 0x8c: push(utf8(u8())); break; // SHORT_BINUNICODE
      case 0x55: push(new TextDecoder('latin1').decode(bytes(u8()))); break; // SHORT_BINSTRING
      case 0x43: push(bytes(u8())); break; // SHORT_BINBYTES
      case 0x42: push(bytes(u32())); break; // BINBYTES
      case 0x63: { // GLOBAL
        const mod = line();
        push(global(mod, line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const mod = pop();
        if (typeof mod !== 'string' || typeof name !== 'string') bad('STACK_GLOBAL of non-strings');
        push(global(mod as string, name as string));
        break;
      }
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) bad(`memo ${k} never stored`);
        push(memo.get(k));
        break;
      }
      case 0x74: push(popMark()); break; // TUPLE
      case 0x85: push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(); push([pop(), b]); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); push([pop(), b, c]); break; } // TUPLE3
      case 0x61: { const v = pop(); const l = top(); if (!Array.isArray(l)) bad('APPEND to a non-list'); (l as Val[]).push(v); break; } // APPEND
      case 0x65: { const vs = popMark(); const l = top(); if (!Array.isArray(l)) bad('APPENDS to a non-list'); (l as Val[]).push(...vs); break; } // APPENDS
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const kv = popMark(); setItems(top(), kv); break; } // SETITEMS
      case 0x51: push(persistent(pop())); break; // BINPERSID
      case 0x52: { const args = pop(); const f = pop(); push(reduce(f, args)); break; } // REDUCE
      case 0x62: { // BUILD: only the state of an OrderedDict ({_metadata: ...}), a numpy dtype or an inert object, which we drop
        pop();
        const t = top();
        if (!(t instanceof OrderedDictVal || t instanceof NumpyDtype || t instanceof OpaqueObject)) bad('BUILD of an object other than an OrderedDict');
        break;
      }
      case 0x81: { // NEWOBJ: only of an inert class (cls.__new__ of a plain class runs nothing)
        const args = pop();
        const cls = pop();
        if (!(cls instanceof Global) || !INERT_CLASSES.has(cls.name)) bad(`NEWOBJ of ${cls instanceof Global ? cls.name : 'a non-global'}`);
        if (!Array.isArray(args) || args.length) bad('NEWOBJ with arguments');
        push(new OpaqueObject((cls as Global).name));
        break;
      }
      default:
        bad(`pickle opcode 0x${op.toString(16)} ('${String.fromCharCode(op)}') at byte ${p - 1}`);
    }
  }
}

/** Checks that a zip entry name stays inside the archive. */
function safeEntry(name: string, source: string): void {
  if (name.startsWith('/') || name.includes('\\') || name.split('/').some((s) => s === '..') || /^[A-Za-z]:/.test(name)) {
    throw new F8Error('BAD_INPUT', `${source}: zip entry '${name}' points outside the archive`);
  }
}

export interface TorchCheckpoint {
  /** The tensors of the model state_dict (key 'model', 'state_dict', or the top level), in file order. */
  tensors: Map<string, StTensor>;
  /** Other top-level keys of the file (optimizer, last_epoch, ...), not model tensors. */
  dropped: string[];
  /**
   * Those other top-level values as plain data: numbers, strings, booleans, null, arrays,
   * Maps (dicts), StTensor (tensors), Uint8Array (bytes), OpaqueObject (the paper's meters).
   */
  extras: Map<string, unknown>;
}

/** Reads a torch zip checkpoint from bytes; `source` names it in errors. */
export function decodeTorchCheckpoint(buf: Uint8Array, source: string): TorchCheckpoint {
  const fail = (what: string): never => {
    throw new F8Error('BAD_INPUT', `${source}: ${what}`);
  };
  if (buf.length >= 2 && buf[0] === 0x80) fail('a legacy (non-zip) torch pickle; re-save it with torch.save(obj, path) from torch >= 1.6 (the zip form), then import');
  if (buf.length < 4 || buf[0] !== 0x50 || buf[1] !== 0x4b) fail('not a torch zip checkpoint (no zip header)');
  // Torch stores its entries uncompressed; a file that inflates far past its own size is a bomb.
  const limit = Math.max(1 << 20, buf.length * 4);
  let declared = 0;
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(buf, {
      filter: (f) => {
        safeEntry(f.name, source);
        declared += f.originalSize;
        if (declared > limit) fail(`zip entries declare ${declared} bytes, more than ${limit} for a ${buf.length}-byte file (zip bomb?)`);
        return true;
      },
    });
  } catch (e) {
    if (e instanceof F8Error) throw e;
    return fail(`not a readable zip (truncated or corrupt): ${(e as Error).message}`);
  }
  const pkl = Object.keys(files).filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkl.length !== 1) fail(`expected one <root>/data.pkl in the zip, found ${pkl.length}`);
  const root = pkl[0].slice(0, -'data.pkl'.length);
  const storages = new Map<string, Uint8Array>();
  const persistent = (pid: Val): Val => {
    if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage' || !(pid[1] instanceof Global)) fail('refused: a persistent id that is not a storage');
    const [, g, key, , numel] = pid as [string, Global, unknown, unknown, unknown];
    const st = STORAGES[g.name.slice('torch.'.length)];
    if (!st) fail(`refused: storage type ${g.name}`);
    if (typeof key !== 'string' || !/^\d+$/.test(key)) fail(`storage key ${JSON.stringify(key)} is not a number`);
    if (!Number.isSafeInteger(numel) || (numel as number) < 0) fail(`storage ${key} has an invalid size`);
    const data = files[`${root}data/${key}`];
    if (!data) fail(`storage ${key} is not in the zip`);
    if (data.length !== (numel as number) * st[1]) fail(`storage ${key} holds ${data.length} bytes, its header says ${numel} x ${st[1]}`);
    storages.set(key as string, data);
    return new StorageRef(st[0], st[1], key as string, numel as number);
  };
  const top = unpickle(files[pkl[0]], source, persistent);
  const asMap = (v: Val) => (v instanceof OrderedDictVal ? v.map : v instanceof Map ? v : null);
  const topMap = asMap(top) ?? fail('the pickle is not a dict');
  let sd = topMap;
  const dropped: string[] = [];
  for (const k of ['model', 'state_dict']) {
    const m = asMap(topMap.get(k));
    if (m) {
      sd = m;
      for (const o of topMap.keys()) if (o !== k) dropped.push(o);
      break;
    }
  }
  const resolve = (name: string, v: TensorRef): StTensor => {
    const n = v.shape.reduce((a, b) => a * b, 1);
    // Only dense, contiguous tensors: a state_dict entry always is one.
    let s = 1;
    for (let i = v.shape.length - 1; i >= 0; i--) {
      if (v.shape[i] !== 1 && v.stride[i] !== s) fail(`tensor ${name} is not contiguous (stride [${v.stride}] for shape [${v.shape}])`);
      s *= v.shape[i];
    }
    if (v.offset + n > v.storage.numel) fail(`tensor ${name} of shape [${v.shape}] at offset ${v.offset} runs past its storage of ${v.storage.numel} elements`);
    const data = storages.get(v.storage.key)!;
    const it = v.storage.item;
    return { name, dtype: v.storage.dtype, shape: v.shape, data: data.subarray(v.offset * it, (v.offset + n) * it) };
  };
  const tensors = new Map<string, StTensor>();
  for (const [name, v] of sd) {
    if (!(v instanceof TensorRef)) {
      dropped.push(name);
      continue;
    }
    tensors.set(name, resolve(name, v));
  }
  // The rest as plain data (the optimizer's momentum buffers are tensors too). Memo references
  // can share or nest values (a list in itself): depth and visits are bounded.
  let visits = 0;
  const plain = (name: string, v: Val, depth: number): unknown => {
    if (depth > MAX_DEPTH) fail(`value ${name} nests deeper than ${MAX_DEPTH}`);
    if (++visits > MAX_ENTRIES * 10) fail('more values than any checkpoint holds (shared references?)');
    if (v instanceof TensorRef) return resolve(name, v);
    if (v instanceof OrderedDictVal || v instanceof Map) return new Map([...asMap(v)!].map(([k, x]) => [k, plain(`${name}.${k}`, x, depth + 1)]));
    if (Array.isArray(v)) return v.map((x, i) => plain(`${name}[${i}]`, x, depth + 1));
    if (v instanceof Global || v instanceof StorageRef || v instanceof NumpyDtype) return new OpaqueObject(v instanceof Global ? v.name : 'storage');
    return v;
  };
  const extras = new Map<string, unknown>();
  if (sd !== topMap) for (const [k, v] of topMap) if (asMap(v) !== sd) extras.set(k, plain(k, v, 0));
  return { tensors, dropped, extras };
}

// ---- writing ----

const STORAGE_OF: Partial<Record<StDType, string>> = Object.fromEntries(Object.entries(STORAGES).map(([k, [d]]) => [d, k]));

class PickleWriter {
  private parts: number[] = [];
  private memo = 0;
  op(...b: number[]) {
    this.parts.push(...b);
  }
  put() {
    // BINPUT/LONG_BINPUT keep the memo numbering torch's own files use; torch.load ignores it.
    const k = this.memo++;
    if (k < 256) this.op(0x71, k);
    else this.op(0x72, k & 255, (k >> 8) & 255, (k >> 16) & 255, k >>> 24);
  }
  str(s: string) {
    const b = new TextEncoder().encode(s);
    if (b.length < 256) this.op(0x8c, b.length, ...b);
    else this.op(0x58, b.length & 255, (b.length >> 8) & 255, (b.length >> 16) & 255, b.length >>> 24, ...b);
  }
  int(n: number) {
    if (n >= 0 && n < 256) this.op(0x4b, n);
    else if (n >= 0 && n < 65536) this.op(0x4d, n & 255, n >> 8);
    else if (n >= -(2 ** 31) && n < 2 ** 31) this.op(0x4a, n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255);
    else {
      const b: number[] = [];
      let v = BigInt(n);
      for (let i = 0; i < 8; i++, v >>= 8n) b.push(Number(v & 255n));
      this.op(0x8a, 8, ...b);
    }
  }
  global(mod: string, name: string) {
    this.op(0x63, ...new TextEncoder().encode(`${mod}\n${name}\n`));
  }
  ints(xs: number[]) {
    this.op(0x28);
    for (const x of xs) this.int(x);
    this.op(0x74);
  }
  bytes() {
    return Uint8Array.from(this.parts);
  }
}

/**
 * Encodes `{'model': OrderedDict(name -> tensor)}` plus `extra` top-level ints (e.g. last_epoch)
 * as torch's zip form (archive/data.pkl, archive/data/<i>, archive/version).
 */
export function encodeTorchCheckpoint(tensors: StTensor[], extra: Record<string, number> = {}): Uint8Array {
  const w = new PickleWriter();
  w.op(0x80, 2, 0x7d);
  w.put();
  w.op(0x28);
  w.str('model');
  w.global('collections', 'OrderedDict');
  w.op(0x29, 0x52);
  w.put();
  w.op(0x28);
  const files: Record<string, Uint8Array> = {};
  tensors.forEach((t, i) => {
    const st = STORAGE_OF[t.dtype];
    if (!st) throw new F8Error('BAD_INPUT', `tensor ${t.name}: dtype ${t.dtype} has no torch storage`);
    const n = t.shape.reduce((a, b) => a * b, 1);
    const item = STORAGES[st][1];
    if (t.data.byteLength !== n * item) throw new F8Error('BAD_INPUT', `tensor ${t.name}: ${t.data.byteLength} bytes for shape [${t.shape}]`);
    w.str(t.name);
    w.global('torch._utils', '_rebuild_tensor_v2');
    w.op(0x28); // args tuple
    w.op(0x28); // persistent id tuple
    w.str('storage');
    w.global('torch', st);
    w.str(String(i));
    w.str('cpu');
    w.int(n);
    w.op(0x74, 0x51);
    w.int(0);
    const stride: number[] = [];
    let s = 1;
    for (let k = t.shape.length - 1; k >= 0; k--) {
      stride.unshift(s);
      s *= t.shape[k];
    }
    w.ints(t.shape);
    w.ints(stride);
    w.op(0x89);
    w.global('collections', 'OrderedDict');
    w.op(0x29, 0x52);
    w.op(0x74, 0x52);
    files[`archive/data/${i}`] = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength).slice();
  });
  w.op(0x75); // SETITEMS of the OrderedDict
  for (const [k, v] of Object.entries(extra)) {
    w.str(k);
    w.int(v);
  }
  w.op(0x75, 0x2e);
  const all: Record<string, [Uint8Array, { level: 0 }]> = { 'archive/data.pkl': [w.bytes(), { level: 0 }] };
  for (const [k, v] of Object.entries(files)) all[k] = [v, { level: 0 }];
  all['archive/version'] = [new TextEncoder().encode('3\n'), { level: 0 }];
  return zipSync(all);
}
