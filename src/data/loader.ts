/**
 * Batches over an in-memory Dataset: optional seeded shuffle, dropLast, an optional per-sample
 * transform that may change the sample shape (e.g. random-resized crop of 256x256 stored images
 * to 224x224, see image-folder.ts), CPU augmentation (random crop with zero padding, horizontal
 * flip, applied after the transform) written straight into the batch buffer, and a prefetching
 * async iterator that builds batch i+1 while the caller works on batch i.
 *
 * Reproducibility: at the start of each epoch the loader draws, from its one Rng, the
 * permutation (when shuffling) and a 32-bit augmentation seed. Batch k's transform and
 * augmentation (in that order) draw from an Rng seeded with mixSeed(augSeed, k), so every batch
 * is a pure function of the Rng state at the start of its epoch and its index: prefetching
 * ahead does not change the sequence, and getState()/setState() ({ rng at epoch start, epoch,
 * next batch }) resume a run exactly.
 *
 * Each batch gets fresh buffers, so a caller may keep batches around (prefetch needs two alive).
 *
 * @example
 *   const loader = new BatchLoader(train, { batchSize: 128, shuffle: true, seed: 1, augment: { cropPadding: 4, hflip: true } });
 *   const it = loader.prefetch();
 *   for await (const b of it) await step(b.images, b.labels, b.size);
 *   console.log(`waited ${it.waitMs.toFixed(1)} ms for data`);
 */
import { F8Error } from '../runtime/errors.js';
import { sampleSize, type Dataset } from './dataset.js';
import { mixSeed, Rng, type RngState } from '../runtime/rng.js';

export interface AugmentOptions {
  /** Pad each side with this many zero pixels and crop a random HxW window (0: off). */
  cropPadding?: number;
  /** Mirror left-right with probability 1/2. */
  hflip?: boolean;
}

/**
 * Turns one stored sample into one batch sample, possibly of another shape. Randomness comes
 * only from `rng` (the batch's augmentation Rng), so batches stay reproducible and resumable.
 */
export interface SampleTransform {
  /** [channels, height, width] of a transformed sample. */
  readonly outShape: readonly [number, number, number];
  /** Writes the transform of `src` (one stored CxHxW sample) into `dst` (outShape). */
  apply(dst: Uint8Array, src: Uint8Array, rng: Rng): void;
}

export interface BatchLoaderOptions {
  batchSize: number;
  /** Shuffle the order every epoch (default false: dataset order). */
  shuffle?: boolean;
  /** Skip the last batch when it would be smaller than batchSize (default false). */
  dropLast?: boolean;
  /** Seed of the loader's Rng (default 0); ignored when `rng` is given. */
  seed?: number;
  /** Use this Rng (shared with the caller) instead of a fresh one. */
  rng?: Rng;
  augment?: AugmentOptions;
  /** Applied to every sample before `augment`; batches then hold samples of its outShape. */
  sampleTransform?: SampleTransform;
}

export interface Batch {
  /** size * C * H * W uint8 pixels, NCHW (plain ArrayBuffers: ready for writeBuffer). */
  images: Uint8Array<ArrayBuffer>;
  labels: Int32Array<ArrayBuffer>;
  /** Number of samples; below batchSize only for the last batch without dropLast. */
  size: number;
  /** Dataset index of each sample. */
  indices: Int32Array<ArrayBuffer>;
  epoch: number;
  /** Batch index within the epoch. */
  index: number;
}

export interface LoaderState {
  /** Rng state at the start of epoch `epoch` (or now, when `batch` is 0). */
  rng: RngState;
  epoch: number;
  /** Batches of `epoch` already handed out. */
  batch: number;
}

/** Async iterator over the rest of an epoch, with the time its consumer spent waiting. */
export interface PrefetchIterator extends AsyncIterableIterator<Batch> {
  /** Milliseconds the consumer spent waiting for a batch in this iterator. */
  readonly waitMs: number;
}

interface EpochPlan {
  order: Int32Array<ArrayBuffer>;
  augSeed: number;
  epoch: number;
}

/**
 * Copies one CxHxW image from `src` into `dst`, shifted by (dy - pad, dx - pad) with zeros
 * where the window leaves the image, and mirrored left-right when `flip`. With pad = 0 and
 * no flip it is a plain copy. dy, dx are in [0, 2 * pad].
 */
export function cropFlipInto(
  dst: Uint8Array,
  src: Uint8Array,
  c: number,
  h: number,
  w: number,
  pad: number,
  dy: number,
  dx: number,
  flip: boolean,
): void {
  const oy = dy - pad;
  const ox = dx - pad;
  for (let ch = 0; ch < c; ch++) {
    const plane = ch * h * w;
    for (let y = 0; y < h; y++) {
      const row = plane + y * w;
      const sy = y + oy;
      if (sy < 0 || sy >= h) {
        dst.fill(0, row, row + w);
        continue;
      }
      const srow = plane + sy * w;
      // Output columns x0..x1-1 read inside the image; the rest is padding.
      const x0 = Math.max(0, flip ? ox : -ox);
      const x1 = Math.min(w, flip ? w + ox : w - ox);
      if (x1 <= x0) {
        dst.fill(0, row, row + w);
        continue;
      }
      dst.fill(0, row, row + x0);
      dst.fill(0, row + x1, row + w);
      if (!flip) {
        dst.set(src.subarray(srow + x0 + ox, srow + x1 + ox), row + x0);
      } else {
        for (let x = x0; x < x1; x++) dst[row + x] = src[srow + w - 1 - x + ox];
      }
    }
  }
}

export class BatchLoader {
  readonly batchSize: number;
  private readonly shuffle: boolean;
  private readonly dropLast: boolean;
  private readonly pad: number;
  private readonly hflip: boolean;
  private readonly rng: Rng;
  private readonly transform: SampleTransform | null;
  /** [channels, height, width] of the samples in a batch (the transform's outShape, if any). */
  readonly sampleShape: readonly [number, number, number];
  private plan: EpochPlan | null = null;
  private startState: RngState;
  private epochIndex = 0;
  private pos = 0;
  private totalWaitMs = 0;

  constructor(
    readonly dataset: Dataset,
    opts: BatchLoaderOptions,
  ) {
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) {
      throw new F8Error('BAD_CONFIG', `batchSize ${opts.batchSize}, expected a positive integer`);
    }
    const pad = opts.augment?.cropPadding ?? 0;
    if (!Number.isInteger(pad) || pad < 0) {
      throw new F8Error('BAD_CONFIG', `augment.cropPadding ${pad}, expected a non-negative integer`);
    }
    this.batchSize = opts.batchSize;
    this.shuffle = opts.shuffle ?? false;
    this.dropLast = opts.dropLast ?? false;
    this.pad = pad;
    this.hflip = opts.augment?.hflip ?? false;
    this.rng = opts.rng ?? new Rng(opts.seed ?? 0);
    this.transform = opts.sampleTransform ?? null;
    this.sampleShape = this.transform ? this.transform.outShape : [dataset.channels, dataset.height, dataset.width];
    if (this.sampleShape.length !== 3 || this.sampleShape.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new F8Error('BAD_CONFIG', `sampleTransform.outShape [${this.sampleShape.join(', ')}], expected three positive integers [C, H, W]`);
    }
    this.startState = this.rng.getState();
  }

  /** Batches in one epoch. */
  get batchesPerEpoch(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Index of the epoch in progress, or of the next one when none is. */
  get epoch(): number {
    return this.epochIndex;
  }

  /** Milliseconds consumers of prefetch() have waited for data, over all epochs. */
  get waitMs(): number {
    return this.totalWaitMs;
  }

  getState(): LoaderState {
    if (!this.plan) return { rng: this.rng.getState(), epoch: this.epochIndex, batch: 0 };
    return { rng: [...this.startState] as RngState, epoch: this.epochIndex, batch: this.pos };
  }

  /** Resumes at the state getState() returned: the next batch is the one that would have come. */
  setState(s: LoaderState): void {
    if (!Number.isInteger(s.batch) || s.batch < 0 || s.batch > this.batchesPerEpoch) {
      throw new F8Error('BAD_INPUT', `loader state batch ${s.batch}, expected 0..${this.batchesPerEpoch}`);
    }
    this.rng.setState(s.rng);
    this.epochIndex = s.epoch;
    this.plan = null;
    this.pos = 0;
    if (s.batch > 0) {
      this.beginEpoch();
      this.pos = s.batch;
    }
  }

  /**
   * The remaining batches of the current epoch (a new epoch when the last one is finished).
   * Breaking out early keeps the position: the next call goes on from there.
   */
  *batches(): Generator<Batch> {
    this.ensureEpoch();
    const nb = this.batchesPerEpoch;
    const plan = this.plan!;
    while (this.pos < nb) yield this.handOut(this.makeBatch(plan, this.pos));
    this.endEpoch();
  }

  [Symbol.iterator](): Generator<Batch> {
    return this.batches();
  }

  /**
   * Like batches(), but builds batch i+1 (in a setImmediate callback) while the caller awaits
   * its GPU work on batch i. The returned iterator's waitMs (and the loader's) add up the time
   * the caller spent waiting for a batch that was not ready yet.
   */
  prefetch(): PrefetchIterator {
    const self = this;
    let waited = 0;
    async function* run(): AsyncGenerator<Batch> {
      self.ensureEpoch();
      const nb = self.batchesPerEpoch;
      const plan = self.plan!;
      let pending: Promise<Batch> | null = self.pos < nb ? self.schedule(plan, self.pos) : null;
      while (pending) {
        const t0 = performance.now();
        const batch = await pending;
        const dt = performance.now() - t0;
        waited += dt;
        self.totalWaitMs += dt;
        pending = batch.index + 1 < nb ? self.schedule(plan, batch.index + 1) : null;
        yield self.handOut(batch);
      }
      self.endEpoch();
    }
    // defineProperty, not Object.assign: assign would copy the getter's value once.
    return Object.defineProperty(run(), 'waitMs', { get: () => waited, enumerable: true }) as PrefetchIterator;
  }

  private schedule(plan: EpochPlan, k: number): Promise<Batch> {
    const p = new Promise<Batch>((resolve, reject) =>
      setImmediate(() => {
        try {
          resolve(this.makeBatch(plan, k));
        } catch (e) {
          reject(e);
        }
      }),
    );
    // A consumer that stops early never awaits the last prefetched batch.
    p.catch(() => {});
    return p;
  }

  private handOut(b: Batch): Batch {
    this.pos = b.index + 1;
    return b;
  }

  private ensureEpoch(): void {
    if (this.plan && this.pos >= this.batchesPerEpoch) this.endEpoch();
    if (!this.plan) this.beginEpoch();
  }

  private beginEpoch(): void {
    this.startState = this.rng.getState();
    const order = new Int32Array(this.dataset.length);
    for (let i = 0; i < order.length; i++) order[i] = i;
    if (this.shuffle) this.rng.shuffle(order);
    this.plan = { order, augSeed: this.rng.nextU32(), epoch: this.epochIndex };
    this.pos = 0;
  }

  private endEpoch(): void {
    if (!this.plan) return;
    this.plan = null;
    this.pos = 0;
    this.epochIndex++;
  }

  private makeBatch(plan: EpochPlan, k: number): Batch {
    const ds = this.dataset;
    const sz = sampleSize(ds);
    const [oc, oh, ow] = this.sampleShape;
    const osz = oc * oh * ow;
    const start = k * this.batchSize;
    const size = Math.min(this.batchSize, ds.length - start);
    const images = new Uint8Array(size * osz);
    const labels = new Int32Array(size);
    const indices = plan.order.slice(start, start + size);
    const augment = this.pad > 0 || this.hflip;
    const rng = augment || this.transform ? new Rng(mixSeed(plan.augSeed, k)) : null;
    // The transform writes here when augmentation still has to crop/flip its output.
    const scratch = this.transform && augment ? new Uint8Array(osz) : null;
    for (let i = 0; i < size; i++) {
      const j = indices[i];
      labels[i] = ds.labels[j];
      let src = ds.images.subarray(j * sz, (j + 1) * sz);
      const dst = images.subarray(i * osz, (i + 1) * osz);
      if (this.transform) {
        const out = scratch ?? dst;
        this.transform.apply(out, src, rng!);
        if (!augment) continue;
        src = out;
      }
      if (!augment) {
        dst.set(src);
        continue;
      }
      const r = rng!;
      const dy = this.pad > 0 ? r.nextInt(2 * this.pad + 1) : 0;
      const dx = this.pad > 0 ? r.nextInt(2 * this.pad + 1) : 0;
      const flip = this.hflip ? (r.nextU32() & 1) === 1 : false;
      cropFlipInto(dst, src, oc, oh, ow, this.pad, dy, dx, flip);
    }
    return { images, labels, size, indices, epoch: plan.epoch, index: k };
  }
}
