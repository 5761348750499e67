/**
 * CPU references of ./reduce.ts in float64 (the definitions the GPU is tested against).
 * Channel ops see x as [outer, C, inner]; see reduce.ts.
 */
export interface RefDims {
  outer: number;
  C: number;
  inner: number;
}

/** [outer, C, inner] of `shape` around `axis` (negative counts from the end). */
export function refDims(shape: readonly number[], axis = 1): RefDims {
  const ax = axis < 0 ? axis + shape.length : axis;
  const prod = (a: readonly number[]) => a.reduce((p, v) => p * v, 1);
  return { outer: prod(shape.slice(0, ax)), C: shape[ax], inner: prod(shape.slice(ax + 1)) };
}

export function refSum(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return s;
}

export function refMean(x: ArrayLike<number>): number {
  return refSum(x) / x.length;
}

/** Per-channel sum of x (or of x*y). */
export function refChannelSum(x: ArrayLike<number>, d: RefDims, y?: ArrayLike<number>): Float64Array {
  const out = new Float64Array(d.C);
  for (let o = 0; o < d.outer; o++)
    for (let c = 0; c < d.C; c++)
      for (let i = 0; i < d.inner; i++) {
        const j = (o * d.C + c) * d.inner + i;
        out[c] += y ? x[j] * y[j] : x[j];
      }
  return out;
}

export function refChannelMean(x: ArrayLike<number>, d: RefDims): Float64Array {
  return refChannelSum(x, d).map((v) => v / (d.outer * d.inner));
}

/** Two-pass variance per channel, divided by M (or M - 1 if unbiased). */
export function refChannelVar(x: ArrayLike<number>, d: RefDims, unbiased = false): Float64Array {
  const mean = refChannelMean(x, d);
  const out = new Float64Array(d.C);
  for (let o = 0; o < d.outer; o++)
    for (let c = 0; c < d.C; c++)
      for (let i = 0; i < d.inner; i++) {
        const v = x[(o * d.C + c) * d.inner + i] - mean[c];
        out[c] += v * v;
      }
  const M = d.outer * d.inner;
  return out.map((v) => v / (M - (unbiased ? 1 : 0)));
}

/** x * s[c] (op 'mul') or x + s[c] (op 'add'). */
export function refChannelBroadcast(x: ArrayLike<number>, s: ArrayLike<number>, d: RefDims, op: 'mul' | 'add'): Float64Array {
  const out = new Float64Array(x.length);
  for (let o = 0; o < d.outer; o++)
    for (let c = 0; c < d.C; c++)
      for (let i = 0; i < d.inner; i++) {
        const j = (o * d.C + c) * d.inner + i;
        out[j] = op === 'mul' ? x[j] * s[c] : x[j] + s[c];
      }
  return out;
}
