/** Comparisons of a row's result with its CPU reference, and small data helpers of the rows. */
import type { Conv2dOptions } from '../ops/conv2d.js';
import type { Check } from './types.js';
import { Rng } from '../data/rng.js';

/** Floats: tolerance rtol * the largest |ref| (f32 sums in another order). */
export function closeCheck(got: ArrayLike<number>, ref: ArrayLike<number>, rtol = 1e-4, note?: string): Check {
  let scale = 0;
  let err = got.length === ref.length ? 0 : Infinity;
  for (let i = 0; i < ref.length; i++) {
    scale = Math.max(scale, Math.abs(ref[i]));
    const d = Math.abs(got[i] - ref[i]);
    err = Number.isNaN(d) ? Infinity : Math.max(err, d);
  }
  return { maxError: err, tolerance: rtol * Math.max(scale, 1e-30), note };
}

/** Integers and bit-exact floats: no error allowed. */
export function exactCheck(got: ArrayLike<number>, ref: ArrayLike<number>, note?: string): Check {
  let err = got.length === ref.length ? 0 : Infinity;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i] - ref[i]);
    err = Number.isNaN(d) ? Infinity : Math.max(err, d);
  }
  return { maxError: err, tolerance: 0, note };
}

/** The worse of several checks (largest error relative to its tolerance). */
export function worst(...cs: Check[]): Check {
  const rel = (c: Check) => (c.tolerance > 0 ? c.maxError / c.tolerance : c.maxError > 0 ? Infinity : 0);
  return cs.reduce((a, b) => (rel(b) > rel(a) ? b : a));
}

export const prod = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

export function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r.nextFloat();
  return out;
}

export function integers(n: number, seed: number, lo: number, hi: number): Int32Array {
  const r = new Rng(seed);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + r.nextInt(hi - lo + 1);
  return out;
}

/** Permutes a row-major 4-D array (out dims = shape[perm[i]]). */
export function permute4(a: ArrayLike<number>, shape: readonly number[], perm: readonly number[]): Float32Array {
  const os = perm.map((p) => shape[p]);
  const st = [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3], 1];
  const out = new Float32Array(a.length);
  let k = 0;
  for (let i = 0; i < os[0]; i++)
    for (let j = 0; j < os[1]; j++)
      for (let l = 0; l < os[2]; l++) for (let m = 0; m < os[3]; m++) out[k++] = a[i * st[perm[0]] + j * st[perm[1]] + l * st[perm[2]] + m * st[perm[3]]];
  return out;
}
export const NCHW_TO_NHWC = [0, 2, 3, 1] as const;
export const NHWC_TO_NCHW = [0, 3, 1, 2] as const;
export const OIHW_TO_HWIO = [2, 3, 1, 0] as const;
export const HWIO_TO_OIHW = [3, 2, 0, 1] as const;

/** A named convolution layer: input and weight shapes (NCHW, OIHW) and options (tests and benches). */
export interface ConvCase {
  name: string;
  x: number[];
  w: number[];
  opts: Conv2dOptions;
}
