/** CPU reference of ./fold.ts (float64). */
import { roundHalfEven } from '../quant/fixed-format.js';
/** sNext: one value, or one per output channel. */
export function refFoldBn(gamma: ArrayLike<number>, beta: ArrayLike<number>, mean: ArrayLike<number>, variance: ArrayLike<number>, sIn: number, sNext: number | ArrayLike<number>, eps: number): { k: number[]; b: number[] } {
  const k: number[] = [];
  const b: number[] = [];
  for (let o = 0; o < gamma.length; o++) {
    const r = 1 / Math.sqrt(variance[o] + eps);
    const sn = typeof sNext === 'number' ? sNext : sNext[o];
    k.push((gamma[o] * r * sIn) / sn);
    b.push((beta[o] - gamma[o] * mean[o] * r) / sn);
  }
  return { k, b };
}

/**
 * foldBnPaper's reference: every step rounded to f32 as the kernel (and torch) compute it:
 * t = gamma / sqrt(var + eps), b = (beta - t * mean) / s_next; and w_f = ((t w) s_in) / s_next.
 */
export function refFoldBnPaper(gamma: ArrayLike<number>, beta: ArrayLike<number>, mean: ArrayLike<number>, variance: ArrayLike<number>, sNext: number | ArrayLike<number>, eps: number): { t: number[]; b: number[] } {
  const f = Math.fround;
  const t: number[] = [];
  const b: number[] = [];
  for (let o = 0; o < gamma.length; o++) {
    const sn = f(typeof sNext === 'number' ? sNext : sNext[o]);
    const to = f(f(gamma[o]) / f(Math.sqrt(f(f(variance[o]) + f(eps)))));
    t.push(to);
    b.push(f(f(f(beta[o]) - f(to * f(mean[o]))) / sn));
  }
  return { t, b };
}

/** w_f of the paper's order: ((t[o] w) s_in) / s_next, each product and the quotient in f32 (OIHW, `inner` weights per output channel). */
export function refPaperFoldWeight(w: ArrayLike<number>, t: ArrayLike<number>, sIn: number, sNext: number, inner: number): Float32Array {
  const f = Math.fround;
  return Float32Array.from(w, (v, i) => f(f(f(t[Math.floor(i / inner)] * f(v)) * f(sIn)) / f(sNext)));
}

export function refFoldPlain(bias: ArrayLike<number>, sIn: number, sNext: number | ArrayLike<number>): { k: number[]; b: number[] } {
  const sn = (o: number) => (typeof sNext === 'number' ? sNext : sNext[o]);
  return { k: Array.from(bias, (_, o) => sIn / sn(o)), b: Array.from(bias, (v, o) => v / sn(o)) };
}

/** quantizeBias: round(b * 2^fl) / 2^fl half to even, fl = max(flIn) + flW[o] (one flW or one per channel), clamped at +-2^31. */
export function refQuantizeBias(b: ArrayLike<number>, flIn: number | number[], flW: ArrayLike<number>): number[] {
  const fin = typeof flIn === 'number' ? flIn : Math.max(...flIn);
  return Array.from(b, (v, o) => {
    const fl = fin + (flW.length === 1 ? flW[0] : flW[o]);
    return Math.min(2 ** 31, Math.max(-(2 ** 31), roundHalfEven(Math.fround(v) * 2 ** fl))) / 2 ** fl;
  });
}
