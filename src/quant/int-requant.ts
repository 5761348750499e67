/**
 * Integer-only arithmetic of the exported model (F8NET.md §5), CPU reference: rounding shifts,
 * re-quantisation of int32 accumulators to the next layer's 8-bit input, residual adds.
 *
 * Results are the exact mathematical ones (double arithmetic on int32 values is exact here).
 * The spec's formula r = x + 2^(n-1) overflows i32 for x near 2^31 - 1; a WGSL kernel gets the
 * same result without overflow as
 *   q = x >> n (arithmetic, = floor);  rem = x & ((1 << n) - 1);  half = 1 << (n - 1);
 *   q + select(0, 1, rem > half || (rem == half && (q & 1) == 1))
 * with n >= 32 handled apart (WGSL shifts are taken mod 32; the result there is 0).
 */
import { F8Error } from '../runtime/errors.js';
import { checkLayout, type ChannelLayout } from './fixed-format.js';

/** Largest magnitude of the symmetric int32 range used for biases, accumulators and residual sums. */
export const INT32_MAX = 2147483647;

/**
 * Clamp to the symmetric int32 range [-(2^31 - 1), 2^31 - 1] (§5 bias and residual clamp). NaN -> 0.
 * @example clampInt32(roundHalfEven(b * 2 ** (flIn + flW))); clampInt32(-(2 ** 31)) === -2147483647
 */
export function clampInt32(x: number): number {
  if (x !== x) return 0;
  return Math.min(INT32_MAX, Math.max(-INT32_MAX, x));
}

function checkInt32(x: number, what: string): void {
  if (!Number.isInteger(x) || x < -2147483648 || x > INT32_MAX) throw new F8Error('BAD_INPUT', `${what}: ${x} is not an int32`);
}

/**
 * x / 2^n rounded half to even for n > 0 (floor modulo, so negative x round correctly);
 * x * 2^-n saturated to [-(2^31 - 1), 2^31 - 1] for n < 0; x for n = 0. Exact for every int32.
 * @example shiftRoundHalfEven(5, 1) === 2; shiftRoundHalfEven(-5, 1) === -2; shiftRoundHalfEven(-7, 1) === -4
 * @example shiftRoundHalfEven(3, -2) === 12
 */
export function shiftRoundHalfEven(x: number, n: number): number {
  checkInt32(x, 'shiftRoundHalfEven x');
  if (!Number.isInteger(n)) throw new F8Error('BAD_INPUT', `shiftRoundHalfEven: shift ${n} is not an integer`);
  return shiftExact(x, n);
}

function shiftExact(x: number, n: number): number {
  if (n === 0) return x;
  if (n < 0) return clampInt32(x * 2 ** -n);
  if (n >= 32) return 0; // |x / 2^n| <= 1/2, and -1/2 ties to 0
  const p = 2 ** n;
  let q = Math.floor(x / p);
  const rem = x - q * p; // floor modulo, in [0, 2^n)
  const half = p / 2;
  if (rem > half || (rem === half && q % 2 !== 0)) q++;
  return q + 0; // no -0
}

/**
 * x * 2^-n / d rounded half to even, exactly (floor modulo; the quotient of the paper's pool
 * form, src/quant/pool-form.ts), saturated to [-(2^31 - 1), 2^31 - 1]. d: an integer >= 1.
 * @example divRoundHalfEven(147, 0, 49) === 3; divRoundHalfEven(98, 2, 49) === 0 (2 / 4 ties to even)
 * @example divRoundHalfEven(74, 0, 49) === 2 (74 / 49 = 1.51); divRoundHalfEven(-3, -4, 49) === -1
 */
export function divRoundHalfEven(x: number, n: number, d: number): number {
  checkInt32(x, 'divRoundHalfEven x');
  if (!Number.isInteger(n)) throw new F8Error('BAD_INPUT', `divRoundHalfEven: shift ${n} is not an integer`);
  if (!Number.isInteger(d) || d < 1) throw new F8Error('BAD_INPUT', `divRoundHalfEven: divisor ${d} is not an integer >= 1`);
  // BigInt: x 2^-n / d exactly for every shift (the quotient and remainder of num / den).
  const num = BigInt(x) << BigInt(Math.max(-n, 0));
  const den = BigInt(d) << BigInt(Math.max(n, 0));
  let q = num / den; // truncates toward zero
  let r = num - q * den;
  if (r < 0n) {
    q -= 1n;
    r += den;
  }
  if (2n * r > den || (2n * r === den && (q & 1n) === 1n)) q += 1n;
  return clampInt32(Number(q)) + 0;
}

/** Options of {@link requantize}: target signedness and word length (8), ReLU on the accumulator, per-channel layout. */
export type RequantOpts = { signed: boolean; wl?: number; relu?: boolean; channelAxis?: ChannelLayout; divisor?: number };

/**
 * Re-quantise int32 accumulators (fl_acc = fl_in + fl_w) to the next layer's input (fl_next):
 * optional ReLU max(acc, 0), shiftRoundHalfEven by n = fl_acc - fl_next (one n, or one per
 * channel with `channelAxis`), clamp to [-127, 127] or [0, 255]. With `divisor` d > 1 the
 * shift and a division by d round once: divRoundHalfEven(acc, n, d).
 * @example requantize(Int32Array.of(1000, -1000), 3, { signed: true }) -> [125, -125]
 */
export function requantize(acc: Int32Array, n: number | Int32Array, opts: RequantOpts): Int32Array {
  const wl = opts.wl ?? 8;
  const hi = opts.signed ? 2 ** (wl - 1) - 1 : 2 ** wl - 1;
  const lo = opts.signed ? -hi : 0;
  let inner = 1;
  let channels = 1;
  if (typeof n !== 'number') {
    if (!opts.channelAxis) throw new F8Error('BAD_CONFIG', 'requantize: a per-channel shift needs opts.channelAxis');
    checkLayout(acc.length, opts.channelAxis, 'requantize');
    ({ inner, channels } = opts.channelAxis);
    if (n.length !== channels) throw new F8Error('SHAPE_MISMATCH', `requantize: ${n.length} shifts for ${channels} channels`);
  } else if (!Number.isInteger(n)) {
    throw new F8Error('BAD_INPUT', `requantize: shift ${n} is not an integer`);
  }
  const divisor = opts.divisor ?? 1;
  if (!Number.isInteger(divisor) || divisor < 1) throw new F8Error('BAD_INPUT', `requantize: divisor ${divisor} is not an integer >= 1`);
  const out = new Int32Array(acc.length);
  for (let i = 0; i < acc.length; i++) {
    const a = opts.relu && acc[i] < 0 ? 0 : acc[i];
    const sh = typeof n === 'number' ? n : n[((i / inner) | 0) % channels];
    const s = divisor === 1 ? shiftExact(a, sh) : divRoundHalfEven(a, sh, divisor);
    out[i] = s < lo ? lo : s > hi ? hi : s;
  }
  return out;
}

/**
 * Residual add of two integer tensors with fractional lengths flA, flB (§5): the operand with the
 * smaller fl is shifted left to the larger, the sum clamped to ±(2^31 - 1).
 * @example alignAdd(Int32Array.of(3), 2, Int32Array.of(5), 4) -> { value: [17], fl: 4 }
 */
export function alignAdd(a: Int32Array, flA: number, b: Int32Array, flB: number): { value: Int32Array; fl: number } {
  if (a.length !== b.length) throw new F8Error('SHAPE_MISMATCH', `alignAdd: operands of ${a.length} and ${b.length} elements`);
  if (!Number.isInteger(flA) || !Number.isInteger(flB)) throw new F8Error('BAD_INPUT', `alignAdd: fractional lengths ${flA}, ${flB} must be integers`);
  const fl = Math.max(flA, flB);
  const sa = 2 ** (fl - flA);
  const sb = 2 ** (fl - flB);
  // Exact below 2^53; past it the sum is far outside int32 and clamps with the right sign.
  const value = Int32Array.from(a, (v, i) => clampInt32(v * sa + b[i] * sb));
  return { value, fl };
}
