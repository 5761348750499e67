import { it, expect } from 'vitest';
import { gpuDescribe, rand, expectClose, gradCheck } from '../helpers.js';
import { Tensor } from '../../src/tensor.js';
import { foldBn, foldPlain, quantizeBias } from '../../src/ops/fold.js';
import { refFoldBn, refFoldPlain, refQuantizeBias } from '../../src/ops/fold.ref.js';
import { add, affine } from '../../src/ops/elementwise.js';

gpuDescribe('conv-BN folding', () => {
  const o = 67; // not a multiple of the workgroup
  const gamma = rand(o, 1, 0.5, 1.5);
  const beta = rand(o, 2, -0.5, 0.5);
  const mean = rand(o, 3, -1, 1);
  const variance = rand(o, 4, 0.2, 2);
  it('matches the reference', async () => {
    const t = (a: Float32Array) => Tensor.from(a, [a.length]);
    const { k, b } = foldBn(t(gamma), t(beta), t(mean), t(variance), t(new Float32Array([0.75])), t(new Float32Array([1.5])), 1e-5);
    const ref = refFoldBn(gamma, beta, mean, variance, 0.75, 1.5, 1e-5);
    expectClose(await k.read(), ref.k, 1e-6, 1e-5, 'k');
    expectClose(await b.read(), ref.b, 1e-6, 1e-5, 'b');
    const p = foldPlain(t(beta), t(new Float32Array([0.75])), t(new Float32Array([1.5])));
    const rp = refFoldPlain(beta, 0.75, 1.5);
    expectClose(await p.k.read(), rp.k, 1e-7, 1e-6, 'plain k');
    expectClose(await p.b.read(), rp.b, 1e-7, 1e-6, 'plain b');
  });
  it('gradients w.r.t. gamma, beta, mean, var, s_in and s_next', async () => {
    const n = 5;
    const ins = [rand(n, 5, 0.5, 1.5), rand(n, 6), rand(n, 7), rand(n, 8, 0.5, 2), new Float32Array([0.8]), new Float32Array([1.3])];
    await gradCheck(
      (g, be, m, v, si, sn) => {
        const { k, b } = foldBn(g, be, m, v, si, sn, 1e-5);
        return add(k, affine(b, 2));
      },
      ins.map((d) => ({ data: d, shape: [d.length] })),
      { eps: 1e-3, atol: 5e-3, rtol: 5e-3 },
    );
    await gradCheck(
      (bias, si, sn) => {
        const { k, b } = foldPlain(bias, si, sn);
        return add(k, affine(b, -3));
      },
      [ins[1], ins[4], ins[5]].map((d) => ({ data: d, shape: [d.length] })),
      { eps: 1e-3, atol: 5e-3, rtol: 5e-3 },
    );
  });
});

gpuDescribe('conv-BN folding with per-channel output scalings', () => {
  it('values and gradients when s_next has one value per output channel', async () => {
    const n = 5;
    const sn = rand(n, 11, 0.5, 2);
    const ins = [rand(n, 5, 0.5, 1.5), rand(n, 6), rand(n, 7), rand(n, 8, 0.5, 2), new Float32Array([0.8]), sn];
    const t = (a: Float32Array) => Tensor.from(a, [a.length]);
    const { k, b } = foldBn(t(ins[0]), t(ins[1]), t(ins[2]), t(ins[3]), t(ins[4]), t(sn), 1e-5);
    const ref = refFoldBn(ins[0], ins[1], ins[2], ins[3], 0.8, sn, 1e-5);
    expectClose(await k.read(), ref.k, 1e-6, 1e-5, 'k');
    expectClose(await b.read(), ref.b, 1e-6, 1e-5, 'b');
    await gradCheck(
      (g, be, m, v, si, s) => {
        const r = foldBn(g, be, m, v, si, s, 1e-5);
        return add(r.k, affine(r.b, 2));
      },
      ins.map((d) => ({ data: d, shape: [d.length] })),
      { eps: 1e-3, atol: 5e-3, rtol: 5e-3 },
    );
    await gradCheck(
      (bias, si, s) => {
        const r = foldPlain(bias, si, s);
        return add(r.k, affine(r.b, -3));
      },
      [ins[1], ins[4], sn].map((d) => ({ data: d, shape: [d.length] })),
      { eps: 1e-3, atol: 5e-3, rtol: 5e-3 },
    );
  });
  it('quantizeBias puts the bias on the accumulator grid exactly (ties to even, negatives, per-channel fl_w)', async () => {
    // Ties at the grid's half steps, negative ties, values far below and far above the grid.
    const b = Float32Array.from([0.5 / 16, 1.5 / 16, -0.5 / 16, -1.5 / 16, 2.5 / 16, -2.5 / 16, 1e-9, -3.3, 123.456, ...rand(58, 9, -4, 4)]);
    const i32 = (...v: number[]) => Tensor.from(Int32Array.from(v), [v.length]);
    for (const [flIn, flW] of [[[1], [3]], [[0], [4]], [[5], Array.from({ length: b.length }, (_, o) => o % 8)], [[2, 6, 3], [1]]] as const) {
      const y = await quantizeBias(Tensor.from(b, [b.length]), i32(...flIn), i32(...flW)).read();
      const ref = refQuantizeBias(b, [...flIn], flW);
      for (let i = 0; i < b.length; i++) if (y[i] !== Math.fround(ref[i])) throw new Error(`quantizeBias[${i}] (fl ${flIn.join('/')}+${flW.length > 1 ? flW[i] : flW[0]}): ${y[i]} vs ${ref[i]}`);
    }
    // The ties above, at fl 4: 0.5 -> 0, 1.5 -> 2, -0.5 -> 0, -1.5 -> -2, 2.5 -> 2, -2.5 -> -2 (in 1/16).
    expect(Array.from(refQuantizeBias(b.slice(0, 6), 1, [3]), (v) => v * 16 + 0)).toEqual([0, 2, 0, -2, 2, -2]);
  });
  it('quantizeBias passes the gradient straight through', async () => {
    await gradCheck((x) => quantizeBias(x, Tensor.from(Int32Array.of(20), [1]), Tensor.from(Int32Array.of(0), [1])), [{ data: rand(6, 10), shape: [6] }]);
  });
});
