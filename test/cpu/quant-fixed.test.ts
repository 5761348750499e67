// The CPU reference of the fixed-point primitives against PyTorch golden values
// (test/golden/quant.json, from tools/golden_quant.py) and hand-picked edge cases.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  alignAdd,
  clampInt32,
  evalFraclen,
  fixScaling,
  flRange,
  fraclenFromStat,
  fraclenFromTensor,
  gridSearchFraclen,
  qBounds,
  quantize,
  requantize,
  roundHalfEven,
  runningFraclen,
  shiftRoundHalfEven,
  tensorStat,
  type ChannelLayout,
  type Metric,
} from '../../src/quant/fixed.js';

type Layout = Required<ChannelLayout>;
type Golden = {
  roundHalfEven: { x: number[]; y: number[] };
  quantize: { name: string; wl: number; signed: boolean; fl: number | number[]; channelAxis?: Layout; x: number[]; q: number[]; value: number[]; mask: number[] }[];
  fraclenFromStat: { stat: number; wl: number; signed: boolean; metric: Metric; fl: number }[];
  tensorStat: { name: string; x: number[]; channelAxis?: Layout; stat: Record<Metric, number | number[]>; fl: Record<string, number | number[]> }[];
  gridSearch: { name: string; wl: number; signed: boolean; x: number[]; channelAxis?: Layout; fl: number | number[]; errs: number[] | number[][] }[];
  runningFraclen: { prev: number; batch: number; momentum: number; run: number }[];
  evalFraclen: { run: number; wl: number; signed: boolean; fl: number }[];
  fixScaling: { alpha: number; fl: number; wl: number; signed: boolean; scale: number }[];
  shiftRoundHalfEven: { x: number[]; n: number[]; y: number[] };
  requantize: { acc: number[]; n: number | number[]; signed: boolean; relu: boolean; channelAxis?: Layout; out: number[] }[];
  alignAdd: { a: number[]; flA: number; b: number[]; flB: number; value: number[]; fl: number }[];
};

const golden = JSON.parse(readFileSync(new URL('../golden/quant.json', import.meta.url), 'utf8')) as Golden;

/** Exact element-wise comparison (+0 == -0) that names the first few mismatches. */
function expectExact(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const bad: string[] = [];
  for (let i = 0; i < expected.length && bad.length < 5; i++) {
    if (actual[i] !== expected[i]) bad.push(`[${i}] got ${actual[i]}, want ${expected[i]}`);
  }
  expect(bad, what).toEqual([]);
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const bad: string[] = [];
  for (let i = 0; i < expected.length && bad.length < 5; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= rtol * Math.abs(expected[i]))) bad.push(`[${i}] got ${actual[i]}, want ${expected[i]}`);
  }
  expect(bad, what).toEqual([]);
}

const f32 = (a: number[]) => Float32Array.from(a);

describe('roundHalfEven', () => {
  it('matches torch.round bit for bit, sign of zero included', () => {
    const { x, y } = golden.roundHalfEven;
    const bad = x.filter((v, i) => !Object.is(roundHalfEven(v), y[i]));
    expect(bad).toEqual([]);
  });
  it('handles ties, non-finite values and zeros', () => {
    expect([0.5, -0.5, 1.5, -1.5, 2.5, -2.5].map(roundHalfEven)).toEqual([0, -0, 2, -2, 2, -2]);
    expect(roundHalfEven(NaN)).toBeNaN();
    expect(roundHalfEven(Infinity)).toBe(Infinity);
    expect(roundHalfEven(-Infinity)).toBe(-Infinity);
    expect(Object.is(roundHalfEven(-0), -0)).toBe(true);
    expect(roundHalfEven(1e300)).toBe(1e300);
    expect(roundHalfEven(Number.MIN_VALUE)).toBe(0);
  });
});

describe('formats', () => {
  it('gives symmetric signed bounds and the fl ranges of §1', () => {
    expect(qBounds(8, true)).toEqual({ lo: -127, hi: 127 });
    expect(qBounds(8, false)).toEqual({ lo: 0, hi: 255 });
    expect(qBounds(4, true)).toEqual({ lo: -7, hi: 7 });
    expect(flRange(8, true)).toEqual([0, 7]);
    expect(flRange(8, false)).toEqual([0, 8]);
    expect(() => qBounds(1, true)).toThrow(/word length/);
  });
  it('computes fix_scaling', () => {
    for (const c of golden.fixScaling) expect(fixScaling(c.alpha, c.fl, c.wl, c.signed)).toBe(c.scale);
  });
});

describe('quantize', () => {
  it.each(golden.quantize.map((c) => [c.name, c] as const))('%s matches torch exactly', (_, c) => {
    const fl = typeof c.fl === 'number' ? c.fl : Int32Array.from(c.fl);
    const r = quantize(f32(c.x), fl, { wl: c.wl, signed: c.signed, channelAxis: c.channelAxis });
    expectExact(r.q, c.q, 'q');
    expectExact(r.value, f32(c.value), 'value');
    expectExact(r.mask, c.mask, 'mask');
  });
  it('never produces -128 and rounds ties of both signs to even', () => {
    const r = quantize(f32([-1000, -127.5, -126.5, -0.5, 0.5, 1.5, -1.5, 126.5]), 0, { wl: 8, signed: true });
    expect(Array.from(r.q)).toEqual([-127, -127, -126, 0, 0, 2, -2, 126]);
    expect(Array.from(r.mask)).toEqual([0, 0, 1, 1, 1, 1, 1, 1]);
    expect(Math.min(...quantize(f32([-1e9, -128, -127.6]), 3, { wl: 8, signed: true }).q)).toBe(-127);
  });
  it('maps NaN to 0 with mask 0 and ±Inf to the bounds with mask 0', () => {
    const x = f32([NaN, Infinity, -Infinity, 3e38]);
    const s = quantize(x, 7, { wl: 8, signed: true });
    expect(Array.from(s.q)).toEqual([0, 127, -127, 127]);
    expect(Array.from(s.value)).toEqual([0, 127 / 128, -127 / 128, 127 / 128]);
    expect(Array.from(s.mask)).toEqual([0, 0, 0, 0]);
    const u = quantize(x, 8, { wl: 8, signed: false });
    expect(Array.from(u.q)).toEqual([0, 255, 0, 255]);
    expect(Array.from(u.mask)).toEqual([0, 0, 0, 0]);
  });
  it('uses the unsigned mask 0 < r < 255', () => {
    const r = quantize(f32([0, 0.001, 0.01, 254, 254.5, 255, -3]), 0, { wl: 8, signed: false });
    expect(Array.from(r.q)).toEqual([0, 0, 0, 254, 254, 255, 0]);
    expect(Array.from(r.mask)).toEqual([0, 0, 0, 1, 1, 0, 0]);
  });
  it('rejects bad fl and layouts', () => {
    expect(() => quantize(f32([1]), 8, { wl: 8, signed: true })).toThrow(/fractional length 8/);
    expect(() => quantize(f32([1, 2, 3]), Int32Array.of(1, 2), { wl: 8, signed: true, channelAxis: { channels: 2, inner: 1 } })).toThrow(/layout/);
    expect(() => quantize(f32([1, 2]), Int32Array.of(1, 2), { wl: 8, signed: true })).toThrow(/channelAxis/);
  });
});

describe('fractional length from a statistic', () => {
  it('matches the golden table, power-of-two boundaries included', () => {
    const bad = golden.fraclenFromStat.filter((c) => fraclenFromStat(c.stat, c) !== c.fl);
    expect(bad).toEqual([]);
  });
  it('gives the max fl for m = 0 and 0 for NaN, +Inf and negative m', () => {
    const o = { wl: 8, signed: false, metric: 'std' } as const;
    expect(fraclenFromStat(0, o)).toBe(8);
    expect(fraclenFromStat(NaN, o)).toBe(0);
    expect(fraclenFromStat(Infinity, o)).toBe(0);
    expect(fraclenFromStat(-1, o)).toBe(0);
    expect(fraclenFromStat(40 / 8, { wl: 8, signed: true, metric: 'std' })).toBe(3);
  });
  it.each(golden.tensorStat.map((c) => [c.name, c] as const))('tensorStat and fraclenFromTensor: %s', (_, c) => {
    for (const metric of ['std', 'mae', 'rms'] as const) {
      const want = c.stat[metric];
      const got = c.channelAxis ? tensorStat(c.x, metric, c.channelAxis) : [tensorStat(c.x, metric)];
      expectClose(got, typeof want === 'number' ? [want] : want, 1e-12, `${metric}`);
      for (const signed of [true, false]) {
        const wantFl = c.fl[`${metric} ${signed ? 'signed' : 'unsigned'}`];
        const o = { wl: 8, signed, metric };
        if (c.channelAxis) expectExact(fraclenFromTensor(c.x, { ...o, perChannel: c.channelAxis }), wantFl as number[], `fl ${metric}`);
        else expect(fraclenFromTensor(c.x, o)).toBe(wantFl);
      }
    }
  });
  it('gives NaN for the sample std of one value, hence fl 0', () => {
    expect(tensorStat([3], 'std')).toBeNaN();
    expect(fraclenFromTensor([3], { wl: 8, signed: true, metric: 'std' })).toBe(0);
  });
});

describe('gridSearchFraclen', () => {
  it.each(golden.gridSearch.map((c) => [c.name, c] as const))('%s matches torch', (_, c) => {
    const x = f32(c.x);
    if (c.channelAxis) {
      const r = gridSearchFraclen(x, { wl: c.wl, signed: c.signed, perChannel: c.channelAxis });
      expectExact(r.fl, c.fl as number[], 'fl');
      (c.errs as number[][]).forEach((e, ch) => expectClose(r.errs[ch], e, 1e-12, `errs channel ${ch}`));
    } else {
      const r = gridSearchFraclen(x, { wl: c.wl, signed: c.signed });
      expect(r.fl).toBe(c.fl);
      expectClose(r.errs, c.errs as number[], 1e-12, 'errs');
    }
  });
  it('breaks ties toward the largest fl and returns 0 for non-finite data', () => {
    expect(gridSearchFraclen(f32([1e-6, -1e-6]), { wl: 8, signed: true }).fl).toBe(7);
    expect(gridSearchFraclen(f32([0.5, -0.25]), { wl: 8, signed: true }).fl).toBe(7);
    expect(gridSearchFraclen(f32([1, NaN]), { wl: 8, signed: true }).fl).toBe(0);
    expect(gridSearchFraclen(f32([1, Infinity]), { wl: 8, signed: false }).fl).toBe(0);
  });
});

describe('running and evaluation fl', () => {
  it('matches the golden values', () => {
    for (const c of golden.runningFraclen) expect(runningFraclen(c.prev, c.batch, c.momentum)).toBe(c.run);
    for (const c of golden.evalFraclen) expect(evalFraclen(c.run, c.wl, c.signed), `run ${c.run}`).toBe(c.fl);
  });
  it('defaults to momentum 0.1, works per channel, rounds half to even', () => {
    expect(runningFraclen(6, 4)).toBeCloseTo(5.8, 12);
    expectExact(runningFraclen([6, 0], [4, 8]), [0.1 * 4 + 0.9 * 6, 0.1 * 8], 'per channel');
    expect(() => runningFraclen([1], [1, 2])).toThrow(/one length/);
    expect([4.5, 5.5, -0.5, NaN, 100].map((r) => evalFraclen(r, 8, true))).toEqual([4, 6, 0, 0, 7]);
  });
});

describe('integer re-quantisation', () => {
  it('shiftRoundHalfEven matches the spec formula for every golden (x, n)', () => {
    const { x, n, y } = golden.shiftRoundHalfEven;
    expectExact(x.map((v, i) => shiftRoundHalfEven(v, n[i])), y, 'shift');
  });
  it('agrees with the spec formula in BigInt on every small x and n', () => {
    const spec = (x: bigint, n: bigint): bigint => {
      const r = x + (1n << (n - 1n));
      return (x & ((1n << n) - 1n)) === 1n << (n - 1n) ? (r >> (n + 1n)) << 1n : r >> n;
    };
    const bad: string[] = [];
    for (let n = 1; n <= 12; n++) {
      for (let x = -3000; x <= 3000; x++) if (BigInt(shiftRoundHalfEven(x, n)) !== spec(BigInt(x), BigInt(n))) bad.push(`${x} >> ${n}`);
    }
    expect(bad.slice(0, 5)).toEqual([]);
  });
  it('rounds negative ties to even with a floor modulo', () => {
    expect([5, -5, 7, -7, 6, -6, -1, 1].map((v) => shiftRoundHalfEven(v, 1))).toEqual([2, -2, 4, -4, 3, -3, 0, 0]);
    expect([12, -12, 20, -20, -28].map((v) => shiftRoundHalfEven(v, 3))).toEqual([2, -2, 2, -2, -4]);
    expect(shiftRoundHalfEven(-(2 ** 31), 31)).toBe(-1);
    expect(shiftRoundHalfEven(2 ** 31 - 1, 1)).toBe(2 ** 30);
    expect(shiftRoundHalfEven(2 ** 31 - 1, -1)).toBe(2 ** 31 - 1);
    expect(shiftRoundHalfEven(-(2 ** 31), 0)).toBe(-(2 ** 31));
    expect(() => shiftRoundHalfEven(0.5, 1)).toThrow(/int32/);
  });
  it('requantize matches torch', () => {
    for (const c of golden.requantize) {
      const n = typeof c.n === 'number' ? c.n : Int32Array.from(c.n);
      const out = requantize(Int32Array.from(c.acc), n, { signed: c.signed, relu: c.relu, channelAxis: c.channelAxis });
      expectExact(out, c.out, `requantize n=${c.n} signed=${c.signed}`);
    }
  });
  it('requantize clamps to [-127, 127] and [0, 255]', () => {
    const acc = Int32Array.of(1000, -1000, 2 ** 20, -(2 ** 20), -12);
    expect(Array.from(requantize(acc, 3, { signed: true }))).toEqual([125, -125, 127, -127, -2]);
    expect(Array.from(requantize(acc, 3, { signed: false }))).toEqual([125, 0, 255, 0, 0]);
    expect(Array.from(requantize(acc, 3, { signed: true, relu: true }))).toEqual([125, 0, 127, 0, 0]);
  });
  it('alignAdd matches torch and clampInt32 is symmetric', () => {
    for (const c of golden.alignAdd) {
      const r = alignAdd(Int32Array.from(c.a), c.flA, Int32Array.from(c.b), c.flB);
      expect(r.fl).toBe(c.fl);
      expectExact(r.value, c.value, `alignAdd ${c.flA} ${c.flB}`);
    }
    expect(clampInt32(-(2 ** 31))).toBe(-(2 ** 31 - 1));
    expect(clampInt32(2 ** 40)).toBe(2 ** 31 - 1);
    expect(clampInt32(NaN)).toBe(0);
  });
});
