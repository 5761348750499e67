/**
 * The portable core of training (no node: imports, so a browser tab runs it too): the model
 * and optimizer a config describes, the learning-rate schedule, the steps over an in-memory
 * data set, the evaluation after every epoch, and the state at the current step as a
 * checkpoint (bytes). Files, run folders, locks, signals and the terminal are the Node
 * trainer's (src/node/trainer.ts), which drives this loop through its callbacks.
 *
 * Nothing is read back inside a step: the loss is accumulated on the GPU and read every
 * `log_interval` steps (and at the end of the epoch); accuracy counts stay on the GPU until
 * the end of the evaluation.
 *
 * @example
 *   const loop = new TrainingLoop(cfg, data);
 *   const r = await loop.run({ onStep: (s) => console.log(s.globalStep, s.loss), onEpoch: async () => save(await loop.checkpointBytes()) });
 *   loop.dispose();
 */
import { Engine } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';
import { Tensor } from '../tensor.js';
import { backward, noGrad } from '../autograd/tape.js';
import { add, addInt, affine, zeros } from '../ops/elementwise.js';
import { softmaxCrossEntropy, topkCorrect, argmax } from '../ops/loss.js';
import { normalizeImages } from '../ops/image.js';
import { SGD } from '../optim/sgd.js';
import { cosineLr, stepLr } from '../optim/schedule.js';
import { BatchLoader } from '../data/loader.js';
import { Rng, mixSeed } from '../runtime/rng.js';
import type { LoadedData } from '../data/sources.js';
import { inputShape, type Dataset } from '../data/dataset.js';
import type { Module } from '../nn/module.js';
import { fixedQuant, floatQuant, type QuantConfig } from '../nn/qlayers.js';
import { buildModel } from '../models/index.js';
import { withStoredHeadForm, type TrainConfig } from './config.js';
import { encodeCheckpoint, type Checkpoint, type CheckpointMeta } from './checkpoint.js';

export interface EvalResult {
  top1: number;
  top5: number | null;
  loss: number;
  count: number;
}

export interface EpochRecord {
  epoch: number;
  train_loss: number;
  test_loss: number;
  top1: number;
  top5: number | null;
  lr: number;
  seconds: number;
  images_per_s: number;
  data_wait_share: number;
}

export function quantFromConfig(cfg: TrainConfig): QuantConfig {
  const base = {
    wl: cfg.weight_format[0],
    weightFormat: cfg.weight_format,
    inputFormat: cfg.input_format,
    formatType: cfg.format_type,
    inputFormatType: cfg.input_format_type ?? cfg.format_type,
    fraclenMethod: cfg.format_search === 'grid' ? ('grid' as const) : ('metric' as const),
    metric: cfg.metric,
    momentumForMetric: cfg.momentum_for_metric,
    inputFraclenSharing: cfg.input_fraclen_sharing,
    rescaleForward: cfg.rescale_forward,
    rescaleForwardConv: cfg.rescale_forward_conv,
    headForm: cfg.head_form,
    classifierForm: cfg.classifier_form,
    poolForm: cfg.pool_form,
    foldOrder: cfg.fold_order,
    identityAdd: cfg.identity_add,
  };
  return cfg.floating_model ? { ...floatQuant(), ...base, enabled: false } : fixedQuant(base);
}

/** Builds the model a config describes (fresh initialisation from random_seed). */
export function modelFromConfig(cfg: TrainConfig, data: LoadedData): Module {
  const [c, h] = inputShape(data);
  return buildModel(
    cfg.model,
    cfg.model_args,
    { inChannels: c, numClasses: cfg.num_classes ?? data.train.numClasses, imageSize: h },
    quantFromConfig(cfg),
    new Rng(mixSeed(cfg.random_seed, 0x1417)),
  );
}

/** Which parameters get weight decay under the config's scheme. */
export function weightDecayFilter(model: Module, scheme: TrainConfig['weight_decay_scheme']): (p: Tensor) => boolean {
  const depthwise = new Set<Tensor>();
  const bn = new Set<Tensor>();
  for (const [, m] of model.namedModules()) {
    const mm = m as unknown as { weight?: Tensor; gamma?: Tensor | null; beta?: Tensor | null; conv?: { groups: number }; inChannels?: number };
    if (mm.conv && mm.weight && mm.conv.groups > 1 && mm.conv.groups === mm.inChannels) depthwise.add(mm.weight);
    if (mm.gamma) bn.add(mm.gamma);
    if (mm.beta) bn.add(mm.beta);
  }
  return (p) => {
    if ((scheme === 'only_no_depthwise' || scheme === 'no_depthwise_no_bn') && depthwise.has(p)) return false;
    if ((scheme === 'only_no_bn' || scheme === 'no_depthwise_no_bn') && bn.has(p)) return false;
    return true;
  };
}

export function learningRate(cfg: TrainConfig, step: number, stepsPerEpoch: number): number {
  const total = cfg.num_epochs * stepsPerEpoch;
  const warm = Math.round(cfg.warmup_epochs * stepsPerEpoch);
  switch (cfg.lr_scheduler) {
    case 'cosine':
      return cosineLr(step, total, cfg.lr, { warmupSteps: warm });
    case 'step':
      return step < warm ? (cfg.lr * (step + 1)) / warm : stepLr(step, stepsPerEpoch, cfg.lr, { milestones: cfg.lr_milestones, gamma: cfg.lr_gamma });
    case 'constant':
      return step < warm ? (cfg.lr * (step + 1)) / warm : cfg.lr;
  }
}

/**
 * Evaluates `model` on `ds`: top-1, top-5 (more than 5 classes) and mean loss.
 * `onProgress(done, total)` hears of every batch (images done so far).
 */
export async function evaluate(model: Module, ds: Dataset, mean: number[], std: number[], batchSize: number, onProgress?: (done: number, total: number) => void): Promise<EvalResult> {
  const engine = Engine.get();
  model.eval();
  const loader = new BatchLoader(ds, { batchSize, shuffle: false });
  const k5 = ds.numClasses > 5;
  let top1 = engine.keep(Tensor.from(new Int32Array(1), [1], 'i32'));
  let top5 = engine.keep(Tensor.from(new Int32Array(1), [1], 'i32'));
  let lossSum = engine.keep(zeros([1]));
  let done = 0;
  try {
    for (const b of loader.batches()) {
      const next = engine.tidy(() =>
        noGrad(() => {
          const x = normalizeImages(b.images, [b.size, ds.channels, ds.height, ds.width], mean, std);
          const y = Tensor.from(b.labels.subarray(0, b.size), [b.size], 'i32');
          const logits = model.forward(x);
          const l = softmaxCrossEntropy(logits, y);
          return {
            t1: addInt(top1, topkCorrect(logits, y, 1)),
            t5: k5 ? addInt(top5, topkCorrect(logits, y, 5)) : top5,
            ls: add(lossSum, affine(l, b.size, 0)),
          };
        }),
      );
      if (next.t1 !== top1) top1.dispose();
      if (next.t5 !== top5) top5.dispose();
      lossSum.dispose();
      top1 = engine.keep(next.t1);
      top5 = engine.keep(next.t5);
      lossSum = engine.keep(next.ls);
      done += b.size;
      onProgress?.(done, ds.length);
    }
    const c1 = (await top1.read())[0];
    const c5 = (await top5.read())[0];
    const ls = (await lossSum.read())[0];
    return { top1: c1 / ds.length, top5: k5 ? c5 / ds.length : null, loss: ls / ds.length, count: ds.length };
  } finally {
    top1.dispose();
    top5.dispose();
    lossSum.dispose();
  }
}

export interface ConfusionResult extends EvalResult {
  /** confusion[label][predicted] */
  confusion: number[][];
  perClass: { recall: number; count: number; confusedWith: number | null }[];
}

/** evaluate() plus the confusion matrix (predictions are read back once per batch). */
export async function evaluateWithConfusion(model: Module, ds: Dataset, mean: number[], std: number[], batchSize: number): Promise<ConfusionResult> {
  const base = await evaluate(model, ds, mean, std, batchSize);
  const engine = Engine.get();
  const k = ds.numClasses;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const loader = new BatchLoader(ds, { batchSize, shuffle: false });
  for (const b of loader.batches()) {
    const pred = engine.tidy(() =>
      noGrad(() => argmax(model.forward(normalizeImages(b.images, [b.size, ds.channels, ds.height, ds.width], mean, std)))),
    );
    const p = (await pred.read()) as Int32Array;
    pred.dispose();
    for (let i = 0; i < b.size; i++) confusion[b.labels[i]][p[i]]++;
  }
  const perClass = confusion.map((row, c) => {
    const count = row.reduce((a, b) => a + b, 0);
    let worst: number | null = null;
    row.forEach((v, j) => {
      if (j !== c && v > 0 && (worst === null || v > row[worst])) worst = j;
    });
    return { recall: count ? row[c] / count : 0, count, confusedWith: worst };
  });
  return { ...base, confusion, perClass };
}

/** One finished training step, as the loop's onStep callback hears of it. */
export interface StepInfo {
  /** Epoch in progress, 0-based. */
  epoch: number;
  /** Steps done in this epoch (1..stepsPerEpoch). */
  step: number;
  /** Steps done since the start of the run (resumed steps included). */
  globalStep: number;
  stepsPerEpoch: number;
  /** Steps of the whole schedule (num_epochs x stepsPerEpoch). */
  totalSteps: number;
  lr: number;
  /** Mean training loss of the epoch so far when it was read back at this step (every log_interval steps and at the epoch's end), else null. */
  loss: number | null;
  /** Images trained on in this process since this epoch began (for images/s). */
  images: number;
  /** Milliseconds since this epoch began in this process. */
  ms: number;
}

export interface LoopCallbacks {
  onStep?(s: StepInfo): void;
  /** Evaluation progress: images done and total. */
  onEvalProgress?(epoch: number, done: number, total: number): void;
  /** After an epoch's evaluation; the loop's state is then at the epoch's end (checkpoint it here). */
  onEpoch?(rec: EpochRecord, ev: EvalResult): Promise<void> | void;
}

export interface LoopRunOptions {
  /** Stop once this many epochs of the schedule are complete (the schedule still spans num_epochs). */
  stopAfter?: number;
  /** Checked after every step: when aborted, the loop returns at once with `stopped: true` (checkpoint it then). */
  signal?: AbortSignal;
  /** Where the last checkpoint is, for the NaN-loss message. */
  lastCheckpoint?: string;
}

export interface LoopRunResult {
  history: EpochRecord[];
  /** Evaluation of the last epoch that ran, null when none did. */
  lastEval: EvalResult | null;
  /** True when `signal` stopped the loop before the end. */
  stopped: boolean;
}

/** The model, optimizer, data order and schedule of one training stage, stepped over in-memory data. */
export class TrainingLoop {
  readonly model: Module;
  readonly optimizer: SGD;
  readonly loader: BatchLoader;
  readonly stepsPerEpoch: number;
  /** Epochs complete. */
  epoch = 0;
  /** Steps of the epoch in progress already done (0 at an epoch boundary). */
  batch = 0;
  /** Best test top-1 so far (-1: none). */
  best = -1;
  /** Sum of the training losses of the epoch in progress and images seen (mid-epoch state). */
  private partialLoss = 0;
  private partialImages = 0;
  private lossAcc: Tensor | null = null;

  constructor(
    readonly cfg: TrainConfig,
    readonly data: LoadedData,
  ) {
    this.model = modelFromConfig(cfg, data);
    this.loader = new BatchLoader(data.train, {
      batchSize: cfg.batch_size,
      shuffle: true,
      dropLast: data.train.length >= cfg.batch_size,
      rng: new Rng(mixSeed(cfg.random_seed, 0xda7a)),
      augment: { cropPadding: cfg.augment_crop_padding, hflip: cfg.augment_hflip },
      sampleTransform: data.trainTransform,
    });
    this.optimizer = new SGD(this.model.parameters(), {
      lr: cfg.lr,
      momentum: cfg.momentum,
      nesterov: cfg.nesterov,
      weightDecay: cfg.weight_decay,
      weightDecayFilter: weightDecayFilter(this.model, cfg.weight_decay_scheme),
    });
    this.stepsPerEpoch = this.loader.batchesPerEpoch;
  }

  get stage(): 'float' | 'fixed' {
    return this.cfg.floating_model ? 'float' : 'fixed';
  }

  /** Steps done since the start of the run. */
  get globalStep(): number {
    return this.epoch * this.stepsPerEpoch + this.batch;
  }

  /**
   * Continues exactly where `ck` (written by this loop, at an epoch's end or mid-epoch) stopped.
   * `partial`: `ck` comes from another trainer (the paper's checkpoint) and lacks the layers'
   * last-used lengths (input_fraclen, weight_fraclen), which the next forward pass recomputes.
   */
  resumeFrom(ck: Checkpoint, opts: { partial?: boolean } = {}): void {
    this.model.loadStateDict(ck.model, { source: ck.source, strict: !opts.partial });
    this.optimizer.loadStateTensors(ck.optimizer);
    if (!ck.meta.loader) throw new F8Error('BAD_INPUT', `${ck.source}: checkpoint has no data-loader state; cannot resume exactly`);
    this.loader.setState(ck.meta.loader);
    this.epoch = ck.meta.epoch;
    this.batch = ck.meta.partial ? ck.meta.loader.batch : 0;
    this.best = ck.meta.best ?? -1;
    this.partialLoss = ck.meta.partial?.loss_sum ?? 0;
    this.partialImages = ck.meta.partial?.images ?? 0;
  }

  /** Starts the fixed-point stage from a float-stage checkpoint's weights. */
  initFromFloat(ck: Checkpoint): void {
    if (ck.meta.stage !== 'float') throw new F8Error('BAD_INPUT', `${ck.source}: fp_pretrained_file must be a float-stage checkpoint, this one is ${ck.meta.stage}`);
    // The float stage saw the image the way its head form feeds it; the fixed stage must too.
    // double_side and f8net_scaled feed the same normalised image and differ only once quantised.
    const floatHead = withStoredHeadForm(ck.meta.config).head_form;
    if ((floatHead === 'weight_only') !== (this.cfg.head_form === 'weight_only')) throw new F8Error('BAD_CONFIG', `${ck.source}: the float stage was trained with head_form ${String(floatHead)}, this config says ${this.cfg.head_form}; set head_form ${String(floatHead)} (or retrain the float stage)`);
    const missing = this.model.namedParameters().filter(([n]) => !ck.model.has(n) && !n.endsWith('alpha')).map(([n]) => n);
    if (missing.length) throw new F8Error('BAD_INPUT', `${ck.source}: lacks parameters of model ${this.cfg.model}: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ` (+${missing.length - 8})` : ''}`);
    this.model.loadStateDict(ck.model, { source: ck.source, strict: false });
  }

  /** Trains until num_epochs (or opts.stopAfter) epochs are complete, or until opts.signal aborts. */
  async run(cb: LoopCallbacks = {}, opts: LoopRunOptions = {}): Promise<LoopRunResult> {
    const engine = Engine.get();
    const { cfg, data, loader, model } = this;
    const opt = this.optimizer;
    const [ch, ih, iw] = inputShape(data);
    const spe = this.stepsPerEpoch;
    const endEpoch = Math.min(cfg.num_epochs, opts.stopAfter ?? cfg.num_epochs);
    const history: EpochRecord[] = [];
    let lastEval: EvalResult | null = null;
    for (; this.epoch < endEpoch; ) {
      const epoch = this.epoch;
      model.train();
      const te = performance.now();
      const waitBefore = loader.waitMs;
      this.lossAcc = engine.keep(Tensor.from(new Float32Array([this.partialLoss]), [1]));
      let seen = 0;
      let lastLr = cfg.lr;
      let i = this.batch;
      for await (const b of loader.prefetch()) {
        const step = epoch * spe + i;
        const lr = learningRate(cfg, step, spe);
        lastLr = lr;
        const acc: Tensor = this.lossAcc!;
        const next: Tensor = engine.tidy((): Tensor => {
          const x = normalizeImages(b.images, [b.size, ch, ih, iw], data.mean, data.std);
          const y = Tensor.from(b.labels.subarray(0, b.size), [b.size], 'i32');
          const loss = softmaxCrossEntropy(model.forward(x), y, { labelSmoothing: cfg.label_smoothing });
          backward(loss);
          opt.step(lr);
          return noGrad(() => add(acc, loss));
        });
        opt.zeroGrad();
        acc.dispose();
        const kept: Tensor = engine.keep(next);
        this.lossAcc = kept;
        seen += b.size;
        this.partialImages += b.size;
        i++;
        this.batch = i;
        let mean: number | null = null;
        if (i % cfg.log_interval === 0 || i === spe) {
          mean = (await kept.read())[0] / i;
          if (!Number.isFinite(mean)) {
            this.dropLossAcc();
            throw new F8Error('NAN_LOSS', `loss became ${mean} in epoch ${epoch + 1} by step ${i} (lr ${lr.toPrecision(3)}): lower lr, check the data, or resume from ${opts.lastCheckpoint ?? 'the last checkpoint'}`);
          }
        }
        cb.onStep?.({ epoch, step: i, globalStep: epoch * spe + i, stepsPerEpoch: spe, totalSteps: cfg.num_epochs * spe, lr, loss: mean, images: seen, ms: performance.now() - te });
        if (opts.signal?.aborted && i < spe) {
          this.partialLoss = (await kept.read())[0];
          this.dropLossAcc();
          return { history, lastEval, stopped: true };
        }
      }
      const trainLoss = (await this.lossAcc!.read())[0] / Math.max(1, i);
      this.dropLossAcc();
      const trainSeconds = (performance.now() - te) / 1000;
      const waitShare = (loader.waitMs - waitBefore) / 1000 / trainSeconds;
      const ev = await evaluate(model, data.test, data.mean, data.std, cfg.eval_batch_size, cb.onEvalProgress ? (d, t) => cb.onEvalProgress!(epoch, d, t) : undefined);
      lastEval = ev;
      const rec: EpochRecord = {
        epoch: epoch + 1,
        train_loss: trainLoss,
        test_loss: ev.loss,
        top1: ev.top1,
        top5: ev.top5,
        lr: lastLr,
        seconds: trainSeconds,
        images_per_s: seen / trainSeconds,
        data_wait_share: waitShare,
      };
      history.push(rec);
      this.epoch = epoch + 1;
      this.batch = 0;
      this.partialLoss = 0;
      this.partialImages = 0;
      this.lastMetrics = { top1: ev.top1, test_loss: ev.loss, train_loss: trainLoss };
      const improved = ev.top1 > this.best;
      this.best = Math.max(this.best, ev.top1);
      this.improved = improved;
      await cb.onEpoch?.(rec, ev);
      if (opts.signal?.aborted) return { history, lastEval, stopped: this.epoch < cfg.num_epochs };
    }
    return { history, lastEval, stopped: false };
  }

  /** Metrics of the last finished epoch (stored in checkpoints). */
  private lastMetrics: Record<string, number> | undefined;
  /** Whether the last finished epoch raised the best top-1. */
  improved = false;

  private dropLossAcc(): void {
    this.lossAcc?.dispose();
    this.lossAcc = null;
  }

  /** The checkpoint metadata of the state now (an epoch's end, or mid-epoch after a stop). */
  checkpointMeta(extra: Partial<CheckpointMeta> = {}): CheckpointMeta {
    return {
      stage: this.stage,
      epoch: this.epoch,
      step: this.globalStep,
      config: this.cfg as unknown as Record<string, unknown>,
      loader: this.loader.getState(),
      ...(this.lastMetrics ? { metrics: this.lastMetrics } : {}),
      best: this.best,
      ...(this.batch > 0 ? { partial: { loss_sum: this.partialLoss, images: this.partialImages } } : {}),
      ...(this.data.classes ? { classes: this.data.classes } : {}),
      ...extra,
    };
  }

  /** The state now as checkpoint file chunks (safetensors). */
  async checkpointChunks(extra: Partial<CheckpointMeta> = {}): Promise<Uint8Array[]> {
    return encodeCheckpoint({ model: this.model, optimizer: this.optimizer, meta: this.checkpointMeta(extra) });
  }

  /** The state now as one checkpoint file's bytes (e.g. for a download). */
  async checkpointBytes(extra: Partial<CheckpointMeta> = {}): Promise<Uint8Array> {
    const chunks = await this.checkpointChunks(extra);
    const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
    let off = 0;
    for (const c of chunks) {
      out.set(c, off);
      off += c.byteLength;
    }
    return out;
  }

  dispose(): void {
    this.dropLossAcc();
    this.model.dispose();
    this.optimizer.dispose();
  }
}
