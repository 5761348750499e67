/** Comparisons of a row's result with its CPU reference, and small data helpers of the rows. */
import type { Conv2dOptions } from '../ops/conv2d.js';
import type { Check } from './types.js';
import { compare } from '../runtime/compare.js';

/** Floats: tolerance rtol * the largest |ref| (f32 sums in another order), as one bound for every element. */
export function closeCheck(got: ArrayLike<number>, ref: ArrayLike<number>, rtol = 1e-4, note?: string): Check {
  let scale = 0;
  for (let i = 0; i < ref.length; i++) scale = Math.max(scale, Math.abs(ref[i]));
  const tolerance = rtol * Math.max(scale, 1e-30);
  return { maxError: compare(got, ref, { atol: tolerance, rtol: 0 }).maxError, tolerance, note };
}

/** Integers and bit-exact floats: no error allowed. */
export function exactCheck(got: ArrayLike<number>, ref: ArrayLike<number>, note?: string): Check {
  return { maxError: compare(got, ref, { exact: true }).maxError, tolerance: 0, note };
}

/** The worse of several checks (largest error relative to its tolerance). */
export function worst(...cs: Check[]): Check {
  const rel = (c: Check) => (c.tolerance > 0 ? c.maxError / c.tolerance : c.maxError > 0 ? Infinity : 0);
  return cs.reduce((a, b) => (rel(b) > rel(a) ? b : a));
}

export const prod = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** Seeded inputs of the rows (src/runtime/rng.ts). */
export { uniformArray as uniform, intArray as integers } from '../runtime/rng.js';

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
