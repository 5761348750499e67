// IDX reader: round trips on files written here (plain and gzip) and hostile or broken files.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { IDX_MAGIC_IMAGES, IDX_MAGIC_LABELS } from '../../src/data/idx.js';
import { findFashionMnistDir, loadIdxDataset, readIdx, readMaybeGzip } from '../../src/node/dataset-files.js';
import { F8Error } from '../../src/runtime/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'f8net-idx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An IDX file: big-endian magic and dims, then the data. */
function idx(magic: number, dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, data]);
}

function pattern(n: number, mod = 256): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 37 + 11) % mod);
}

/** Writes a train/t10k IDX set of n and m 5x4 images into a new folder; gz picks plain or gzip. */
function makeSet(sub: string, n: number, m: number, gz: boolean, labels = { train: n, test: m }): string {
  const d = mkdtempSync(join(dir, `${sub}-`));
  const put = (name: string, buf: Buffer) => writeFileSync(join(d, gz ? `${name}.gz` : name), gz ? gzipSync(buf) : buf);
  put('train-images-idx3-ubyte', idx(IDX_MAGIC_IMAGES, [n, 5, 4], pattern(n * 20)));
  put('train-labels-idx1-ubyte', idx(IDX_MAGIC_LABELS, [labels.train], pattern(labels.train, 10)));
  put('t10k-images-idx3-ubyte', idx(IDX_MAGIC_IMAGES, [m, 5, 4], pattern(m * 20).reverse()));
  put('t10k-labels-idx1-ubyte', idx(IDX_MAGIC_LABELS, [labels.test], pattern(labels.test, 10).reverse()));
  return d;
}

function expectBadInput(f: () => unknown, ...parts: string[]): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(F8Error);
  const e = err as F8Error;
  expect(e.code).toBe('BAD_INPUT');
  expect(e.message).not.toContain('\n');
  for (const p of parts) expect(e.message).toContain(p);
}

describe('IDX reader', () => {
  for (const gz of [false, true]) {
    it(`round-trips a train/test set (${gz ? 'gzip' : 'plain'})`, () => {
      const d = makeSet(gz ? 'gz' : 'plain', 7, 3, gz);
      const { train, test } = loadIdxDataset(d, 'toy');
      expect(train).toMatchObject({ name: 'toy/train', numClasses: 10, channels: 1, height: 5, width: 4, length: 7 });
      expect(test).toMatchObject({ name: 'toy/test', length: 3 });
      expect([...train.images]).toEqual([...pattern(7 * 20)]);
      expect([...train.labels]).toEqual([...pattern(7, 10)]);
      expect([...test.images]).toEqual([...pattern(3 * 20).reverse()]);
      expect([...test.labels]).toEqual([...pattern(3, 10).reverse()]);
    });
  }

  it('rejects a truncated file', () => {
    const p = join(dir, 'trunc');
    writeFileSync(p, idx(IDX_MAGIC_IMAGES, [3, 5, 4], pattern(59)));
    expectBadInput(() => readIdx(p, IDX_MAGIC_IMAGES), p, 'truncated', '3x5x4', 'expected 76 bytes');
    writeFileSync(p, Buffer.from([0, 0, 8, 3, 0, 0]));
    expectBadInput(() => readIdx(p, IDX_MAGIC_IMAGES), 'expected at least 16');
  });

  it('rejects trailing bytes', () => {
    const p = join(dir, 'trail');
    writeFileSync(p, idx(IDX_MAGIC_IMAGES, [3, 5, 4], pattern(61)));
    expectBadInput(() => readIdx(p, IDX_MAGIC_IMAGES), p, '1 trailing bytes', 'expected exactly 76');
  });

  it('rejects a wrong magic, data type or rank', () => {
    const p = join(dir, 'magic');
    writeFileSync(p, idx(0x12345678, [1], pattern(1)));
    expectBadInput(() => readIdx(p, IDX_MAGIC_LABELS), 'magic 0x12345678', 'expected 0x00000801');
    writeFileSync(p, idx(0x00000d01, [1], pattern(4))); // float32 labels
    expectBadInput(() => readIdx(p, IDX_MAGIC_LABELS), 'data type 0xd', 'expected 0x08');
    writeFileSync(p, idx(IDX_MAGIC_LABELS, [2], pattern(2)));
    expectBadInput(() => readIdx(p, IDX_MAGIC_IMAGES), 'rank 1', 'expected 3');
  });

  it('rejects a label count that differs from the image count', () => {
    const d = makeSet('count', 7, 3, false, { train: 6, test: 3 });
    expectBadInput(() => loadIdxDataset(d, 'toy'), 'train-labels-idx1-ubyte', '6 labels, expected 7');
  });

  it('rejects labels >= 10', () => {
    const d = makeSet('label', 2, 1, false);
    writeFileSync(join(d, 't10k-labels-idx1-ubyte'), idx(IDX_MAGIC_LABELS, [1], Uint8Array.of(10)));
    expectBadInput(() => loadIdxDataset(d, 'toy'), 'label 10 at index 0', 'expected < 10');
  });

  it('rejects a header claiming 2^31 images without allocating for them', () => {
    const p = join(dir, 'hostile');
    writeFileSync(p, idx(IDX_MAGIC_IMAGES, [2 ** 31, 28, 28], pattern(100)));
    const before = process.memoryUsage().arrayBuffers;
    expectBadInput(() => readIdx(p, IDX_MAGIC_IMAGES), 'truncated', '2147483648x28x28', '1683627180032');
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
    // The same through gzip: the trailer bounds what gunzip may produce.
    writeFileSync(`${p}.gz`, gzipSync(idx(IDX_MAGIC_IMAGES, [2 ** 31, 28, 28], pattern(100))));
    expectBadInput(() => readIdx(`${p}.gz`, IDX_MAGIC_IMAGES), 'truncated');
  });

  it('bounds gunzip by the trailer and by maxBytes', () => {
    const p = join(dir, 'bomb.gz');
    const gz = gzipSync(Buffer.alloc(4 << 20));
    writeFileSync(p, gz);
    expectBadInput(() => readMaybeGzip(p, 1 << 20), 'declares 4194304 uncompressed bytes', 'expected at most 1048576');
    const lying = Buffer.from(gz);
    lying.writeUInt32LE(1000, lying.length - 4); // trailer claims 1000 bytes
    writeFileSync(p, lying);
    expectBadInput(() => readMaybeGzip(p), 'decompresses to more than the 1000 bytes its gzip trailer declares');
    const badCrc = Buffer.from(gz);
    badCrc[badCrc.length - 8] ^= 0xff;
    writeFileSync(p, badCrc);
    expectBadInput(() => readMaybeGzip(p), 'gunzip failed', 'expected a valid gzip file of 4194304 bytes');
  });

  it('names the missing file', () => {
    let err: unknown;
    try {
      loadIdxDataset(join(dir, 'nowhere'), 'toy');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(F8Error);
    expect((err as F8Error).code).toBe('IO');
    expect((err as F8Error).message).toContain('train-images-idx3-ubyte');
  });

  const fashion = findFashionMnistDir();
  it.skipIf(!fashion)('loads Debian dataset-fashion-mnist when installed', () => {
    const { train, test } = loadIdxDataset(fashion!, 'fashion-mnist');
    expect([train.length, test.length, train.height, train.width]).toEqual([60000, 10000, 28, 28]);
  });
});
