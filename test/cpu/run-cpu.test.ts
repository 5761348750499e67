// The CPU integer runner's fast conv loop (convAccumulate) against the plain reference
// refInt8Conv2d: raw accumulators, bit for bit, over strides, paddings, dilations, groups,
// depthwise, zero and extreme weights, biases that saturate, and sums that wrap.
import { describe, it, expect } from 'vitest';
import { Rng } from '../../src/runtime/rng.js';
import { convAccumulate } from '../../src/export/run-cpu.js';
import { refInt8Conv2d } from '../../src/ops/int8.ref.js';

describe('convAccumulate', () => {
  const cases = [
    { x: [2, 3, 7, 9], w: [5, 3, 3, 3], s: [1, 1], p: [1, 1], d: [1, 1], g: 1 },
    { x: [1, 4, 11, 6], w: [6, 2, 3, 2], s: [2, 3], p: [2, 0], d: [1, 2], g: 2 },
    { x: [2, 6, 9, 9], w: [6, 1, 3, 3], s: [2, 2], p: [1, 1], d: [2, 2], g: 6 },
    { x: [1, 5, 4, 4], w: [3, 5, 1, 1], s: [1, 1], p: [0, 0], d: [1, 1], g: 1 },
    { x: [1, 2, 5, 5], w: [2, 2, 5, 5], s: [1, 1], p: [4, 4], d: [1, 1], g: 1 },
  ];
  for (const [i, c] of cases.entries()) {
    it(`case ${i}: x [${c.x}] w [${c.w}] stride [${c.s}] pad [${c.p}] dil [${c.d}] groups ${c.g}`, () => {
      const rng = new Rng(100 + i);
      const nx = c.x.reduce((a, b) => a * b, 1);
      const nw = c.w.reduce((a, b) => a * b, 1);
      const x = Int32Array.from({ length: nx }, (_, k) => (k % 11 === 0 ? 255 : rng.nextInt(256)));
      const w = Int8Array.from({ length: nw }, (_, k) => (k % 7 === 0 ? 0 : k % 5 === 0 ? -127 : rng.nextInt(255) - 127));
      const bias = Int32Array.from({ length: c.w[0] }, (_, o) => (o === 0 ? 2147483000 : o === 1 ? -2147483000 : rng.nextInt(20001) - 10000));
      const geo = { stride: c.s as [number, number], padding: c.p as [number, number], dilation: c.d as [number, number], groups: c.g };
      expect(Array.from(convAccumulate(x, c.x, w, c.w, bias, geo))).toEqual(Array.from(refInt8Conv2d(x, c.x, w, c.w, bias, geo)));
    });
  }
  it('wraps like the GPU when a sum passes 2^31 (K = 70 000 products of 255 x 127)', () => {
    const K = 70000;
    const x = new Int32Array(K).fill(255);
    const w = new Int8Array(K).fill(127);
    const geo = { stride: [1, 1] as [number, number], padding: [0, 0] as [number, number], dilation: [1, 1] as [number, number], groups: 1 };
    const got = convAccumulate(x, [1, K, 1, 1], w, [1, K, 1, 1], null, geo);
    expect(got[0]).toBe((K * 255 * 127) | 0);
    expect(Array.from(got)).toEqual(Array.from(refInt8Conv2d(x, [1, K, 1, 1], w, [1, K, 1, 1], null, geo)));
  });
});
