/** CPU reference of ./fold.ts (float64). */
export function refFoldBn(gamma: ArrayLike<number>, beta: ArrayLike<number>, mean: ArrayLike<number>, variance: ArrayLike<number>, sIn: number, sNext: number, eps: number): { k: number[]; b: number[] } {
  const k: number[] = [];
  const b: number[] = [];
  for (let o = 0; o < gamma.length; o++) {
    const r = 1 / Math.sqrt(variance[o] + eps);
    k.push((gamma[o] * r * sIn) / sNext);
    b.push((beta[o] - gamma[o] * mean[o] * r) / sNext);
  }
  return { k, b };
}

export function refFoldPlain(bias: ArrayLike<number>, sIn: number, sNext: number): { k: number[]; b: number[] } {
  return { k: Array.from(bias, () => sIn / sNext), b: Array.from(bias, (v) => v / sNext) };
}
