/**
 * Fake quantisation (F8NET.md §1) and fix_scaling (§3) on the GPU (wgsl/fake_quant.wgsl).
 * CPU reference: src/quant/fixed-format.ts (quantize, fixScaling), matched bit for bit.
 *
 * The fractional length is an i32 tensor, [1] per layer or [C] per channel, so a length computed
 * on the GPU in the same step (ops/fraclen.ts) feeds the kernel without a read-back. Values out
 * of [0, wl - signed] are clamped into it by the kernel (it cannot throw).
 *
 * When x needs a gradient, the forward writes the STE mask as packed bits (1/32 of x) and the
 * backward reads them, instead of recomputing the mask from x and fl: measured on lavapipe
 * (bench/fakequant.bench.ts, process CPU time, 16M elements) the bit-mask forward costs about
 * 15% more than the plain forward but its backward takes less than half the time of one that
 * recomputes the mask, about 30% less for the pair; and the backward no longer depends on x
 * and fl being left untouched until it runs. Without a gradient the plain forward runs.
 *
 * @example
 *   const fl = fraclenFromMetric(w, { wl: 8, signed: true, metric: 'std', axis: 0 }); // i32 [O]
 *   const wq = fakeQuant(w, fl, { wl: 8, signed: true, axis: 0 });
 *   const q = quantizeInt(w, fl, { wl: 8, signed: true, axis: 0 });           // i32 integers
 */
import { Engine } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';
import { Tensor, channelLayout } from '../tensor.js';
import { sum } from './reduce.js';
import { record, needsGrad } from '../autograd/tape.js';
import type { Defines } from '../runtime/wgsl-source.js';

const WG = 256;
/** vec4 lanes per thread (see wgsl/fake_quant.wgsl). */
const UNROLL = 8;

export type FakeQuantOpts = {
  /** Word length, 2..8. */
  wl: number;
  signed: boolean;
  /** Channel axis when fl is per channel: weights OIHW 0, activations NCHW 1. */
  axis?: number;
};

/** Integer bounds and the largest fl of a word length (§1); throws BAD_CONFIG outside 2..8. */
export function checkFormat(wl: number, signed: boolean, what: string): { lo: number; hi: number; flmax: number } {
  if (!Number.isInteger(wl) || wl < 2 || wl > 8) throw new F8Error('BAD_CONFIG', `${what}: word length ${wl}: expected an integer in [2, 8]`);
  const hi = signed ? 2 ** (wl - 1) - 1 : 2 ** wl - 1;
  return { lo: signed ? -hi : 0, hi, flmax: wl - (signed ? 1 : 0) };
}

/** Kernel defines and parameters of a fake-quant launch (also used by the benchmark). */
export function fakeQuantPlan(
  x: Tensor,
  fl: Tensor,
  opts: FakeQuantOpts,
  what = 'fakeQuant',
): { defines: Defines; params: Record<string, number>; n4: number; groups: [number, number, number] } {
  if (x.dtype !== 'f32') throw new F8Error('UNSUPPORTED', `${what}: x must be f32, got ${x.dtype}`);
  if (fl.dtype !== 'i32') throw new F8Error('UNSUPPORTED', `${what}: fl must be an i32 tensor, got ${fl.dtype}`);
  const { lo, hi, flmax } = checkFormat(opts.wl, opts.signed, what);
  const n4 = Math.ceil(x.size / 4);
  let C = 1;
  let inner = 1;
  let perLayer = true;
  let sameC = false;
  if (fl.size !== 1) {
    if (opts.axis === undefined) throw new F8Error('BAD_CONFIG', `${what}: ${fl.size} fractional lengths need opts.axis (the channel axis)`);
    const l = channelLayout(x.shape, opts.axis, what);
    if (fl.size !== l.C) throw new F8Error('SHAPE_MISMATCH', `${what}: ${fl.size} fractional lengths for ${l.C} channels (axis ${opts.axis} of [${x.shape.join(', ')}])`);
    ({ C, inner } = l);
    perLayer = false;
    sameC = inner % 4 === 0;
    if (sameC) inner /= 4;
  }
  return {
    defines: { WG, UNROLL, PER_LAYER: perLayer, SAME_C: sameC },
    params: { n4, inner, C, flmax, lo, hi, W: Math.ceil(n4 / 8) },
    n4,
    groups: Engine.get().grid1d(Math.ceil(n4 / UNROLL), WG),
  };
}

function quantLaunch(entry: 'fq_fwd' | 'fq_bwd', outInt: boolean, x: Tensor, fl: Tensor, opts: FakeQuantOpts, bind: Record<string, Tensor>, what: string): void {
  const plan = fakeQuantPlan(x, fl, opts, what);
  const e = Engine.get();
  const k = e.kernel('fake_quant.wgsl', entry, { ...plan.defines, OUT_INT: outInt });
  e.dispatch(k, { x, fl, ...bind }, plan.params, plan.groups);
}

/**
 * Fake-quantised x: q / 2^fl with q = clamp(roundHalfEven(x * 2^fl), lo, hi) (§1). `fl` is an
 * i32 tensor, [1] per layer or [C] per channel along `opts.axis`. Differentiable in x by the
 * straight-through estimator: the gradient passes where the rounded, unclamped value is inside
 * the bounds (signed |r| < 127, unsigned 0 < r < 255), else 0. NaN -> 0 (mask 0); ±Inf -> the bound.
 * When x needs a gradient the forward also writes the mask as bits (1/32 of x) for the backward.
 * @example fakeQuant(Tensor.from([0.3, -2], [2]), Tensor.from(Int32Array.of(4), [1]), { wl: 8, signed: true }) // [0.3125, -2]
 */
export function fakeQuant(x: Tensor, fl: Tensor, opts: FakeQuantOpts): Tensor {
  const y = Tensor.empty(x.shape);
  if (!needsGrad(x)) {
    quantLaunch('fq_fwd', false, x, fl, opts, { y }, 'fakeQuant');
    return y;
  }
  const plan = fakeQuantPlan(x, fl, opts);
  const e = Engine.get();
  const W = plan.params.W;
  const bits = Tensor.empty([W], 'u32');
  e.dispatch(e.kernel('fake_quant.wgsl', 'fq_fwd_bits', { ...plan.defines, OUT_INT: false }), { x, fl, y, bits }, plan.params, e.grid1d(W, WG));
  return record(y, 'fakeQuant', [x, fl], (gy) => {
    if (gy.size !== x.size || gy.dtype !== 'f32') throw new F8Error('SHAPE_MISMATCH', `fakeQuant backward: gradient ${gy} for input ${x}`);
    const gx = Tensor.empty(x.shape);
    e.dispatch(e.kernel('fake_quant.wgsl', 'fq_bwd_bits', { ...plan.defines, OUT_INT: false }), { mbits: bits, gy, gx }, plan.params, e.grid1d(W, WG));
    return [gx, null];
  });
}

/**
 * gy where the STE mask of fakeQuant(x, fl) passes, else 0, with the mask recomputed from x and
 * fl (no tape; for callers that did not keep the forward's bit mask).
 * @example const gx = fakeQuantBackward(x, fl, gy, { wl: 8, signed: true });
 */
export function fakeQuantBackward(x: Tensor, fl: Tensor, gy: Tensor, opts: FakeQuantOpts): Tensor {
  if (gy.size !== x.size || gy.dtype !== 'f32') throw new F8Error('SHAPE_MISMATCH', `fakeQuant backward: gradient ${gy} for input ${x}`);
  const gx = Tensor.empty(x.shape);
  quantLaunch('fq_bwd', false, x, fl, opts, { gy, gx }, 'fakeQuant backward');
  return gx;
}

/**
 * The integers q = clamp(roundHalfEven(x * 2^fl), lo, hi) as an i32 tensor (no gradient).
 * @example quantizeInt(w, fl, { wl: 8, signed: true, axis: 0 }) // int8 weights of §5, in [-127, 127]
 */
export function quantizeInt(x: Tensor, fl: Tensor, opts: FakeQuantOpts): Tensor {
  const q = Tensor.empty(x.shape, 'i32');
  quantLaunch('fq_fwd', true, x, fl, opts, { qi: q }, 'quantizeInt');
  return q;
}

function fixScalingLaunch(entry: string, alpha: Tensor, fl: Tensor, wl: number, signed: boolean, bind: Record<string, Tensor>): Tensor {
  const { flmax } = checkFormat(wl, signed, 'fixScalingGpu');
  if (alpha.dtype !== 'f32' || fl.dtype !== 'i32') throw new F8Error('UNSUPPORTED', `fixScalingGpu: alpha f32 and fl i32 expected, got ${alpha.dtype} and ${fl.dtype}`);
  if (fl.size !== 1 && alpha.size !== 1 && fl.size !== alpha.size) throw new F8Error('SHAPE_MISMATCH', `fixScalingGpu: ${fl.size} fractional lengths for ${alpha.size} clipping levels`);
  const n = Math.max(alpha.size, fl.size);
  const e = Engine.get();
  const out = Tensor.empty(alpha.size >= fl.size ? alpha.shape : fl.shape);
  // The file's defines only shape the fake-quant entry points.
  const k = e.kernel('fake_quant.wgsl', entry, { WG, UNROLL, PER_LAYER: true, SAME_C: false, OUT_INT: false });
  e.dispatch(k, { alpha, sfl: fl, sout: out, ...bind }, { n, flAll: fl.size === 1 ? 1 : 0, alphaAll: alpha.size === 1 ? 1 : 0, flmax, den: 2 ** flmax - 1 }, [Math.ceil(n / 64), 1, 1]);
  return out;
}

/**
 * fix_scaling (§3): 2^fl * |alpha| / (2^(wl - signed) - 1), f32 [1] from alpha f32 [1] and
 * fl i32 [1] (element-wise when both have k elements; one alpha with k lengths gives k scalings). Differentiable in alpha:
 * d/dalpha = sign(alpha) * 2^fl / (2^(wl - signed) - 1); fl is not differentiated.
 * @example fixScalingGpu(Tensor.from([8], [1]), Tensor.from(Int32Array.of(6), [1]), 8, false) // [512 / 255]
 */
export function fixScalingGpu(alpha: Tensor, fl: Tensor, wl: number, signed: boolean): Tensor {
  const s = fixScalingLaunch('fix_scaling_fwd', alpha, fl, wl, signed, {});
  return record(s, 'fixScaling', [alpha, fl], (gy) => {
    const g = fixScalingLaunch('fix_scaling_bwd', alpha, fl, wl, signed, { sgy: gy });
    // One clipping level scaled by per-channel lengths: its gradient sums over the channels.
    return [alpha.size === 1 && g.size > 1 ? sum(g) : g, null];
  });
}
