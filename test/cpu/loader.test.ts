// BatchLoader: epoch coverage, dropLast, seeded order, exact resume, augmentation, prefetch.
import { describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/dataset.js';
import { BatchLoader, cropFlipInto, type Batch } from '../../src/data/loader.js';

/** n samples of c x h x w; sample i has label i % 10 and every pixel of it equal to i % 256. */
function toy(n: number, c = 1, h = 2, w = 3): Dataset {
  const sz = c * h * w;
  const images = new Uint8Array(n * sz);
  for (let i = 0; i < n; i++) images.fill(i % 256, i * sz, (i + 1) * sz);
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
  return { name: 'toy', numClasses: 10, channels: c, height: h, width: w, length: n, images, labels };
}

const order = (batches: Batch[]) => batches.flatMap((b) => [...b.indices]);

describe('BatchLoader', () => {
  it('covers every index exactly once per epoch when shuffling, with matching pixels and labels', () => {
    const ds = toy(103);
    const loader = new BatchLoader(ds, { batchSize: 10, shuffle: true, seed: 3 });
    const e0 = [...loader];
    const e1 = [...loader];
    for (const epoch of [e0, e1]) {
      expect(epoch.map((b) => b.size)).toEqual([10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3]);
      expect(order(epoch).sort((a, b) => a - b)).toEqual(Array.from({ length: 103 }, (_, i) => i));
      for (const b of epoch) {
        expect(b.images.length).toBe(b.size * 6);
        b.indices.forEach((j, i) => {
          expect(b.labels[i]).toBe(j % 10);
          expect(b.images[i * 6 + 5]).toBe(j);
        });
      }
    }
    expect(order(e0)).not.toEqual(order(e1));
    expect(order(e0)).not.toEqual(Array.from({ length: 103 }, (_, i) => i));
    expect([e0[0].epoch, e1[0].epoch, loader.epoch]).toEqual([0, 1, 2]);
  });

  it('keeps dataset order without shuffle, and drops the short batch with dropLast', () => {
    const ds = toy(25);
    const keep = [...new BatchLoader(ds, { batchSize: 10 })];
    expect(keep.map((b) => b.size)).toEqual([10, 10, 5]);
    expect(order(keep)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    const drop = new BatchLoader(ds, { batchSize: 10, dropLast: true, shuffle: true, seed: 1 });
    expect(drop.batchesPerEpoch).toBe(2);
    const batches = [...drop];
    expect(batches.map((b) => b.size)).toEqual([10, 10]);
    expect(new Set(order(batches)).size).toBe(20);
    expect([...new BatchLoader(toy(5), { batchSize: 10, dropLast: true })]).toEqual([]);
  });

  it('gives the same order for the same seed and another for another seed', () => {
    const ds = toy(50);
    const run = (seed: number) => {
      const l = new BatchLoader(ds, { batchSize: 8, shuffle: true, seed, augment: { cropPadding: 1, hflip: true } });
      const bs = [...l, ...l];
      return { order: order(bs), pixels: bs.map((b) => [...b.images]) };
    };
    expect(run(11)).toEqual(run(11));
    expect(run(11).order).not.toEqual(run(12).order);
  });

  it('resumes exactly from getState() in the middle of an epoch', async () => {
    const ds = toy(40, 1, 4, 4);
    const opts = { batchSize: 6, shuffle: true, seed: 5, augment: { cropPadding: 2, hflip: true } };
    const ref = new BatchLoader(ds, opts);
    const all = [...ref, ...ref, ...ref].map((b) => [[...b.indices], [...b.images]]);

    const a = new BatchLoader(ds, opts);
    const first = [...a]; // epoch 0
    const it = a.batches();
    const second = [it.next().value!, it.next().value!, it.next().value!]; // 3 batches of epoch 1
    it.return(undefined);
    const saved = JSON.parse(JSON.stringify(a.getState()));
    expect(saved).toMatchObject({ epoch: 1, batch: 3 });

    const b = new BatchLoader(ds, { ...opts, seed: 999 });
    b.setState(saved);
    const rest: Batch[] = [];
    for await (const batch of b.prefetch()) rest.push(batch); // rest of epoch 1
    rest.push(...b); // epoch 2
    const resumed = [...first, ...second, ...rest].map((x) => [[...x.indices], [...x.images]]);
    expect(resumed).toEqual(all);
  });

  it('prefetch yields the same batches as the sync iterator and reports waitMs', async () => {
    const ds = toy(64, 3, 8, 8);
    const opts = { batchSize: 16, shuffle: true, seed: 9, augment: { cropPadding: 2, hflip: true } };
    const sync = [...new BatchLoader(ds, opts)];
    const loader = new BatchLoader(ds, opts);
    const it = loader.prefetch();
    const got: Batch[] = [];
    for await (const b of it) {
      got.push(b);
      await new Promise((r) => setTimeout(r, 2)); // the "GPU step" during which the next batch is built
    }
    expect(got.map((b) => [...b.images])).toEqual(sync.map((b) => [...b.images]));
    expect(it.waitMs).toBeGreaterThanOrEqual(0);
    expect(loader.waitMs).toBe(it.waitMs);
    expect(loader.epoch).toBe(1);
  });

  it('crops with zero padding and flips like the reference definition', () => {
    const c = 2;
    const h = 3;
    const w = 4;
    const src = Uint8Array.from({ length: c * h * w }, (_, i) => i + 1);
    const at = (ch: number, y: number, x: number) => (y >= 0 && y < h && x >= 0 && x < w ? src[(ch * h + y) * w + x] : 0);
    const cases: [number, number, number, boolean][] = [];
    for (let pad = 0; pad <= 5; pad++)
      for (let dy = 0; dy <= 2 * pad; dy++)
        for (let dx = 0; dx <= 2 * pad; dx++) for (const flip of [false, true]) cases.push([pad, dy, dx, flip]);
    for (const [pad, dy, dx, flip] of cases) {
      const dst = new Uint8Array(c * h * w).fill(99);
      cropFlipInto(dst, src, c, h, w, pad, dy, dx, flip);
      const want: number[] = [];
      for (let ch = 0; ch < c; ch++)
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++) want.push(at(ch, y + dy - pad, (flip ? w - 1 - x : x) + dx - pad));
      expect([...dst]).toEqual(want);
    }
  });

  it('rejects a bad batch size', () => {
    expect(() => new BatchLoader(toy(3), { batchSize: 0 })).toThrow(/batchSize 0, expected a positive integer/);
  });
});
