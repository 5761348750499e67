/**
 * IDX reader for MNIST-format data sets (MNIST, Fashion-MNIST, KMNIST), plain or gzipped.
 * Layout: uint32 big-endian magic 0x0000TTRR (TT = 0x08 for uint8, RR = rank), then RR uint32
 * big-endian dims, then prod(dims) bytes. Images are rank 3 (n, rows, cols), labels rank 1 (n).
 *
 * Files are treated as untrusted: the header must match the file length exactly, and nothing
 * larger than the file (after gunzip, which is capped by the gzip trailer and `maxBytes`) is
 * ever allocated, so a header claiming 2^31 images fails fast instead of allocating.
 *
 * @example
 *   const { train, test } = loadIdxDataset('/usr/share/datasets/fashion-mnist', 'fashion-mnist');
 */
import { existsSync } from 'node:fs';
import { readUntrusted } from '../io/untrusted.js';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { F8Error } from '../runtime/errors.js';
import { checkDataset, type Dataset, type DatasetSplits } from './dataset.js';

export const IDX_UINT8 = 0x08;
export const IDX_MAGIC_IMAGES = 0x00000803;
export const IDX_MAGIC_LABELS = 0x00000801;

/** Largest decompressed size accepted from a .gz file unless the caller raises it. */
export const DEFAULT_MAX_BYTES = 1 << 30;

export interface IdxArray {
  dims: number[];
  /** prod(dims) bytes; a view into the file's buffer, not a copy. */
  data: Uint8Array<ArrayBuffer>;
}

const hex8 = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;
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

/**
 * Parses an IDX buffer whose magic must be `expectMagic` (uint8 data; the low byte is the rank).
 * `path` only names the source in error messages.
 */
export function parseIdx(buf: Uint8Array<ArrayBuffer>, path: string, expectMagic: number): IdxArray {
  const rank = expectMagic & 0xff;
  const what = `IDX uint8 rank ${rank}`;
  if (buf.length < 4) throw bad(path, `file is ${buf.length} bytes, expected an ${what} file (header of ${4 + 4 * rank} bytes)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = view.getUint32(0, false);
  if (magic >>> 16 !== 0) throw bad(path, `magic ${hex8(magic)}, expected ${hex8(expectMagic)} (${what})`);
  if (((magic >>> 8) & 0xff) !== IDX_UINT8) {
    throw bad(path, `IDX data type 0x${((magic >>> 8) & 0xff).toString(16)}, expected 0x08 (uint8)`);
  }
  if ((magic & 0xff) !== rank) throw bad(path, `IDX rank ${magic & 0xff}, expected ${rank}`);
  const headerBytes = 4 + 4 * rank;
  if (buf.length < headerBytes) throw bad(path, `file is ${buf.length} bytes, expected at least ${headerBytes} for the ${what} header`);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  // BigInt keeps the product exact whatever the header claims (4 dims of 2^32-1 overflow 2^53).
  const want = dims.reduce((p, d) => p * BigInt(d), 1n);
  const have = BigInt(buf.length - headerBytes);
  const shape = dims.join('x');
  if (want > have) {
    throw bad(path, `truncated: header declares ${shape} = ${want} data bytes but only ${have} follow it, expected ${BigInt(headerBytes) + want} bytes in all`);
  }
  if (want < have) {
    throw bad(path, `${have - want} trailing bytes after the ${shape} data, expected exactly ${BigInt(headerBytes) + want} bytes`);
  }
  return { dims, data: buf.subarray(headerBytes) };
}

/** Reads and validates one IDX file (plain or gzip). */
export function readIdx(path: string, expectMagic: number, maxBytes = DEFAULT_MAX_BYTES): IdxArray {
  return parseIdx(readMaybeGzip(path, maxBytes), path, expectMagic);
}

/** Reads a rank-3 image file and a rank-1 label file into a single-channel Dataset. */
export function readIdxPair(imagesPath: string, labelsPath: string, name: string, numClasses = 10): Dataset {
  const images = readIdx(imagesPath, IDX_MAGIC_IMAGES);
  const labels = readIdx(labelsPath, IDX_MAGIC_LABELS);
  const [n, height, width] = images.dims;
  if (height === 0 || width === 0) throw bad(imagesPath, `images are ${height}x${width}, expected non-empty images`);
  if (labels.dims[0] !== n) {
    throw bad(labelsPath, `${labels.dims[0]} labels, expected ${n} (the image count of ${imagesPath})`);
  }
  return checkDataset(
    { name, numClasses, channels: 1, height, width, length: n, images: images.data, labels: labels.data },
    labelsPath,
  );
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
