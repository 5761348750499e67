// CIFAR-10 binary batches: a small set written here, plus broken files.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CIFAR_PIXELS, CIFAR_RECORD } from '../../src/data/cifar.js';
import { loadCifar10, readCifarBatches } from '../../src/node/dataset-files.js';
import { F8Error } from '../../src/runtime/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'f8net-cifar-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** n records; record r has label (first + r) % 10 and pixels (first + r + i) % 256. */
function batch(n: number, first: number): Buffer {
  const b = Buffer.alloc(n * CIFAR_RECORD);
  for (let r = 0; r < n; r++) {
    b[r * CIFAR_RECORD] = (first + r) % 10;
    for (let i = 0; i < CIFAR_PIXELS; i++) b[r * CIFAR_RECORD + 1 + i] = (first + r + i) % 256;
  }
  return b;
}

function caught(f: () => unknown): F8Error {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(F8Error);
    return e as F8Error;
  }
  throw new Error('expected an F8Error');
}

describe('CIFAR-10 reader', () => {
  it('loads five train batches and the test batch in order, from cifar-10-batches-bin/', () => {
    const root = join(dir, 'cifar-10-batches-bin');
    mkdirSync(root);
    for (let i = 1; i <= 5; i++) writeFileSync(join(root, `data_batch_${i}.bin`), batch(2, 2 * (i - 1)));
    writeFileSync(join(root, 'test_batch.bin'), batch(3, 100));
    const { train, test } = loadCifar10(dir);
    expect(train).toMatchObject({ name: 'cifar10/train', numClasses: 10, channels: 3, height: 32, width: 32, length: 10 });
    expect(test.length).toBe(3);
    expect([...train.labels]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect([...test.labels]).toEqual([0, 1, 2]);
    for (const r of [0, 7]) {
      const img = train.images.subarray(r * CIFAR_PIXELS, (r + 1) * CIFAR_PIXELS);
      // red plane first, then green (offset 1024), then blue (2048): CHW, unchanged
      expect([img[0], img[1], img[1024], img[2048 + 5]]).toEqual([r, r + 1, (r + 1024) % 256, (r + 2053) % 256]);
    }
  });

  it('rejects a truncated batch', () => {
    const p = join(dir, 'short.bin');
    writeFileSync(p, batch(2, 0).subarray(0, 2 * CIFAR_RECORD - 1));
    const e = caught(() => readCifarBatches([p], 'x'));
    expect(e.code).toBe('BAD_INPUT');
    expect(e.message).toBe(`${p}: 6145 bytes, expected a non-zero multiple of 3073 (1 label + 3072 pixel bytes per image)`);
    writeFileSync(p, Buffer.alloc(0));
    expect(caught(() => readCifarBatches([p], 'x')).message).toContain('0 bytes');
  });

  it('rejects a label >= 10', () => {
    const p = join(dir, 'label.bin');
    const b = batch(2, 0);
    b[CIFAR_RECORD] = 10;
    writeFileSync(p, b);
    expect(caught(() => readCifarBatches([p], 'x')).message).toBe(`${p}: label 10 in record 1, expected 0..9`);
  });

  it('names a missing batch', () => {
    const e = caught(() => loadCifar10(join(dir, 'empty')));
    expect(e.code).toBe('IO');
    expect(e.message).toContain('data_batch_1.bin');
  });
});
