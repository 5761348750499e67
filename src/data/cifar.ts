/**
 * CIFAR-10 binary-version reader (cifar-10-batches-bin). Each record is 1 label byte followed
 * by 3072 pixel bytes, CHW: 1024 red, 1024 green, 1024 blue, each 32x32 row-major, which is
 * already this project's NCHW layout, so pixels are copied without reordering.
 * Train is data_batch_1..5.bin (50,000 images), test is test_batch.bin (10,000).
 *
 * @example
 *   const { train, test } = loadCifar10('data/cifar-10-batches-bin');
 */
import { existsSync } from 'node:fs';
import { readUntrusted } from '../io/untrusted.js';
import { join } from 'node:path';
import { F8Error } from '../runtime/errors.js';
import type { Dataset, DatasetSplits } from './dataset.js';

export const CIFAR_PIXELS = 3 * 32 * 32;
export const CIFAR_RECORD = 1 + CIFAR_PIXELS;
export const CIFAR10_TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
export const CIFAR10_TEST_FILE = 'test_batch.bin';

function readFile(path: string): Buffer {
  return readUntrusted(path, { what: 'a CIFAR-10 binary batch' });
}

/** Checks one batch file's length and labels; returns its record count. */
function checkBatch(buf: Uint8Array, path: string): number {
  if (buf.length === 0 || buf.length % CIFAR_RECORD !== 0) {
    throw new F8Error(
      'BAD_INPUT',
      `${path}: ${buf.length} bytes, expected a non-zero multiple of ${CIFAR_RECORD} (1 label + ${CIFAR_PIXELS} pixel bytes per image)`,
    );
  }
  const n = buf.length / CIFAR_RECORD;
  for (let i = 0; i < n; i++) {
    const label = buf[i * CIFAR_RECORD];
    if (label >= 10) throw new F8Error('BAD_INPUT', `${path}: label ${label} in record ${i}, expected 0..9`);
  }
  return n;
}

/** Reads CIFAR-10 binary batch files (in the given order) into one 3x32x32 Dataset. */
export function readCifarBatches(paths: string[], name: string): Dataset {
  const bufs = paths.map(readFile);
  const counts = bufs.map((b, i) => checkBatch(b, paths[i]));
  const length = counts.reduce((a, b) => a + b, 0);
  const images = new Uint8Array(length * CIFAR_PIXELS);
  const labels = new Uint8Array(length);
  let k = 0;
  for (const buf of bufs) {
    for (let off = 0; off < buf.length; off += CIFAR_RECORD, k++) {
      labels[k] = buf[off];
      images.set(buf.subarray(off + 1, off + CIFAR_RECORD), k * CIFAR_PIXELS);
    }
  }
  return { name, numClasses: 10, channels: 3, height: 32, width: 32, length, images, labels };
}

/**
 * Loads CIFAR-10 from `dir`, or from `dir/cifar-10-batches-bin` (the folder the official
 * tarball unpacks to) when the batches are not directly in `dir`.
 */
export function loadCifar10(dir: string, name = 'cifar10'): DatasetSplits {
  const root = existsSync(join(dir, CIFAR10_TEST_FILE)) ? dir : join(dir, 'cifar-10-batches-bin');
  for (const f of [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE]) {
    if (!existsSync(join(root, f))) {
      throw new F8Error('IO', `${dir}: no ${f}, expected CIFAR-10 binary batches (data_batch_1..5.bin, test_batch.bin) there or in cifar-10-batches-bin/`);
    }
  }
  return {
    train: readCifarBatches(CIFAR10_TRAIN_FILES.map((f) => join(root, f)), `${name}/train`),
    test: readCifarBatches([join(root, CIFAR10_TEST_FILE)], `${name}/test`),
  };
}
