/**
 * CPU references (float64) of the kernels of ./qconv.ts (wgsl/qconv.wgsl): the clipped weights'
 * gradient terms and their per-channel reduction, the per-channel sums of the y path, the combined output gradient's coefficients
 * (the gradient itself: refChannelAffine in ./batchnorm.ref.ts),
 * and the statistics of y0 = s·u. The layer as a whole is checked against src/nn/qlayers.ref.ts.
 *
 * @example
 *   const { gw, gcw } = refClipGrad(x, xShape, gy, wf, Int32Array.of(7), ws, k, 8, wShape, { padding: 1 });
 */
import { forEachTap, type Conv2dOptionsLike } from './conv2d.ref.js';
import { quantize } from '../quant/fixed-format.js';

/**
 * clipGrad: at the weights where the STE mask of fakeQuant(w_f, fl_w) (signed, wl) is 0,
 * G = Wg(x, gy), gw = −k[o]·G and gcw = G·w_s; both 0 elsewhere. fl_w: one, or one per output channel.
 */
export function refClipGrad(x: ArrayLike<number>, xShape: readonly number[], gy: ArrayLike<number>, wf: Float32Array, flw: Int32Array, ws: ArrayLike<number>, k: ArrayLike<number>, wl: number, wShape: readonly number[], opts: Conv2dOptionsLike = {}): { gw: Float32Array; gcw: Float32Array } {
  const O = wShape[0];
  const per = wf.length / O;
  const { mask } = flw.length > 1 ? quantize(wf, flw, { wl, signed: true, channelAxis: { channels: O, inner: per } }) : quantize(wf, flw[0], { wl, signed: true });
  const G = new Float64Array(wf.length);
  forEachTap(xShape, wShape, opts, (yi, wi, xi) => {
    if (!mask[wi]) G[wi] += gy[yi] * x[xi];
  });
  return { gw: Float32Array.from(G, (v, e) => (mask[e] ? 0 : -k[Math.floor(e / per)] * v)), gcw: Float32Array.from(G, (v, e) => (mask[e] ? 0 : v * ws[e])) };
}

/** clipReduce: dL/dk = Σ g_y·u − Σ_o gcw, dL/db = Σ g_y, from the [2·O] sums of chanDot. */
export function refClipReduce(sums: ArrayLike<number>, gcw: ArrayLike<number>): { gk: Float32Array; gb: Float32Array } {
  const O = sums.length / 2;
  const per = gcw.length / O;
  const gk = new Float64Array(O);
  for (let o = 0; o < O; o++) {
    gk[o] = sums[O + o];
    for (let t = 0; t < per; t++) gk[o] -= gcw[o * per + t];
  }
  return { gk: Float32Array.from(gk), gb: Float32Array.from({ length: O }, (_, o) => sums[o]) };
}

/** [Σ gy per channel; Σ gy·u per channel] over n, oh, ow of [N, O, OH, OW] tensors: [2·O]. */
export function refChanDot(gy: ArrayLike<number>, u: ArrayLike<number>, shape: readonly number[]): Float32Array {
  const [N, O, OH, OW] = shape;
  const hw = OH * OW;
  const r = new Float64Array(2 * O);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let i = 0; i < hw; i++) {
        const j = (n * O + o) * hw + i;
        r[o] += gy[j];
        r[O + o] += gy[j] * u[j];
      }
  return Float32Array.from(r);
}

/**
 * Coefficients of g_c = A·g_y + B·u + C (y0 = s·u over M values per channel), [O] × (A, B, 0, C)
 * as channelAffine reads them (refChannelAffine forms g_c): A = k (0 without the y path),
 * B = 2s²·gvar/M, C = s·(gmean − 2·gvar·s·mu_u)/M.
 */
export function refCoefs(k: ArrayLike<number> | null, gmean: ArrayLike<number>, gvar: ArrayLike<number>, muU: ArrayLike<number>, s: number, M: number): Float32Array {
  const O = gmean.length;
  const c = new Float64Array(4 * O);
  for (let o = 0; o < O; o++) {
    c[4 * o] = k ? k[o] : 0;
    c[4 * o + 1] = (2 * s * s * gvar[o]) / M;
    c[4 * o + 3] = (s * (gmean[o] - 2 * gvar[o] * s * muU[o])) / M;
  }
  return Float32Array.from(c);
}

/** Statistics of y0 = s·u from those of u: mean s·mu_u, biased variance s²·var_u. */
export function refScaleStats(muU: ArrayLike<number>, varU: ArrayLike<number>, s: number): { mean: Float32Array; var: Float32Array } {
  return { mean: Float32Array.from(muU, (m) => s * m), var: Float32Array.from(varU, (v) => s * s * v) };
}

/** dL/ds through y0 = s·u: Σ_o gmean·mu_u + 2·gvar·s·var_u. */
export function refScaleGrad(gmean: ArrayLike<number>, gvar: ArrayLike<number>, muU: ArrayLike<number>, varU: ArrayLike<number>, s: number): number {
  let acc = 0;
  for (let o = 0; o < gmean.length; o++) acc += gmean[o] * muU[o] + 2 * gvar[o] * s * varU[o];
  return acc;
}
