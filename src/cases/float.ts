/**
 * Cases of the f32 kernels other than convolution: matmul, batch norm, elementwise, reductions,
 * pools, the loss, the SGD step and image normalisation.
 */
import { Tensor } from '../tensor.js';
import { matmul } from '../ops/matmul.js';
import { refMatmul } from '../ops/matmul.ref.js';
import { batchNorm2d, batchStats } from '../ops/batchnorm.js';
import { refBatchNorm2d, refBatchStats } from '../ops/batchnorm.ref.js';
import { add, mul, affine, clamp } from '../ops/elementwise.js';
import { refAxpby, refMul, refAffine, refClamp } from '../ops/elementwise.ref.js';
import { sum, channelSum, channelVar } from '../ops/reduce.js';
import { refSum, refChannelSum, refChannelVar, refDims } from '../ops/reduce.ref.js';
import { maxPool2d, avgPool2d, globalAvgPool } from '../ops/pool.js';
import { refMaxPool2d, refAvgPool2d, refGlobalAvgPool } from '../ops/pool.ref.js';
import { softmaxCrossEntropy, argmax } from '../ops/loss.js';
import { refSoftmaxCrossEntropy, refArgmax } from '../ops/loss.ref.js';
import { normalizeImages } from '../ops/image.js';
import { refNormalizeImages } from '../ops/image.ref.js';
import { SGD } from '../optim/sgd.js';
import { RefSGD } from '../optim/sgd.ref.js';
import { uniformArray, intArray } from '../runtime/rng.js';
import { kernelCase, type KernelCase } from './types.js';
import { sumTolerance } from './conv.js';

const prod = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const f32 = async (t: Tensor) => (await t.read()) as Float32Array;

export function matmulCase(M: number, N: number, K: number, transA = false, transB = false): KernelCase {
  const aShape = transA ? [K, M] : [M, K];
  const bShape = transB ? [N, K] : [K, N];
  return kernelCase({
    family: 'matmul',
    name: `${M}x${N}x${K}${transA ? ' A^T' : ''}${transB ? ' B^T' : ''}`,
    shapes: { a: aShape, b: bShape },
    tolerance: { atol: sumTolerance(K).atol, rtol: 1e-5 },
    inputs: () => ({ a: uniformArray(M * K, 31), b: uniformArray(K * N, 32) }),
    reference: (i) => [refMatmul(i.a, i.b, M, N, K, transA, transB)],
    gpu: async (i) => [await f32(matmul(Tensor.from(i.a, aShape), Tensor.from(i.b, bShape), { transA, transB }))],
    prepare: (i) => {
      const [a, b] = [Tensor.from(i.a, aShape), Tensor.from(i.b, bShape)];
      return () => matmul(a, b, { transA, transB });
    },
  });
}

function batchNormCase(shape: number[]): KernelCase {
  const C = shape[1];
  return kernelCase({
    family: 'batchnorm',
    name: `train [${shape.join(',')}]`,
    shapes: { x: shape },
    tolerance: { atol: 2e-5, rtol: 1e-5 },
    inputs: () => ({ x: uniformArray(prod(shape), 41, -2, 3), gamma: uniformArray(C, 42, 0.5, 1.5), beta: uniformArray(C, 43), rm: uniformArray(C, 44), rv: uniformArray(C, 45, 0.5, 2) }),
    reference: (i) => {
      const r = refBatchNorm2d(i.x, shape, i.gamma, i.beta, i.rm, i.rv, { training: true });
      const s = refBatchStats(i.x, shape);
      return [r.y, r.runningMean, r.runningVar, s.mean, s.var];
    },
    gpu: async (i) => {
      const [rm, rv] = [i.rm, i.rv].map((a) => Tensor.from(a, [C]));
      const x = Tensor.from(i.x, shape);
      const y = batchNorm2d(x, Tensor.from(i.gamma, [C]), Tensor.from(i.beta, [C]), rm, rv, { training: true });
      const s = batchStats(x);
      return [await f32(y), await f32(rm), await f32(rv), await f32(s.mean), await f32(s.var)];
    },
  });
}

// add/mul/affine/clamp are one f32 operation per element: bit-exact.
const ELEMENTWISE = kernelCase({
  family: 'elementwise',
  name: 'add, mul, affine, clamp of 1003',
  shapes: { x: [1003] },
  tolerance: { exact: true },
  inputs: () => ({ a: uniformArray(1003, 51, -3, 3), b: uniformArray(1003, 52, -3, 3) }),
  reference: (i) => [refAxpby(i.a, i.b, 1, 1), refMul(i.a, i.b), refAffine(i.a, 0.75, -0.5), refClamp(i.a, -1, 2)],
  gpu: async (i) => {
    const [a, b] = [i.a, i.b].map((d) => Tensor.from(d, [1003]));
    return [await f32(add(a, b)), await f32(mul(a, b)), await f32(affine(a, 0.75, -0.5)), await f32(clamp(a, -1, 2))];
  },
});

const REDUCE_SHAPE = [3, 7, 5, 9];
const REDUCE = kernelCase({
  family: 'reduce',
  name: `sum, channel sum and variance of [${REDUCE_SHAPE.join(',')}]`,
  shapes: { x: REDUCE_SHAPE },
  tolerance: sumTolerance(prod(REDUCE_SHAPE)),
  inputs: () => ({ x: uniformArray(prod(REDUCE_SHAPE), 61) }),
  reference: (i) => {
    const d = refDims(REDUCE_SHAPE, 1);
    return [[refSum(i.x)], refChannelSum(i.x, d), refChannelVar(i.x, d)];
  },
  gpu: async (i) => {
    const x = Tensor.from(i.x, REDUCE_SHAPE);
    return [await f32(sum(x)), await f32(channelSum(x)), await f32(channelVar(x))];
  },
});

const POOL_SHAPE = [2, 3, 9, 11];
// Max picks one input (bit-exact); averages divide a short f32 sum.
const POOL = kernelCase({
  family: 'pool',
  name: `max 3x3/2 pad 1, avg 2x2/2, global avg of [${POOL_SHAPE.join(',')}]`,
  shapes: { x: POOL_SHAPE },
  tolerance: { atol: 1e-6, rtol: 1e-6 },
  inputs: () => ({ x: uniformArray(prod(POOL_SHAPE), 71) }),
  reference: (i) => [
    refMaxPool2d(i.x, POOL_SHAPE, { kernel: [3, 3], stride: [2, 2], padding: [1, 1] }).y,
    refAvgPool2d(i.x, POOL_SHAPE, { kernel: [2, 2], stride: [2, 2], padding: [0, 0] }).y,
    refGlobalAvgPool(i.x, POOL_SHAPE),
  ],
  gpu: async (i) => {
    const x = Tensor.from(i.x, POOL_SHAPE);
    return [await f32(maxPool2d(x, { kernel: 3, stride: 2, padding: 1 })), await f32(avgPool2d(x, { kernel: 2 })), await f32(globalAvgPool(x))];
  },
});

const [LN, LK] = [13, 10];
const LOSS = kernelCase({
  family: 'loss',
  name: `cross-entropy and argmax of [${LN},${LK}]`,
  shapes: { logits: [LN, LK] },
  tolerance: { atol: 1e-5, rtol: 1e-5 },
  inputs: () => ({ x: uniformArray(LN * LK, 81, -4, 4), labels: intArray(LN, 82, 0, LK - 1) }),
  reference: (i) => [[refSoftmaxCrossEntropy(i.x, i.labels, LN, LK)], refArgmax(i.x, LN, LK)],
  gpu: async (i) => {
    const x = Tensor.from(i.x, [LN, LK]);
    const labels = Tensor.from(i.labels, [LN], 'i32');
    return [await f32(softmaxCrossEntropy(x, labels)), (await argmax(x).read()) as Int32Array];
  },
});

// Three steps of Nesterov momentum with weight decay: f32 up to fused multiply-adds.
const SGD_CASE = kernelCase({
  family: 'sgd',
  name: 'Nesterov, weight decay, 3 steps of [37] and [5,7]',
  shapes: { p0: [37], p1: [5, 7] },
  tolerance: { atol: 1e-6, rtol: 1e-6 },
  inputs: () => ({ w: [uniformArray(37, 91), uniformArray(35, 92)], g: [1, 2, 3].map((s) => [uniformArray(37, 93 + s), uniformArray(35, 97 + s)]) }),
  reference: (i) => {
    const ws = i.w.map((w) => w.slice());
    const opt = new RefSGD({ momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
    for (const g of i.g) opt.step(ws, g, 0.1);
    return ws;
  },
  gpu: async (i) => {
    const params = [Tensor.from(i.w[0], [37]), Tensor.from(i.w[1], [5, 7])];
    const opt = new SGD(params, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
    for (const g of i.g) {
      params.forEach((p, k) => (p.grad = Tensor.from(g[k], p.shape as number[])));
      opt.step();
    }
    const out = [await f32(params[0]), await f32(params[1])];
    opt.dispose();
    return out;
  },
});

const IMG_SHAPE: [number, number, number, number] = [2, 3, 5, 7];
const IMAGE = kernelCase({
  family: 'image',
  name: `normalize u8 [${IMG_SHAPE.join(',')}]`,
  shapes: { pixels: IMG_SHAPE },
  tolerance: { atol: 1e-6, rtol: 1e-6 },
  inputs: () => ({ px: Uint8Array.from(intArray(prod(IMG_SHAPE), 101, 0, 255)), mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }),
  reference: (i) => [refNormalizeImages(i.px, IMG_SHAPE, i.mean, i.std)],
  gpu: async (i) => [await f32(normalizeImages(i.px, IMG_SHAPE, i.mean, i.std))],
});

export const floatCases: KernelCase[] = [
  matmulCase(37, 44, 29, false, false),
  matmulCase(13, 21, 67, true, false),
  matmulCase(9, 70, 33, false, true),
  batchNormCase([3, 5, 7, 9]),
  ELEMENTWISE,
  REDUCE,
  POOL,
  LOSS,
  SGD_CASE,
  IMAGE,
];
