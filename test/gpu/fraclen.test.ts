import { it, expect } from 'vitest';
import { gpuDescribe, rand, expectClose, expectExact } from '../helpers.js';
import { Engine } from '../../src/runtime/engine.js';
import { Tensor } from '../../src/tensor.js';
import { fraclenAndStat, fraclenFromMetric, gridSearchWithErrors, gridSearchFraclen, updateRunningFraclen, evalFraclen } from '../../src/ops/fraclen.js';
import { fakeQuant } from '../../src/ops/fakequant.js';
import {
  tensorStat, fraclenFromTensor, gridSearchFraclen as refGrid, runningFraclen, evalFraclen as refEval, quantize, FRACLEN_C,
  type Metric, type ChannelLayout,
} from '../../src/quant/fixed.js';

const METRICS: Metric[] = ['std', 'mae', 'rms'];

/** Gaussian values (Box-Muller on the test RNG), rectified for unsigned data; channel c scaled by scale(c). */
function gauss(shape: number[], seed: number, sigma: number, signed: boolean, axis?: number, scale = (c: number) => 1): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const u = rand(2 * n, seed, 0, 1);
  const inner = axis === undefined ? n : shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const C = axis === undefined ? 1 : shape[axis];
  return Float32Array.from({ length: n }, (_, i) => {
    const g = Math.sqrt(-2 * Math.log(u[2 * i] + 1e-12)) * Math.cos(2 * Math.PI * u[2 * i + 1]);
    const v = sigma * scale(((i / inner) | 0) % C) * g;
    return signed ? v : Math.max(v, 0);
  });
}

function layoutOf(shape: number[], axis: number): ChannelLayout {
  return { channels: shape[axis], inner: shape.slice(axis + 1).reduce((a, b) => a * b, 1) };
}

/** Whether m * 2^k is within 1e-5 relative of c for some k: there the f32 statistic may pick the other fl. */
function nearBoundary(m: number, c: number): boolean {
  for (let k = 0; k <= 9; k++) if (Math.abs(m * 2 ** k - c) <= 1e-5 * c) return true;
  return false;
}

async function checkMetric(x: Float32Array, shape: number[], wl: number, signed: boolean, metric: Metric, axis: number | undefined, what: string): Promise<void> {
  const layout = axis === undefined ? undefined : layoutOf(shape, axis);
  const refStat = layout ? tensorStat(x, metric, layout) : Float64Array.of(tensorStat(x, metric));
  const refFl = layout ? fraclenFromTensor(x, { wl, signed, metric, perChannel: layout }) : Int32Array.of(fraclenFromTensor(x, { wl, signed, metric }));
  const c = FRACLEN_C[signed ? 'signed' : 'unsigned'][metric];
  for (const m of refStat) expect(nearBoundary(m, c), `${what}: test data sits on a boundary; change the seed`).toBe(false);
  const [fl, stat] = await Engine.get().tidyAsync(async () => {
    const r = fraclenAndStat(Tensor.from(x, shape), { wl, signed, metric, axis });
    return [await r.fl.read(), await r.stat.read()];
  });
  expectExact(fl, refFl, `${what} fl`);
  expectClose(stat, refStat, 0, 2e-6, `${what} statistic`);
}

async function checkGrid(x: Float32Array, shape: number[], wl: number, signed: boolean, axis: number | undefined, what: string, errTol = true): Promise<void> {
  const layout = axis === undefined ? undefined : layoutOf(shape, axis);
  const ref = layout ? refGrid(x, { wl, signed, perChannel: layout }) : refGrid(x, { wl, signed });
  const refFl = layout ? (ref.fl as Int32Array) : Int32Array.of(ref.fl as number);
  const refErrs = layout ? (ref.errs as number[][]) : [ref.errs as number[]];
  const [fl, errs] = await Engine.get().tidyAsync(async () => {
    const r = gridSearchWithErrors(Tensor.from(x, shape), { wl, signed, axis });
    return [await r.fl.read(), await r.errs.read()];
  });
  expectExact(fl, refFl, `${what} fl`);
  if (errTol) expectClose(errs, refErrs.flat(), 1e-30, 1e-5, `${what} errors`);
}

/**
 * The two least errors of each channel differ by more than 1e-4 relative, or are exactly equal
 * (candidates with identical values everywhere, which tie on the GPU too): no near tie.
 */
function clearWinner(x: Float32Array, shape: number[], wl: number, signed: boolean, axis?: number): boolean {
  const errs = axis === undefined ? [refGrid(x, { wl, signed }).errs] : refGrid(x, { wl, signed, perChannel: layoutOf(shape, axis) }).errs;
  return errs.every((e) => {
    const s = [...e].sort((a, b) => a - b);
    return s[1] === s[0] || s[1] - s[0] > 1e-4 * s[1];
  });
}

/** Fresh Gaussian data until no channel has a near tie (a few seeds at most). */
function untied(make: (seed: number) => Float32Array, seed: number, shape: number[], wl: number, signed: boolean, axis?: number): Float32Array {
  for (let s = seed; s < seed + 20; s++) {
    const x = make(s);
    if (clearWinner(x, shape, wl, signed, axis)) return x;
  }
  throw new Error(`no data without a near tie from seeds ${seed}..${seed + 19}`);
}

gpuDescribe('fraclen from a statistic', () => {
  it('per layer, every metric, signed and unsigned, data of different scales; sizes 2 .. 300001', async () => {
    let seed = 1;
    for (const signed of [true, false]) {
      for (const [n, sigma] of [[2, 0.7], [37, 0.013], [1027, 3.1], [4099, 0.00071], [70001, 0.21], [300001, 17]] as const) {
        for (const metric of METRICS) {
          const x = gauss([n], seed++, sigma, signed);
          await checkMetric(x, [n], 8, signed, metric, undefined, `n=${n} sigma=${sigma} ${metric} signed=${signed}`);
        }
      }
    }
  });

  it('per channel: weights OIHW axis 0 and activations NCHW axis 1, channels of different scales', async () => {
    const scale = (c: number) => 2 ** (c - 5) * (1 + 0.13 * c);
    for (const metric of METRICS) {
      await checkMetric(gauss([12, 3, 3, 3], 11, 1, true, 0, scale), [12, 3, 3, 3], 8, true, metric, 0, `weights ${metric}`);
      await checkMetric(gauss([5, 9, 7, 7], 12, 1, false, 1, scale), [5, 9, 7, 7], 8, false, metric, 1, `activations hw49 ${metric}`);
      await checkMetric(gauss([3, 6, 8, 8], 13, 1, true, 1, scale), [3, 6, 8, 8], 8, true, metric, 1, `activations hw64 ${metric}`);
      await checkMetric(gauss([2, 11, 129, 128], 14, 0.5, false, 1, scale), [2, 11, 129, 128], 8, false, metric, 1, `activations large ${metric}`);
    }
  });

  it('data far from 0 (mean 100, std 0.01): the std keeps its digits', async () => {
    const x = gauss([100003], 41, 0.01, true).map((v) => v + 100);
    await checkMetric(x, [100003], 8, true, 'std', undefined, 'offset data');
    await checkMetric(x.subarray(0, 100002), [7, 14286], 8, true, 'std', 0, 'offset data per channel');
    await checkMetric(x.subarray(0, 100000), [5, 5, 4000], 8, true, 'std', 1, 'offset data per channel, vec4');
  });

  it('other word lengths clamp fl to wl - signed', async () => {
    for (const [wl, signed] of [[4, true], [2, false], [6, false]] as const) {
      for (const sigma of [0.001, 0.9, 40]) {
        await checkMetric(gauss([2000], 21, sigma, signed), [2000], wl, signed, 'std', undefined, `wl=${wl} signed=${signed} sigma=${sigma}`);
      }
    }
  });

  it('m = 0 gives the largest fl; one value (std NaN), NaN and Inf data give 0', async () => {
    const e = Engine.get();
    const fl = async (x: number[], metric: Metric, signed = true, axis?: number, shape = [x.length]) =>
      [...(await e.tidy(() => fraclenFromMetric(Tensor.from(x, shape), { wl: 8, signed, metric, axis })).read())];
    for (const metric of METRICS) {
      expect(await fl(new Array(1001).fill(0), metric), `zeros ${metric}`).toEqual([7]);
      expect(await fl(new Array(6).fill(0), metric, false), `zeros unsigned ${metric}`).toEqual([8]);
      expect(await fl([0.5, NaN, 0.25], metric), `NaN ${metric}`).toEqual([0]);
      expect(await fl([0.5, Infinity, 0.25, 1, 2], metric), `Inf ${metric}`).toEqual([0]);
      expect(await fl([0.5, 0.25, -Infinity], metric), `-Inf ${metric}`).toEqual([0]);
    }
    expect(await fl(new Array(8).fill(3), 'std'), 'constant: std 0').toEqual([7]);
    // An empty tensor has no statistic (NaN): 0, on the GPU and in the CPU reference.
    for (const metric of METRICS) expect(await fl([], metric), `empty ${metric}`).toEqual([0]);
    for (const metric of METRICS) expect(fraclenFromTensor([], { wl: 8, signed: true, metric })).toBe(0);
    expect(await fl([0.01], 'std'), 'one value').toEqual([0]);
    expect(await fl([0.01], 'mae'), 'one value mae').toEqual([7]);
    // Per channel: one all-zero channel, one single value per channel position.
    expect(await fl([0, 0, 0, 0, 1, -1, 1, -1], 'std', true, 0, [2, 4]), 'per channel zeros').toEqual([7, 5]);
    expect(await fl([0.1, 0.2, 0.3], 'std', true, 0, [3]), 'one value per channel').toEqual([0, 0, 0]);
    // Values whose statistic is exactly a boundary: rms 40 / 2^5 = 1.25 -> log2(c/m) = 5 exactly.
    expect(await fl(new Array(17).fill(1.25), 'rms'), 'rms on a power of two').toEqual([5]);
    expect(await fl(new Array(17).fill(-1.875), 'mae'), 'mae on a power of two').toEqual([4]);
  });

  it('feeds fakeQuant through the buffer in the same step (no read-back)', async () => {
    const shape = [4, 5, 6, 6];
    const x = gauss(shape, 31, 1, true, 1, (c) => 2 ** -c);
    const layout = layoutOf(shape, 1);
    const refFl = fraclenFromTensor(x, { wl: 8, signed: true, metric: 'std', perChannel: layout });
    const y = await Engine.get().tidy(() => {
      const tx = Tensor.from(x, shape);
      return fakeQuant(tx, fraclenFromMetric(tx, { wl: 8, signed: true, metric: 'std', axis: 1 }), { wl: 8, signed: true, axis: 1 });
    }).read();
    expectExact(y, quantize(x, refFl, { wl: 8, signed: true, channelAxis: layout }).value, 'fake-quant with the GPU fl');
  });
});

gpuDescribe('gridSearchFraclen', () => {
  it('per layer, signed and unsigned, data of different scales and word lengths', async () => {
    let seed = 100;
    let checked = 0;
    for (const signed of [true, false]) {
      for (const wl of [8, 4]) {
        for (const [n, sigma] of [[3, 0.3], [129, 0.011], [4097, 1.7], [300001, 0.05], [1000, 30]] as const) {
          const x = untied((sd) => gauss([n], sd, sigma, signed), (seed += 20), [n], wl, signed);
          await checkGrid(x, [n], wl, signed, undefined, `n=${n} sigma=${sigma} wl=${wl} signed=${signed}`);
          checked++;
        }
      }
    }
    expect(checked).toBe(20);
  });

  it('per channel (weights axis 0, activations axis 1)', async () => {
    const scale = (c: number) => 2 ** (c - 4) * (1 + 0.21 * c);
    let seed = 200;
    const cases = [[[10, 3, 3, 3], 0, true], [[3, 7, 5, 5], 1, false], [[2, 5, 8, 8], 1, true]] as const;
    for (const [shape, axis, signed] of cases) {
      const x = untied((sd) => gauss([...shape], sd, 0.2, signed, axis, scale), (seed += 20), [...shape], 8, signed, axis);
      await checkGrid(x, [...shape], 8, signed, axis, `per channel [${shape}] axis ${axis}`);
    }
  });

  it('ties go to the largest fl: all-underflow and exactly representable tensors', async () => {
    const under = rand(1003, 5, -1 / 256, 1 / 256).map((v) => (Math.abs(v) >= 1 / 256 ? 0 : v));
    await checkGrid(under, [1003], 8, true, undefined, 'all underflow signed');
    expect(await gridSearchFraclen(Tensor.from(under, [1003]), { wl: 8, signed: true }).read()).toEqual(Int32Array.of(7));
    const underU = rand(77, 6, 0, 1 / 512);
    await checkGrid(underU, [77], 8, false, undefined, 'all underflow unsigned');
    expect(await gridSearchFraclen(Tensor.from(underU, [77]), { wl: 8, signed: false }).read()).toEqual(Int32Array.of(8));
    const exact = Float32Array.from({ length: 501 }, (_, i) => ((i % 7) - 3) / 4);
    await checkGrid(exact, [501], 8, true, undefined, 'representable at fl >= 2');
    expect(await gridSearchFraclen(Tensor.from(exact, [501]), { wl: 8, signed: true }).read()).toEqual(Int32Array.of(7));
    const zeros = new Float32Array(64);
    await checkGrid(zeros, [8, 8], 8, true, 0, 'zeros per channel');
  });

  it('huge values pick the coarsest format even where f32 errors coincide; NaN / Inf give 0', async () => {
    const huge = Float32Array.of(1e12, 3e12, 2e12, 5e11, 1e13);
    await checkGrid(huge, [5], 8, true, undefined, 'huge', false);
    await checkGrid(Float32Array.from(huge, (v, i) => (i % 2 ? -v : v)), [5], 8, true, undefined, 'huge both signs', false);
    await checkGrid(Float32Array.of(300, 200, 1000), [3], 8, false, undefined, 'clamped unsigned');
    const g = async (x: number[]) => [...(await gridSearchFraclen(Tensor.from(x, [x.length]), { wl: 8, signed: true }).read())];
    expect(await g([0.5, NaN, 0.1])).toEqual([0]);
    expect(await g([0.5, Infinity, 0.1])).toEqual([0]);
    expect(await g([-Infinity])).toEqual([0]);
    expect(await g([])).toEqual([refGrid(new Float32Array(0), { wl: 8, signed: true }).fl]);
  });
});

gpuDescribe('running fractional length', () => {
  it('updates in place (per layer and per channel) and matches the float64 reference closely', async () => {
    const prev = [6, 4.5, 0, 7, 3.25];
    const batch = [4, 5, 8, 7, 0];
    const run = Tensor.from(prev, [5]);
    updateRunningFraclen(run, Tensor.from(Int32Array.from(batch), [5], 'i32'), 0.1);
    expectClose(await run.read(), runningFraclen(prev, batch, 0.1), 0, 1e-6, 'running, momentum 0.1');
    const one = Tensor.from([6], [1]);
    for (let i = 0; i < 3; i++) updateRunningFraclen(one, Tensor.from(Int32Array.of(4), [1], 'i32'), 0.5);
    expectClose(await one.read(), [4.25], 0, 0, 'three steps of momentum 0.5');
    expect(() => updateRunningFraclen(run, Tensor.from(Int32Array.of(1, 2), [2], 'i32'), 0.1)).toThrow(/5 elements, batch 2/);
  });

  it('evalFraclen rounds half to even and clamps to [0, wl - signed]', async () => {
    const v = [4.5, 5.5, 3.5, -0.5, -3, 0.49, 6.5, 7.5, 9.2, 8.6, NaN, Infinity, -Infinity, 5.8];
    for (const signed of [true, false]) {
      for (const wl of [8, 4]) {
        const got = await evalFraclen(Tensor.from(v, [v.length]), wl, signed).read();
        expectExact(got, v.map((r) => refEval(Math.fround(r), wl, signed)), `evalFraclen wl=${wl} signed=${signed}`);
      }
    }
    expect([...(await evalFraclen(Tensor.from([4.5], [1]), 8, true).read())]).toEqual([4]);
  });
});
