/**
 * Integer-only inference ops of the exported model (F8NET.md §5, "int-op-only"): int8 x int8 and
 * uint8 x int8 products accumulated in i32, and shifts, adds, comparisons and clamps
 * (wgsl/int8_conv.wgsl, wgsl/int8_ops.wgsl, shared snippet wgsl/include/int8_pack.wgsl).
 * CPU references: ./int8.ref.ts, matched bit for bit.
 *
 * Long file: one op family, the int8 kernels of the integer model (conv, linear, residual add and
 * its fused re-quantisation, pools, requant), sharing one packing, epilogue and dispatch path;
 * splitting it would repeat them in each file.
 *
 * Packed layout: activations travel between layers as 8-bit codes packed four to a u32 along
 * the channel axis, zero-padded to a multiple of 4 ("NC4HW4", as oneDNN's nChw4c):
 * word (n, c >> 2, h, w) byte (c & 3) = code of x[n, c, h, w]. An `Int8Act` is that tensor
 * (dtype 'i8x4', logical shape [N, ceil(C/4), H, W, 4]; [N, ceil(C/4), 4] for [N, C]) with its
 * logical NCHW shape and signedness (signed codes [-127, 127], unsigned [0, 255]). Conv weights
 * are packed the same way along their input channels, taps innermost: [O, ceil(CG/4), TS] words
 * with TS = KH*KW rounded up to a multiple of 4 when KH*KW > 1 (zero taps: vec4 loads);
 * depthwise weights (groups = C = O) along the output channels: [ceil(O/4), KH, KW] words.
 *
 * Every op ends in one epilogue: optional ReLU max(acc, 0); with `requant`, the round-half-even
 * shift by n (one per layer or per output channel; n < 0 is a saturating left shift) and the clamp
 * to [-127, 127] (signed) or [0, 255] (unsigned), output packed for the next layer; without it
 * raw i32 [N, O, OH, OW] (logits, residual operands), shifted by `shift` if given, clamped to
 * +-(2^31 - 1).
 * Accumulation wraps modulo 2^32 (exact below 2^31: fewer than 66 000 products per output);
 * the bias and the residual add saturate to +-(2^31 - 1).
 *
 * The integer model's nodes (src/export/graph.ts, run by src/export/run-gpu.ts) map one to one:
 * int8Conv2d, int8Linear (after int8Flatten of a [C, H, W] input), int8MaxPool2d and int8SumPool
 * (packed codes or i32 in), int8Add (operand ReLU and left shifts) and int8Requant (the epilogue
 * alone).
 *
 * The dot product uses dot4I8Packed where the adapter has it (Engine.get().gpu.hasDot4I8) and
 * is a hardware one, unpacked multiply-adds otherwise (int8Tuning().dot4, int8UsesDot4); either
 * way one side is offset by 128 and the sum corrected by 128 * sum(w) (no mixed-sign dot4).
 *
 * @example
 *   const w1 = int8Weights(W1, [64, 3, 3, 3]);                           // Int8Array codes, OIHW
 *   const x = int8Activation(img, [1, 3, 32, 32], true);                 // signed network input
 *   const a = int8Conv2d(x, w1, B1, { padding: 1, relu: true, requant: { shift: 9, signed: false } });
 *   const logits = int8Linear(int8SumPool(a, { requant: { shift: 4, signed: false } }), fc, Bfc); // i32 [1, classes]
 *   console.log(await readInt8(a));                                      // Int32Array codes, NCHW
 */
import { defineKnobs } from '../runtime/tuning.js';
import { Engine, type Kernel } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';
import { Tensor } from '../tensor.js';
import { convGeometry, conv2dOutputShape, useSubgroups, type Conv2dOptions } from './conv2d.js';
import type { Pool2dOptions } from './pool.js';

/** Packed 8-bit activations: data is i8x4 [N, ceil(C/4), ...spatial, 4]; shape is [N, C, ...spatial]. */
export interface Int8Act {
  data: Tensor;
  shape: readonly number[];
  signed: boolean;
}

/** Packed int8 weights with their per-output-channel sums (for the 128 offset of the dot). */
export interface Int8Weights {
  /** i8x4: [O, ceil(CG/4), TS, 4] (dense; TS = KH*KW taps padded to a multiple of 4 when > 1) or [ceil(O/4), KH, KW, 4] (depthwise). */
  data: Tensor;
  /** i32 [O]: sum of each output channel's weights. */
  sums: Tensor;
  /** Logical [O, CG, KH, KW] ([O, K, 1, 1] for a linear layer). */
  shape: readonly number[];
  groups: number;
  depthwise: boolean;
}

/** Re-quantisation to the next layer's input: shift n = fl_acc - fl_next (per layer, or i32 [O] per channel). */
export interface Int8Requant {
  shift: number | Int32Array | Tensor;
  signed: boolean;
}

export interface Int8Epilogue {
  /** max(acc, 0) after the bias, before the shift. */
  relu?: boolean;
  /** Absent: the op returns raw i32 values. */
  requant?: Int8Requant;
  /**
   * Without requant only: shift of the raw i32 output (one, or one per channel), rounding half
   * to even (n > 0) or saturating to +-(2^31 - 1) (n < 0); the output stays i32.
   */
  shift?: number | Int32Array | Tensor;
}

export interface Int8Options extends Int8Epilogue {
  /** Force the dot4I8Packed path (true) or the unpacked one (false); default: int8Tuning().dot4. */
  dot4?: boolean;
}

export type Int8ConvOptions = Conv2dOptions & Int8Options;
type WithRequant<T> = T & { requant: Int8Requant };

/**
 * Kernel tiles (each distinct tile is a separate pipeline): a conv thread keeps OCB output
 * channels (8, 16 or 32, at most the group's channels rounded up) x PW output columns; depthwise
 * threads R x P outputs of 4 channels. On lavapipe (bench/int8.bench.ts) OCB 32 x PW 4 measured
 * best on 64 channels and 16 x 4 on 16 (ahead of 16 x 8, 8 x 8, 8 x 4); R x P = 4 x 8 ran no
 * faster than 2 x 8 and took 25 s to compile.
 * dot4: true = dot4I8Packed wherever the adapter has it; false = always the unpacked path;
 * 'auto' = dot4I8Packed except on software adapters, where it is emulated byte by byte and our
 * unpacked form compiles to faster code (measured 1.1-1.2x on lavapipe).
 * subgroups: share weights by shuffles where the adapter has 8-lane subgroups.
 */
export const int8Knobs = defineKnobs('int8', { WG: 64, OCB: 32, PW: 4, R: 2, P: 8, dot4: 'auto' as boolean | 'auto', subgroups: true });
/** The engine's int8 knobs (per adapter; the defaults until tuned). */
export const int8Tuning = (e: Engine = Engine.get()) => e.tuning.get(int8Knobs);

const I32_MAX = 2147483647;
const XOR_OFFSET = 0x80808080;

/**
 * How activations enter the dot (wgsl/include/int8_pack.wgsl): dot4I8Packed multiplies signed
 * bytes, so unsigned codes are offset by -128 (+128 * sum(w) after); the unpacked fallback
 * multiplies zero-extended activation bytes, so signed codes are offset by +128.
 */
function offsetFor(dot4: boolean, signed: boolean): { xor_x: number; fix: number } {
  if (dot4) return signed ? { xor_x: 0, fix: 0 } : { xor_x: XOR_OFFSET, fix: 128 };
  return signed ? { xor_x: XOR_OFFSET, fix: -128 } : { xor_x: 0, fix: 0 };
}
const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;
const prod = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const pow2Ceil = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));
const pow2Floor = (n: number): number => 2 ** Math.floor(Math.log2(Math.max(1, n)));

// ---- packing (CPU) -----------------------------------------------------------------------------

/** The logical i8x4 shape of codes of `shape` [N, C, ...rest] packed along axis 1: [N, ceil(C/4), ...rest, 4]. */
export function packedShape(shape: readonly number[]): number[] {
  if (shape.length < 2) throw new F8Error('SHAPE_MISMATCH', `int8: packed tensors need [N, C, ...], got ${fmt(shape)}`);
  return [shape[0], Math.ceil(shape[1] / 4), ...shape.slice(2), 4];
}

/**
 * Packs codes [N, C, ...rest] along axis 1 in blocks of 4 (zero-padded): word (n, c >> 2, r),
 * byte c & 3 holds the low byte of codes[n, c, r].
 * @example packInt8(Int8Array.of(1, -1, 2), [1, 3]) // Uint32Array [0x0002ff01]
 */
export function packInt8(codes: ArrayLike<number>, shape: readonly number[]): Uint32Array {
  const [N, C] = shape;
  const S = prod(shape.slice(2));
  if (codes.length !== N * C * S) throw new F8Error('SHAPE_MISMATCH', `packInt8: ${codes.length} codes for shape ${fmt(shape)}`);
  const C4 = Math.ceil(C / 4);
  const bytes = new Uint8Array(N * C4 * S * 4);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let s = 0; s < S; s++) bytes[((n * C4 + (c >> 2)) * S + s) * 4 + (c & 3)] = codes[(n * C + c) * S + s] & 0xff;
  return new Uint32Array(bytes.buffer);
}

/** The inverse of packInt8: codes [N, C, ...rest] as signed or unsigned bytes. */
export function unpackInt8(packed: Uint32Array | Int8Array | Uint8Array, shape: readonly number[], signed: boolean): Int32Array {
  const [N, C] = shape;
  const S = prod(shape.slice(2));
  const C4 = Math.ceil(C / 4);
  const bytes = signed ? new Int8Array(packed.buffer, packed.byteOffset, N * C4 * S * 4) : new Uint8Array(packed.buffer, packed.byteOffset, N * C4 * S * 4);
  const out = new Int32Array(N * C * S);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let s = 0; s < S; s++) out[(n * C + c) * S + s] = bytes[((n * C4 + (c >> 2)) * S + s) * 4 + (c & 3)];
  return out;
}

function checkCodes(codes: ArrayLike<number>, lo: number, hi: number, what: string): void {
  for (let i = 0; i < codes.length; i++) {
    const v = codes[i];
    if (!Number.isInteger(v) || v < lo || v > hi) throw new F8Error('BAD_INPUT', `${what}: code ${v} at index ${i} is not an integer in [${lo}, ${hi}]`);
  }
}

function upload(words: Uint32Array, shape: readonly number[]): Tensor {
  return Tensor.from(new Int8Array(words.buffer, words.byteOffset, words.byteLength), shape, 'i8x4');
}

/**
 * Uploads codes [N, C, ...] (Int8Array for signed, Uint8Array for unsigned, or plain numbers)
 * as a packed activation. @example int8Activation(Uint8Array.of(0, 255), [1, 2], false)
 */
export function int8Activation(codes: ArrayLike<number>, shape: readonly number[], signed: boolean): Int8Act {
  checkCodes(codes, signed ? -128 : 0, signed ? 127 : 255, 'int8Activation');
  return { data: upload(packInt8(codes, shape), packedShape(shape)), shape: [...shape], signed };
}

/** Reads a packed activation back as codes [N, C, ...] (NCHW). */
export async function readInt8(a: Int8Act): Promise<Int32Array> {
  const bytes = (await a.data.read()) as Int8Array;
  return unpackInt8(bytes, a.shape, a.signed);
}

/**
 * Packs int8 weights [O, C/groups, KH, KW] (or [O, K] for int8Linear) for the int8 ops, with the
 * per-output-channel sums. Depthwise (groups = O, one input channel each) packs along O.
 * @example const w = int8Weights(codes, [64, 64, 3, 3]); // codes in [-127, 127]
 */
export function int8Weights(w: ArrayLike<number>, shape: readonly number[], groups = 1): Int8Weights {
  const s4 = shape.length === 2 ? [shape[0], shape[1], 1, 1] : [...shape];
  if (s4.length !== 4) throw new F8Error('SHAPE_MISMATCH', `int8Weights: shape ${fmt(shape)} must be [O, C/groups, KH, KW] or [O, K]`);
  const [O, CG, KH, KW] = s4;
  if (w.length !== prod(s4)) throw new F8Error('SHAPE_MISMATCH', `int8Weights: ${w.length} values for shape ${fmt(shape)}`);
  if (!Number.isInteger(groups) || groups < 1 || O % groups !== 0) throw new F8Error('BAD_CONFIG', `int8Weights: groups ${groups} must divide the ${O} output channels`);
  checkCodes(w, -128, 127, 'int8Weights');
  const depthwise = groups > 1 && groups === O && CG === 1;
  const sums = new Int32Array(O);
  const per = CG * KH * KW;
  for (let o = 0; o < O; o++) for (let i = 0; i < per; i++) sums[o] += w[o * per + i];
  const T = KH * KW;
  const TS = tapStride(T);
  let packed = depthwise ? packInt8(w, [1, O, KH, KW]) : packInt8(w, [O, CG, T]);
  if (!depthwise && TS !== T) {
    // Pad each (output channel, channel block) row of taps to TS words (wgsl/int8_conv.wgsl TPAD).
    const rows = O * Math.ceil(CG / 4);
    const p = new Uint32Array(rows * TS);
    for (let r = 0; r < rows; r++) p.set(packed.subarray(r * T, r * T + T), r * TS);
    packed = p;
  }
  const pshape = depthwise ? [Math.ceil(O / 4), KH, KW, 4] : [O, Math.ceil(CG / 4), TS, 4];
  return { data: upload(packed, pshape), sums: Tensor.from(sums, [O], 'i32'), shape: s4, groups, depthwise };
}

/** Weight words per (output channel, channel block): the T taps, padded to a multiple of 4 when T > 1. */
function tapStride(T: number): number {
  return T > 1 ? Math.ceil(T / 4) * 4 : 1;
}

// ---- dispatch helpers --------------------------------------------------------------------------

/** A CPU implementation of WebGPU (lavapipe/llvmpipe, SwiftShader). */
function isSoftwareAdapter(e: Engine): boolean {
  const info = e.gpu.adapter.info;
  return info.architecture === 'software' || /llvmpipe|lavapipe|swiftshader/i.test(`${info.description} ${info.device}`);
}

/** Whether the conv uses dot4I8Packed (see int8Tuning().dot4); opts.dot4 forces a path. */
export function int8UsesDot4(force?: boolean, e: Engine = Engine.get()): boolean {
  if (force === true && !e.gpu.hasDot4I8) throw new F8Error('UNSUPPORTED', 'int8: dot4 forced but this adapter has no packed_4x8_integer_dot_product; leave opts.dot4 unset for the unpacked path');
  if (force !== undefined) return force;
  const t = int8Tuning(e).dot4;
  if (t !== 'auto') return t && e.gpu.hasDot4I8;
  return e.gpu.hasDot4I8 && !isSoftwareAdapter(e);
}

function checkAct(a: Int8Act, op: string, what: string, rank?: number): void {
  if (!a || !(a.data instanceof Tensor) || a.data.dtype !== 'i8x4') throw new F8Error('UNSUPPORTED', `${op}: ${what} must be a packed Int8Act (int8Activation / int8Pack), got ${a instanceof Tensor ? a : typeof a}`);
  if (rank !== undefined && a.shape.length !== rank) throw new F8Error('SHAPE_MISMATCH', `${op}: ${what} ${fmt(a.shape)} must be ${rank}-D`);
  if (a.data.size !== prod(packedShape(a.shape))) throw new F8Error('SHAPE_MISMATCH', `${op}: ${what} data ${a.data} does not hold shape ${fmt(a.shape)} packed`);
}

/** The epilogue's uniforms and shift buffer; `temps` collects tensors to dispose after the dispatch. */
function epilogueParams(op: string, ep: Int8Epilogue, channels: number, temps: Tensor[]): { params: Record<string, number>; shift: Tensor | null } {
  const r = ep.requant;
  if (r && ep.shift !== undefined) throw new F8Error('BAD_CONFIG', `${op}: give the shift in requant (codes out) or in shift (raw i32 out), not both`);
  const n = r ? r.shift : ep.shift;
  let shift: Tensor | null = null;
  let shift0 = 0;
  if (n !== undefined) {
    if (typeof n === 'number') {
      if (!Number.isInteger(n)) throw new F8Error('BAD_CONFIG', `${op}: shift ${n} is not an integer`);
      shift0 = n;
    } else if (n instanceof Tensor) {
      if (n.dtype !== 'i32' || n.size !== channels) throw new F8Error('SHAPE_MISMATCH', `${op}: per-channel shift ${n} must be i32 [${channels}]`);
      shift = n;
    } else {
      if (n.length !== channels) throw new F8Error('SHAPE_MISMATCH', `${op}: ${n.length} shifts for ${channels} channels`);
      shift = Tensor.from(n, [channels], 'i32');
      temps.push(shift);
    }
  }
  const hi = r ? (r.signed ? 127 : 255) : I32_MAX;
  const lo = r ? (r.signed ? -127 : 0) : -I32_MAX;
  return { params: { relu: ep.relu ? 1 : 0, per_channel: shift ? 1 : 0, shift0, lo, hi, packed: r ? 1 : 0 }, shift };
}

function fill(fields: string, v: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of fields.split(' ')) out[k] = v[k] ?? 0;
  return out;
}
const CONV_FIELDS = 'N C4 H W O O4 OH OW KH KW sh sw ph pw dh dw cg cg4 og nob owt tiles tr tc count xor_x fix has_bias relu per_channel shift0 lo hi packed';
const OPS_FIELDS = 'N C C4 S count H W OH OW kh kw sh sw ph pw a_kind b_kind ma mb ml relu_a relu_b signed K K4 relu per_channel shift0 lo hi packed relu2 per_channel2 shift0_2 lo2 hi2 divisor';

/** A conv2d.wgsl-style pipeline of int8_conv.wgsl; defines an entry does not read are pinned. */
function convKernel(e: Engine, entry: 'conv' | 'dwconv', d: Record<string, number | boolean>): Kernel {
  const pinned = { TPAD: 0, WVEC: 0, WG: int8Tuning(e).WG, SUBGROUPS: 0, DOT4: 0, OCB: 8, PW: 1, ALIGN: 1, KH: 1, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1, R: 1, P: 1 };
  return e.kernel('int8_conv.wgsl', entry, { ...pinned, ...d });
}

function opsKernel(e: Engine, entry: 'pack' | 'unpack' | 'flatten' | 'residual' | 'residual_dual' | 'requant' | 'maxpool' | 'sumpool', scalarShift = false): Kernel {
  return e.kernel('int8_ops.wgsl', entry, { DOT4: 0, SCALAR_SHIFT: scalarShift ? 1 : 0 });
}

// ---- conv / linear -----------------------------------------------------------------------------

/** Shared by int8Conv2d and int8Linear: x data [N, C4, H, W] words, returns packed data or raw i32. */
function convCore(op: string, x: Int8Act, xShape: number[], w: Int8Weights, bias: Tensor | null, opts: Int8ConvOptions, temps: Tensor[]): Tensor {
  const [N, O, OH, OW] = conv2dOutputShape(xShape, w.shape, opts);
  const g = convGeometry(opts);
  if (g.groups !== w.groups) throw new F8Error('BAD_CONFIG', `${op}: weights were packed for groups=${w.groups}, the conv has groups=${g.groups}`);
  if (bias && (bias.dtype !== 'i32' || bias.size !== O)) throw new F8Error('SHAPE_MISMATCH', `${op}: bias ${bias} must be i32 [${O}]`);
  const [, C, H, W] = xShape;
  const [, CG, KH, KW] = w.shape;
  const e = Engine.get();
  const { params: ep, shift } = epilogueParams(op, opts, O, temps);
  const og = O / g.groups;
  // A packed output word must belong to one thread: with groups whose output channels do not
  // fill whole words, the codes go through i32 and the pack kernel.
  const viaI32 = !!opts.requant && !w.depthwise && g.groups > 1 && og % 4 !== 0;
  const O4 = Math.ceil(O / 4);
  const y = opts.requant && !viaI32 ? Tensor.empty([N, O4, OH, OW, 4], 'i8x4') : Tensor.empty([N, O, OH, OW], 'i32');
  const base = {
    ...{ N, C4: Math.ceil(C / 4), H, W, O, O4, OH, OW, KH, KW, sh: g.sh, sw: g.sw, ph: g.ph, pw: g.pw, dh: g.dh, dw: g.dw },
    ...{ has_bias: bias ? 1 : 0, ...ep, packed: viaI32 ? 0 : ep.packed },
  };
  // Stand-ins for absent optional buffers (never read: has_bias = 0, per_channel = 0).
  const binds = { x: x.data, w: w.data, w4: w.data, wsum: w.sums, bias: bias ?? w.sums, shift: shift ?? w.sums, y };
  if (w.depthwise) {
    const { R, P } = int8Tuning(e);
    const tr = Math.ceil(OH / R);
    const tc = Math.ceil(OW / P);
    const count = N * O4 * tr * tc;
    const k = convKernel(e, 'dwconv', { KH, KW, SH: g.sh, SW: g.sw, DH: g.dh, DW: g.dw, R, P });
    e.dispatch(k, binds, fill(CONV_FIELDS, { ...base, tr, tc, count, xor_x: x.signed ? XOR_OFFSET : 0, fix: 0 }), e.grid1d(count, 64));
  } else {
    const t = int8Tuning(e);
    const dot4 = int8UsesDot4(opts.dot4, e);
    const OCB = Math.max(8, Math.min(t.OCB, 32, pow2Ceil(og)));
    const PW = pow2Floor(Math.min(OW, t.PW));
    const nob = Math.ceil(og / OCB);
    const owt = Math.ceil(OW / PW);
    const tiles = N * OH * owt;
    const groupsZ = g.groups * nob;
    if (groupsZ > 65535) throw new F8Error('UNSUPPORTED', `${op}: ${groupsZ} channel blocks exceed 65535 workgroups`);
    const sg = t.subgroups && useSubgroups(e);
    const k = convKernel(e, 'conv', {
      WG: t.WG, SUBGROUPS: sg ? 1 : 0, DOT4: dot4 ? 1 : 0, OCB, PW, KH, KW, SW: g.sw, DW: g.dw, TPAD: KH * KW > 1 ? 1 : 0, WVEC: sg && KH * KW > 1 ? 1 : 0,
      ALIGN: CG % 4 === 0 || g.groups === 1 ? 1 : 0,
    });
    const [gx, gy] = e.grid1d(tiles, t.WG);
    e.dispatch(k, binds, fill(CONV_FIELDS, { ...base, cg: CG, cg4: Math.ceil(CG / 4), og, nob, owt, tiles, ...offsetFor(dot4, x.signed) }), [gx, gy ?? 1, groupsZ]);
  }
  if (!viaI32) return y;
  temps.push(y);
  return packCodes(e, y, [N, O, OH, OW]);
}

/** Dispatches the pack kernel: i32 codes [N, C, ...] -> packed data. */
function packCodes(e: Engine, codes: Tensor, shape: readonly number[]): Tensor {
  const [N, C] = shape;
  const S = prod(shape.slice(2));
  const C4 = Math.ceil(C / 4);
  const out = Tensor.empty(packedShape(shape), 'i8x4');
  const count = N * C4 * S;
  e.dispatch(opsKernel(e, 'pack'), { opa: codes, y: out }, fill(OPS_FIELDS, { N, C, C4, S, count }), e.grid1d(count, 64));
  return out;
}

function finish(y: Tensor, shape: number[], opts: Int8Epilogue, temps: Tensor[]): Int8Act | Tensor {
  for (const t of temps) t.dispose();
  return opts.requant ? { data: y, shape, signed: opts.requant.signed } : y;
}

/**
 * Integer conv2d: x packed codes [N, C, H, W], w from int8Weights [O, C/groups, KH, KW], bias
 * i32 [O] or null. Returns packed codes [N, O, OH, OW] with `requant`, else raw i32 [N, O, OH, OW].
 * @example int8Conv2d(x, w, b, { stride: 2, padding: 1, relu: true, requant: { shift: Int32Array.from(n), signed: false } })
 */
export function int8Conv2d(x: Int8Act, w: Int8Weights, bias: Tensor | null, opts: WithRequant<Int8ConvOptions>): Int8Act;
export function int8Conv2d(x: Int8Act, w: Int8Weights, bias: Tensor | null, opts?: Int8ConvOptions & { requant?: undefined }): Tensor;
export function int8Conv2d(x: Int8Act, w: Int8Weights, bias: Tensor | null, opts?: Int8ConvOptions): Int8Act | Tensor;
export function int8Conv2d(x: Int8Act, w: Int8Weights, bias: Tensor | null, opts: Int8ConvOptions = {}): Int8Act | Tensor {
  checkAct(x, 'int8Conv2d', 'input', 4);
  const temps: Tensor[] = [];
  const y = convCore('int8Conv2d', x, [...x.shape], w, bias, opts, temps);
  return finish(y, conv2dOutputShape(x.shape, w.shape, opts), opts, temps);
}

/**
 * Integer linear layer: x packed codes [N, K], w from int8Weights(codes, [O, K]), bias i32 [O].
 * Returns packed codes [N, O] with `requant`, else raw i32 [N, O] (logits). Runs the conv kernel
 * as a 1x1 conv on a 1x1 image (the packed layouts coincide).
 */
export function int8Linear(x: Int8Act, w: Int8Weights, bias: Tensor | null, opts: WithRequant<Int8Options>): Int8Act;
export function int8Linear(x: Int8Act, w: Int8Weights, bias: Tensor | null, opts?: Int8Options & { requant?: undefined }): Tensor;
export function int8Linear(x: Int8Act, w: Int8Weights, bias: Tensor | null, opts?: Int8Options): Int8Act | Tensor;
export function int8Linear(x: Int8Act, w: Int8Weights, bias: Tensor | null, opts: Int8Options = {}): Int8Act | Tensor {
  checkAct(x, 'int8Linear', 'input', 2);
  const [N, K] = x.shape;
  const [O, K2, KH, KW] = w.shape;
  if (KH !== 1 || KW !== 1 || K2 !== K || w.groups !== 1) throw new F8Error('SHAPE_MISMATCH', `int8Linear: weights ${fmt(w.shape)} (groups ${w.groups}) do not fit input ${fmt(x.shape)}: pack them as int8Weights(w, [O, ${K}])`);
  const temps: Tensor[] = [];
  const y = convCore('int8Linear', x, [N, K, 1, 1], w, bias, { relu: opts.relu, requant: opts.requant, shift: opts.shift, dot4: opts.dot4 }, temps);
  for (const t of temps) t.dispose();
  if (opts.requant) return { data: y.reshape(packedShape([N, O])), shape: [N, O], signed: opts.requant.signed };
  return y.reshape([N, O]);
}

// ---- element and pooling ops -------------------------------------------------------------------

/** An operand of int8Add / int8ResidualAdd: packed codes, or raw i32 [N, C, ...]. */
export type Int8Operand = Int8Act | Tensor;

function operandInfo(op: string, v: Int8Operand, what: string): { data: Tensor; shape: readonly number[]; kind: number } {
  if (v instanceof Tensor) {
    if (v.dtype !== 'i32') throw new F8Error('UNSUPPORTED', `${op}: ${what} ${v} must be i32 values or a packed Int8Act`);
    return { data: v, shape: v.shape, kind: 0 };
  }
  checkAct(v, op, what);
  return { data: v.data, shape: v.shape, kind: v.signed ? 1 : 2 };
}

/** The output of an element op: packed codes with requant, else i32 of `shape`. */
function elementOut(y: Tensor, shape: number[], opts: Int8Epilogue): Int8Act | Tensor {
  return opts.requant ? { data: y, shape, signed: opts.requant.signed } : y;
}

/** Options of int8Add: the alignment of the operands, then the epilogue. */
export interface Int8AddOptions extends Int8Epilogue {
  /** Left shifts (>= 0) of a and b before the sum. Default [0, 0]. */
  shifts?: readonly [number, number];
  /** max(., 0) of each operand before its shift (the identity path of a block read unsigned). */
  operandRelu?: readonly [boolean, boolean];
}

/**
 * The add of the integer model (src/export/graph.ts): clampInt32(r(a) * 2^shifts[0] +
 * r(b) * 2^shifts[1]) computed exactly, r = max(., 0) where operandRelu; then the epilogue.
 * Operands are packed codes or raw i32 [N, C, ...] of one shape. Returns i32 [N, C, ...] or, with
 * requant, packed codes.
 * @example int8Add(convOut, blockIn, { shifts: [0, 7], operandRelu: [false, true], relu: true, requant: { shift: 7, signed: false } })
 */
export function int8Add(a: Int8Operand, b: Int8Operand, opts: WithRequant<Int8AddOptions>): Int8Act;
export function int8Add(a: Int8Operand, b: Int8Operand, opts?: Int8AddOptions & { requant?: undefined }): Tensor;
export function int8Add(a: Int8Operand, b: Int8Operand, opts?: Int8AddOptions): Int8Act | Tensor;
export function int8Add(a: Int8Operand, b: Int8Operand, opts: Int8AddOptions = {}): Int8Act | Tensor {
  return addCore('int8Add', a, b, opts);
}

/**
 * int8Add and a re-quantisation of its result in one pass (wgsl/int8_ops.wgsl residual_dual):
 * `first` is int8Add(a, b, opts); `second` is int8Requant(first, second) where first is raw i32,
 * and int8Requant of the bare sum (int8Add with opts' shifts and operand ReLUs only) where opts
 * re-quantises too. The integer runner uses it for a residual sum read by a re-quantisation and by
 * the next residual (or by two re-quantisations). CPU reference: refInt8Add then refInt8Requant.
 * @example const { first, second } = int8AddDual(convOut, blockIn, { shifts: [0, 2] }, { relu: true, requant: { shift: 5, signed: false } })
 */
export function int8AddDual(a: Int8Operand, b: Int8Operand, opts: Int8AddOptions, second: WithRequant<Int8Epilogue>): { first: Int8Act | Tensor; second: Int8Act } {
  const op = 'int8AddDual';
  if (!second.requant) throw new F8Error('BAD_CONFIG', `${op}: the second output is packed codes; give it a requant`);
  const { params, bindings, shape } = addSetup(op, a, b, opts);
  const [N, C] = shape;
  const S = prod(shape.slice(2));
  const C4 = Math.ceil(C / 4);
  const e = Engine.get();
  const temps: Tensor[] = [];
  const { params: ep, shift } = epilogueParams(op, opts, C, temps);
  const { params: ep2, shift: s2 } = epilogueParams(op, second, C, temps);
  const y = opts.requant ? Tensor.empty(packedShape(shape), 'i8x4') : Tensor.empty(shape, 'i32');
  const y2 = Tensor.empty(packedShape(shape), 'i8x4');
  const count = N * C4 * S;
  const p2 = { relu2: ep2.relu, per_channel2: ep2.per_channel, shift0_2: ep2.shift0, lo2: ep2.lo, hi2: ep2.hi };
  e.dispatch(opsKernel(e, 'residual_dual'), { ...bindings, shift: shift ?? bindings.opa, y, shift2: s2 ?? bindings.opa, y2 }, fill(OPS_FIELDS, { N, C, C4, S, count, ...params, ...ep, ...p2 }), e.grid1d(count, 64));
  for (const t of temps) t.dispose();
  return { first: elementOut(y, shape, opts), second: { data: y2, shape, signed: second.requant.signed } };
}

/** Operand checks and kernel parameters shared by the residual kernels. */
function addSetup(op: string, a: Int8Operand, b: Int8Operand, opts: Int8AddOptions): { params: Record<string, number>; bindings: { opa: Tensor; opb: Tensor }; shape: number[] } {
  const A = operandInfo(op, a, 'a');
  const B = operandInfo(op, b, 'b');
  if (A.shape.length < 2 || A.shape.length !== B.shape.length || A.shape.some((d, i) => d !== B.shape[i])) throw new F8Error('SHAPE_MISMATCH', `${op}: operands ${fmt(A.shape)} and ${fmt(B.shape)} must have one shape [N, C, ...]`);
  const [sa, sb] = opts.shifts ?? [0, 0];
  if (!Number.isInteger(sa) || !Number.isInteger(sb) || sa < 0 || sb < 0) throw new F8Error('BAD_CONFIG', `${op}: shifts [${sa}, ${sb}] must be integers >= 0`);
  const [ra, rb] = opts.operandRelu ?? [false, false];
  // The kernel's exact 64-bit sum needs one unshifted operand: the common part of the shifts
  // is applied after the clamp (wgsl/int8_ops.wgsl, residual). Shifts past 64 saturate alike.
  const ml = Math.min(sa, sb);
  const params = { a_kind: A.kind, b_kind: B.kind, ma: Math.min(sa - ml, 64), mb: Math.min(sb - ml, 64), ml: Math.min(ml, 64), relu_a: ra ? 1 : 0, relu_b: rb ? 1 : 0 };
  return { params, bindings: { opa: A.data, opb: B.data }, shape: [...A.shape] };
}

function addCore(op: string, a: Int8Operand, b: Int8Operand, opts: Int8AddOptions): Int8Act | Tensor {
  const { params, bindings, shape } = addSetup(op, a, b, opts);
  return elementOp(op, 'residual', shape, opts, bindings, params);
}

/**
 * An element op of int8_ops.wgsl (residual, requant) over [N, C, ...] = shape, one thread per
 * 4 channels of one position, with the epilogue of opts (its parameters and shift buffer added to
 * `params` and `bindings`; the shift binding falls back to opa). Returns i32 or packed codes.
 */
function elementOp(op: string, entry: 'residual' | 'requant', xShape: readonly number[], opts: Int8Epilogue, bindings: { opa: Tensor; opb?: Tensor }, params: Record<string, number>): Int8Act | Tensor {
  const shape = [...xShape];
  const [N, C] = shape;
  const S = prod(shape.slice(2));
  const C4 = Math.ceil(C / 4);
  const e = Engine.get();
  const temps: Tensor[] = [];
  const { params: ep, shift } = epilogueParams(op, opts, C, temps);
  const y = opts.requant ? Tensor.empty(packedShape(shape), 'i8x4') : Tensor.empty(shape, 'i32');
  const count = N * C4 * S;
  e.dispatch(opsKernel(e, entry), { ...bindings, shift: shift ?? bindings.opa, y }, fill(OPS_FIELDS, { N, C, C4, S, count, ...params, ...ep }), e.grid1d(count, 64));
  for (const t of temps) t.dispose();
  return elementOut(y, shape, opts);
}

/**
 * Residual add (§5): a (fractional length flA) + b (flB), the operand with the smaller fl
 * shifted left to fl = max(flA, flB), the sum exact and clamped to +-(2^31 - 1); then optional
 * ReLU and re-quantisation. Operands are packed codes or raw i32 [N, C, ...] of the same shape.
 * Returns i32 [N, C, ...] at fl (no requant) or packed codes at fl - shift.
 * @example int8ResidualAdd(convOut, 12, blockIn, 5, { relu: true, requant: { shift: 7, signed: false } })
 */
export function int8ResidualAdd(a: Int8Operand, flA: number, b: Int8Operand, flB: number, opts: WithRequant<Int8Epilogue>): Int8Act;
export function int8ResidualAdd(a: Int8Operand, flA: number, b: Int8Operand, flB: number, opts?: Int8Epilogue & { requant?: undefined }): Tensor;
export function int8ResidualAdd(a: Int8Operand, flA: number, b: Int8Operand, flB: number, opts?: Int8Epilogue): Int8Act | Tensor;
export function int8ResidualAdd(a: Int8Operand, flA: number, b: Int8Operand, flB: number, opts: Int8Epilogue = {}): Int8Act | Tensor {
  if (!Number.isInteger(flA) || !Number.isInteger(flB)) throw new F8Error('BAD_CONFIG', `int8ResidualAdd: fractional lengths ${flA}, ${flB} must be integers`);
  const fl = Math.max(flA, flB);
  return addCore('int8ResidualAdd', a, b, { ...opts, shifts: [fl - flA, fl - flB] });
}

/**
 * The epilogue alone (the requant node of src/export/graph.ts): i32 values (or packed codes)
 * [N, C, ...] -> packed codes (requant) or i32 (optionally shifted by `shift`), ReLU first where
 * asked. @example int8Requant(acc, { relu: true, requant: { shift: Int32Array.from(n), signed: false } })
 */
export function int8Requant(x: Int8Operand, opts: WithRequant<Int8Epilogue>): Int8Act;
export function int8Requant(x: Int8Operand, opts: Int8Epilogue & { requant?: undefined }): Tensor;
export function int8Requant(x: Int8Operand, opts: Int8Epilogue): Int8Act | Tensor;
export function int8Requant(x: Int8Operand, opts: Int8Epilogue): Int8Act | Tensor {
  const op = 'int8Requant';
  const X = operandInfo(op, x, 'input');
  if (X.shape.length < 2) throw new F8Error('SHAPE_MISMATCH', `${op}: input ${fmt(X.shape)} must be [N, C, ...]`);
  return elementOp(op, 'requant', X.shape, opts, { opa: X.data }, { a_kind: X.kind });
}

/**
 * The requant kernel on plain i32 values in and out (the front doors requantize and
 * shiftRoundHalfEven of src/ops/requant.ts): x (any shape) viewed as [N, C, S], one shift per
 * channel (i32 [C]; C = 1 for one shift), optional ReLU, clamp to [lo, hi]. `scalarShift` uses the
 * scalar fx_shift_rhe lane by lane (the residual's helper; tests). Returns i32 of x's shape.
 * @example int8RequantRaw(acc, [N, C, H * W], n, { relu: true, lo: 0, hi: 255 })
 */
export function int8RequantRaw(x: Tensor, view: readonly [number, number, number], shift: Tensor, o: { relu: boolean; lo: number; hi: number; scalarShift?: boolean }): Tensor {
  const op = 'int8RequantRaw';
  const [N, C, S] = view;
  if (x.dtype !== 'i32' || shift.dtype !== 'i32') throw new F8Error('UNSUPPORTED', `${op}: i32 tensors expected, got ${x.dtype} and ${shift.dtype}`);
  if (N * C * S !== x.size || shift.size !== C) throw new F8Error('SHAPE_MISMATCH', `${op}: view [${view.join(', ')}] with ${shift.size} shifts does not fit x ${fmt(x.shape)}`);
  const e = Engine.get();
  const y = Tensor.empty(x.shape, 'i32');
  const C4 = Math.ceil(C / 4);
  const count = N * C4 * S;
  const params = fill(OPS_FIELDS, { N, C, C4, S, count, a_kind: 0, relu: o.relu ? 1 : 0, per_channel: 1, lo: o.lo, hi: o.hi, packed: 0 });
  e.dispatch(opsKernel(e, 'requant', o.scalarShift), { opa: x, shift, y }, params, e.grid1d(count, 64));
  return y;
}

/**
 * Max pooling on packed codes or i32 values [N, C, H, W] (values unchanged, signedness kept).
 * PyTorch's floor output size; padding at most half the kernel (padded positions never win).
 * @example int8MaxPool2d(x, { kernel: 3, stride: 2, padding: 1 })
 */
export function int8MaxPool2d(x: Int8Act, opts: Pool2dOptions): Int8Act;
export function int8MaxPool2d(x: Tensor, opts: Pool2dOptions): Tensor;
export function int8MaxPool2d(x: Int8Operand, opts: Pool2dOptions): Int8Operand;
export function int8MaxPool2d(x: Int8Operand, opts: Pool2dOptions): Int8Operand {
  const op = 'int8MaxPool2d';
  const X = operandInfo(op, x, 'input');
  if (X.shape.length !== 4) throw new F8Error('SHAPE_MISMATCH', `${op}: input ${fmt(X.shape)} must be 4-D [N, C, H, W]`);
  const [N, C, H, W] = X.shape;
  const pair = (v: number | readonly [number, number], what: string, min: number): [number, number] => {
    const r: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
    if (!r.every((d) => Number.isInteger(d) && d >= min)) throw new F8Error('BAD_CONFIG', `${op}: ${what} must be integers >= ${min}, got ${JSON.stringify(v)}`);
    return r;
  };
  const [kh, kw] = pair(opts.kernel, 'kernel', 1);
  const [sh, sw] = pair(opts.stride ?? opts.kernel, 'stride', 1);
  const [ph, pw] = pair(opts.padding ?? 0, 'padding', 0);
  if (2 * ph > kh || 2 * pw > kw) throw new F8Error('BAD_CONFIG', `${op}: padding ${ph}x${pw} exceeds half the kernel ${kh}x${kw}`);
  const OH = Math.floor((H + 2 * ph - kh) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - kw) / sw) + 1;
  if (OH < 1 || OW < 1) throw new F8Error('SHAPE_MISMATCH', `${op}: input ${H}x${W} with padding ${ph}x${pw} is smaller than the kernel ${kh}x${kw}`);
  const C4 = Math.ceil(C / 4);
  const e = Engine.get();
  const shape = [N, C, OH, OW];
  const y = X.kind ? Tensor.empty(packedShape(shape), 'i8x4') : Tensor.empty(shape, 'i32');
  const count = N * C4 * OH * OW;
  const params = { N, C, C4, H, W, OH, OW, kh, kw, sh, sw, ph, pw, count, a_kind: X.kind, signed: X.kind === 1 ? 1 : 0 };
  e.dispatch(opsKernel(e, 'maxpool'), { opa: X.data, y }, fill(OPS_FIELDS, params), e.grid1d(count, 64));
  return x instanceof Tensor ? y : { data: y, shape, signed: x.signed };
}

/**
 * Global sum pool: packed codes or i32 values [N, C, H, W] -> wrapping i32 sums over H x W, then
 * the epilogue: i32 [N, C] (fl unchanged, or shifted by `shift`) or, with requant, packed codes
 * [N, C] for int8Linear. The global average pool of §5 is this sum with its 2^s / k^2 folded into
 * a neighbouring layer's weights; `divisor` (the paper's pool form, src/quant/pool-form.ts; an
 * integer in [1, 2^16], codes out only) rounds sum * 2^-shift / divisor once instead.
 * @example int8SumPool(x, { requant: { shift: 2, signed: false } })
 * @example int8SumPool(x, { requant: { shift: 7, signed: false }, divisor: 49 }) // the mean of 7 x 7 at fl - 7
 */
export function int8SumPool(x: Int8Operand, opts: WithRequant<Int8Epilogue> & { divisor?: number }): Int8Act;
export function int8SumPool(x: Int8Operand, opts?: Int8Epilogue & { requant?: undefined; divisor?: undefined }): Tensor;
export function int8SumPool(x: Int8Operand, opts?: Int8Epilogue & { divisor?: number }): Int8Act | Tensor;
export function int8SumPool(x: Int8Operand, opts: Int8Epilogue & { divisor?: number } = {}): Int8Act | Tensor {
  const op = 'int8SumPool';
  const X = operandInfo(op, x, 'input');
  if (X.shape.length < 2) throw new F8Error('SHAPE_MISMATCH', `${op}: input ${fmt(X.shape)} must be [N, C, ...]`);
  const divisor = opts.divisor ?? 1;
  if (!Number.isInteger(divisor) || divisor < 1 || divisor > 65536) throw new F8Error('BAD_CONFIG', `${op}: divisor ${divisor} is not an integer in [1, 65536]`);
  if (divisor > 1 && !opts.requant) throw new F8Error('BAD_CONFIG', `${op}: a divisor needs requant (8-bit codes out)`);
  const [N, C] = X.shape;
  const S = prod(X.shape.slice(2));
  const C4 = Math.ceil(C / 4);
  const e = Engine.get();
  const temps: Tensor[] = [];
  const { params: ep, shift } = epilogueParams(op, opts, C, temps);
  const y = opts.requant ? Tensor.empty(packedShape([N, C]), 'i8x4') : Tensor.empty([N, C], 'i32');
  const count = N * C4;
  e.dispatch(opsKernel(e, 'sumpool'), { opa: X.data, shift: shift ?? X.data, y }, fill(OPS_FIELDS, { N, C, C4, S, count, a_kind: X.kind, signed: X.kind === 1 ? 1 : 0, ...ep, divisor }), e.grid1d(count, 64));
  for (const t of temps) t.dispose();
  return elementOut(y, [N, C], opts);
}

/**
 * Packed codes [N, C, ...rest] -> packed codes [N, C * prod(rest)] in row-major order (element
 * c * S + s), the input a linear layer reads. Where rest is 1 the layouts coincide (a view).
 * @example int8Linear(int8Flatten(x), fc, bias) // x [N, 16, 4, 4], fc int8Weights(w, [10, 256])
 */
export function int8Flatten(x: Int8Act): Int8Act {
  const op = 'int8Flatten';
  checkAct(x, op, 'input');
  const [N, C] = x.shape;
  const S = prod(x.shape.slice(2));
  const K = C * S;
  const K4 = Math.ceil(K / 4);
  if (S === 1) return { data: x.data.reshape(packedShape([N, K])), shape: [N, K], signed: x.signed };
  const e = Engine.get();
  const y = Tensor.empty(packedShape([N, K]), 'i8x4');
  const count = N * K4;
  e.dispatch(opsKernel(e, 'flatten'), { opa: x.data, y }, fill(OPS_FIELDS, { N, C, C4: Math.ceil(C / 4), S, K, K4, count }), e.grid1d(count, 64));
  return { data: y, shape: [N, K], signed: x.signed };
}

/**
 * Packs i32 codes [N, C, ...] (e.g. the output of requantize) on the GPU; the codes must fit the
 * signedness (only their low byte is kept). @example int8Pack(requantize(acc, n, { signed: false }), false)
 */
export function int8Pack(codes: Tensor, signed: boolean): Int8Act {
  if (codes.dtype !== 'i32' || codes.shape.length < 2) throw new F8Error('UNSUPPORTED', `int8Pack: codes ${codes} must be i32 [N, C, ...]`);
  return { data: packCodes(Engine.get(), codes, codes.shape), shape: [...codes.shape], signed };
}

/** Unpacks packed codes to i32 [N, C, ...] on the GPU. */
export function int8Unpack(a: Int8Act): Tensor {
  checkAct(a, 'int8Unpack', 'input');
  const e = Engine.get();
  const [N, C] = a.shape;
  const S = prod(a.shape.slice(2));
  const C4 = Math.ceil(C / 4);
  const y = Tensor.empty(a.shape, 'i32');
  const count = N * C4 * S;
  e.dispatch(opsKernel(e, 'unpack'), { opa: a.data, y }, fill(OPS_FIELDS, { N, C, C4, S, count, signed: a.signed ? 1 : 0 }), e.grid1d(count, 64));
  return y;
}
