import { it, expect } from 'vitest';
import { gpuDescribe, rand, expectExact } from '../helpers.js';
import { Tensor } from '../../src/tensor.js';
import { requantize, shiftRoundHalfEven } from '../../src/ops/requant.js';
import { int8RequantRaw } from '../../src/ops/int8.js';
import { requantize as refRequantize, shiftRoundHalfEven as refShift, type ChannelLayout } from '../../src/quant/fixed.js';

const I32_MAX = 2147483647;
const I32_MIN = -2147483648;

/** Small values, ties of every kind at small shifts, powers of two and the int32 extremes. */
function interesting(): number[] {
  const v = new Set<number>([0, 1, -1, 2, -2, 3, -3, 5, -5, 6, -6, 7, -7, 8, -8, 9, -9, 12, -12, 1000, -1000, 127, -127, 128, -128, 255, 256, -255]);
  for (let n = 1; n <= 31; n++) {
    const h = 2 ** (n - 1);
    for (const k of [0, 1, 2, 3, 5]) for (const s of [1, -1]) v.add(s * (2 * k + 1) * h); // ties to even and to odd
    v.add(2 ** n - 1).add(-(2 ** n)).add(2 ** n).add(-(2 ** n) + 1);
  }
  for (const x of [I32_MAX, I32_MIN, I32_MIN + 1, I32_MAX - 1, 1 << 30, -(1 << 30), 0x55555555, -0x55555555]) v.add(x);
  return [...v].filter((x) => x >= I32_MIN && x <= I32_MAX);
}

const SHIFTS = [...Array.from({ length: 67 }, (_, i) => i - 33), 64, 100, -64, -100, I32_MAX, I32_MIN];

/** Every interesting value paired with every shift: values x[i] and shifts n[i]. */
function everyValueAtEveryShift(): { x: number[]; n: number[] } {
  const xs = interesting();
  return { x: SHIFTS.flatMap(() => xs), n: SHIFTS.flatMap((s) => xs.map(() => s)) };
}

function layoutOf(shape: number[], axis: number): ChannelLayout {
  return { channels: shape[axis], inner: shape.slice(axis + 1).reduce((a, b) => a * b, 1) };
}

gpuDescribe('shiftRoundHalfEven', () => {
  it('every interesting value at every shift (one shift per element): ties, negatives, n = 0, left saturation, n >= 32', async () => {
    const { x, n } = everyValueAtEveryShift();
    const got = await shiftRoundHalfEven(Tensor.from(Int32Array.from(x), [x.length], 'i32'), Tensor.from(Int32Array.from(n), [n.length], 'i32')).read();
    expectExact(got, x.map((v, i) => refShift(v, n[i])), 'per-element shifts');
    expect(x.length % 4).not.toBe(0);
  });

  it('the scalar WGSL helper fx_shift_rhe agrees too', async () => {
    // The one requant kernel (wgsl/int8_ops.wgsl) with SCALAR_SHIFT: one shift per element.
    const { x, n } = everyValueAtEveryShift();
    const out = int8RequantRaw(Tensor.from(Int32Array.from(x), [x.length], 'i32'), [1, x.length, 1], Tensor.from(Int32Array.from(n), [n.length], 'i32'), { relu: false, lo: I32_MIN, hi: I32_MAX, scalarShift: true });
    expectExact(await out.read(), x.map((v, i) => refShift(v, n[i])), 'scalar helper');
  });

  it('one shift for the tensor, odd sizes', async () => {
    const xs = Int32Array.from(interesting());
    for (const s of [0, 1, 2, 7, 31, 32, -1, -5, -31, -40]) {
      const got = await shiftRoundHalfEven(Tensor.from(xs, [xs.length], 'i32'), Tensor.from(Int32Array.of(s), [1], 'i32')).read();
      expectExact(got, Array.from(xs, (v) => refShift(v, s)), `shift ${s}`);
    }
    expect([...(await shiftRoundHalfEven(Tensor.from(Int32Array.of(5, -5, -7, 6, -6), [5], 'i32'), Tensor.from(Int32Array.of(1), [1], 'i32')).read())]).toEqual([2, -2, -4, 3, -3]);
  });
});

gpuDescribe('requantize', () => {
  it('per layer: signed and unsigned, with and without ReLU, word lengths 8 and 4', async () => {
    const r = rand(4099, 3, -1, 1);
    const acc = Int32Array.from(r, (v, i) => Math.round(v * 2 ** (i % 31)));
    acc.set(Int32Array.from(interesting()), 0);
    for (const signed of [true, false]) for (const relu of [false, true]) for (const wl of [8, 4]) for (const s of [0, 3, 9, 20, 31, 32, -2]) {
      const got = await requantize(Tensor.from(acc, [acc.length], 'i32'), Tensor.from(Int32Array.of(s), [1], 'i32'), { signed, relu, wl }).read();
      expectExact(got, refRequantize(acc, s, { signed, relu, wl }), `signed=${signed} relu=${relu} wl=${wl} n=${s}`);
    }
  });

  it('per channel: NCHW axis 1 with H*W % 4 == 0 and != 0, OIHW-like axis 0, shifts incl. negative and >= 32', async () => {
    const cases: [number[], number][] = [[[2, 5, 4, 4], 1], [[3, 6, 3, 5], 1], [[7, 9], 0], [[2, 3, 1, 1], 1]];
    for (const [shape, axis] of cases) {
      const size = shape.reduce((a, b) => a * b, 1);
      const C = shape[axis];
      const acc = Int32Array.from(rand(size, size, -1, 1), (v, i) => Math.round(v * 2 ** (8 + (i % 20))));
      acc[0] = I32_MIN;
      acc[size - 1] = I32_MAX;
      const n = Int32Array.from({ length: C }, (_, c) => [5, 0, -3, 12, 33, 1, 17, 2, 31][c % 9]);
      for (const signed of [true, false]) for (const relu of [false, true]) {
        const got = await requantize(Tensor.from(acc, shape, 'i32'), Tensor.from(n, [C], 'i32'), { signed, relu, axis }).read();
        expectExact(got, refRequantize(acc, n, { signed, relu, channelAxis: layoutOf(shape, axis) }), `[${shape}] axis ${axis} signed=${signed} relu=${relu}`);
      }
    }
  });

  it('word length 32 (int32 out, clamped to +-(2^31 - 1)): per layer and per channel, left shifts saturate', async () => {
    const xs = Int32Array.from(interesting());
    for (const s of [0, 1, 5, 31, 32, -1, -7, -31]) for (const relu of [false, true]) {
      const got = await requantize(Tensor.from(xs, [xs.length], 'i32'), Tensor.from(Int32Array.of(s), [1], 'i32'), { signed: true, wl: 32, relu }).read();
      const ref = refRequantize(xs, s, { signed: true, wl: 32, relu });
      expect(ref.includes(I32_MIN)).toBe(false);
      expectExact(got, ref, `wl 32 n=${s} relu=${relu}`);
    }
    const shape = [3, 5, 7];
    const acc = Int32Array.from(rand(105, 7, -1, 1), (v, i) => (i % 10 === 0 ? I32_MIN : Math.round(v * 2 ** (10 + (i % 21)))));
    const n = Int32Array.of(-3, 0, 2, 31, -1);
    const got = await requantize(Tensor.from(acc, shape, 'i32'), Tensor.from(n, [5], 'i32'), { signed: true, wl: 32, axis: 1 }).read();
    expectExact(got, refRequantize(acc, n, { signed: true, wl: 32, channelAxis: layoutOf(shape, 1) }), 'wl 32 per channel');
    expect(() => requantize(Tensor.from(acc, shape, 'i32'), Tensor.from(n, [5], 'i32'), { signed: false, wl: 32, axis: 1 })).toThrow(/32 when signed/);
  });

  it('rejects shapes and dtypes with messages naming them', () => {
    const acc = Tensor.from(new Int32Array(6), [2, 3], 'i32');
    expect(() => requantize(acc, Tensor.from(Int32Array.of(1, 2), [2], 'i32'), { signed: true })).toThrow(/need opts.axis/);
    expect(() => requantize(acc, Tensor.from(Int32Array.of(1, 2), [2], 'i32'), { signed: true, axis: 1 })).toThrow(/2 shifts for 3 channels/);
    expect(() => requantize(Tensor.from(new Float32Array(6), [6]), Tensor.from(Int32Array.of(1), [1], 'i32'), { signed: true })).toThrow(/i32 tensors expected/);
    expect(() => shiftRoundHalfEven(acc, Tensor.from(Int32Array.of(1, 2), [2], 'i32'))).toThrow(/2 shifts for 6 values/);
  });
});
