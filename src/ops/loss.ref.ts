/**
 * CPU references of ./loss.ts in float64. Logits are [N,K] row-major, labels [N].
 */

/** Mean cross-entropy with targets (1-eps) onehot + eps/K; NaN if any label is outside [0, K). */
export function refSoftmaxCrossEntropy(x: ArrayLike<number>, labels: ArrayLike<number>, N: number, K: number, eps = 0): number {
  let total = 0;
  for (let n = 0; n < N; n++) {
    const lab = labels[n];
    if (!(lab >= 0 && lab < K)) return NaN;
    let mx = -Infinity;
    for (let k = 0; k < K; k++) mx = Math.max(mx, x[n * K + k]);
    let se = 0;
    let sx = 0;
    for (let k = 0; k < K; k++) {
      se += Math.exp(x[n * K + k] - mx);
      sx += x[n * K + k];
    }
    const lse = mx + Math.log(se);
    total += lse - ((1 - eps) * x[n * K + lab] + (eps / K) * sx);
  }
  return total / N;
}

/** Gradient of the mean loss w.r.t. the logits: (softmax - target) / N. */
export function refSoftmaxCrossEntropyGrad(x: ArrayLike<number>, labels: ArrayLike<number>, N: number, K: number, eps = 0): Float64Array {
  const g = new Float64Array(N * K);
  for (let n = 0; n < N; n++) {
    let mx = -Infinity;
    for (let k = 0; k < K; k++) mx = Math.max(mx, x[n * K + k]);
    let se = 0;
    for (let k = 0; k < K; k++) se += Math.exp(x[n * K + k] - mx);
    for (let k = 0; k < K; k++) {
      const t = (k === labels[n] ? 1 - eps : 0) + eps / K;
      g[n * K + k] = (Math.exp(x[n * K + k] - mx) / se - t) / N;
    }
  }
  return g;
}

/** Rows whose label has fewer than k logits ahead (larger, or equal with a lower index). */
export function refTopkCorrect(x: ArrayLike<number>, labels: ArrayLike<number>, N: number, K: number, k: number): number {
  let hits = 0;
  for (let n = 0; n < N; n++) {
    const lab = labels[n];
    if (!(lab >= 0 && lab < K)) continue;
    const lv = x[n * K + lab];
    if (Number.isNaN(lv)) continue;
    let ahead = 0;
    for (let j = 0; j < K; j++) {
      const v = x[n * K + j];
      if (v > lv || (v === lv && j < lab)) ahead++;
    }
    if (ahead < k) hits++;
  }
  return hits;
}

/** Lowest index of each row's largest logit, skipping NaNs (all-NaN rows give 0). */
export function refArgmax(x: ArrayLike<number>, N: number, K: number): Int32Array {
  const out = new Int32Array(N);
  for (let n = 0; n < N; n++) {
    let best = -1;
    for (let j = 0; j < K; j++) {
      const v = x[n * K + j];
      if (Number.isNaN(v)) continue;
      if (best < 0 || v > x[n * K + best]) best = j;
    }
    out[n] = Math.max(best, 0);
  }
  return out;
}
