/**
 * Resolving a config's data set: which loader, the default input statistics, and the
 * optional padding and subsetting.
 *
 * @example
 *   const data = await loadDataAsync(cfg); // { train, test, mean, std, trainTransform? }
 *   const loader = new BatchLoader(data.train, { batchSize: 64, sampleTransform: data.trainTransform });
 *   const [c, h, w] = inputShape(data);
 */
import { F8Error } from '../runtime/errors.js';
import type { Dataset, DatasetSplits } from './dataset.js';
import { imageFolderTransform, type ImageFolderOptions, type ImageFolderSplits } from './image-folder.js';
import type { SampleTransform } from './loader.js';
import { Rng } from '../runtime/rng.js';
import type { TrainConfig } from '../train/config.js';
import { imageFeed, LEGACY_HEAD_FORM } from '../quant/head-form.js';

export interface LoadedData extends DatasetSplits {
  mean: number[];
  std: number[];
  /** Class names (folder data sets: the class folders), label k is classes[k]; absent when the set has none. */
  classes?: string[];
  /**
   * For data stored larger than the network input (folder: train at resizeTo): the training
   * BatchLoader's sampleTransform, producing inputShape(data) samples. Absent otherwise.
   */
  trainTransform?: SampleTransform;
}

/**
 * Where a platform reads the stored data sets from (Node: files, registered by
 * src/node/register.ts). A data set with no reader here fails with a message naming it.
 */
export interface DatasetReaders {
  mnist(): DatasetSplits;
  /** The folder of the Debian package dataset-fashion-mnist when it is installed. */
  fashionMnistDir(): string | null;
  idx(dir: string, name: string, numClasses?: number): DatasetSplits;
  cifar10(dir: string): DatasetSplits;
  folder(dir: string, opts: ImageFolderOptions): Promise<ImageFolderSplits>;
}

let readers: DatasetReaders | null = null;

/** Sets the readers of stored data sets (the synthetic one needs none). */
export function setDatasetReaders(r: DatasetReaders): void {
  readers = r;
}

function reader(dataset: string): DatasetReaders {
  if (!readers) throw new F8Error('UNSUPPORTED', `dataset ${dataset} is read from files, and this platform has no dataset readers (Node: import src/node/register.js; elsewhere use dataset synthetic or pass a Dataset)`);
  return readers;
}

// In dataset.ts, so that the portable training loop need not import the file readers here.
export { inputShape } from './dataset.js';

export const STATS: Record<string, [number[], number[]]> = {
  mnist: [[0.1307], [0.3081]],
  'fashion-mnist': [[0.286], [0.353]],
  cifar10: [[0.4914, 0.4822, 0.4465], [0.247, 0.2435, 0.2616]],
  // ImageNet's, the usual choice for photos in class folders.
  folder: [[0.485, 0.456, 0.406], [0.229, 0.224, 0.225]],
};

/**
 * A deterministic toy data set for tests and smoke runs: class k is a bright 3x3 square at
 * one of `classes` positions plus uniform noise, `size` x `size`, one channel.
 */
export function syntheticDataset(n: number, classes: number, size: number, seed: number, name = 'synthetic'): Dataset {
  const rng = new Rng(seed);
  const images = new Uint8Array(n * size * size);
  const labels = new Uint8Array(n);
  const cells = Math.max(1, Math.floor(size / 4));
  for (let i = 0; i < n; i++) {
    const k = i % classes;
    labels[i] = k;
    const cy = 1 + 3 * Math.floor(k / cells);
    const cx = 1 + 3 * (k % cells);
    for (let p = 0; p < size * size; p++) images[i * size * size + p] = Math.floor(rng.nextFloat() * 60);
    for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) {
      const y = (cy + dy) % size;
      const x = (cx + dx) % size;
      images[i * size * size + y * size + x] = 200 + Math.floor(rng.nextFloat() * 55);
    }
  }
  return { name, numClasses: classes, channels: 1, height: size, width: size, length: n, images, labels };
}

/** Largest padded image array (bytes); one typed array cannot hold more. */
const MAX_PADDED_BYTES = 2 ** 31 - 1;

/**
 * Splits that make no sense are refused before training writes checkpoints of an untrained
 * model: an empty train or test split, or test images of another shape than the train images.
 */
function checkSplits(train: Dataset, test: Dataset, source: string, sameShape = true): void {
  if (train.length === 0) throw new F8Error('BAD_INPUT', `${source}: the training split ${train.name} holds 0 images, expected at least 1`);
  if (test.length === 0) throw new F8Error('BAD_INPUT', `${source}: the test split ${test.name} holds 0 images, expected at least 1`);
  const shape = (d: Dataset) => `${d.channels}x${d.height}x${d.width}`;
  if (sameShape && shape(train) !== shape(test)) throw new F8Error('BAD_INPUT', `${source}: test images are ${shape(test)} but training images ${shape(train)}, expected one image shape for both splits`);
}

function padDataset(ds: Dataset, to: number): Dataset {
  if (to < ds.height || to < ds.width) throw new F8Error('BAD_CONFIG', `pad_to ${to} is smaller than the ${ds.height}x${ds.width} images of ${ds.name}`);
  const need = ds.length * ds.channels * to * to;
  if (need > MAX_PADDED_BYTES) throw new F8Error('BAD_CONFIG', `pad_to ${to}: ${ds.length} padded images of ${ds.name} would take ${need} bytes, more than the ${MAX_PADDED_BYTES}-byte limit; lower pad_to or max_train_samples/max_test_samples`);
  if (to === ds.height && to === ds.width) return ds;
  const top = Math.floor((to - ds.height) / 2);
  const left = Math.floor((to - ds.width) / 2);
  const plane = to * to;
  const out = new Uint8Array(ds.length * ds.channels * plane);
  for (let i = 0; i < ds.length * ds.channels; i++) {
    for (let y = 0; y < ds.height; y++) {
      const src = (i * ds.height + y) * ds.width;
      out.set(ds.images.subarray(src, src + ds.width), i * plane + (y + top) * to + left);
    }
  }
  return { ...ds, height: to, width: to, images: out };
}

function limit(ds: Dataset, n: number | null): Dataset {
  if (!n || n >= ds.length) return ds;
  const sz = ds.channels * ds.height * ds.width;
  return { ...ds, length: n, images: ds.images.slice(0, n * sz), labels: ds.labels.slice(0, n) };
}

/** The train and test splits a config asks for, with their normalisation statistics. */
export function loadData(cfg: TrainConfig): LoadedData {
  let splits: DatasetSplits | undefined;
  switch (cfg.dataset) {
    case 'mnist':
      splits = reader(cfg.dataset).mnist();
      break;
    case 'fashion-mnist': {
      const dir = cfg.dataset_dir ?? reader(cfg.dataset).fashionMnistDir();
      if (!dir) throw new F8Error('BAD_INPUT', "fashion-mnist: no dataset_dir given and the Debian package is not installed: run 'apt-get install dataset-fashion-mnist' or set dataset_dir to a folder of IDX files");
      splits = reader(cfg.dataset).idx(dir, 'fashion-mnist');
      break;
    }
    case 'idx':
      splits = reader(cfg.dataset).idx(cfg.dataset_dir!, 'idx', cfg.num_classes ?? 10);
      break;
    case 'cifar10':
      splits = reader(cfg.dataset).cifar10(cfg.dataset_dir!);
      break;
    case 'folder':
      throw new F8Error('BAD_CONFIG', 'dataset folder decodes its images asynchronously: call loadDataAsync(cfg) instead of loadData(cfg)');
    case 'synthetic': {
      const size = cfg.image_size ?? 12;
      const classes = cfg.num_classes ?? 4;
      splits = { train: syntheticDataset(cfg.max_train_samples ?? 512, classes, size, cfg.random_seed, 'synthetic/train'), test: syntheticDataset(cfg.max_test_samples ?? 128, classes, size, cfg.random_seed + 1000, 'synthetic/test') };
      break;
    }
  }
  if (!splits) throw new F8Error('BAD_CONFIG', `dataset ${cfg.dataset} is not known`);
  let { train, test } = splits;
  // Cut before padding: the padded copy is then only as large as the samples used.
  train = limit(train, cfg.max_train_samples);
  test = limit(test, cfg.max_test_samples);
  checkSplits(train, test, cfg.dataset_dir ?? cfg.dataset);
  if (cfg.pad_to) {
    train = padDataset(train, cfg.pad_to);
    test = padDataset(test, cfg.pad_to);
  }
  if (cfg.num_classes !== null && cfg.num_classes < train.numClasses) {
    throw new F8Error('BAD_CONFIG', `num_classes ${cfg.num_classes} is below the ${train.numClasses} classes of ${train.name}`);
  }
  if (cfg.image_size !== null && (cfg.image_size !== train.height || cfg.image_size !== train.width)) {
    throw new F8Error('BAD_CONFIG', `image_size ${cfg.image_size} does not match the ${train.height}x${train.width} images of ${train.name} (use pad_to, or leave image_size unset)`);
  }
  const [m, s] = STATS[cfg.dataset] ?? [new Array(train.channels).fill(0.5), new Array(train.channels).fill(0.5)];
  if (cfg.input_mean && cfg.input_mean.length !== train.channels) throw new F8Error('BAD_CONFIG', `input_mean has ${cfg.input_mean.length} values for the ${train.channels} channels of ${train.name}`);
  // The head form decides how the image is fed (src/quant/head-form.ts).
  const { mean, std } = imageFeed(cfg.head_form ?? LEGACY_HEAD_FORM, cfg.input_mean ?? m, cfg.input_std ?? s);
  return { train, test, mean, std };
}

/**
 * loadData for every data set, including those that decode asynchronously (folder: images
 * decoded with sharp). Train and eval code should call this one.
 *
 * @example
 *   const data = await loadDataAsync(resolveConfig({ dataset: 'folder', dataset_dir: 'data/pets', image_size: 64 }));
 */
export async function loadDataAsync(cfg: TrainConfig): Promise<LoadedData> {
  if (cfg.dataset !== 'folder') return loadData(cfg);
  if (!cfg.dataset_dir || cfg.image_size === null) throw new F8Error('BAD_CONFIG', 'dataset folder needs dataset_dir and image_size');
  const channels = cfg.input_mean?.length === 1 ? 1 : 3;
  const splits = await reader(cfg.dataset).folder(cfg.dataset_dir, {
    imageSize: cfg.image_size,
    channels,
    maxTrainSamples: cfg.max_train_samples,
    maxTestSamples: cfg.max_test_samples,
  });
  const { train, test } = splits;
  // Folder training images are stored larger (the random crop's source): only counts checked.
  checkSplits(train, test, cfg.dataset_dir, false);
  if (cfg.num_classes !== null && cfg.num_classes < train.numClasses) {
    throw new F8Error('BAD_CONFIG', `num_classes ${cfg.num_classes} is below the ${train.numClasses} classes of ${cfg.dataset_dir}`);
  }
  const [m, s] = channels === 3 ? STATS.folder : [[0.5], [0.5]];
  const { mean, std } = imageFeed(cfg.head_form ?? LEGACY_HEAD_FORM, cfg.input_mean ?? m, cfg.input_std ?? s);
  if (cfg.input_std && cfg.input_std.length !== channels) throw new F8Error('BAD_CONFIG', `input_std has ${cfg.input_std.length} values for the ${channels} channels of ${train.name}`);
  return { train, test, mean, std, classes: splits.classes, trainTransform: imageFolderTransform(train, cfg.image_size, cfg.augment_random_resized_crop) };
}
