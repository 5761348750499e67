/**
 * CPU references of ./matmul.ts in float64 (the definition the GPU is tested against).
 * Matrices are row-major; `transA` means `a` holds op(A)^T, i.e. is stored [K,M].
 */
export function refMatmul(a: Float32Array, b: Float32Array, M: number, N: number, K: number, transA = false, transB = false): Float64Array {
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let k = 0; k < K; k++) {
      const av = transA ? a[k * M + m] : a[m * K + k];
      if (av === 0) continue;
      const o = m * N;
      if (transB) for (let n = 0; n < N; n++) out[o + n] += av * b[n * K + k];
      else {
        const r = k * N;
        for (let n = 0; n < N; n++) out[o + n] += av * b[r + n];
      }
    }
  }
  return out;
}

/** x [N,K] times w [O,K] transposed plus bias [O] -> [N,O]. */
export function refLinear(x: Float32Array, w: Float32Array, bias: Float32Array | null, N: number, O: number, K: number): Float64Array {
  const out = refMatmul(x, w, N, O, K, false, true);
  if (bias) for (let i = 0; i < N; i++) for (let o = 0; o < O; o++) out[i * O + o] += bias[o];
  return out;
}
