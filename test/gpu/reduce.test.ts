import { it, expect } from 'vitest';
import { gpuDescribe, rand, expectClose, expectExact, gradCheck } from '../helpers.js';
import { Tensor } from '../../src/tensor.js';
import { sum, mean, channelSum, channelMean, channelVar, channelMoments, mulChannel, addChannel } from '../../src/ops/reduce.js';
import { refSum, refChannelSum, refChannelMean, refChannelVar, refChannelBroadcast, refDims } from '../../src/ops/reduce.ref.js';

/** Tolerance of an f32 sum vs float64: a few ulps of the sum of magnitudes. */
function sumTol(x: ArrayLike<number>): number {
  let a = 0;
  for (let i = 0; i < x.length; i++) a += Math.abs(x[i]);
  return 1e-6 * a + 1e-30;
}

gpuDescribe('reduce', () => {
  // 1 and 7: a single partial; 1023: not a multiple of 4 nor of a block; 100003: two passes.
  for (const n of [1, 7, 1023, 100003]) {
    it(`sum and mean match float64, n=${n}`, async () => {
      const a = rand(n, n, -1, 3);
      const t = Tensor.from(a, [n]);
      const s = await sum(t).item();
      expectClose([s], [refSum(a)], sumTol(a), 1e-6, 'sum');
      expectClose([await mean(t).item()], [refSum(a) / n], sumTol(a) / n, 1e-6, 'mean');
    });
  }

  it('sum is bitwise reproducible and works on any shape', async () => {
    const a = rand(7 * 42859, 5);
    const t = Tensor.from(a, [7, 42859]);
    const r1 = await sum(t).read();
    const r2 = await sum(t).read();
    expectExact(r1, r2, 'run to run');
    expectClose(r1, [refSum(a)], sumTol(a), 1e-6, 'sum [7, 42859]');
  });

  const chanCases: [number[], number][] = [
    [[5, 3], 1], // [N,C]: inner 1
    [[2, 3, 4, 5], 1], // NCHW
    [[1, 7, 1, 1], 1], // batch 1, 1x1
    [[4, 6, 3], -1], // last axis
    [[3, 2, 17], 0], // first axis
    [[3, 5, 129, 7], 1], // chunks cross row boundaries, several partials per channel
    [[2, 4, 100, 41], 2], // middle axis, two-level tree
  ];
  for (const [shape, axis] of chanCases) {
    it(`channel sum/mean/var/moments and broadcasts match float64, shape [${shape}] axis ${axis}`, async () => {
      const n = shape.reduce((p, v) => p * v, 1);
      const d = refDims(shape, axis);
      const a = rand(n, n + 11, -2, 2);
      const x = Tensor.from(a, shape);
      const tol = 1e-6 * Math.max(...refChannelSum(a.map(Math.abs), d));
      expectClose(await channelSum(x, axis).read(), refChannelSum(a, d), tol, 1e-5, 'channelSum');
      expectClose(await channelMean(x, axis).read(), refChannelMean(a, d), 1e-6, 1e-5, 'channelMean');
      expectClose(await channelVar(x, axis).read(), refChannelVar(a, d), 1e-6, 1e-5, 'channelVar');
      if (d.outer * d.inner > 1) expectClose(await channelVar(x, axis, { unbiased: true }).read(), refChannelVar(a, d, true), 1e-6, 1e-5, 'channelVar unbiased');
      const m = channelMoments(x, axis);
      expectClose(await m.mean.read(), refChannelMean(a, d), 1e-6, 1e-5, 'moments.mean');
      expectClose(await m.var.read(), refChannelVar(a, d), 1e-6, 1e-5, 'moments.var');
      const s = rand(d.C, 99, 0.5, 2);
      const st = Tensor.from(s, [d.C]);
      expectClose(await mulChannel(x, st, axis).read(), refChannelBroadcast(a, s, d, 'mul'), 0, 1e-7, 'mulChannel');
      expectClose(await addChannel(x, st, axis).read(), refChannelBroadcast(a, s, d, 'add'), 1e-7, 1e-7, 'addChannel');
    });
  }

  it('moments stay accurate for a large mean over 1e6 elements per channel', async () => {
    const shape = [250, 2, 64, 64]; // M = 1,024,000 per channel
    const n = shape.reduce((p, v) => p * v, 1);
    const a = rand(n, 3, -1, 1).map((v, i) => 1000 + v + (Math.floor(i / 4096) % 2) * 5);
    const d = refDims(shape, 1);
    const x = Tensor.from(a, shape);
    const m = channelMoments(x, 1, { unbiased: true });
    expectClose(await m.mean.read(), refChannelMean(a, d), 0, 1e-6, 'mean');
    expectClose(await m.var.read(), refChannelVar(a, d, true), 0, 1e-5, 'var');
    const v1 = await channelVar(x).read();
    const v2 = await channelVar(x).read();
    expectExact(v1, v2, 'channelVar run to run');
    expectClose(await channelSum(x).read(), refChannelSum(a, d), 0, 1e-6, 'channelSum');
  });

  it('rejects bad axes and channel vectors with messages naming the shapes', () => {
    const x = Tensor.from(new Float32Array(24), [2, 3, 4]);
    expect(() => channelSum(x, 3)).toThrow(/channelSum: axis 3 is out of range for x \[2, 3, 4\]/);
    expect(() => mulChannel(x, Tensor.from(new Float32Array(4), [4]))).toThrow(/mulChannel: s \[4\] does not match x \[2, 3, 4\] \(axis 1 has 3 channels\)/);
    expect(() => addChannel(x, Tensor.from(new Float32Array(3), [3, 1]))).toThrow(/SHAPE|does not match/);
  });

  it('gradients: sum, mean, channelSum, channelMean, channelVar', async () => {
    const x = { data: rand(2 * 3 * 5, 7), shape: [2, 3, 5] };
    await gradCheck((a) => sum(a), [x]);
    await gradCheck((a) => mean(a), [x]);
    await gradCheck((a) => channelSum(a), [x]);
    await gradCheck((a) => channelSum(a, -1), [x]);
    await gradCheck((a) => channelMean(a, 0), [x]);
    await gradCheck((a) => channelVar(a), [x]);
    await gradCheck((a) => channelVar(a, 2, { unbiased: true }), [x]);
  });

  it('gradients: mulChannel, addChannel (both inputs)', async () => {
    const x = { data: rand(2 * 3 * 5, 8), shape: [2, 3, 5] };
    const s = { data: rand(3, 9, 0.5, 1.5), shape: [3] };
    const s5 = { data: rand(5, 10), shape: [5] };
    await gradCheck((a, b) => mulChannel(a, b), [x, s]);
    await gradCheck((a, b) => addChannel(a, b), [x, s]);
    await gradCheck((a, b) => mulChannel(a, b, 2), [x, s5]);
    await gradCheck((a, b) => addChannel(a, b, -1), [x, s5]);
    await gradCheck((a, b) => mulChannel(a, b), [x, s], { which: [1] });
  });
});
