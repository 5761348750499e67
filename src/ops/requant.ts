/**
 * Integer re-quantisation of plain i32 tensors on the GPU (F8NET.md §5): rounding shifts of
 * int32 accumulators and their clamp to the next layer's input. Both functions are front doors
 * of f8net's one GPU re-quantisation, the requant kernel of wgsl/int8_ops.wgsl (int8Requant's,
 * src/ops/int8.ts), run on i32 in and out: a tensor is viewed as [outer, C, inner] for its
 * shifts (one for the tensor, one per channel along an axis, or one per element). CPU
 * reference: src/quant/int-requant.ts, matched bit for bit (negative values, ties, n = 0, left
 * shifts that saturate, n >= 32, int32 extremes).
 *
 * @example
 *   // acc: i32 [N, C, H, W] at fl_in + fl_w; n: i32 [C], fl_acc - fl_next per output channel
 *   const x8 = requantize(acc, n, { signed: false, relu: true, axis: 1 }); // i32 in [0, 255]
 */
import { F8Error } from '../runtime/errors.js';
import { Tensor } from '../tensor.js';
import { channelLayout } from '../tensor.js';
import { int8RequantRaw } from './int8.js';

const I32_MIN = -2147483648;
const I32_MAX = 2147483647;

export type RequantizeOpts = {
  signed: boolean;
  /** max(acc, 0) before the shift (ReLU on the accumulator). */
  relu?: boolean;
  /**
   * Target word length (8): clamp to [-(2^(wl-1) - 1), 2^(wl-1) - 1] or [0, 2^wl - 1]; 32 (signed
   * only) keeps int32 values, clamped to +-(2^31 - 1) (the int32 epilogue of src/export/graph.ts).
   */
  wl?: number;
  /** Channel axis when n is per channel (NCHW: 1). */
  axis?: number;
};

function launch(what: string, acc: Tensor, n: Tensor, lo: number, hi: number, relu: boolean, axis: number | undefined): Tensor {
  if (acc.dtype !== 'i32' || n.dtype !== 'i32') throw new F8Error('UNSUPPORTED', `${what}: i32 tensors expected, got ${acc.dtype} and ${n.dtype}`);
  let view: [number, number, number] = [1, 1, acc.size];
  if (n.size !== 1) {
    if (axis === undefined) {
      if (n.size !== acc.size) throw new F8Error('BAD_CONFIG', `${what}: ${n.size} shifts for ${acc.size} values need opts.axis (the channel axis)`);
      view = [1, n.size, 1];
    } else {
      const l = channelLayout(acc.shape, axis, what);
      if (n.size !== l.C) throw new F8Error('SHAPE_MISMATCH', `${what}: ${n.size} shifts for ${l.C} channels (axis ${axis} of [${acc.shape.join(', ')}])`);
      view = [l.outer, l.C, l.inner];
    }
  }
  return int8RequantRaw(acc, view, n, { relu, lo, hi });
}

/**
 * Re-quantise int32 accumulators (§5): optional ReLU max(acc, 0), a shift by n with round half
 * to even (right for n > 0, saturating left for n < 0), then clamp to [-127, 127] (signed) or
 * [0, 255] (unsigned) for wl 8. `n` is i32 [1], or [C] per channel along `opts.axis`.
 * @example requantize(acc, n, { signed: true, wl: 32, axis: 1 }) // i32 out: x / 2^n, saturating
 * @example requantize(Tensor.from(Int32Array.of(1000, -1000), [2]), Tensor.from(Int32Array.of(3), [1]), { signed: true }) // [125, -125]
 */
export function requantize(acc: Tensor, n: Tensor, opts: RequantizeOpts): Tensor {
  const wl = opts.wl ?? 8;
  if (!Number.isInteger(wl) || wl < 2 || wl > 32 || (wl === 32 && !opts.signed)) {
    throw new F8Error('BAD_CONFIG', `requantize: word length ${wl}${opts.signed ? '' : ' unsigned'}: expected an integer in [2, 31], or 32 when signed`);
  }
  const hi = opts.signed ? 2 ** (wl - 1) - 1 : 2 ** wl - 1;
  return launch('requantize', acc, n, opts.signed ? -hi : 0, Math.min(hi, I32_MAX), !!opts.relu, opts.axis);
}

/**
 * x / 2^n rounded half to even (floor modulo, so negative x round correctly) for n > 0,
 * x * 2^-n saturated to ±(2^31 - 1) for n < 0, x for n = 0, 0 for n >= 32; n is i32 [1] or one
 * per element.
 * @example shiftRoundHalfEven(Tensor.from(Int32Array.of(5, -5, -7), [3]), Tensor.from(Int32Array.of(1), [1])) // [2, -2, -4]
 */
export function shiftRoundHalfEven(x: Tensor, n: Tensor): Tensor {
  if (n.size !== 1 && n.size !== x.size) throw new F8Error('SHAPE_MISMATCH', `shiftRoundHalfEven: ${n.size} shifts for ${x.size} values (1 or one per value)`);
  return launch('shiftRoundHalfEven', x, n, I32_MIN, I32_MAX, false, undefined);
}
