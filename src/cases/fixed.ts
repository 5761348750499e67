/**
 * Cases of the fixed-point training kernels: fake-quant, fractional length (metric and grid
 * search), BN folding, bias quantisation and the i32 re-quantisation. Integer and fixed-point
 * results are bit-exact; the folded floats are f32 against float64.
 */
import { Tensor } from '../tensor.js';
import { fakeQuant, quantizeInt } from '../ops/fakequant.js';
import { fraclenFromMetric, gridSearchFraclen } from '../ops/fraclen.js';
import { foldBn, quantizeBias } from '../ops/fold.js';
import { refFoldBn, refQuantizeBias } from '../ops/fold.ref.js';
import { requantize } from '../ops/requant.js';
import { clipGrad, chanDot, combineCoefs, combineGrad } from '../ops/qconv.js';
import { refClipGrad, refChanDot, refCoefs } from '../ops/qconv.ref.js';
import { refChannelAffine } from '../ops/batchnorm.ref.js';
import { quantize, fraclenFromTensor, gridSearchFraclen as refGridSearch, requantize as refRequantize } from '../quant/fixed.js';
import { uniformArray, intArray } from '../runtime/rng.js';
import { kernelCase, type KernelCase } from './types.js';

const prod = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const i32 = (...v: number[]) => Tensor.from(Int32Array.from(v), [v.length], 'i32');

function fakeQuantCase(shape: number[], fl: number[], wl: number, signed: boolean, axis?: number): KernelCase {
  const perChannel = fl.length > 1;
  const layout = perChannel ? { channels: shape[axis!], inner: prod(shape.slice(axis! + 1)) } : undefined;
  return kernelCase({
    family: 'fake_quant',
    name: `${signed ? 's' : 'u'}${wl} fl ${perChannel ? 'per channel' : fl[0]} [${shape.join(',')}]`,
    shapes: { x: shape },
    tolerance: { exact: true },
    inputs: () => ({ x: uniformArray(prod(shape), 111, -3, 3) }),
    reference: (i) => {
      const r = quantize(i.x, perChannel ? Int32Array.from(fl) : fl[0], { wl, signed, channelAxis: layout });
      return [r.value, r.q];
    },
    gpu: async (i) => {
      const x = Tensor.from(i.x, shape);
      const opts = { wl, signed, axis };
      return [await fakeQuant(x, i32(...fl), opts).read(), await quantizeInt(x, i32(...fl), opts).read()];
    },
  });
}

const FL_SHAPE = [4, 6, 5, 7];
const FRACLEN = kernelCase({
  family: 'fraclen',
  name: `std metric and grid search, s8, [${FL_SHAPE.join(',')}]`,
  shapes: { x: FL_SHAPE },
  tolerance: { exact: true },
  inputs: () => ({ x: uniformArray(prod(FL_SHAPE), 121, -1.7, 1.3) }),
  reference: (i) => [[fraclenFromTensor(i.x, { wl: 8, signed: true, metric: 'std' })], [refGridSearch(i.x, { wl: 8, signed: true }).fl]],
  gpu: async (i) => {
    const x = Tensor.from(i.x, FL_SHAPE);
    return [await fraclenFromMetric(x, { wl: 8, signed: true, metric: 'std' }).read(), await gridSearchFraclen(x, { wl: 8, signed: true }).read()];
  },
});

const FOLD_C = 7;
const FOLD = kernelCase({
  family: 'fold',
  name: `conv-BN fold of ${FOLD_C} channels, per-channel s_next`,
  shapes: { gamma: [FOLD_C] },
  tolerance: { atol: 1e-6, rtol: 1e-5 },
  inputs: () => ({
    gamma: uniformArray(FOLD_C, 131, 0.5, 1.5), beta: uniformArray(FOLD_C, 132), mean: uniformArray(FOLD_C, 133), variance: uniformArray(FOLD_C, 134, 0.5, 2),
    sNext: uniformArray(FOLD_C, 135, 0.5, 2),
  }),
  reference: (i) => {
    const r = refFoldBn(i.gamma, i.beta, i.mean, i.variance, 0.8, i.sNext, 1e-5);
    return [r.k, r.b];
  },
  gpu: async (i) => {
    const t = (a: Float32Array) => Tensor.from(a, [a.length]);
    const r = foldBn(t(i.gamma), t(i.beta), t(i.mean), t(i.variance), t(Float32Array.of(0.8)), t(i.sNext), 1e-5);
    return [await r.k.read(), await r.b.read()];
  },
});

// The bias on the accumulator grid: one rounding, bit-exact.
const BIAS = kernelCase({
  family: 'fold',
  name: 'quantizeBias per-channel fl_w',
  shapes: { bias: [9] },
  tolerance: { exact: true },
  inputs: () => ({ b: uniformArray(9, 141, -3, 3), flW: Array.from(intArray(9, 142, 2, 9)) }),
  reference: (i) => [refQuantizeBias(i.b, [3, 5], i.flW)],
  gpu: async (i) => [await quantizeBias(Tensor.from(i.b, [9]), i32(3, 5), i32(...i.flW)).read()],
});

const REQUANT_SHAPE = [2, 5, 3, 3];
const REQUANT = kernelCase({
  family: 'requant',
  name: `i32 accumulators, per-channel shifts, u8 with ReLU, [${REQUANT_SHAPE.join(',')}]`,
  shapes: { acc: REQUANT_SHAPE },
  tolerance: { exact: true },
  inputs: () => ({ acc: intArray(prod(REQUANT_SHAPE), 151, -(2 ** 20), 2 ** 20), n: intArray(5, 152, 0, 16) }),
  reference: (i) => [refRequantize(i.acc, i.n, { signed: false, relu: true, channelAxis: { channels: 5, inner: 9 } })],
  gpu: async (i) => [await requantize(Tensor.from(i.acc, REQUANT_SHAPE, 'i32'), Tensor.from(i.n, [5], 'i32'), { signed: false, relu: true, axis: 1 }).read()],
});

// The fused conv-BN backward (src/ops/qconv.ts): the clipped weights' gradient terms (a strided conv,
// a third of the weights clipped), the per-channel sums of the y path and the combined gradient.
const QX = [2, 4, 7, 7];
const QW = [6, 4, 3, 3];
const QY = [2, 6, 4, 4];
const QOPTS = { stride: 2, padding: 1 };
const QCONV = kernelCase({
  family: 'qconv',
  name: `clip_grad, chan_dot, coefs and combine, x [${QX.join(',')}], w [${QW.join(',')}], stride 2`,
  shapes: { x: QX, w: QW, gy: QY },
  tolerance: { atol: 1e-5, rtol: 1e-4 },
  inputs: () => ({
    x: uniformArray(prod(QX), 161, 0, 2), gy: uniformArray(prod(QY), 162), u: uniformArray(prod(QY), 163, -2, 2),
    // w_f at fl 6: every third weight beyond 127/64 (clipped), the others inside.
    wf: Float32Array.from(uniformArray(prod(QW), 168, 0.2, 1.9), (v, i) => (i % 3 === 1 ? v + 2 : v) * (i % 2 ? 1 : -1)),
    ws: uniformArray(prod(QW), 169),
    k: uniformArray(6, 164, 0.5, 2), gm: uniformArray(6, 165), gv: uniformArray(6, 166), mu: uniformArray(6, 167),
  }),
  reference: (i) => {
    const coef = refCoefs(i.k, i.gm, i.gv, i.mu, 0.6, 32);
    const c = refClipGrad(i.x, QX, i.gy, i.wf, Int32Array.of(6), i.ws, i.k, 8, QW, QOPTS);
    return [c.gw, c.gcw, refChanDot(i.gy, i.u, QY), refChannelAffine(coef, i.gy, i.u, QY)];
  },
  gpu: async (i) => {
    const t = (a: Float32Array, s: number[] = [a.length]) => Tensor.from(a, s);
    const gy = t(i.gy, QY);
    const u = t(i.u, QY);
    const coef = combineCoefs(t(i.k), t(i.gm), t(i.gv), t(i.mu), t(Float32Array.of(0.6)), 32);
    const c = clipGrad(t(i.x, QX), gy, t(i.wf, QW), Tensor.from(Int32Array.of(6), [1], 'i32'), t(i.ws, QW), t(i.k), 8, QOPTS);
    return [await c.gw.read(), await c.gcw.read(), await chanDot(gy, u).read(), await combineGrad(gy, u, coef).read()];
  },
});

export const fixedCases: KernelCase[] = [
  fakeQuantCase([1003], [5], 8, true),
  fakeQuantCase([3, 6, 4, 3], [2, 4, 6, 1, 0, 7], 8, false, 1),
  FRACLEN,
  FOLD,
  BIAS,
  REQUANT,
  QCONV,
];
