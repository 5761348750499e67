/**
 * CPU references of ./batchnorm.ts: the definitions, computed in f64 with two-pass statistics.
 * Layout NCHW ([N, C] is [N, C, 1, 1]).
 */

function dims(shape: readonly number[]): { N: number; C: number; HW: number } {
  return { N: shape[0], C: shape[1], HW: shape.length === 4 ? shape[2] * shape[3] : 1 };
}

/** Per-channel mean and biased variance. */
export function refBatchStats(x: Float32Array, shape: readonly number[]): { mean: Float64Array; var: Float64Array } {
  const { N, C, HW } = dims(shape);
  const mean = new Float64Array(C);
  const vari = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let n = 0; n < N; n++) for (let i = 0; i < HW; i++) s += x[(n * C + c) * HW + i];
    const m = s / (N * HW);
    let q = 0;
    for (let n = 0; n < N; n++) {
      for (let i = 0; i < HW; i++) {
        const d = x[(n * C + c) * HW + i] - m;
        q += d * d;
      }
    }
    mean[c] = m;
    vari[c] = q / (N * HW);
  }
  return { mean, var: vari };
}

/** The running update, PyTorch's rule (unbiased batch variance). Returns new arrays. */
export function refUpdateRunningStats(
  rm: ArrayLike<number>,
  rv: ArrayLike<number>,
  mean: ArrayLike<number>,
  biasedVar: ArrayLike<number>,
  count: number,
  momentum: number,
): { runningMean: Float64Array; runningVar: Float64Array } {
  const C = rm.length;
  const runningMean = new Float64Array(C);
  const runningVar = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    runningMean[c] = (1 - momentum) * rm[c] + momentum * mean[c];
    runningVar[c] = (1 - momentum) * rv[c] + momentum * biasedVar[c] * (count / (count - 1));
  }
  return { runningMean, runningVar };
}

export interface RefBatchNormResult {
  y: Float64Array;
  /** The statistics used to normalise (batch ones in training, running ones in eval). */
  mean: Float64Array;
  invstd: Float64Array;
  runningMean: Float64Array;
  runningVar: Float64Array;
}

/** Forward of batchNorm2d; returns y and the running statistics after the step. */
export function refBatchNorm2d(
  x: Float32Array,
  shape: readonly number[],
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  runningMean: ArrayLike<number>,
  runningVar: ArrayLike<number>,
  opts: { training: boolean; momentum?: number; eps?: number },
): RefBatchNormResult {
  const { N, C, HW } = dims(shape);
  const eps = opts.eps ?? 1e-5;
  let mean: Float64Array;
  let vari: Float64Array;
  let rm: Float64Array = Float64Array.from(runningMean);
  let rv: Float64Array = Float64Array.from(runningVar);
  if (opts.training) {
    ({ mean, var: vari } = refBatchStats(x, shape));
    ({ runningMean: rm, runningVar: rv } = refUpdateRunningStats(rm, rv, mean, vari, N * HW, opts.momentum ?? 0.1));
  } else {
    mean = Float64Array.from(runningMean);
    vari = Float64Array.from(runningVar);
  }
  const invstd = vari.map((v) => 1 / Math.sqrt(v + eps));
  const y = new Float64Array(x.length);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < HW; i++) {
        const j = (n * C + c) * HW + i;
        y[j] = gamma[c] * (x[j] - mean[c]) * invstd[c] + beta[c];
      }
    }
  }
  return { y, mean, invstd, runningMean: rm, runningVar: rv };
}

/**
 * Backward of batchNorm2d given the statistics of the forward. Training:
 * dx = gamma*invstd*(gy - mean(gy) - xhat*mean(gy*xhat)); eval: dx = gamma*invstd*gy.
 */
export function refBatchNorm2dBackward(
  x: Float32Array,
  shape: readonly number[],
  gamma: ArrayLike<number>,
  gy: Float32Array,
  mean: ArrayLike<number>,
  invstd: ArrayLike<number>,
  training: boolean,
): { dx: Float64Array; dgamma: Float64Array; dbeta: Float64Array } {
  const { N, C, HW } = dims(shape);
  const M = N * HW;
  const dx = new Float64Array(x.length);
  const dgamma = new Float64Array(C);
  const dbeta = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let sg = 0;
    let sgx = 0;
    for (let n = 0; n < N; n++) {
      for (let i = 0; i < HW; i++) {
        const j = (n * C + c) * HW + i;
        sg += gy[j];
        sgx += gy[j] * (x[j] - mean[c]) * invstd[c];
      }
    }
    dgamma[c] = sgx;
    dbeta[c] = sg;
    const a = gamma[c] * invstd[c];
    for (let n = 0; n < N; n++) {
      for (let i = 0; i < HW; i++) {
        const j = (n * C + c) * HW + i;
        const xhat = (x[j] - mean[c]) * invstd[c];
        dx[j] = training ? a * (gy[j] - sg / M - xhat * (sgx / M)) : a * gy[j];
      }
    }
  }
  return { dx, dgamma, dbeta };
}

/** channelAffine: out = k1[c]·gy + k2[c]·(x − m[c]) + k3[c], coef (k1, k2, m, k3) per channel; gy null: without it. */
export function refChannelAffine(coef: ArrayLike<number>, gy: ArrayLike<number> | null, x: ArrayLike<number>, shape: readonly number[]): Float32Array {
  const { C, HW } = dims(shape);
  return Float32Array.from(x, (xv, i) => {
    const c = Math.floor(i / HW) % C;
    return (gy ? coef[4 * c] * gy[i] : 0) + coef[4 * c + 1] * (xv - coef[4 * c + 2]) + coef[4 * c + 3];
  });
}
