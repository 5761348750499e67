import { it, expect } from 'vitest';
import { gpuDescribe, rand, expectClose, gradCheck, type ConvCase } from '../helpers.js';
import { Tensor } from '../../src/tensor.js';
import { F8Error } from '../../src/runtime/errors.js';
import { conv2d, conv2dForward, conv2dBackwardInput, conv2dBackwardWeight, conv2dBackwardBias, conv2dOutputShape, conv2dTuning, depthwiseTuning } from '../../src/ops/conv2d.js';
import { refConv2d, refConv2dBackwardInput, refConv2dBackwardWeight, refConv2dBackwardBias } from '../../src/ops/conv2d.ref.js';

/** atol for a sum of `terms` products of values in [-1, 1] computed in f32. */
const atolFor = (terms: number): number => 1e-4 * Math.max(1, Math.sqrt(terms) / 4);

// Sizes are chosen to miss the tiles (8..32 output channels x 1..8 pixels, 8..32 input channels
// for the weight gradient) and to hit each path: unit-stride window sliding, strided/dilated
// loads, stride phases of the backward pass (some reached by no tap), negative transposed
// padding (padding > dilation * (K - 1)), groups, depthwise multipliers.
const cases: ConvCase[] = [
  { name: 'odd sizes 3x3 pad 1', x: [2, 5, 7, 9], w: [6, 5, 3, 3], opts: { padding: 1 } },
  { name: 'batch 1, 1x1 kernel', x: [1, 7, 5, 6], w: [9, 7, 1, 1], opts: {} },
  { name: 'stride 2 pad 1', x: [2, 4, 9, 11], w: [5, 4, 3, 3], opts: { stride: 2, padding: 1 } },
  { name: 'stride 2 pad 0, rows left over', x: [1, 3, 10, 9], w: [4, 3, 3, 3], opts: { stride: 2 } },
  { name: '1x1 stride 2 (gx phases no tap reaches)', x: [2, 6, 9, 8], w: [5, 6, 1, 1], opts: { stride: 2 } },
  { name: 'padding 2', x: [1, 3, 6, 5], w: [4, 3, 3, 3], opts: { padding: 2 } },
  { name: 'padding 3 > K-1', x: [2, 3, 5, 6], w: [3, 3, 3, 3], opts: { padding: 3 } },
  { name: '5x5 padding 3', x: [1, 2, 7, 6], w: [3, 2, 5, 5], opts: { padding: 3 } },
  { name: 'dilation 2', x: [2, 3, 9, 10], w: [4, 3, 3, 3], opts: { dilation: 2, padding: 2 } },
  { name: 'groups 2', x: [2, 6, 7, 7], w: [10, 3, 3, 3], opts: { groups: 2, padding: 1 } },
  { name: 'groups 3, stride 3, dilation 2', x: [1, 9, 13, 11], w: [6, 3, 3, 3], opts: { groups: 3, stride: 3, dilation: 2, padding: 1 } },
  { name: 'non-square kernel and options', x: [2, 3, 8, 10], w: [5, 3, 2, 4], opts: { padding: [1, 2], stride: [1, 2], dilation: [2, 1] } },
  { name: 'channels across tiles', x: [2, 19, 11, 13], w: [21, 19, 3, 3], opts: { padding: 1 } },
  { name: 'depthwise x1', x: [2, 5, 9, 8], w: [5, 1, 3, 3], opts: { groups: 5, padding: 1 } },
  { name: 'depthwise x1 stride 2', x: [2, 6, 11, 10], w: [6, 1, 3, 3], opts: { groups: 6, padding: 1, stride: 2 } },
  { name: 'depthwise x2 stride 2', x: [2, 3, 8, 9], w: [6, 1, 3, 3], opts: { groups: 3, padding: 1, stride: 2 } },
  { name: 'depthwise 2x2 stride 3', x: [1, 4, 10, 11], w: [4, 1, 2, 2], opts: { groups: 4, padding: 1, stride: 3 } },
  { name: 'depthwise x2 5x3 dilation 2', x: [1, 4, 12, 9], w: [8, 1, 5, 3], opts: { groups: 4, padding: [4, 1], dilation: [2, 1] } },
];

gpuDescribe('conv2d', () => {
  async function checkCase(c: ConvCase): Promise<void> {
    const yShape = conv2dOutputShape(c.x, c.w, c.opts);
    const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
    const [N, , OH, OW] = yShape;
    const [O, CG, KH, KW] = c.w;
    const xd = rand(size(c.x), 1);
    const wd = rand(size(c.w), 2);
    const bd = rand(O, 3);
    const gyd = rand(size(yShape), 4);
    const x = Tensor.from(xd, c.x);
    const w = Tensor.from(wd, c.w);
    const b = Tensor.from(bd, [O]);
    const gy = Tensor.from(gyd, yShape);
    const taps = CG * KH * KW;
    expectClose(await conv2dForward(x, w, b, c.opts).read(), refConv2d(xd, c.x, wd, c.w, bd, c.opts), atolFor(taps), 1e-4, 'forward');
    expectClose(await conv2dForward(x, w, null, c.opts).read(), refConv2d(xd, c.x, wd, c.w, null, c.opts), atolFor(taps), 1e-4, 'forward, no bias');
    expectClose(await conv2dBackwardInput(gy, w, c.x, c.opts).read(), refConv2dBackwardInput(gyd, wd, c.w, c.x, c.opts), atolFor((O * KH * KW) / (c.opts.groups ?? 1)), 1e-4, 'backward input');
    expectClose(await conv2dBackwardWeight(x, gy, c.w, c.opts).read(), refConv2dBackwardWeight(xd, c.x, gyd, c.w, c.opts), atolFor(N * OH * OW), 1e-4, 'backward weight');
    expectClose(await conv2dBackwardBias(gy).read(), refConv2dBackwardBias(gyd, yShape), atolFor(N * OH * OW), 1e-4, 'backward bias');
  }

  for (const c of cases) it(`forward and backward match the CPU reference: ${c.name}`, () => checkCase(c));

  it('matches without subgroups (each lane loads every weight)', async () => {
    conv2dTuning().subgroups = false;
    try {
      for (const c of cases.filter((k) => /odd sizes|stride 2 pad 1|across tiles/.test(k.name))) await checkCase(c);
    } finally {
      conv2dTuning().subgroups = true;
    }
  });

  it('the shared-memory implicit GEMM forward (SMEM) and stride-1 input gradient match on every dense case, and across its 64 x 64 blocks', async () => {
    conv2dTuning().SMEM = true;
    try {
      const dense = cases.filter((c) => !c.name.startsWith('depthwise'));
      for (const c of [...dense, { name: 'blocks', x: [3, 70, 9, 10], w: [67, 70, 3, 3], opts: { padding: 1 } } as ConvCase]) {
        const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
        const xd = rand(size(c.x), 5);
        const wd = rand(size(c.w), 6);
        const bd = rand(c.w[0], 7);
        const [x, w, b] = [Tensor.from(xd, c.x), Tensor.from(wd, c.w), Tensor.from(bd, [c.w[0]])];
        const terms = c.w[1] * c.w[2] * c.w[3];
        expectClose(await conv2dForward(x, w, b, c.opts).read(), refConv2d(xd, c.x, wd, c.w, bd, c.opts), atolFor(terms), 1e-4, `SMEM forward: ${c.name}`);
        expectClose(await conv2dForward(x, w, null, c.opts).read(), refConv2d(xd, c.x, wd, c.w, null, c.opts), atolFor(terms), 1e-4, `SMEM forward, no bias: ${c.name}`);
        // Backward w.r.t. the input: stride 1 through the transposed SMEM kernel, others unchanged.
        const yShape = conv2dOutputShape(c.x, c.w, c.opts);
        const gyd = rand(size(yShape), 10);
        const gx = await conv2dBackwardInput(Tensor.from(gyd, yShape), w, c.x, c.opts).read();
        expectClose(gx, refConv2dBackwardInput(gyd, wd, c.w, c.x, c.opts), atolFor((c.w[0] * c.w[2] * c.w[3]) / (c.opts.groups ?? 1)), 1e-4, `SMEM backward input: ${c.name}`);
      }
    } finally {
      conv2dTuning().SMEM = false;
    }
  });

  it('the shared-memory depthwise forward (SMEM) matches on every depthwise case, and across its 16 x 16 tiles', async () => {
    depthwiseTuning().SMEM = true;
    try {
      const dw = cases.filter((c) => c.name.startsWith('depthwise'));
      for (const c of [...dw, { name: 'tiles', x: [2, 3, 37, 20], w: [3, 1, 3, 3], opts: { groups: 3, padding: 1 } } as ConvCase]) {
        const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
        const xd = rand(size(c.x), 11);
        const wd = rand(size(c.w), 12);
        const bd = rand(c.w[0], 13);
        const [x, w, b] = [Tensor.from(xd, c.x), Tensor.from(wd, c.w), Tensor.from(bd, [c.w[0]])];
        const terms = c.w[2] * c.w[3];
        expectClose(await conv2dForward(x, w, b, c.opts).read(), refConv2d(xd, c.x, wd, c.w, bd, c.opts), atolFor(terms), 1e-4, `SMEM depthwise: ${c.name}`);
        expectClose(await conv2dForward(x, w, null, c.opts).read(), refConv2d(xd, c.x, wd, c.w, null, c.opts), atolFor(terms), 1e-4, `SMEM depthwise, no bias: ${c.name}`);
      }
    } finally {
      depthwiseTuning().SMEM = false;
    }
  });

  it('the shared-memory tiled weight gradient (wgradSMEM) matches on every dense case, and across its blocks', async () => {
    conv2dTuning().wgradSMEM = true;
    try {
      const dense = cases.filter((c) => !c.name.startsWith('depthwise'));
      for (const c of [...dense, { name: 'blocks', x: [3, 9, 9, 10], w: [67, 9, 3, 3], opts: { padding: 1 } } as ConvCase]) {
        const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
        const yShape = conv2dOutputShape(c.x, c.w, c.opts);
        const xd = rand(size(c.x), 8);
        const gyd = rand(size(yShape), 9);
        const got = await conv2dBackwardWeight(Tensor.from(xd, c.x), Tensor.from(gyd, yShape), c.w, c.opts).read();
        expectClose(got, refConv2dBackwardWeight(xd, c.x, gyd, c.w, c.opts), atolFor(yShape[0] * yShape[2] * yShape[3]), 1e-4, `wgradSMEM: ${c.name}`);
      }
    } finally {
      conv2dTuning().wgradSMEM = false;
    }
  });

  it('splits long weight-gradient reductions', async () => {
    // 2 x 40 x 40 output pixels per weight, few weights: the reduction is split and re-added.
    const xs = [2, 3, 40, 40];
    const wsh = [4, 3, 3, 3];
    const xd = rand(2 * 3 * 1600, 5);
    const gyd = rand(2 * 4 * 1600, 6);
    const gy = Tensor.from(gyd, [2, 4, 40, 40]);
    expectClose(await conv2dBackwardWeight(Tensor.from(xd, xs), gy, wsh, { padding: 1 }).read(), refConv2dBackwardWeight(xd, xs, gyd, wsh, { padding: 1 }), atolFor(3200), 1e-4, 'backward weight');
    expectClose(await conv2dBackwardBias(gy).read(), refConv2dBackwardBias(gyd, [2, 4, 40, 40]), atolFor(3200), 1e-4, 'backward bias');
  });

  it('gradients (finite differences): plain, grouped, depthwise', async () => {
    const inp = (shape: number[], seed: number) => ({ data: rand(shape.reduce((a, b) => a * b, 1), seed), shape });
    await gradCheck((x, w, b) => conv2d(x, w, b, { padding: 1 }), [inp([2, 3, 5, 4], 1), inp([4, 3, 3, 3], 2), inp([4], 3)]);
    await gradCheck((x, w) => conv2d(x, w, null, { groups: 2, stride: 2, padding: 1 }), [inp([1, 4, 5, 5], 4), inp([4, 2, 3, 3], 5)]);
    await gradCheck((x, w, b) => conv2d(x, w, b, { groups: 3, stride: 2, padding: 1 }), [inp([1, 3, 5, 5], 6), inp([6, 1, 3, 3], 7), inp([6], 8)]);
    // Only the weight requires a gradient: the input's is not computed.
    await gradCheck((x, w) => conv2d(x, w, null, { dilation: 2, padding: 2 }), [inp([1, 2, 5, 5], 9), inp([3, 2, 3, 3], 10)], { which: [1] });
  });

  it('rejects shapes that do not fit, naming them', () => {
    const t = (shape: number[]) => Tensor.from(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
    const err = (f: () => unknown, re: RegExp) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(F8Error);
        expect((e as F8Error).code).toBe('SHAPE_MISMATCH');
        expect((e as Error).message).toMatch(re);
        return;
      }
      expect.fail('no error thrown');
    };
    err(() => conv2d(t([1, 5, 6, 6]), t([4, 2, 3, 3]), null, { groups: 2 }), /input \[1, 5, 6, 6\] has 5 channels, not divisible by groups=2/);
    err(() => conv2d(t([1, 4, 6, 6]), t([4, 3, 3, 3]), null), /weight \[4, 3, 3, 3\] has 3 input channels per group; input \[1, 4, 6, 6\] with groups=1 needs 4/);
    err(() => conv2d(t([1, 4, 2, 2]), t([4, 4, 3, 3]), null), /gives output size 0x0; it must be at least 1x1/);
    err(() => conv2d(t([1, 4, 6, 6]), t([4, 4, 3, 3]), t([5])), /bias \[5\] must be \[4\]/);
    err(() => conv2d(t([4, 6, 6]), t([4, 4, 3, 3]), null), /input \[4, 6, 6\] must be 4-D/);
    expect(conv2dOutputShape([8, 64, 32, 32], [64, 64, 3, 3], { padding: 1 })).toEqual([8, 64, 32, 32]);
    expect(conv2dOutputShape([1, 96, 56, 56], [96, 1, 3, 3], { padding: 1, stride: 2, groups: 96 })).toEqual([1, 96, 28, 28]);
  });
});
