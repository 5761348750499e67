/**
 * Seeded benchmark data, from the project's own generator (src/runtime/rng.ts), so every bench
 * draws its inputs the same way.
 */
import { Rng } from '../src/runtime/rng.js';

/** n values uniform in [lo, hi) and n integers uniform in [lo, hi]: the suite's (src/bench/check.ts). */
export { uniform, integers } from '../src/bench/check.js';

/** n values from N(0, sigma^2). */
export function gaussian(n: number, seed: number, sigma = 1): Float32Array {
  const r = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = sigma * r.normal();
  return out;
}

/** Largest absolute difference. */
export function maxAbsDiff(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < ref.length; i++) m = Math.max(m, Math.abs(got[i] - ref[i]));
  return m;
}
