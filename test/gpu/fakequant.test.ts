import { it, expect } from 'vitest';
import { gpuDescribe, rand, expectClose, expectExact, gradCheck } from '../helpers.js';
import { Engine } from '../../src/runtime/engine.js';
import { Tensor } from '../../src/tensor.js';
import { backward } from '../../src/autograd/tape.js';
import { fakeQuant, fakeQuantBackward, quantizeInt, fixScalingGpu } from '../../src/ops/fakequant.js';
import { quantize, fixScaling, type ChannelLayout } from '../../src/quant/fixed.js';

type Case = { x: Float32Array; shape: number[]; fl: number[]; wl: number; signed: boolean; axis?: number };

function layoutOf(shape: number[], axis: number): ChannelLayout {
  if (axis < 0) axis += shape.length;
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  return { channels: shape[axis], inner };
}

/**
 * Value, integers and STE mask of the GPU against quantize() of the CPU reference, bit for bit:
 * the forward with a gradient (bit mask saved, its backward), without one (plain forward),
 * quantizeInt, and the backward that recomputes the mask from x.
 */
async function check(c: Case, what: string): Promise<void> {
  const { x, shape, wl, signed, axis } = c;
  const perChannel = c.fl.length > 1;
  const ref = quantize(x, perChannel ? Int32Array.from(c.fl) : c.fl[0], { wl, signed, channelAxis: perChannel ? layoutOf(shape, axis!) : undefined });
  const seed = rand(x.length, 99, -2, 2);
  const refGrad = Float32Array.from(seed, (s, i) => (ref.mask[i] ? s : 0));
  const [y, yPlain, q, gx, gxRe] = await Engine.get().tidyAsync(async () => {
    const opts = { wl, signed, axis };
    const tx = Tensor.from(x, shape);
    const fl = Tensor.from(Int32Array.from(c.fl), [c.fl.length], 'i32');
    const plain = fakeQuant(tx, fl, opts);
    tx.requiresGrad = true;
    const ty = fakeQuant(tx, fl, opts);
    const g = Tensor.from(seed, shape);
    backward(ty, g);
    const out = [
      await ty.read(), await plain.read(), await quantizeInt(tx, fl, opts).read(), await tx.grad!.read(),
      await fakeQuantBackward(tx, fl, g, opts).read(),
    ];
    tx.grad!.dispose();
    return out;
  });
  expectExact(y, ref.value, `${what} value`);
  expectExact(yPlain, ref.value, `${what} value without gradient`);
  expectExact(q, ref.q, `${what} q`);
  expectExact(gx, refGrad, `${what} STE gradient`);
  expectExact(gxRe, refGrad, `${what} STE gradient, mask recomputed`);
}

/** Ties k + 1/2 in both signs, bounds and beyond, at a fractional length. */
function edgeValues(fl: number, wl: number, signed: boolean): Float32Array {
  const hi = signed ? 2 ** (wl - 1) - 1 : 2 ** wl - 1;
  const v: number[] = [];
  for (let k = -hi - 3; k <= hi + 3; k++) v.push(k, k + 0.5, k - 0.5, k + 0.25, k + 0.75);
  v.push(hi + 0.5, -hi - 0.5, hi - 0.5, -hi + 0.5, hi + 1, -hi - 1, 1e6, -1e6);
  return Float32Array.from(v, (k) => k / 2 ** fl);
}

gpuDescribe('fakeQuant / quantizeInt', () => {
  it('ties at .5 in both signs and values at and beyond the bounds, fl at its limits (wl 8)', async () => {
    for (const signed of [true, false]) {
      const flmax = signed ? 7 : 8;
      for (const fl of [0, 3, flmax]) {
        const x = edgeValues(fl, 8, signed);
        await check({ x, shape: [x.length], fl: [fl], wl: 8, signed }, `signed=${signed} fl=${fl}`);
      }
    }
  });

  it('never produces -128 and keeps the bound for -127.5 and below', async () => {
    const x = Float32Array.of(-127.5, -128, -128.5, -1000, -127.49, -126.5);
    const q = await quantizeInt(Tensor.from(x, [6]), Tensor.from(Int32Array.of(0), [1], 'i32'), { wl: 8, signed: true }).read();
    expect([...q]).toEqual([-127, -127, -127, -127, -127, -126]);
  });

  it('every word length 2..8, signed and unsigned, random data at several scales; odd sizes', async () => {
    for (let wl = 2; wl <= 8; wl++) {
      for (const signed of [true, false]) {
        const flmax = wl - (signed ? 1 : 0);
        const n = 1 + ((wl * 337 + (signed ? 5 : 0)) % 1500);
        const x = rand(n, wl * 2 + (signed ? 1 : 0), -3, 3);
        for (let i = 0; i < n; i += 7) x[i] *= 2 ** ((i % 11) - 5);
        await check({ x, shape: [n], fl: [(wl + (signed ? 0 : 1)) % (flmax + 1)], wl, signed }, `wl=${wl} signed=${signed}`);
        await check({ x: edgeValues(flmax, wl, signed), shape: [edgeValues(flmax, wl, signed).length], fl: [flmax], wl, signed }, `edges wl=${wl} signed=${signed}`);
      }
    }
  });

  it('tiny, subnormal, huge and non-finite inputs (NaN -> 0 with mask 0; ±Inf -> the bound)', async () => {
    const x = Float32Array.of(1e-30, -1e-30, 1e-40, -1e-40, 1e-45, 0, -0, 3e38, -3e38, 3.4028234663852886e38, -3.4028234663852886e38,
      NaN, Infinity, -Infinity, 1e20, -1e20, 2 ** -9, -(2 ** -9), 2 ** -10 * 3);
    for (const signed of [true, false]) {
      for (const fl of [0, 5, signed ? 7 : 8]) await check({ x, shape: [x.length], fl: [fl], wl: 8, signed }, `special signed=${signed} fl=${fl}`);
    }
    // Small negatives round to -0; the value is +0 as in the reference (q is an integer).
    const y = await fakeQuant(Tensor.from([-1e-30, -0.001, -0], [3]), Tensor.from(Int32Array.of(3), [1], 'i32'), { wl: 8, signed: true }).read();
    expect([...y].map((v) => Object.is(v, 0))).toEqual([true, true, true]);
  });

  it('per channel: weights OIHW axis 0 (inner % 4 != 0), activations NCHW axis 1 (H*W % 4 == 0 and != 0)', async () => {
    // Weights [5, 3, 3, 3]: inner 27, so vec4 lanes straddle channels.
    const w = rand(5 * 27, 11, -1, 1).map((v, i) => v * 2 ** -((i / 27) | 0));
    await check({ x: w, shape: [5, 3, 3, 3], fl: [3, 4, 5, 6, 7], wl: 8, signed: true, axis: 0 }, 'weights');
    // Activations [2, 3, 4, 4]: H*W = 16, one channel per vec4.
    const a = rand(2 * 3 * 16, 12, -0.5, 4);
    await check({ x: a, shape: [2, 3, 4, 4], fl: [0, 8, 5], wl: 8, signed: false, axis: 1 }, 'activations hw16');
    // Activations [3, 4, 3, 5]: H*W = 15; with ties placed per channel.
    const shape = [3, 4, 3, 5];
    const fl = [2, 6, 0, 4];
    const b = Float32Array.from({ length: 180 }, (_, i) => {
      const c = ((i / 15) | 0) % 4;
      return ((i % 37) - 18 + (i % 2 ? 0.5 : 0.25)) / 2 ** fl[c];
    });
    await check({ x: b, shape, fl, wl: 8, signed: true, axis: 1 }, 'activations hw15 ties');
    await check({ x: b, shape, fl, wl: 8, signed: false, axis: -3 }, 'activations negative axis, unsigned');
  });

  it('large tensors not a multiple of the workgroup, per layer and per channel', async () => {
    const n = 256 * 4 * 70 + 13;
    const x = rand(n, 21, -2, 2);
    await check({ x, shape: [n], fl: [6], wl: 8, signed: true }, 'large');
    await check({ x: x.subarray(0, 7 * 9001), shape: [7, 9001], fl: [0, 1, 2, 3, 4, 5, 6], wl: 8, signed: true, axis: 0 }, 'large per channel');
  });

  it('fl from the buffer is clamped to [0, wl - signed]', async () => {
    const x = Float32Array.of(0.3, -0.3, 3, 100);
    const q = await quantizeInt(Tensor.from(x, [4]), Tensor.from(Int32Array.of(12), [1], 'i32'), { wl: 8, signed: true }).read();
    expectExact(q, quantize(x, 7, { wl: 8, signed: true }).q, 'fl 12 -> 7');
    const q0 = await quantizeInt(Tensor.from(x, [4]), Tensor.from(Int32Array.of(-3), [1], 'i32'), { wl: 8, signed: true }).read();
    expectExact(q0, quantize(x, 0, { wl: 8, signed: true }).q, 'fl -3 -> 0');
  });

  it('rejects bad formats and shapes with messages naming them', () => {
    const x = Tensor.from(new Float32Array(6), [2, 3]);
    expect(() => fakeQuant(x, Tensor.from(Int32Array.of(1, 2), [2], 'i32'), { wl: 8, signed: true })).toThrow(/need opts.axis/);
    expect(() => fakeQuant(x, Tensor.from(Int32Array.of(1, 2), [2], 'i32'), { wl: 8, signed: true, axis: 1 })).toThrow(/2 fractional lengths for 3 channels/);
    expect(() => fakeQuant(x, Tensor.from(Int32Array.of(1), [1], 'i32'), { wl: 9, signed: true })).toThrow(/word length 9/);
    expect(() => fakeQuant(x, Tensor.from(new Float32Array(1), [1]), { wl: 8, signed: true })).toThrow(/fl must be an i32/);
  });

  it('fixScalingGpu: value and alpha gradient', async () => {
    for (const [alpha, fl, wl, signed] of [[8, 6, 8, false], [-3.25, 7, 8, true], [0.7, 0, 4, true], [5, 8, 8, false]] as const) {
      const s = await fixScalingGpu(Tensor.from([alpha], [1]), Tensor.from(Int32Array.of(fl), [1], 'i32'), wl, signed).read();
      expectClose(s, [fixScaling(alpha, fl, wl, signed)], 0, 1e-6, `fixScaling(${alpha}, ${fl}, ${wl}, ${signed})`);
      const flT = Tensor.from(Int32Array.of(fl), [1], 'i32');
      await gradCheck((a) => fixScalingGpu(a, flT, wl, signed), [{ data: Float32Array.of(alpha), shape: [1] }], { eps: 1e-2, rtol: 1e-3, atol: 1e-4 });
      // The gradient exactly: sign(alpha) * 2^fl / (2^(wl - signed) - 1) times the seed.
      const a = Tensor.from([alpha], [1]);
      a.requiresGrad = true;
      Engine.get().tidy(() => backward(fixScalingGpu(a, flT, wl, signed), Tensor.from([3], [1])));
      expectClose(await a.grad!.read(), [(3 * Math.sign(alpha) * 2 ** fl) / (2 ** (wl - (signed ? 1 : 0)) - 1)], 0, 1e-6, 'd fixScaling / d alpha');
    }
  });
});
