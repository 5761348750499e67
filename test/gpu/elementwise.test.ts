import { it, expect } from 'vitest';
import { gpuDescribe, rand, expectClose, gradCheck } from '../helpers.js';
import { Engine } from '../../src/runtime/engine.js';
import { Tensor } from '../../src/tensor.js';
import { add, sub, mul, affine, clamp, relu, full, reshape } from '../../src/ops/elementwise.js';
import { refAxpby, refMul, refAffine, refClamp } from '../../src/ops/elementwise.ref.js';
import { backward, record, ZERO_GRAD } from '../../src/autograd/tape.js';

gpuDescribe('elementwise', () => {
  // 1 and 1027 are not multiples of 4 (vec4 lanes) nor of the workgroup.
  for (const n of [1, 7, 1027, 70001]) {
    it(`forward matches the CPU reference, n=${n}`, async () => {
      const a = rand(n, 1);
      const b = rand(n, 2);
      const ta = Tensor.from(a, [n]);
      const tb = Tensor.from(b, [n]);
      expectClose(await add(ta, tb).read(), refAxpby(a, b, 1, 1), 0, 0, 'add');
      expectClose(await sub(ta, tb).read(), refAxpby(a, b, 1, -1), 0, 0, 'sub');
      expectClose(await mul(ta, tb).read(), refMul(a, b), 0, 0, 'mul');
      expectClose(await affine(ta, 0.5, -2).read(), refAffine(a, 0.5, -2), 0, 1e-7, 'affine');
      expectClose(await clamp(ta, -0.25, 0.5).read(), refClamp(a, -0.25, 0.5), 0, 0, 'clamp');
      expectClose(await relu(ta).read(), refClamp(a, 0, Infinity), 0, 0, 'relu');
    });
  }

  it('fills and reshapes', async () => {
    const t = full([3, 5], 2.5);
    expect([...(await t.read())]).toEqual(new Array(15).fill(2.5));
    expect(reshape(t, [5, 3]).shape).toEqual([5, 3]);
    expect(() => reshape(t, [4, 4])).toThrow(/15 vs 16 elements/);
  });

  it('rejects mismatched shapes with a message naming them', () => {
    expect(() => add(Tensor.from(new Float32Array(6), [2, 3]), Tensor.from(new Float32Array(6), [3, 2]))).toThrow(/add: shapes \[2, 3\] and \[3, 2\] differ/);
  });

  it('gradients: add, sub, mul, affine, clamp', async () => {
    const x = { data: rand(13, 3), shape: [13] };
    const y = { data: rand(13, 4), shape: [13] };
    await gradCheck((a, b) => add(a, b), [x, y]);
    await gradCheck((a, b) => sub(a, b), [x, y]);
    await gradCheck((a, b) => mul(a, b), [x, y]);
    await gradCheck((a) => affine(a, -1.5, 3), [x]);
    // Keep the points away from the kinks so that finite differences are valid.
    const z = { data: rand(13, 5).map((v) => (Math.abs(v) < 0.05 ? v + 0.2 : Math.abs(v - 0.5) < 0.05 ? v + 0.2 : v)), shape: [13] };
    await gradCheck((a) => clamp(a, 0, 0.5), [z]);
    await gradCheck((a) => mul(reshape(a, [13, 1]), reshape(a, [13, 1])), [x]);
  });

  it('accumulates gradients into leaves and keeps them out of scopes', async () => {
    const e = Engine.get();
    const x = Tensor.from(new Float32Array([1, 2, 3]), [3]);
    x.requiresGrad = true;
    for (let i = 0; i < 2; i++) {
      e.tidy(() => {
        const y = add(x, x);
        backward(y, full([3], 1));
      });
    }
    expect([...(await x.grad!.read())]).toEqual([4, 4, 4]);
  });
});

gpuDescribe('integer counters', () => {
  it('adds i32 tensors exactly, including negative values and odd sizes', async () => {
    const a = Int32Array.from([1, -5, 2147483000, 7, 9]);
    const b = Int32Array.from([2, -7, 600, -8, 0]);
    const { addInt } = await import('../../src/ops/elementwise.js');
    const got = await addInt(Tensor.from(a, [5], 'i32'), Tensor.from(b, [5], 'i32')).read();
    expect([...got]).toEqual([3, -12, 2147483600, -1, 9]);
  });
});

gpuDescribe('learned scales', () => {
  it('scaleByTensor and its inverse: values and gradients w.r.t. both inputs', async () => {
    const { scaleByTensor, powAffine } = await import('../../src/ops/elementwise.js');
    const x = rand(11, 9);
    const s = Tensor.from(new Float32Array([0.8]), [1]);
    expectClose(await scaleByTensor(Tensor.from(x, [11]), s).read(), x.map((v) => v * 0.8), 1e-7, 1e-6, 'x*s');
    expectClose(await scaleByTensor(Tensor.from(x, [11]), s, true).read(), x.map((v) => v / 0.8), 1e-7, 1e-6, 'x/s');
    const ins = [{ data: x, shape: [11] }, { data: new Float32Array([0.8]), shape: [1] }];
    await gradCheck((a, b) => scaleByTensor(a, b), ins, { eps: 1e-3, atol: 5e-3, rtol: 5e-3 });
    await gradCheck((a, b) => scaleByTensor(a, b, true), ins, { eps: 1e-3, atol: 5e-3, rtol: 5e-3 });
    const v = rand(7, 10, 0.2, 2);
    expectClose(await powAffine(Tensor.from(v, [7]), 3, -0.5).read(), v.map((t) => (3 * t) ** -0.5), 1e-6, 1e-5, 'pow');
    await gradCheck((a) => powAffine(a, 3, -0.5), [{ data: v, shape: [7] }], { eps: 1e-3, atol: 5e-3, rtol: 5e-3 });
  });
  it('pow2Diff is 2^(a - b) exactly, for negative, zero and large differences and sizes not a multiple of 4', async () => {
    const { pow2Diff } = await import('../../src/ops/elementwise.js');
    const a = Int32Array.of(6, 0, -3, 20, 7, 1, 0);
    const b = Int32Array.of(4, 0, 5, -10, 7, 9, 30);
    const got = await pow2Diff(Tensor.from(a, [7], 'i32'), Tensor.from(b, [7], 'i32')).read();
    expect(Array.from(got)).toEqual(Array.from(a, (v, i) => 2 ** (v - b[i])));
  });
});


gpuDescribe('tape: ZERO_GRAD', () => {
  it("runs the input's node with a zero when nothing else arrives, and adds nothing when something does", async () => {
    const e = Engine.get();
    const x = Object.assign(Tensor.from(Float32Array.of(1, 2, 3), [3]), { requiresGrad: true });
    const got = await e.tidyAsync(async () => {
      // k = 2x; out = record(copy of k) whose backward hands k only ZERO_GRAD.
      const k = affine(x, 2);
      const alone = record(affine(k, 1), 'zero-only', [k], () => [ZERO_GRAD]);
      backward(alone, full([3], 1));
      const g1 = Array.from(await x.grad!.read());
      x.grad!.dispose();
      x.grad = null;
      // Now k also feeds a second output: its real gradient (3 per element, times 2 through k) is kept as it is.
      const both = add(record(affine(k, 1), 'zero-only', [k], () => [ZERO_GRAD]), affine(k, 3));
      backward(both, full([3], 1));
      return [g1, Array.from(await x.grad!.read())];
    });
    expect(got[0]).toEqual([0, 0, 0]);
    expect(got[1]).toEqual([6, 6, 6]);
  });
});
