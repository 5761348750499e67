import { it, expect } from 'vitest';
import { gpuDescribe, rand, expectClose, expectExact, gradCheck } from '../helpers.js';
import { Engine } from '../../src/runtime/engine.js';
import { Tensor } from '../../src/tensor.js';
import { backward } from '../../src/autograd/tape.js';
import { softmaxCrossEntropy, topkCorrect, argmax } from '../../src/ops/loss.js';
import { refSoftmaxCrossEntropy, refSoftmaxCrossEntropyGrad, refTopkCorrect, refArgmax } from '../../src/ops/loss.ref.js';

function labelsFor(N: number, K: number, seed: number): Int32Array {
  return Int32Array.from(rand(N, seed, 0, K), (v) => Math.min(K - 1, Math.floor(v)));
}

/** Logits with many ties: values on a coarse grid. */
function tiedLogits(n: number, seed: number): Float32Array {
  return rand(n, seed, 0, 4).map((v) => Math.floor(v));
}

gpuDescribe('loss', () => {
  const sizes: [number, number][] = [
    [1, 1],
    [7, 10],
    [1023, 7],
    [100003, 3],
    [33, 1000],
  ];
  for (const [N, K] of sizes) {
    for (const eps of [0, 0.1]) {
      it(`softmaxCrossEntropy and its gradient match float64, N=${N} K=${K} eps=${eps}`, async () => {
        const x = rand(N * K, N + K, -4, 4);
        const lab = labelsFor(N, K, N * 3 + K);
        const e = Engine.get();
        await e.tidyAsync(async () => {
          const xt = Tensor.from(x, [N, K]);
          xt.requiresGrad = true;
          const loss = softmaxCrossEntropy(xt, Tensor.from(lab, [N]), { labelSmoothing: eps });
          expect(loss.shape).toEqual([1]);
          expectClose([await loss.item()], [refSoftmaxCrossEntropy(x, lab, N, K, eps)], 1e-5, 1e-5, 'loss');
          backward(loss);
          expectClose(await xt.grad!.read(), refSoftmaxCrossEntropyGrad(x, lab, N, K, eps), 1e-6 / N, 1e-4, 'grad');
          xt.grad!.dispose();
        });
      });
    }
  }

  it('is stable for huge logits', async () => {
    const N = 4;
    const K = 5;
    const x = rand(N * K, 5, -3, 3).map((v, i) => v + (i % 2 ? 1e4 : -1e4));
    const lab = Int32Array.from([1, 0, 3, 4]);
    const loss = await softmaxCrossEntropy(Tensor.from(x, [N, K]), Tensor.from(lab, [N])).item();
    expect(Number.isFinite(loss)).toBe(true);
    expectClose([loss], [refSoftmaxCrossEntropy(x, lab, N, K)], 1e-2, 1e-5, 'loss');
  });

  it('makes the loss and the gradient rows NaN for labels outside [0, K)', async () => {
    const N = 3;
    const K = 4;
    const x = rand(N * K, 6);
    for (const bad of [-1, K, 1 << 30]) {
      const e = Engine.get();
      await e.tidyAsync(async () => {
        const xt = Tensor.from(x, [N, K]);
        xt.requiresGrad = true;
        const loss = softmaxCrossEntropy(xt, Tensor.from(Int32Array.from([0, bad, 2]), [N]));
        expect(Number.isNaN(await loss.item())).toBe(true);
        backward(loss);
        const g = await xt.grad!.read();
        expect([...g.slice(K, 2 * K)].every(Number.isNaN)).toBe(true);
        expect([...g.slice(0, K), ...g.slice(2 * K)].some(Number.isNaN)).toBe(false);
        xt.grad!.dispose();
      });
    }
  });

  it('gradient check (tiny), with and without smoothing', async () => {
    const lab = Tensor.from(Int32Array.from([2, 0, 4]), [3]);
    const x = { data: rand(15, 11, -2, 2), shape: [3, 5] };
    await gradCheck((a) => softmaxCrossEntropy(a, lab), [x], { eps: 1e-2, atol: 1e-3 });
    await gradCheck((a) => softmaxCrossEntropy(a, lab, { labelSmoothing: 0.1 }), [x], { eps: 1e-2, atol: 1e-3 });
  });

  for (const [N, K] of [[1, 1], [7, 10], [1023, 7], [2000, 1000]] as const) {
    it(`topkCorrect and argmax match the reference with ties, N=${N} K=${K}`, async () => {
      const x = tiedLogits(N * K, N + 2 * K);
      const lab = labelsFor(N, K, K);
      const xt = Tensor.from(x, [N, K]);
      const lt = Tensor.from(lab, [N]);
      for (const k of [1, 2, 5, K + 3]) {
        const got = topkCorrect(xt, lt, k);
        expect(got.dtype).toBe('i32');
        expect(await got.item()).toBe(refTopkCorrect(x, lab, N, K, k));
      }
      expectExact(await argmax(xt).read(), refArgmax(x, N, K), 'argmax');
    });
  }

  it('topkCorrect: ties go to the lower index; bad labels and NaN label logits never count', async () => {
    const x = Float32Array.from([1, 3, 3, 0, /* */ 3, 3, 3, 3, /* */ 1, NaN, 2, 0, /* */ 1, 2, 3, 4]);
    const xt = Tensor.from(x, [4, 4]);
    // Row 0: label 2 ties with index 1 -> one ahead; row 1: label 3, three equal ahead;
    // row 2: label 1 is NaN; row 3: label 7 is out of range.
    const lab = Int32Array.from([2, 3, 1, 7]);
    const lt = Tensor.from(lab, [4]);
    expect(await topkCorrect(xt, lt, 1).item()).toBe(0);
    expect(await topkCorrect(xt, lt, 2).item()).toBe(1);
    expect(await topkCorrect(xt, lt, 4).item()).toBe(2);
    expect(await topkCorrect(xt, lt, 4).item()).toBe(refTopkCorrect(x, lab, 4, 4, 4));
    expectExact(await argmax(xt).read(), Int32Array.from([1, 0, 2, 3]), 'argmax');
    expectExact(await argmax(Tensor.from(Float32Array.from([NaN, NaN, NaN, -5]), [2, 2])).read(), Int32Array.from([0, 1]), 'argmax NaN');
  });

  it('rejects bad shapes, dtypes and k with messages naming them', () => {
    const x = Tensor.from(new Float32Array(12), [3, 4]);
    expect(() => softmaxCrossEntropy(x, Tensor.from(new Int32Array(4), [4]))).toThrow(/labels \[4\] do not match logits \[3, 4\]/);
    expect(() => softmaxCrossEntropy(x, Tensor.from(new Float32Array(3), [3]))).toThrow(/labels must be i32/);
    expect(() => softmaxCrossEntropy(x.reshape([12]), Tensor.from(new Int32Array(3), [3]))).toThrow(/logits must be \[N,K\], got \[12\]/);
    expect(() => topkCorrect(x, Tensor.from(new Int32Array(3), [3]), 0)).toThrow(/k must be a positive integer/);
    expect(() => softmaxCrossEntropy(x, Tensor.from(new Int32Array(3), [3]), { labelSmoothing: 2 })).toThrow(/labelSmoothing/);
  });
});
