/**
 * Reductions (wgsl/reduce.wgsl): full sums and means, per-channel sums, means, variances and
 * moments, and per-channel broadcasts (scale, shift). All reductions are fixed trees, so a
 * result is bitwise the same from run to run; CPU references (float64): ./reduce.ref.ts.
 *
 * Channel ops see x as [outer, C, inner] with C = shape[axis], outer = prod(shape[:axis]),
 * inner = prod(shape[axis+1:]); axis defaults to 1 (NCHW and [N,C]) and may be negative.
 *
 * @example
 *   const loss = mean(sq);                       // [1]
 *   const mu = channelMean(x);                   // x [N,C,H,W] -> [C]
 *   const { mean: m, var: v } = channelMoments(x); // BN running statistics, no tape
 *   const y = addChannel(mulChannel(x, gamma), beta);
 */
import { Engine } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';
import { Tensor, channelLayout } from '../tensor.js';
import { record, noGrad, needsGrad } from '../autograd/tape.js';
import { full } from './elementwise.js';

const WG = 64;
const WG_BCAST = 256;
/** Inputs per thread of a rowsum pass, elements per chunk of a channel pass, partials per merge. */
const ROW_BLOCK = 256;
const CHUNK = 256;
const MERGE_BLOCK = 64;

/** x viewed as [outer, C, inner] along an axis (see the header). */
export interface ChannelDims {
  outer: number;
  C: number;
  inner: number;
  /** Elements per channel: outer * inner. */
  M: number;
  axis: number;
}

function fmt(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Throws UNSUPPORTED unless `t` (input `name` of `op`) is f32. */
export function checkF32(op: string, name: string, t: Tensor): void {
  if (t.dtype !== 'f32') throw new F8Error('UNSUPPORTED', `${op}: ${name} must be f32, got ${t.dtype}`);
}

/** The f32 check and channelLayout of x along `axis` (negative counts from the end). */
export function channelDims(op: string, x: Tensor, axis: number): ChannelDims {
  checkF32(op, 'x', x);
  const { outer, C, inner } = channelLayout(x.shape, axis, op);
  return { outer, C, inner, M: outer * inner, axis: axis < 0 ? axis + x.shape.length : axis };
}

function checkChannelVector(op: string, name: string, v: Tensor, x: Tensor, d: ChannelDims): void {
  checkF32(op, name, v);
  if (v.shape.length !== 1 || v.size !== d.C) {
    throw new F8Error('SHAPE_MISMATCH', `${op}: ${name} ${fmt(v.shape)} does not match x ${fmt(x.shape)} (axis ${d.axis} has ${d.C} channels)`);
  }
}

/** Sums each row of src viewed as [rows, T] into [rows], times `scale`; no tape. */
function rowsumTree(src: Tensor, rows: number, T: number, scale: number, own = false): Tensor {
  const e = Engine.get();
  const k = e.kernel('reduce.wgsl', 'rowsum', { WG, MODE: 0 });
  let cur = src;
  let owned = own;
  for (;;) {
    const To = Math.ceil(T / ROW_BLOCK);
    const last = To === 1;
    const out = Tensor.empty(last ? [rows] : [rows * To]);
    e.dispatch(k, { x: cur, out }, { rows, T, To, B: ROW_BLOCK, s: last ? scale : 1 }, e.grid1d(rows * To, WG));
    // Later dispatches are ordered after this one, so the buffer may go back to the pool now.
    if (owned) cur.dispose();
    cur = out;
    owned = true;
    T = To;
    if (last) return cur;
  }
}

/** Per-channel sum of x (mode 0) or of x*y (mode 1), times `scale`: [C]; no tape. */
function chanReduce(x: Tensor, d: ChannelDims, scale: number, y: Tensor | null = null): Tensor {
  const e = Engine.get();
  if (d.M === 0 || d.C === 0) return full([d.C], 0);
  const T = Math.ceil(d.M / CHUNK);
  const k = e.kernel('reduce.wgsl', 'chan_sum', { WG, MODE: y ? 1 : 0 });
  const out = Tensor.empty(T === 1 ? [d.C] : [d.C * T]);
  const bind: Record<string, Tensor> = { x, out };
  if (y) bind.y = y;
  e.dispatch(k, bind, { C: d.C, inner: d.inner, M: d.M, T, L: CHUNK, s: T === 1 ? scale : 1 }, e.grid1d(d.C * T, WG));
  return T === 1 ? out : rowsumTree(out, d.C, T, scale, true);
}

/** Broadcast of a [C] vector over x's shape (see bcast_* in the WGSL); no tape. */
function bcast(entry: 'bcast_set' | 'bcast_mul' | 'bcast_add' | 'bcast_center', shape: readonly number[], d: ChannelDims, cs: Tensor, a: number, x: Tensor | null, cm: Tensor | null = null): Tensor {
  const e = Engine.get();
  const out = Tensor.empty(shape);
  const n4 = Math.ceil(out.size / 4);
  if (n4 === 0) return out;
  const k = e.kernel('reduce.wgsl', entry, { WG: WG_BCAST, MODE: 0 });
  const bind: Record<string, Tensor> = { cs, out4: out };
  if (x) bind.x4 = x;
  if (cm) bind.cm = cm;
  e.dispatch(k, bind, { n4, C: Math.max(1, d.C), inner: Math.max(1, d.inner), a }, e.grid1d(n4, WG_BCAST));
  return out;
}

function wholeDims(x: Tensor): ChannelDims {
  return { outer: 1, C: 1, inner: x.size, M: x.size, axis: 0 };
}

/**
 * Sum of all elements: [1].
 *
 * @example
 *   const s = sum(x); await s.item();
 */
export function sum(x: Tensor): Tensor {
  checkF32('sum', 'x', x);
  const out = x.size === 0 ? full([1], 0) : rowsumTree(x, 1, x.size, 1);
  return record(out, 'sum', [x], (g) => [bcast('bcast_set', x.shape, wholeDims(x), g, 1, null)]);
}

/** Mean of all elements: [1] (NaN for an empty tensor). */
export function mean(x: Tensor): Tensor {
  checkF32('mean', 'x', x);
  const n = x.size;
  const out = n === 0 ? full([1], NaN) : rowsumTree(x, 1, n, 1 / n);
  return record(out, 'mean', [x], (g) => [bcast('bcast_set', x.shape, wholeDims(x), g, 1 / n, null)]);
}

/**
 * Sum over every axis but `axis`: [C].
 *
 * @example
 *   channelSum(grad, 1); // [N,O] -> [O], a bias gradient
 */
export function channelSum(x: Tensor, axis = 1): Tensor {
  const d = channelDims('channelSum', x, axis);
  const out = chanReduce(x, d, 1);
  return record(out, 'channelSum', [x], (g) => [bcast('bcast_set', x.shape, d, g, 1, null)]);
}

/** Mean over every axis but `axis`: [C]. */
export function channelMean(x: Tensor, axis = 1): Tensor {
  const d = channelDims('channelMean', x, axis);
  const out = chanReduce(x, d, 1 / d.M);
  return record(out, 'channelMean', [x], (g) => [bcast('bcast_set', x.shape, d, g, 1 / d.M, null)]);
}

/**
 * Per-channel mean and variance, computed from chunk moments merged by Chan's formula (one
 * read of x, no cancellation for large means); no tape. var divides by M, or M-1 if unbiased.
 */
function moments(x: Tensor, d: ChannelDims, unbiased: boolean): { mean: Tensor; var: Tensor } {
  const e = Engine.get();
  if (d.M === 0 || d.C === 0) return { mean: full([d.C], NaN), var: full([d.C], NaN) };
  let T = Math.ceil(d.M / CHUNK);
  let mean = Tensor.empty([d.C * T]);
  let m2 = Tensor.empty([d.C * T]);
  e.dispatch(e.kernel('reduce.wgsl', 'chan_moments', { WG, MODE: 0 }), { x, out: mean, m2_out: m2 }, { C: d.C, inner: d.inner, M: d.M, T, L: CHUNK, s: 1 }, e.grid1d(d.C * T, WG));
  const merge = e.kernel('reduce.wgsl', 'moments_merge', { WG, MODE: 0 });
  const s = 1 / (d.M - (unbiased ? 1 : 0));
  let span = CHUNK;
  for (;;) {
    const To = Math.ceil(T / MERGE_BLOCK);
    const last = To === 1;
    const mo = Tensor.empty(last ? [d.C] : [d.C * To]);
    const vo = Tensor.empty(last ? [d.C] : [d.C * To]);
    e.dispatch(merge, { mean_in: mean, m2_in: m2, out: mo, m2_out: vo }, { C: d.C, T, To, B: MERGE_BLOCK, M: d.M, span, last: last ? 1 : 0, s }, e.grid1d(d.C * To, WG));
    mean.dispose();
    m2.dispose();
    mean = mo;
    m2 = vo;
    T = To;
    span *= MERGE_BLOCK;
    if (last) return { mean, var: m2 };
  }
}

/**
 * Variance over every axis but `axis`: [C]; divides by M (or M - 1 with `unbiased`).
 * Gradient: 2 (x - mean) / M * g (M - 1 when unbiased).
 *
 * @example
 *   channelVar(x, 1, { unbiased: true });
 */
export function channelVar(x: Tensor, axis = 1, opts: { unbiased?: boolean } = {}): Tensor {
  const d = channelDims('channelVar', x, axis);
  const unbiased = !!opts.unbiased;
  const { mean: mu, var: v } = moments(x, d, unbiased);
  if (!needsGrad(x)) mu.dispose();
  const D = d.M - (unbiased ? 1 : 0);
  return record(v, 'channelVar', [x], (g) => [bcast('bcast_center', x.shape, d, g, 2 / D, x, mu)]);
}

/**
 * Per-channel mean and variance in one call (for BatchNorm running statistics); no tape.
 * `var` is the biased (population) variance unless `unbiased` is set.
 *
 * @example
 *   const { mean, var: v } = channelMoments(x, 1, { unbiased: true });
 */
export function channelMoments(x: Tensor, axis = 1, opts: { unbiased?: boolean } = {}): { mean: Tensor; var: Tensor } {
  const d = channelDims('channelMoments', x, axis);
  return noGrad(() => moments(x, d, !!opts.unbiased));
}

/**
 * x * s[c] along `axis` (s: [C]); x's shape.
 *
 * @example
 *   mulChannel(x, gamma); // x [N,C,H,W], gamma [C]
 */
export function mulChannel(x: Tensor, s: Tensor, axis = 1): Tensor {
  const d = channelDims('mulChannel', x, axis);
  checkChannelVector('mulChannel', 's', s, x, d);
  const out = bcast('bcast_mul', x.shape, d, s, 1, x);
  return record(out, 'mulChannel', [x, s], (g) => [
    x.requiresGrad ? bcast('bcast_mul', x.shape, d, s, 1, g) : null,
    s.requiresGrad ? chanReduce(g, d, 1, x) : null,
  ]);
}

/** x + b[c] along `axis` (b: [C]); x's shape. */
export function addChannel(x: Tensor, b: Tensor, axis = 1): Tensor {
  const d = channelDims('addChannel', x, axis);
  checkChannelVector('addChannel', 'b', b, x, d);
  const out = bcast('bcast_add', x.shape, d, b, 1, x);
  return record(out, 'addChannel', [x, b], (g) => [x.requiresGrad ? g : null, b.requiresGrad ? chanReduce(g, d, 1) : null]);
}
