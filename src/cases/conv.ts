/**
 * Cases of the f32 convolutions (wgsl/conv2d.wgsl, wgsl/depthwise.wgsl): forward, input
 * gradient, weight gradient and depthwise forward, on sizes that miss every tile.
 */
import { Tensor } from '../tensor.js';
import { conv2dForward, conv2dBackwardInput, conv2dBackwardWeight, conv2dOutputShape, type Conv2dOptions } from '../ops/conv2d.js';
import { refConv2d, refConv2dBackwardInput, refConv2dBackwardWeight } from '../ops/conv2d.ref.js';
import { uniformArray } from '../runtime/rng.js';
import { kernelCase, type KernelCase } from './types.js';

const prod = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** Float bound for a sum of `terms` products of values in [-1, 1] in f32 (the conv tests' atol). */
export const sumTolerance = (terms: number) => ({ atol: 1e-4 * Math.max(1, Math.sqrt(terms) / 4), rtol: 1e-4 });

export interface ConvShape {
  name: string;
  x: number[];
  w: number[];
  opts: Conv2dOptions;
}

/** f32 forward with bias; `family` is conv2d.fwd or depthwise.fwd. */
export function convForwardCase(family: string, c: ConvShape): KernelCase {
  return kernelCase({
    family,
    name: c.name,
    shapes: { x: c.x, w: c.w },
    tolerance: sumTolerance(c.w[1] * c.w[2] * c.w[3]),
    inputs: () => ({ x: uniformArray(prod(c.x), 11), w: uniformArray(prod(c.w), 12), b: uniformArray(c.w[0], 13) }),
    reference: (i) => [refConv2d(i.x, c.x, i.w, c.w, i.b, c.opts)],
    gpu: async (i) => [await conv2dForward(Tensor.from(i.x, c.x), Tensor.from(i.w, c.w), Tensor.from(i.b, [c.w[0]]), c.opts).read()],
    prepare: (i) => {
      const [x, w, b] = [Tensor.from(i.x, c.x), Tensor.from(i.w, c.w), Tensor.from(i.b, [c.w[0]])];
      return () => conv2dForward(x, w, b, c.opts);
    },
  });
}

export function convInputGradCase(c: ConvShape): KernelCase {
  const ys = conv2dOutputShape(c.x, c.w, c.opts);
  return kernelCase({
    family: 'conv2d.bwd-input',
    name: c.name,
    shapes: { x: c.x, w: c.w, gy: ys },
    tolerance: sumTolerance((c.w[0] * c.w[2] * c.w[3]) / (c.opts.groups ?? 1)),
    inputs: () => ({ gy: uniformArray(prod(ys), 14), w: uniformArray(prod(c.w), 15) }),
    reference: (i) => [refConv2dBackwardInput(i.gy, i.w, c.w, c.x, c.opts)],
    gpu: async (i) => [await conv2dBackwardInput(Tensor.from(i.gy, ys), Tensor.from(i.w, c.w), c.x, c.opts).read()],
  });
}

export function convWeightGradCase(c: ConvShape): KernelCase {
  const ys = conv2dOutputShape(c.x, c.w, c.opts);
  return kernelCase({
    family: 'conv2d.bwd-weight',
    name: c.name,
    shapes: { x: c.x, w: c.w, gy: ys },
    tolerance: sumTolerance(ys[0] * ys[2] * ys[3]),
    inputs: () => ({ x: uniformArray(prod(c.x), 21), gy: uniformArray(prod(ys), 22) }),
    reference: (i) => [refConv2dBackwardWeight(i.x, c.x, i.gy, c.w, c.opts)],
    gpu: async (i) => [await conv2dBackwardWeight(Tensor.from(i.x, c.x), Tensor.from(i.gy, ys), c.w, c.opts).read()],
    prepare: (i) => {
      const [x, gy] = [Tensor.from(i.x, c.x), Tensor.from(i.gy, ys)];
      return () => conv2dBackwardWeight(x, gy, c.w, c.opts);
    },
  });
}

// Odd sizes miss the tiles; the strided, dilated, grouped and padded ones reach the other paths.
const CONV: ConvShape[] = [
  { name: 'odd sizes 3x3 pad 1', x: [1, 5, 7, 11], w: [37, 5, 3, 3], opts: { padding: 1 } },
  { name: '1x1 stride 2', x: [2, 6, 9, 8], w: [5, 6, 1, 1], opts: { stride: 2 } },
  { name: 'groups 3 stride 3 dilation 2', x: [1, 9, 13, 11], w: [6, 3, 3, 3], opts: { groups: 3, stride: 3, dilation: 2, padding: 1 } },
  { name: 'padding 3 > K-1', x: [2, 3, 5, 6], w: [3, 3, 3, 3], opts: { padding: 3 } },
];
const WGRAD: ConvShape[] = [
  { name: 'odd sizes 3x3 pad 1', x: [1, 37, 5, 9], w: [67, 37, 3, 3], opts: { padding: 1 } },
  { name: 'stride 2 pad 1', x: [2, 4, 9, 11], w: [5, 4, 3, 3], opts: { stride: 2, padding: 1 } },
];
const DEPTHWISE: ConvShape[] = [
  { name: 'x1 3x3 pad 1', x: [1, 5, 9, 13], w: [5, 1, 3, 3], opts: { padding: 1, groups: 5 } },
  { name: 'x2 stride 2', x: [2, 3, 8, 9], w: [6, 1, 3, 3], opts: { groups: 3, padding: 1, stride: 2 } },
];

export const convCases: KernelCase[] = [
  ...CONV.map((c) => convForwardCase('conv2d.fwd', c)),
  ...CONV.map(convInputGradCase),
  ...WGRAD.map(convWeightGradCase),
  ...DEPTHWISE.map((c) => convForwardCase('depthwise.fwd', c)),
];
