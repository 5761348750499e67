/**
 * CPU references of ./int8.ts: the integer-only inference ops of the exported model
 * (F8NET.md §5) as plain integer loops over unpacked NCHW codes. The GPU kernels are tested
 * against these bit for bit.
 *
 * Arithmetic (the definition both sides follow):
 * - products int8 x int8 or uint8 x int8, summed in i32 with two's complement wrap-around
 *   (exact while |sum| < 2^31, i.e. always for fewer than 66 000 products per output);
 * - the bias is added with saturation to [-(2^31 - 1), 2^31 - 1] (clampInt32 of the exact sum);
 * - epilogue: optional ReLU max(acc, 0), then, to re-quantise, the round-half-even shift by n
 *   (n < 0: saturating left shift) and the clamp to [-127, 127] or [0, 255]: `requantize` of
 *   src/quant/int-requant.ts; without re-quantisation the output is i32, shifted the same way
 *   where a raw `shift` is given, clamped to [-(2^31 - 1), 2^31 - 1].
 * - add: clampInt32(r(a) * 2^sa + r(b) * 2^sb) exact (r = optional ReLU of each operand), then
 *   the same epilogue; the residual add of §5 is `alignAdd` of src/quant/int-requant.ts.
 *
 * @example
 *   const y = refInt8Conv2d(x, [1, 3, 8, 8], w, [4, 3, 3, 3], bias, { padding: 1, relu: true, requant: { shift: 7, signed: false } });
 */
import { geometry, outSize, forEachTap, type Conv2dOptionsLike } from './conv2d.ref.js';
import { requantize, alignAdd, clampInt32 } from '../quant/int-requant.js';

/** Re-quantisation to the next layer's 8-bit input: shift n (one, or one per channel) and signedness. */
export interface RefRequant {
  shift: number | Int32Array;
  signed: boolean;
}

/** The epilogue: ReLU on the accumulator, and re-quantisation (absent: raw i32 output, shifted by `shift` if given). */
export interface RefEpilogue {
  relu?: boolean;
  requant?: RefRequant;
  /** Without requant: the shift of the raw i32 output (one, or one per channel). */
  shift?: number | Int32Array;
  /** A divisor that the shift's rounding includes (divRoundHalfEven; the paper's pool form). */
  divisor?: number;
}

/** Applies the epilogue to accumulators acc laid out [outer, channels, inner]. */
export function refEpilogue(acc: Int32Array, channels: number, inner: number, e: RefEpilogue): Int32Array {
  const channelAxis = { channels, inner };
  if (e.requant) return requantize(acc, e.requant.shift, { signed: e.requant.signed, relu: !!e.relu, channelAxis, divisor: e.divisor });
  return requantize(acc, e.shift ?? 0, { signed: true, wl: 32, relu: !!e.relu, channelAxis, divisor: e.divisor });
}

/**
 * Integer conv2d on codes x [N, C, H, W] (int8 or uint8 values) with int8 weights
 * w [O, C/groups, KH, KW] and i32 bias [O]: acc = wrap-sum of x * w, sat-add the bias, epilogue.
 * Returns [N, O, OH, OW] codes (re-quantised) or raw accumulators.
 */
export function refInt8Conv2d(
  x: ArrayLike<number>,
  xShape: readonly number[],
  w: ArrayLike<number>,
  wShape: readonly number[],
  bias: ArrayLike<number> | null,
  opts: Conv2dOptionsLike & RefEpilogue = {},
): Int32Array {
  const [N, , H, W] = xShape;
  const [O, , KH, KW] = wShape;
  const [OH, OW] = outSize(H, W, KH, KW, geometry(opts));
  const acc = new Int32Array(N * O * OH * OW);
  // The products of one output arrive in a fixed order; the sum wraps modulo 2^32 like the GPU's.
  forEachTap(xShape, wShape, opts, (yi, wi, xi) => {
    acc[yi] = (acc[yi] + x[xi] * w[wi]) | 0;
  });
  for (let i = 0; i < acc.length; i++) acc[i] = clampInt32(acc[i] + (bias ? bias[Math.floor(i / (OH * OW)) % O] : 0));
  return refEpilogue(acc, O, OH * OW, opts);
}

/** Integer linear layer: x [N, K] codes, w [O, K] int8, bias [O] i32 -> [N, O]. */
export function refInt8Linear(x: ArrayLike<number>, xShape: readonly number[], w: ArrayLike<number>, wShape: readonly number[], bias: ArrayLike<number> | null, opts: RefEpilogue = {}): Int32Array {
  const [N, K] = xShape;
  const [O] = wShape;
  return refInt8Conv2d(x, [N, K, 1, 1], w, [O, K, 1, 1], bias, opts);
}

/**
 * Residual add (§5): a at fractional length flA plus b at flB, aligned to fl = max(flA, flB)
 * by a left shift, clamped to +-(2^31 - 1); then the epilogue. Operands and result [N, C, ...].
 */
export function refInt8ResidualAdd(a: ArrayLike<number>, flA: number, b: ArrayLike<number>, flB: number, shape: readonly number[], opts: RefEpilogue = {}): Int32Array {
  const { value } = alignAdd(Int32Array.from(a), flA, Int32Array.from(b), flB);
  const inner = shape.slice(2).reduce((p, d) => p * d, 1);
  return refEpilogue(value, shape[1], inner, opts);
}

/** Options of refInt8Add (as Int8AddOptions of ./int8.ts). */
export interface RefAddOptions extends RefEpilogue {
  shifts?: readonly [number, number];
  operandRelu?: readonly [boolean, boolean];
}

/**
 * The add of the integer model: clampInt32(r(a) * 2^shifts[0] + r(b) * 2^shifts[1]) exact,
 * r = max(., 0) where operandRelu; then the epilogue. Operands and result [N, C, ...].
 */
export function refInt8Add(a: ArrayLike<number>, b: ArrayLike<number>, shape: readonly number[], opts: RefAddOptions = {}): Int32Array {
  const [sa, sb] = (opts.shifts ?? [0, 0]).map((s) => 2 ** s);
  const [ra, rb] = opts.operandRelu ?? [false, false];
  const r = (v: number, on: boolean): number => (on && v < 0 ? 0 : v);
  // Exact below 2^53; past it the sum is far outside int32 and clamps with the right sign
  // (a zero operand times an infinite 2^s is 0, not NaN).
  const term = (v: number, s: number): number => (v === 0 ? 0 : v * s);
  const value = Int32Array.from({ length: a.length }, (_, i) => clampInt32(term(r(a[i], ra), sa) + term(r(b[i], rb), sb)));
  const inner = shape.slice(2).reduce((p, d) => p * d, 1);
  return refEpilogue(value, shape[1], inner, opts);
}

/**
 * int8AddDual's two outputs: first = refInt8Add(a, b, opts); second = refInt8Requant of first
 * (raw first) or of the bare sum (first re-quantised, so its own epilogue is not composed in).
 */
export function refInt8AddDual(a: ArrayLike<number>, b: ArrayLike<number>, shape: readonly number[], opts: RefAddOptions, second: RefEpilogue): { first: Int32Array; second: Int32Array } {
  const first = refInt8Add(a, b, shape, opts);
  const base = opts.requant ? refInt8Add(a, b, shape, { shifts: opts.shifts, operandRelu: opts.operandRelu }) : first;
  return { first, second: refInt8Requant(base, shape, second) };
}

/** The epilogue alone on i32 values x [N, C, ...] (the requant node of src/export/graph.ts). */
export function refInt8Requant(x: Int32Array, shape: readonly number[], opts: RefEpilogue): Int32Array {
  return refEpilogue(x, shape[1], shape.slice(2).reduce((p, d) => p * d, 1), opts);
}

/** Max pooling on codes or i32 values [N, C, H, W] (floor output size, clipped windows, padding <= kernel/2). */
export function refInt8MaxPool2d(x: ArrayLike<number>, shape: readonly number[], kernel: [number, number], stride: [number, number], padding: [number, number]): Int32Array {
  const [N, C, H, W] = shape;
  const OH = Math.floor((H + 2 * padding[0] - kernel[0]) / stride[0]) + 1;
  const OW = Math.floor((W + 2 * padding[1] - kernel[1]) / stride[1]) + 1;
  const y = new Int32Array(N * C * OH * OW);
  for (let q = 0; q < N * C; q++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        const hs = oh * stride[0] - padding[0];
        const ws = ow * stride[1] - padding[1];
        let m = -Infinity;
        for (let ih = Math.max(hs, 0); ih < Math.min(hs + kernel[0], H); ih++)
          for (let iw = Math.max(ws, 0); iw < Math.min(ws + kernel[1], W); iw++) m = Math.max(m, x[(q * H + ih) * W + iw]);
        y[(q * OH + oh) * OW + ow] = m;
      }
  return y;
}

/**
 * Global sum pool: x [N, C, H, W] codes -> [N, C] sums (wrapping i32), then the epilogue. The
 * global average pool of §5 is this sum, its 2^s / k^2 folded into a neighbouring layer; with
 * opts.divisor = H * W (the paper's pool form) the epilogue rounds the mean itself.
 */
export function refInt8SumPool(x: ArrayLike<number>, shape: readonly number[], opts: RefEpilogue = {}): Int32Array {
  const [N, C, H, W] = shape;
  const S = H * W;
  const acc = new Int32Array(N * C);
  for (let q = 0; q < N * C; q++) {
    let s = 0;
    for (let k = 0; k < S; k++) s = (s + x[q * S + k]) | 0;
    acc[q] = s;
  }
  return refEpilogue(acc, C, 1, opts);
}
