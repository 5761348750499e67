import { it, expect } from 'vitest';
import { gpuDescribe, rand, expectClose, gradCheck } from '../helpers.js';
import { Tensor } from '../../src/tensor.js';
import { foldBn, foldBnPaper, foldPlain, quantizeBias } from '../../src/ops/fold.js';
import { refFoldBn, refFoldBnPaper, refPaperFoldWeight, refFoldPlain, refQuantizeBias } from '../../src/ops/fold.ref.js';
import { mulChannel, sum } from '../../src/ops/reduce.js';
import { Engine } from '../../src/runtime/engine.js';
import { backward } from '../../src/autograd/tape.js';
import { scaleByTensor } from '../../src/ops/elementwise.js';
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
  it("the paper's operation order (fold_order paper): t, b and w_f = ((t w) s_in) / s_next equal the f32 reference bit for bit", async () => {
    const t = (a: Float32Array) => Tensor.from(a, [a.length]);
    // A one-ulp difference of w_f decides a weight code where w_f 2^fl_w sits at a half integer:
    // the order is the point of this form, so the comparison is exact.
    const sIn = Math.fround(2 ** 5 * 7.3 / 255);
    const sNext = Math.fround(2 ** 4 * 5.1 / 255);
    const { t: tg, b } = foldBnPaper(t(gamma), t(beta), t(mean), t(variance), t(new Float32Array([sNext])), 1e-5);
    const ref = refFoldBnPaper(gamma, beta, mean, variance, sNext, 1e-5);
    expect(Array.from(await tg.read())).toEqual(ref.t);
    expect(Array.from(await b.read())).toEqual(ref.b);
    const inner = 9;
    const w = rand(o * inner, 5, -0.5, 0.5);
    const wf = scaleByTensor(scaleByTensor(mulChannel(Tensor.from(w, [o, 1, 3, 3]), tg, 0), t(new Float32Array([sIn]))), t(new Float32Array([sNext])), true);
    expect(Array.from(await wf.read())).toEqual(Array.from(refPaperFoldWeight(w, ref.t, sIn, sNext, inner)));
    // Per-channel s_next (a following layer with per-channel input lengths).
    const sn = rand(o, 6, 0.5, 2);
    const pc = foldBnPaper(t(gamma), t(beta), t(mean), t(variance), t(sn), 1e-5);
    expect(Array.from(await pc.b.read())).toEqual(refFoldBnPaper(gamma, beta, mean, variance, sn, 1e-5).b);
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
    // One output alone: b's node passes k a zero, so k's node still runs the one backward.
    for (const which of ['k', 'b'] as const) {
      await gradCheck(
        (g, be, m, v, si, sn) => affine(foldBn(g, be, m, v, si, sn, 1e-5)[which], 1.5),
        ins.map((d) => ({ data: d, shape: [d.length] })),
        { eps: 1e-3, atol: 5e-3, rtol: 5e-3 },
      );
      await gradCheck(
        (bias, si, sn) => affine(foldPlain(bias, si, sn)[which], -2),
        [ins[1], ins[4], ins[5]].map((d) => ({ data: d, shape: [d.length] })),
        { eps: 1e-3, atol: 5e-3, rtol: 5e-3 },
      );
    }
  });

  it('one backward pass for both outputs: 3 fold kernels, no zero fill and no tape sum', async () => {
    const n = 5;
    const e = Engine.get();
    if (!e.canTimeGpu) return; // the dispatch count comes from the per-dispatch GPU timing
    const leaf = (d: Float32Array, shape = [n]) => Object.assign(Tensor.from(d, shape), { requiresGrad: true });
    const [g, be, m, v] = [rand(n, 5, 0.5, 1.5), rand(n, 6), rand(n, 7), rand(n, 8, 0.5, 2)].map((d) => leaf(d));
    const si = leaf(Float32Array.of(0.8), [1]);
    const sn = leaf(Float32Array.of(1.3), [1]);
    const labels = await e.tidyAsync(async () => {
      const { k, b } = foldBn(g, be, m, v, si, sn, 1e-5);
      const loss = add(k, affine(b, 2));
      e.beginGpuTiming({ perDispatch: true });
      backward(sum(loss));
      return [...(await e.endGpuTiming()).byLabel.entries()];
    });
    const count = (re: RegExp) => labels.filter(([l]) => re.test(l)).reduce((a, [, t]) => a + t.count, 0);
    expect(count(/^fold\.fold_bn_(backward|backward_shift|scalars)/)).toBe(3);
    // b's node hands k ZERO_GRAD, and k has a gradient of its own: no zero, no tape sum.
    expect(count(/^elementwise\.axpby/)).toBe(0);
    expect(count(/^elementwise\.fill/)).toBe(1); // the scalar loss's seed
    for (const t of [g, be, m, v, si, sn]) expect(t.grad).toBeTruthy();
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
