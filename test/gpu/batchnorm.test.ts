import { it, expect } from 'vitest';
import { gpuDescribe, rand, expectClose, gradCheck } from '../helpers.js';
import { Engine } from '../../src/runtime/engine.js';
import { Tensor } from '../../src/tensor.js';
import { backward } from '../../src/autograd/tape.js';
import { mul } from '../../src/ops/elementwise.js';
import { batchNorm2d, batchStats, updateRunningStats, channelAffine } from '../../src/ops/batchnorm.js';
import { refBatchNorm2d, refBatchNorm2dBackward, refBatchStats, refUpdateRunningStats, refChannelAffine } from '../../src/ops/batchnorm.ref.js';

const numel = (s: number[]): number => s.reduce((a, b) => a * b, 1);
const f32 = async (t: Tensor): Promise<Float32Array> => (await t.read()) as Float32Array;

gpuDescribe('batchnorm', () => {
  // H*W odd (scalar path), H*W % 4 == 0 (vec4 path), batch 1, [N, C], non-square.
  const shapes: number[][] = [[2, 3, 5, 7], [1, 4, 4, 4], [3, 5, 6, 2], [8, 6], [1, 2, 1, 3], [5, 1, 9, 11], [2, 3, 12, 12]];
  it('channelAffine matches the reference on every shape (scalar and vec4 paths, with and without gy), and refuses a bad coef', async () => {
    for (const shape of shapes) {
      const C = shape[1];
      const x = rand(numel(shape), 31, -2, 3);
      const gy = rand(numel(shape), 32);
      const coef = rand(4 * C, 33, -1.5, 1.5);
      const e = Engine.get();
      const [withG, noG] = await e.tidyAsync(async () => {
        const cT = Tensor.from(coef, [4 * C]);
        return [await f32(channelAffine(cT, Tensor.from(gy, shape), Tensor.from(x, shape))), await f32(channelAffine(cT, null, Tensor.from(x, shape)))];
      });
      expectClose(withG, refChannelAffine(coef, gy, x, shape), 1e-6, 1e-5, `channelAffine [${shape}]`);
      expectClose(noG, refChannelAffine(coef, null, x, shape), 1e-6, 1e-5, `channelAffine without gy [${shape}]`);
    }
    expect(() => channelAffine(Tensor.from(new Float32Array(3), [3]), null, Tensor.from(new Float32Array(8), [2, 1, 2, 2]))).toThrow(/coef must be f32 \[4\]/);
  });

  for (const shape of shapes) {
    it(`training and eval forward match the reference, [${shape}]`, async () => {
      const C = shape[1];
      const xs = rand(numel(shape), 11, -2, 3);
      const gam = rand(C, 12, 0.5, 1.5);
      const bet = rand(C, 13);
      const rm0 = rand(C, 14);
      const rv0 = rand(C, 15, 0.5, 2);
      const x = Tensor.from(xs, shape);
      const [gamma, beta, rm, rv] = [gam, bet, rm0, rv0].map((a) => Tensor.from(a, [C]));
      const ref = refBatchNorm2d(xs, shape, gam, bet, rm0, rv0, { training: true, momentum: 0.2, eps: 1e-3 });
      const y = batchNorm2d(x, gamma, beta, rm, rv, { training: true, momentum: 0.2, eps: 1e-3 });
      expectClose(await f32(y), ref.y, 2e-5, 1e-5, 'train y');
      expectClose(await f32(rm), ref.runningMean, 1e-6, 1e-5, 'running mean');
      expectClose(await f32(rv), ref.runningVar, 1e-6, 1e-5, 'running var');
      const ev = refBatchNorm2d(xs, shape, gam, bet, ref.runningMean, ref.runningVar, { training: false });
      expectClose(await f32(batchNorm2d(x, gamma, beta, rm, rv, { training: false })), ev.y, 2e-5, 1e-5, 'eval y');
      const st = batchStats(x);
      const rs = refBatchStats(xs, shape);
      expectClose(await f32(st.mean), rs.mean, 1e-6, 1e-5, 'batchStats mean');
      expectClose(await f32(st.var), rs.var, 1e-6, 1e-5, 'batchStats var');
    });
  }

  // 1e6 values per channel around a large offset: naive E[x^2] - E[x]^2 in f32 would lose
  // every digit of the variance here.
  for (const shape of [[4, 2, 500, 500], [1, 1, 999, 1001]]) {
    it(`statistics stay accurate for 1e6 values per channel, [${shape}]`, async () => {
      const xs = rand(numel(shape), 21, -1, 1);
      const C = shape[1];
      const plane = shape[2] * shape[3];
      // Channel c gets 1000 + 0.01*u + 0.002*(n + c): the offset differs between images.
      for (let i = 0; i < xs.length; i++) xs[i] = 1000 + 0.01 * xs[i] + 0.002 * (((i / plane) | 0) % C + ((i / plane / C) | 0));
      const rs = refBatchStats(xs, shape);
      const st = batchStats(Tensor.from(xs, shape));
      expectClose(await f32(st.mean), rs.mean, 0, 2e-7, 'mean');
      expectClose(await f32(st.var), rs.var, 0, 1e-4, 'var');
    });
  }

  it('running statistics after 3 training steps match the reference', async () => {
    const shape = [3, 4, 5, 5];
    const C = 4;
    const rm = Tensor.from(new Float32Array(C), [C]);
    const rv = Tensor.from(new Float32Array(C).fill(1), [C]);
    const gamma = Tensor.from(rand(C, 31, 0.5, 1.5), [C]);
    const beta = Tensor.from(rand(C, 32), [C]);
    let refM: ArrayLike<number> = new Float32Array(C);
    let refV: ArrayLike<number> = new Float32Array(C).fill(1);
    for (let step = 0; step < 3; step++) {
      const xs = rand(numel(shape), 40 + step, -1 + step, 2 + 2 * step);
      Engine.get().tidy(() => batchNorm2d(Tensor.from(xs, shape), gamma, beta, rm, rv, { training: true }));
      const s = refBatchStats(xs, shape);
      ({ runningMean: refM, runningVar: refV } = refUpdateRunningStats(refM, refV, s.mean, s.var, 3 * 25, 0.1));
    }
    expectClose(await f32(rm), refM, 1e-6, 1e-5, 'running mean');
    expectClose(await f32(rv), refV, 1e-6, 1e-5, 'running var');
  });

  it('updateRunningStats updates in place and rejects count < 2', async () => {
    const C = 5;
    const [a, b, m, v] = [rand(C, 1), rand(C, 2, 0.1, 1), rand(C, 3), rand(C, 4, 0.1, 1)];
    const rm = Tensor.from(a, [C]);
    const rv = Tensor.from(b, [C]);
    updateRunningStats(rm, rv, Tensor.from(m, [C]), Tensor.from(v, [C]), 10, 0.3);
    const ref = refUpdateRunningStats(a, b, m, v, 10, 0.3);
    expectClose(await f32(rm), ref.runningMean, 1e-6, 1e-6, 'running mean');
    expectClose(await f32(rv), ref.runningVar, 1e-6, 1e-6, 'running var');
    expect(() => updateRunningStats(rm, rv, rm, rv, 1, 0.1)).toThrow(/count must be at least 2/);
  });

  for (const training of [true, false]) {
    for (const shape of [[3, 4, 5, 5], [2, 3, 8, 4], [16, 5], [2, 2, 10, 12]]) {
      it(`backward (${training ? 'training' : 'eval'}) matches the reference, [${shape}]`, async () => {
        const C = shape[1];
        const xs = rand(numel(shape), 51, -2, 2);
        const gys = rand(numel(shape), 52);
        const gam = rand(C, 53, 0.5, 1.5);
        const rm0 = rand(C, 54, -0.2, 0.2);
        const rv0 = rand(C, 55, 0.5, 1.5);
        const e = Engine.get();
        const got = await e.tidyAsync(async () => {
          const x = Tensor.from(xs, shape);
          const gamma = Tensor.from(gam, [C]);
          const beta = Tensor.from(rand(C, 56), [C]);
          for (const t of [x, gamma, beta]) t.requiresGrad = true;
          const y = batchNorm2d(x, gamma, beta, Tensor.from(rm0, [C]), Tensor.from(rv0, [C]), { training });
          backward(y, Tensor.from(gys, shape));
          return { dx: await f32(x.grad!), dg: await f32(gamma.grad!), db: await f32(beta.grad!) };
        });
        const st = training ? refBatchStats(xs, shape) : { mean: rm0, var: rv0 };
        const invstd = Array.from(st.var, (v) => 1 / Math.sqrt(v + 1e-5));
        const ref = refBatchNorm2dBackward(xs, shape, gam, gys, st.mean, invstd, training);
        expectClose(got.dx, ref.dx, 1e-5, 1e-4, 'dx');
        expectClose(got.dg, ref.dgamma, 1e-4, 1e-4, 'dgamma');
        expectClose(got.db, ref.dbeta, 1e-4, 1e-4, 'dbeta');
      });
    }
  }

  it('gradient checks: x, gamma, beta in training and eval mode', async () => {
    const shape = [2, 3, 3, 3];
    const C = 3;
    const rm = Tensor.from(rand(C, 61, -0.1, 0.1), [C]);
    const rv = Tensor.from(rand(C, 62, 0.5, 1.5), [C]);
    Engine.get().keep(rm);
    Engine.get().keep(rv);
    const inputs = [
      { data: rand(numel(shape), 63, -2, 2), shape },
      { data: rand(C, 64, 0.5, 1.5), shape: [C] },
      { data: rand(C, 65), shape: [C] },
    ];
    await gradCheck((x, g, b) => batchNorm2d(x, g, b, rm, rv, { training: true }), inputs);
    await gradCheck((x, g, b) => batchNorm2d(x, g, b, rm, rv, { training: false }), inputs);
    // [N, C] input, x only (gamma and beta then get no gradient).
    const flat = [{ data: rand(12, 66, -2, 2), shape: [4, 3] }, inputs[1], inputs[2]];
    await gradCheck((x, g, b) => batchNorm2d(x, g, b, rm, rv, { training: true }), flat, { which: [0] });
    // Only some inputs need a gradient: eval x only (no reduction), training gamma and beta only.
    await gradCheck((x, g, b) => batchNorm2d(x, g, b, rm, rv, { training: false }), inputs, { which: [0] });
    await gradCheck((x, g, b) => batchNorm2d(x, g, b, rm, rv, { training: true }), inputs, { which: [1, 2] });
  });

  it('gradient checks: batchStats mean and variance', async () => {
    const x = [{ data: rand(2 * 3 * 2 * 5, 71, -2, 2), shape: [2, 3, 2, 5] }];
    await gradCheck((t) => batchStats(t).mean, x);
    await gradCheck((t) => batchStats(t).var, x);
    // Both outputs of one call feed the loss: their gradients add up in x.
    await gradCheck((t) => {
      const s = batchStats(t);
      return mul(s.mean, s.var);
    }, x);
  });

  it('rejects bad shapes and single-value training batches with clear errors', () => {
    const x = Tensor.from(rand(2 * 3 * 4, 81), [2, 3, 4]);
    const c3 = Tensor.from(new Float32Array(3), [3]);
    const c2 = Tensor.from(new Float32Array(2), [2]);
    expect(() => batchNorm2d(x, c3, c3, c3, c3, { training: true })).toThrow(/\[N, C, H, W\] or \[N, C\]/);
    const x4 = Tensor.from(rand(6, 82), [2, 3, 1, 1]);
    expect(() => batchNorm2d(x4, c2, c3, c3, c3, { training: true })).toThrow(/gamma must be an f32 tensor of 3 values/);
    const one = Tensor.from(rand(3, 83), [1, 3]);
    expect(() => batchNorm2d(one, c3, c3, c3, c3, { training: true })).toThrow(/more than one value per channel/);
  });
});
