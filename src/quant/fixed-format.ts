/**
 * Fixed-point formats and fake quantisation (F8NET.md §1), CPU reference.
 *
 * Float32 semantics throughout, as a WGSL kernel computes them: x * 2^fl is one f32 multiply by
 * a power of two (exact unless it overflows to ±Inf), q / 2^fl is exact for |q| < 2^24.
 * Non-finite inputs (WGSL promises nothing for NaN, so kernels must test for it explicitly):
 *   NaN  -> q = 0, value 0, mask 0
 *   ±Inf -> q = hi / lo, mask 0 (the same as any value past the bounds)
 * Subnormal inputs round to 0 for every legal fl, so flush-to-zero hardware agrees.
 */
import { F8Error } from '../runtime/errors.js';

/** A fixed-point format: word length, fractional length, signedness. `{ wl: 8, fl: 6, signed: true }` holds q / 64, q in [-127, 127]. */
export type Format = { wl: number; fl: number; signed: boolean };

/**
 * How a flat tensor splits into channels: element i has channel ((i / inner) | 0) % channels.
 * Weights OIHW per output channel: { channels: O, inner: I*H*W }.
 * Activations NCHW per input channel: { outer: N, channels: C, inner: H*W }.
 * `outer`, when given, is checked against the tensor length.
 */
export type ChannelLayout = { outer?: number; channels: number; inner: number };

/** Options of {@link quantize}: word length, signedness, and the channel layout when fl is per channel. */
export type QuantOpts = { wl: number; signed: boolean; channelAxis?: ChannelLayout };

/** Result of {@link quantize}: integers, fake-quant values q / 2^fl, and the STE mask (1 = gradient passes). */
export type Quantized = { q: Int32Array; value: Float32Array; mask: Uint8Array };

/**
 * Round half to even, like `torch.round`; exact for every double.
 * NaN -> NaN, ±Inf -> ±Inf, the sign of zero is kept.
 * @example roundHalfEven(2.5) === 2; roundHalfEven(-0.5) === -0; roundHalfEven(-1.5) === -2
 */
export function roundHalfEven(x: number): number {
  // |x| >= 2^52 (and ±Inf, NaN) is already an integer.
  if (!(Math.abs(x) < 4503599627370496)) return x;
  const r = Math.round(x); // ties toward +Inf
  // r - x is exact here; a tie rounded up to an odd integer goes back down.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function checkWl(wl: number, signed: boolean): void {
  // q must be an exact f32 integer and fit in i32.
  if (!Number.isInteger(wl) || wl < (signed ? 2 : 1) || wl > 24) {
    throw new F8Error('BAD_CONFIG', `word length ${wl}: expected an integer in [${signed ? 2 : 1}, 24]`);
  }
}

/**
 * Integer bounds of a word length (§1); signed is symmetric, so -128 never appears.
 * @example qBounds(8, true) -> { lo: -127, hi: 127 }; qBounds(8, false) -> { lo: 0, hi: 255 }
 */
export function qBounds(wl: number, signed: boolean): { lo: number; hi: number } {
  checkWl(wl, signed);
  return signed ? { lo: -(2 ** (wl - 1) - 1), hi: 2 ** (wl - 1) - 1 } : { lo: 0, hi: 2 ** wl - 1 };
}

/**
 * Legal fractional lengths [min, max] (§1).
 * @example flRange(8, true) -> [0, 7]; flRange(8, false) -> [0, 8]
 */
export function flRange(wl: number, signed: boolean): [number, number] {
  checkWl(wl, signed);
  return [0, wl - (signed ? 1 : 0)];
}

/** Throws SHAPE_MISMATCH unless the layout splits a tensor of `length` elements. */
export function checkLayout(length: number, layout: ChannelLayout, what: string): void {
  const { outer, channels, inner } = layout;
  const ok =
    Number.isInteger(channels) && channels > 0 && Number.isInteger(inner) && inner > 0 &&
    length % (channels * inner) === 0 && (outer === undefined || outer * channels * inner === length);
  if (!ok) {
    throw new F8Error(
      'SHAPE_MISMATCH',
      `${what}: layout {outer: ${outer}, channels: ${channels}, inner: ${inner}} does not split a tensor of ${length} elements`,
    );
  }
}

/** Channel of element i under a layout. @example channelOf(7, { channels: 3, inner: 2 }) === 0 */
export function channelOf(i: number, layout: ChannelLayout): number {
  return ((i / layout.inner) | 0) % layout.channels;
}

function checkFl(fl: number, wl: number, signed: boolean, what: string): void {
  const [a, b] = flRange(wl, signed);
  if (!Number.isInteger(fl) || fl < a || fl > b) {
    throw new F8Error('BAD_CONFIG', `${what}: fractional length ${fl} is not an integer in [${a}, ${b}] for wl=${wl} ${signed ? 'signed' : 'unsigned'}`);
  }
}

/**
 * Fake-quantise x (§1): q = clamp(roundHalfEven(x * 2^fl), lo, hi), value = q / 2^fl, and the STE
 * mask from the rounded, unclamped r (signed: |r| < hi; unsigned: 0 < r < hi).
 * `fl` is one value, or one per channel with `opts.channelAxis` giving the layout.
 * @example quantize(Float32Array.of(0.3, -2), 4, { wl: 8, signed: true })
 *   -> q [5, -32], value [0.3125, -2], mask [1, 1]
 */
export function quantize(x: Float32Array, fl: number | Int32Array, opts: QuantOpts): Quantized {
  const { wl, signed, channelAxis } = opts;
  const { lo, hi } = qBounds(wl, signed);
  const n = x.length;
  const q = new Int32Array(n);
  const value = new Float32Array(n);
  const mask = new Uint8Array(n);
  let perChannel: Int32Array | undefined;
  if (typeof fl === 'number') {
    checkFl(fl, wl, signed, 'quantize');
  } else {
    if (!channelAxis) throw new F8Error('BAD_CONFIG', 'quantize: a per-channel fl needs opts.channelAxis');
    checkLayout(n, channelAxis, 'quantize');
    if (fl.length !== channelAxis.channels) {
      throw new F8Error('SHAPE_MISMATCH', `quantize: ${fl.length} fractional lengths for ${channelAxis.channels} channels`);
    }
    for (const f of fl) checkFl(f, wl, signed, 'quantize');
    perChannel = fl;
  }
  const inner = channelAxis?.inner ?? 1;
  const channels = channelAxis?.channels ?? 1;
  for (let i = 0; i < n; i++) {
    const f = perChannel ? perChannel[((i / inner) | 0) % channels] : (fl as number);
    const v = x[i];
    if (v !== v) continue; // NaN: q = 0, value 0, mask 0
    const r = roundHalfEven(Math.fround(v * 2 ** f));
    mask[i] = (signed ? Math.abs(r) < hi : r > 0 && r < hi) ? 1 : 0;
    const qi = r < lo ? lo : r > hi ? hi : r;
    q[i] = qi;
    value[i] = q[i] * 2 ** -f; // from the integer, so -0 becomes +0 as on the GPU
  }
  return { q, value, mask };
}

/**
 * fix_scaling (§3): 2^fl * |alpha| / (2^(wl - signed) - 1), in float64.
 * @example fixScaling(8, 6, 8, false) === 512 / 255
 */
export function fixScaling(alpha: number, fl: number, wl: number, signed: boolean): number {
  return (2 ** fl * Math.abs(alpha)) / (2 ** (wl - (signed ? 1 : 0)) - 1);
}
