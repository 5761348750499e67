// xoshiro128** against the reference C implementation, and state save/restore.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/runtime/rng.js';

describe('Rng', () => {
  it('matches reference xoshiro128** from state [1, 2, 3, 4]', () => {
    // Outputs of Blackman & Vigna's xoshiro128starstar.c with s = {1, 2, 3, 4}.
    const rng = new Rng();
    rng.setState([1, 2, 3, 4]);
    const got = Array.from({ length: 6 }, () => rng.nextU32());
    expect(got).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  });

  it('gives the same sequence for the same seed and different ones for different seeds', () => {
    const seq = (seed: number) => {
      const r = new Rng(seed);
      return Array.from({ length: 8 }, () => r.nextU32());
    };
    expect(seq(7)).toEqual(seq(7));
    expect(seq(7)).not.toEqual(seq(8));
    expect(seq(0).some((x) => x !== 0)).toBe(true);
  });

  it('reproduces the sequence after getState/setState, through a JSON round trip', () => {
    const rng = new Rng(123);
    for (let i = 0; i < 10; i++) rng.nextU32();
    const saved = JSON.parse(JSON.stringify(rng.getState()));
    const a = [rng.nextU32(), rng.nextFloat(), rng.normal(), rng.nextInt(10), ...rng.shuffle([1, 2, 3, 4, 5])];
    const other = new Rng(999);
    other.setState(saved);
    const b = [other.nextU32(), other.nextFloat(), other.normal(), other.nextInt(10), ...other.shuffle([1, 2, 3, 4, 5])];
    expect(b).toEqual(a);
  });

  it('has sane uniform, integer and normal statistics', () => {
    const rng = new Rng(1);
    const n = 200_000;
    let sum = 0;
    let sumN = 0;
    let sumN2 = 0;
    let outside = 0;
    const hist = new Array(7).fill(0);
    for (let i = 0; i < n; i++) {
      const u = rng.nextFloat();
      if (!(u >= 0 && u < 1)) outside++;
      sum += u;
      hist[rng.nextInt(7)]++;
      const z = rng.normal();
      sumN += z;
      sumN2 += z * z;
    }
    expect(outside).toBe(0);
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(0.005);
    for (const h of hist) expect(Math.abs(h / n - 1 / 7)).toBeLessThan(0.005);
    expect(Math.abs(sumN / n)).toBeLessThan(0.01);
    expect(Math.abs(sumN2 / n - 1)).toBeLessThan(0.02);
  });

  it('shuffles into a permutation and rejects an all-zero state', () => {
    const a = new Rng(5).shuffle(Int32Array.from({ length: 1000 }, (_, i) => i));
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect([...a]).not.toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(() => new Rng().setState([0, 0, 0, 0])).toThrow(/all zero/);
  });
});
