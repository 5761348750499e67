import { it, expect } from 'vitest';
import { gpuDescribe, rand, expectClose, gradCheck } from '../helpers.js';
import { Tensor } from '../../src/tensor.js';
import { matmul, linear, matmulTiles } from '../../src/ops/matmul.js';
import { refMatmul, refLinear } from '../../src/ops/matmul.ref.js';

const TRANSPOSES = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
] as const;

/** f32 dot products of length K with inputs in [-1, 1] vs float64. */
const atolFor = (K: number) => 2e-6 * Math.max(1, K);

gpuDescribe('matmul', () => {
  // [M, N, K]: 1x1x1, a row vector (1xK), a column result (Kx1), odd sizes below, at and past
  // the 16x128 workgroup tile, N % 4 == 0 (vec4 loads of B) and != 0.
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [1, 29, 37],
    [37, 1, 29],
    [17, 23, 31],
    [16, 128, 8],
    [33, 132, 65],
    [100, 301, 70],
    [3, 5, 0],
  ];
  for (const [M, N, K] of shapes) {
    it(`matches float64 for M=${M} N=${N} K=${K}, all transposes`, async () => {
      for (const [tA, tB] of TRANSPOSES) {
        const a = rand(M * K, M + 7 * K);
        const b = rand(K * N, N + 3 * K);
        const ta = Tensor.from(a, tA ? [K, M] : [M, K]);
        const tb = Tensor.from(b, tB ? [N, K] : [K, N]);
        const c = matmul(ta, tb, { transA: tA, transB: tB });
        expect(c.shape).toEqual([M, N]);
        expectClose(await c.read(), refMatmul(a, b, M, N, K, tA, tB), atolFor(K), 1e-5, `transA=${tA} transB=${tB}`);
      }
    });
  }

  it('every register tile variant agrees with the reference', async () => {
    const saved = { ...matmulTiles() };
    const [M, N, K] = [19, 44, 13];
    const a = rand(M * K, 1);
    const b = rand(K * N, 2);
    try {
      for (const TM of [4, 8, 16]) {
        for (const TN of [4, 8]) {
          // B4 only changes the kernel where B is not transposed.
          for (const [tA, tB, B4] of [...TRANSPOSES.map(([p, q]) => [p, q, true] as const), [false, false, false] as const]) {
            Object.assign(matmulTiles(), { TM, TN, WGX: 8, B4 });
            const c = matmul(Tensor.from(a, tA ? [K, M] : [M, K]), Tensor.from(b, tB ? [N, K] : [K, N]), { transA: tA, transB: tB });
            expectClose(await c.read(), refMatmul(a, b, M, N, K, tA, tB), atolFor(K), 1e-5, `TM=${TM} TN=${TN} B4=${B4} tA=${tA} tB=${tB}`);
          }
        }
      }
    } finally {
      Object.assign(matmulTiles(), saved);
    }
  });

  it('the shared-memory tiled kernel (SMEM) agrees with the reference: edges, transposes, bias, K past one step', async () => {
    const saved = { ...matmulTiles() };
    try {
      Object.assign(matmulTiles(), { SMEM: true });
      for (const [M, N, K] of [[1, 1, 1], [19, 44, 13], [65, 130, 33], [128, 64, 16], [3, 200, 0]] as const) {
        const a = rand(M * K, 11 + M);
        const b = rand(K * N, 12 + N);
        for (const [tA, tB] of TRANSPOSES) {
          const c = matmul(Tensor.from(a, tA ? [K, M] : [M, K]), Tensor.from(b, tB ? [N, K] : [K, N]), { transA: tA, transB: tB });
          expectClose(await c.read(), refMatmul(a, b, M, N, K, tA, tB), atolFor(K), 1e-5, `SMEM M=${M} N=${N} K=${K} tA=${tA} tB=${tB}`);
        }
      }
      const [N, O, K] = [7, 70, 33];
      const x = rand(N * K, 13);
      const w = rand(O * K, 14);
      const bias = rand(O, 15);
      const y = linear(Tensor.from(x, [N, K]), Tensor.from(w, [O, K]), Tensor.from(bias, [O]));
      const ref = refMatmul(x, w, N, O, K, false, true).map((v, i) => v + bias[i % O]);
      expectClose(await y.read(), ref, atolFor(K), 1e-5, 'SMEM linear with bias');
    } finally {
      Object.assign(matmulTiles(), saved);
    }
  });

  it('folds more than 65535 row tiles into z', async () => {
    const [M, N, K] = [65536 * matmulTiles().TM + 5, 2, 3];
    const a = rand(M * K, 4);
    const b = rand(K * N, 5);
    const c = matmul(Tensor.from(a, [M, K]), Tensor.from(b, [K, N]));
    expectClose(await c.read(), refMatmul(a, b, M, N, K), atolFor(K), 1e-5, 'tall');
  });

  for (const [N, O, K] of [
    [1, 1, 1],
    [7, 10, 33],
    [64, 128, 784],
  ] as const) {
    it(`linear matches float64 with and without bias, N=${N} O=${O} K=${K}`, async () => {
      const x = rand(N * K, 6);
      const w = rand(O * K, 7);
      const bias = rand(O, 8);
      const xt = Tensor.from(x, [N, K]);
      const wt = Tensor.from(w, [O, K]);
      expectClose(await linear(xt, wt, Tensor.from(bias, [O])).read(), refLinear(x, w, bias, N, O, K), atolFor(K), 1e-5, 'with bias');
      expectClose(await linear(xt, wt, null).read(), refLinear(x, w, null, N, O, K), atolFor(K), 1e-5, 'no bias');
    });
  }

  it('gradients of matmul for all transposes', async () => {
    const [M, N, K] = [3, 5, 4];
    for (const [tA, tB] of TRANSPOSES) {
      const a = { data: rand(M * K, 11), shape: tA ? [K, M] : [M, K] };
      const b = { data: rand(K * N, 12), shape: tB ? [N, K] : [K, N] };
      await gradCheck((x, y) => matmul(x, y, { transA: tA, transB: tB }), [a, b]);
      await gradCheck((x, y) => matmul(x, y, { transA: tA, transB: tB }), [a, b], { which: [1] });
    }
  });

  it('gradients of linear (x, w, bias) and without bias', async () => {
    const x = { data: rand(3 * 6, 13), shape: [3, 6] };
    const w = { data: rand(5 * 6, 14), shape: [5, 6] };
    const b = { data: rand(5, 15), shape: [5] };
    await gradCheck((p, q, r) => linear(p, q, r), [x, w, b]);
    await gradCheck((p, q) => linear(p, q, null), [x, w]);
    await gradCheck((p, q, r) => linear(p, q, r), [x, w, b], { which: [2] });
  });

  it('rejects mismatched shapes with messages naming them', () => {
    const t = (shape: number[]) => Tensor.from(new Float32Array(shape.reduce((p, v) => p * v, 1)), shape);
    expect(() => matmul(t([2, 3]), t([4, 5]))).toThrow(/matmul: inner dimensions differ: a \[2, 3\] x b \[4, 5\] \(3 vs 4\)/);
    expect(() => matmul(t([2, 3]), t([5, 4]), { transB: true })).toThrow(/a \[2, 3\] x b\^T \[5, 4\] \(3 vs 4\)/);
    expect(() => matmul(t([6]), t([6, 1]))).toThrow(/matmul: a must be 2-D, got \[6\]/);
    expect(() => linear(t([2, 3]), t([4, 5]), null)).toThrow(/linear: inner dimensions differ/);
    expect(() => linear(t([2, 3]), t([4, 3]), t([5]))).toThrow(/linear: bias \[5\] does not match weight \[4, 3\] \(expects \[4\]\)/);
    try {
      matmul(t([2, 3]), t([4, 5]));
    } catch (e) {
      expect((e as { code: string }).code).toBe('SHAPE_MISMATCH');
    }
  });
});
