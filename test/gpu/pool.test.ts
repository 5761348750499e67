import { it, expect } from 'vitest';
import { gpuDescribe, rand, expectClose, expectExact, gradCheck } from '../helpers.js';
import { Engine } from '../../src/runtime/engine.js';
import { Tensor } from '../../src/tensor.js';
import { backward } from '../../src/autograd/tape.js';
import { maxPool2d, avgPool2d, globalAvgPool, poolOutputShape, type Pool2dOptions } from '../../src/ops/pool.js';
import {
  refMaxPool2d, refMaxPool2dBackward, refAvgPool2d, refAvgPool2dBackward, refGlobalAvgPool, refGlobalAvgPoolBackward,
  type RefPoolOptions,
} from '../../src/ops/pool.ref.js';

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const two = (v: number | readonly [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);
const refOpts = (o: Pool2dOptions, countIncludePad?: boolean): RefPoolOptions => ({
  kernel: two(o.kernel), stride: two(o.stride ?? o.kernel), padding: two(o.padding ?? 0), countIncludePad,
});

/** Distinct values 0.05 apart in shuffled order: no ties, and +-eps never changes a maximum. */
function distinct(n: number, seed: number): Float32Array {
  const r = rand(n, seed);
  const order = [...r.keys()].sort((a, b) => r[a] - r[b]);
  const out = new Float32Array(n);
  order.forEach((j, k) => (out[j] = (k - n / 2) * 0.05));
  return out;
}

/** Forward y and, through the tape, the gradient of sum(y * gy). */
async function fwdBwd(f: (x: Tensor) => Tensor, xs: Float32Array, shape: number[], gySeed: number): Promise<{ y: Float32Array; gx: Float32Array; gy: Float32Array }> {
  return Engine.get().tidyAsync(async () => {
    const x = Tensor.from(xs, shape);
    x.requiresGrad = true;
    const y = f(x);
    const gy = rand(y.size, gySeed);
    backward(y, Tensor.from(gy, y.shape));
    const gx = (await x.grad!.read()) as Float32Array;
    x.grad!.dispose();
    return { y: (await y.read()) as Float32Array, gx, gy };
  });
}

const cases: [number[], Pool2dOptions][] = [
  [[2, 3, 9, 11], { kernel: 3, stride: 2, padding: 1 }],
  [[1, 2, 8, 8], { kernel: 2, stride: 2 }],
  [[1, 1, 7, 7], { kernel: 2 }],
  [[2, 2, 7, 10], { kernel: [3, 2], stride: [2, 1], padding: [1, 0] }],
  [[1, 3, 5, 6], { kernel: 1, stride: 1 }],
  [[1, 2, 5, 5], { kernel: 3, stride: 1, padding: 1 }],
  [[1, 2, 11, 8], { kernel: 2, stride: 3 }],
  [[1, 1, 6, 9], { kernel: [5, 4], stride: [1, 2], padding: [2, 2] }],
  [[4, 16, 32, 32], { kernel: 3, stride: 2, padding: 1 }],
];

gpuDescribe('pool', () => {
  for (const [shape, opts] of cases) {
    it(`max pool forward and backward match the reference, [${shape}] ${JSON.stringify(opts)}`, async () => {
      const xs = rand(numel(shape), 3, -2, 2);
      const ref = refMaxPool2d(xs, shape, refOpts(opts));
      expect(poolOutputShape(shape, opts)).toEqual([shape[0], shape[1], ref.dims.OH, ref.dims.OW]);
      const noGradY = maxPool2d(Tensor.from(xs, shape), opts);
      expectExact((await noGradY.read()) as Float32Array, ref.y, 'y without indices');
      const got = await fwdBwd((x) => maxPool2d(x, opts), xs, shape, 4);
      expectExact(got.y, ref.y, 'y');
      expectClose(got.gx, refMaxPool2dBackward(got.gy, ref.idx, ref.dims), 1e-6, 1e-6, 'gx');
    });

    for (const countIncludePad of [true, false]) {
      it(`avg pool (countIncludePad ${countIncludePad}) matches the reference, [${shape}] ${JSON.stringify(opts)}`, async () => {
        const xs = rand(numel(shape), 5, -2, 2);
        const o = { ...opts, countIncludePad };
        const got = await fwdBwd((x) => avgPool2d(x, o), xs, shape, 6);
        expectClose(got.y, refAvgPool2d(xs, shape, refOpts(opts, countIncludePad)).y, 1e-6, 1e-5, 'y');
        expectClose(got.gx, refAvgPool2dBackward(got.gy, shape, refOpts(opts, countIncludePad)), 1e-6, 1e-5, 'gx');
      });
    }
  }

  it('avg pool counts padding by default (PyTorch count_include_pad)', async () => {
    const x = Tensor.from(new Float32Array(9).fill(1), [1, 1, 3, 3]);
    const y = (await avgPool2d(x, { kernel: 3, stride: 1, padding: 1 }).read()) as Float32Array;
    expectClose(y, [4 / 9, 6 / 9, 4 / 9, 6 / 9, 1, 6 / 9, 4 / 9, 6 / 9, 4 / 9], 1e-7, 1e-6, 'corners');
  });

  it('max pool routes ties to the first maximum in row-major scan order', async () => {
    const shape = [2, 3, 9, 10];
    // Few distinct levels: most windows hold ties.
    const xs = rand(numel(shape), 7, 0, 3).map(Math.floor);
    for (const opts of [{ kernel: 3, stride: 2, padding: 1 }, { kernel: 2, stride: 1 }] as Pool2dOptions[]) {
      const ref = refMaxPool2d(xs, shape, refOpts(opts));
      const got = await fwdBwd((x) => maxPool2d(x, opts), xs, shape, 8);
      expectExact(got.y, ref.y, 'y');
      expectClose(got.gx, refMaxPool2dBackward(got.gy, ref.idx, ref.dims), 1e-6, 1e-6, 'gx');
    }
  });

  for (const shape of [[2, 3, 7, 7], [3, 5, 4, 4], [1, 1, 1, 1], [2, 4, 32, 32], [1, 2, 3, 5]]) {
    it(`global average pool matches the reference, [${shape}]`, async () => {
      const xs = rand(numel(shape), 9, -2, 2);
      const got = await fwdBwd(globalAvgPool, xs, shape, 10);
      expectClose(got.y, refGlobalAvgPool(xs, shape), 1e-6, 1e-5, 'y');
      expectClose(got.gx, refGlobalAvgPoolBackward(got.gy, shape), 1e-7, 1e-6, 'gx');
    });
  }

  it('gradient checks: max pool (no ties), avg pool, global average pool', async () => {
    const shape = [2, 2, 5, 6];
    const x = [{ data: distinct(numel(shape), 11), shape }];
    await gradCheck((t) => maxPool2d(t, { kernel: 3, stride: 2, padding: 1 }), x);
    await gradCheck((t) => maxPool2d(t, { kernel: 2, stride: 2 }), x);
    await gradCheck((t) => avgPool2d(t, { kernel: 3, stride: 2, padding: 1 }), x);
    await gradCheck((t) => avgPool2d(t, { kernel: [3, 2], stride: [1, 2], padding: [1, 1], countIncludePad: false }), x);
    await gradCheck(globalAvgPool, x);
  });

  it('rejects padding above half the kernel and other bad options with clear errors', () => {
    const x = Tensor.from(rand(2 * 8 * 8, 12), [1, 2, 8, 8]);
    expect(() => maxPool2d(x, { kernel: 3, stride: 2, padding: 2 })).toThrow(/maxPool2d: padding 2x2 exceeds half the kernel 3x3/);
    expect(() => avgPool2d(x, { kernel: [2, 4], padding: [1, 3] })).toThrow(/avgPool2d: padding 1x3 exceeds half the kernel 2x4/);
    expect(() => maxPool2d(x, { kernel: 9 })).toThrow(/smaller than the kernel/);
    expect(() => maxPool2d(x, { kernel: 2, stride: 0 })).toThrow(/stride must be an integer >= 1/);
    expect(() => maxPool2d(Tensor.from(rand(8, 13), [2, 4]), { kernel: 2 })).toThrow(/\[N, C, H, W\]/);
    expect(() => globalAvgPool(Tensor.from(rand(8, 13), [2, 4]))).toThrow(/\[N, C, H, W\]/);
  });
});
