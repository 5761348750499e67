/**
 * Structure-aware mutations of a torch `.pt` checkpoint (a zip holding data.pkl and raw
 * storages) for the input fuzz (test/cpu/input-fuzz.test.ts, kind "torch import"). The base is
 * the torch-written fixture test/fixtures/paper/tiny.pt. Mutations know the format: zip local
 * header, central directory and end-record lies; pickle bit flips (in place, with the CRC left
 * stale, and re-zipped); integer operands made huge; the pickle cut at an opcode; a global
 * swapped; storages shorter or longer than declared; non-finite floats; an entry outside the
 * archive; a zip bomb; deep nesting. The oracle is the import reader's: one line naming the
 * file, or tensors that are finite and exactly as large as their shapes say.
 */
import { readFileSync } from 'node:fs';
import { unzipSync, zipSync } from 'fflate';
import type { Rng } from '../../src/runtime/rng.js';
import { readWeights } from '../../src/node/import-weights.js';
import { assertTensorsFinite, firstNonFinite } from '../../src/io/finite.js';

export type TorchMutation = (rng: Rng) => { bytes: Uint8Array; what: string };

const FIXTURE = new URL('../fixtures/paper/tiny.pt', import.meta.url).pathname;
const ITEM: Record<string, number> = { F32: 4, F64: 8, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** The fixture's bytes. */
export function torchFuzzBase(): Uint8Array {
  return new Uint8Array(readFileSync(FIXTURE));
}

interface Entry {
  name: string;
  /** Offset of its central directory record and of its local header. */
  cd: number;
  local: number;
  /** Offset and length of its (stored) data. */
  data: number;
  size: number;
}

/** The zip's entries, from its central directory (torch stores them uncompressed). */
function entries(zip: Uint8Array): Entry[] {
  const dv = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  let eocd = zip.length - 22;
  while (eocd >= 0 && dv.getUint32(eocd, true) !== 0x06054b50) eocd--;
  const count = dv.getUint16(eocd + 10, true);
  let p = dv.getUint32(eocd + 16, true);
  const out: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const nl = dv.getUint16(p + 28, true);
    const name = new TextDecoder().decode(zip.subarray(p + 46, p + 46 + nl));
    const local = dv.getUint32(p + 42, true);
    const data = local + 30 + dv.getUint16(local + 26, true) + dv.getUint16(local + 28, true);
    out.push({ name, cd: p, local, data, size: dv.getUint32(p + 24, true) });
    p += 46 + nl + dv.getUint16(p + 30, true) + dv.getUint16(p + 32, true);
  }
  return out;
}

/** Offsets of the opcodes of a pickle (the subset torch writes), up to the first one not known. */
function opcodes(pkl: Uint8Array): number[] {
  const dv = new DataView(pkl.buffer, pkl.byteOffset, pkl.byteLength);
  const fixed: Record<number, number> = { 0x80: 1, 0x4b: 1, 0x4d: 2, 0x4a: 4, 0x71: 1, 0x72: 4, 0x68: 1, 0x6a: 4, 0x47: 8 };
  const none = new Set([0x7d, 0x5d, 0x29, 0x4e, 0x88, 0x89, 0x28, 0x74, 0x85, 0x86, 0x87, 0x61, 0x65, 0x73, 0x75, 0x51, 0x52, 0x62, 0x81, 0x93, 0x94, 0x2e]);
  const out: number[] = [];
  let p = 0;
  while (p < pkl.length) {
    const op = pkl[p];
    out.push(p);
    if (op === 0x2e) break;
    if (op in fixed) p += 1 + fixed[op];
    else if (none.has(op)) p += 1;
    else if (op === 0x8c || op === 0x43 || op === 0x55) p += 2 + pkl[p + 1];
    else if (op === 0x58 || op === 0x42) p += 5 + dv.getUint32(p + 1, true);
    else if (op === 0x8a) p += 2 + pkl[p + 1];
    else if (op === 0x63) {
      const a = pkl.indexOf(0x0a, p + 1);
      p = pkl.indexOf(0x0a, a + 1) + 1;
    } else break;
  }
  return out;
}

const rezip = (files: Record<string, Uint8Array>, level: 0 | 9 = 0) => zipSync(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, [v, { level }]])));
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.nextInt(xs.length)];
const HUGE = [0, 1, 0x7fffffff, 0xffffffff, 0x10000];

/** The structural mutations of `base` (a stored torch zip). */
export function torchMutations(base: Uint8Array): TorchMutation[] {
  const es = entries(base);
  const files = unzipSync(base);
  const pklName = Object.keys(files).find((n) => n.endsWith('/data.pkl'))!;
  const root = pklName.slice(0, -'data.pkl'.length);
  const pkl = files[pklName];
  const ops = opcodes(pkl);
  const storages = Object.keys(files).filter((n) => n.startsWith(`${root}data/`));
  const withPkl = (p: Uint8Array) => rezip({ ...files, [pklName]: p });
  const u32At = (b: Uint8Array, off: number, v: number) => new DataView(b.buffer, b.byteOffset).setUint32(off, v >>> 0, true);
  const edit = (f: (b: Uint8Array, r: Rng) => string): TorchMutation => (r) => {
    const b = base.slice();
    return { bytes: b, what: f(b, r) };
  };
  return [
    edit((b, r) => {
      const e = pick(r, es);
      const v = pick(r, [...HUGE, e.size + 1, Math.max(0, e.size - 1)]);
      u32At(b, e.local + 18 + 4 * r.nextInt(2), v);
      return `local header size lie ${v} (${e.name})`;
    }),
    edit((b, r) => {
      const e = pick(r, es);
      const v = pick(r, [...HUGE, e.size + 1, Math.max(0, e.size - 1)]);
      u32At(b, e.cd + 20 + 4 * r.nextInt(2), v);
      return `central directory size lie ${v} (${e.name})`;
    }),
    edit((b, r) => {
      const e = pick(r, es);
      const v = pick(r, [...HUGE, b.length - 10, e.local + 1]);
      u32At(b, e.cd + 42, v);
      return `central directory offset lie ${v} (${e.name})`;
    }),
    edit((b, r) => {
      let p = b.length - 22;
      while (p >= 0 && new DataView(b.buffer).getUint32(p, true) !== 0x06054b50) p--;
      const field = pick(r, [8, 10, 12, 16] as const);
      const v = pick(r, HUGE);
      if (field <= 10) new DataView(b.buffer).setUint16(p + field, v & 0xffff, true);
      else u32At(b, p + field, v);
      return `end record lie at +${field}: ${v}`;
    }),
    edit((b, r) => {
      const e = es.find((x) => x.name === pklName)!;
      const n = 1 + r.nextInt(4);
      for (let i = 0; i < n; i++) b[e.data + r.nextInt(e.size)] ^= 1 << r.nextInt(8);
      return `${n} bit flips in data.pkl (CRC stale)`;
    }),
    (r) => {
      const p = pkl.slice();
      const at = pick(r, ops);
      p[at] ^= 1 << r.nextInt(8);
      return { bytes: withPkl(p), what: `pickle opcode 0x${pkl[at].toString(16)} at ${at} flipped to 0x${p[at].toString(16)}` };
    },
    (r) => {
      // An integer operand (a size, stride, offset or storage numel) made huge.
      const ints = ops.filter((o) => pkl[o] === 0x4b || pkl[o] === 0x4d || pkl[o] === 0x4a);
      const at = pick(r, ints);
      const len = { 0x4b: 2, 0x4d: 3, 0x4a: 5 }[pkl[at] as 0x4b]!;
      const v = pick(r, [2 ** 31 - 1, -1, 2 ** 40, 2 ** 53 - 1, 2 ** 62]);
      let rep: number[];
      if (v >= -(2 ** 31) && v < 2 ** 31) rep = [0x4a, v & 255, (v >> 8) & 255, (v >> 16) & 255, (v >>> 24) & 255];
      else {
        let x = BigInt(v);
        rep = [0x8a, 8];
        for (let i = 0; i < 8; i++, x >>= 8n) rep.push(Number(x & 255n));
      }
      const p = new Uint8Array([...pkl.subarray(0, at), ...rep, ...pkl.subarray(at + len)]);
      return { bytes: withPkl(p), what: `integer operand at ${at} made ${v}` };
    },
    (r) => {
      const at = pick(r, ops);
      return { bytes: withPkl(pkl.slice(0, at)), what: `pickle cut at opcode ${at}` };
    },
    (r) => {
      const swaps: [string, string][] = [['FloatStorage', 'DoubleStorage'], ['FloatStorage', 'LongStorage'], ['collections\nOrderedDict', 'posix\nsystem'], ['_rebuild_tensor_v2', '_rebuild_qtensor'], ['LongStorage', 'FloatStorage']];
      const [a, b] = pick(r, swaps);
      const text = new TextDecoder('latin1').decode(pkl);
      const i = text.indexOf(a);
      if (i < 0) return { bytes: base.slice(), what: `no ${a} to swap` };
      const p = new Uint8Array([...pkl.subarray(0, i), ...new TextEncoder().encode(b), ...pkl.subarray(i + a.length)]);
      // SHORT_BINUNICODE / GLOBAL lengths: GLOBAL is newline-ended, a short string has its length before it.
      if (pkl[i - 2] === 0x8c) p[i - 1] = b.length;
      return { bytes: withPkl(p), what: `global ${JSON.stringify(a)} -> ${JSON.stringify(b)}` };
    },
    (r) => {
      const s = pick(r, storages);
      const d = files[s];
      const n = pick(r, [0, Math.max(0, d.length - 1), d.length + 4, d.length * 2]);
      const nd = new Uint8Array(n);
      nd.set(d.subarray(0, Math.min(n, d.length)));
      return { bytes: rezip({ ...files, [s]: nd }), what: `storage ${s} of ${n} bytes (was ${d.length})` };
    },
    (r) => {
      const fl = storages.filter((s) => files[s].length % 4 === 0 && files[s].length >= 8);
      const s = pick(r, fl);
      const d = files[s].slice();
      const v = pick(r, [NaN, Infinity, -Infinity, 3.4e38]);
      new DataView(d.buffer).setFloat32(4 * r.nextInt(d.length / 4), v, true);
      return { bytes: rezip({ ...files, [s]: d }), what: `value ${v} in ${s}` };
    },
    (r) => {
      const to = pick(r, ['../evil/data.pkl', '/abs/data.pkl', `${root}..\\data.pkl`, 'C:/x/data.pkl']);
      const f = { ...files };
      delete f[pklName];
      f[to] = pkl;
      return { bytes: rezip(f), what: `entry renamed ${to}` };
    },
    () => ({ bytes: rezip({ ...files, [`${root}data/99`]: new Uint8Array(8 << 20) }, 9), what: 'zip bomb (8 MiB of zeros deflated)' }),
    (r) => {
      // {'model': {}, 'x': [[[...]]]} nested far past the reader's depth, without MARKs.
      const depth = pick(r, [100, 10000, 200000]);
      const body = [0x80, 2, 0x7d, 0x8c, 5, ...new TextEncoder().encode('model'), 0x7d, 0x73, 0x8c, 1, 0x78];
      for (let i = 0; i < depth; i++) body.push(0x5d);
      for (let i = 0; i < depth - 1; i++) body.push(0x61);
      body.push(0x73, 0x2e);
      return { bytes: withPkl(Uint8Array.from(body)), what: `list nested ${depth} deep` };
    },
  ];
}

/**
 * The oracle's check on an accepted file: readWeights (as `f8net import --from X.pt` reads it)
 * must give tensors whose bytes match their shapes and whose floats are finite (assertTensorsFinite
 * throws the one-line error the import gives).
 */
export function checkTorchImport(path: string): string | null {
  const w = readWeights(path);
  if (w.format !== 'torch') return `read as ${w.format}`;
  assertTensorsFinite(w.tensors.values(), path);
  for (const t of w.tensors.values()) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (!(t.dtype in ITEM) || t.data.byteLength !== n * ITEM[t.dtype]) return `${t.name}: ${t.data.byteLength} bytes for ${t.dtype} [${t.shape}]`;
    if (t.dtype === 'F32' && firstNonFinite(new Float32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength))) >= 0) return `non-finite ${t.name} accepted`;
  }
  return null;
}
