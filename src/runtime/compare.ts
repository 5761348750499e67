/**
 * The one comparison of a GPU result with its CPU reference, used by the kernel cases
 * (src/cases/), the tests (test/helpers.ts), the bench rows (src/bench/check.ts) and the tuner.
 * Integer and fixed-point kernels must match bit for bit; float kernels sum in another order
 * than the reference, so they get |got - ref| <= atol + rtol * |ref| element by element.
 */

/** `exact`: bit-exact (-0 equals 0, NaN equals NaN); else the float bound. */
export type Tolerance = { exact: true } | { atol: number; rtol: number };

export interface Comparison {
  ok: boolean;
  /** Largest |got - ref| (Infinity for a length mismatch or a NaN where the reference has none). */
  maxError: number;
  /** Elements outside the tolerance. */
  mismatches: number;
  /** The first few mismatches, `[i] got g want r`. */
  first: string[];
}

export function isExact(t: Tolerance): t is { exact: true } {
  return 'exact' in t;
}

/** Tolerance in words: 'bit-exact' or 'atol 1e-4 rtol 1e-4'. */
export function describeTolerance(t: Tolerance): string {
  return isExact(t) ? 'bit-exact' : `atol ${t.atol.toExponential(1)} rtol ${t.rtol.toExponential(1)}`;
}

export function compare(got: ArrayLike<number>, ref: ArrayLike<number>, tol: Tolerance): Comparison {
  const exact = isExact(tol);
  const first: string[] = [];
  let mismatches = 0;
  let maxError = got.length === ref.length ? 0 : Infinity;
  const n = Math.min(got.length, ref.length);
  for (let i = 0; i < n; i++) {
    const g = got[i];
    const r = ref[i];
    const d = Math.abs(g - r);
    let ok: boolean;
    if (exact) ok = Object.is(g, r) || (g === 0 && r === 0);
    else ok = Number.isNaN(r) ? Number.isNaN(g) : d <= tol.atol + tol.rtol * Math.abs(r);
    if (!(Number.isNaN(r) && Number.isNaN(g))) maxError = Math.max(maxError, Number.isNaN(d) ? Infinity : d);
    if (!ok) {
      mismatches++;
      if (first.length < 5) first.push(`[${i}] got ${g} want ${r}`);
    }
  }
  if (got.length !== ref.length) mismatches += Math.abs(got.length - ref.length);
  return { ok: mismatches === 0, maxError, mismatches, first };
}
