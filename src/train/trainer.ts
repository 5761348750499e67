/**
 * The training loop of both F8Net stages: data on a prefetching loader, forward, loss,
 * backward and SGD on the GPU, evaluation after every epoch, logs (JSONL, CSV, PNG curves)
 * and atomic checkpoints (last and best) in log_dir.
 *
 * Nothing is read back inside a step: the loss is accumulated on the GPU and read every
 * `log_interval` steps (progress and NaN check); accuracy counts stay on the GPU until the
 * end of the evaluation.
 *
 * @example
 *   const result = await train(loadConfig(null, ['num_epochs=1']));
 *   console.log(result.final.top1);
 */
import { mkdirSync, appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
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
import { Rng, mixSeed } from '../data/rng.js';
import { loadDataAsync, inputShape, type LoadedData } from '../data/sources.js';
import type { Dataset } from '../data/dataset.js';
import type { Module } from '../nn/module.js';
import { fixedQuant, floatQuant, describeFormats, formatTable, type QuantConfig, type LayerFormat } from '../nn/qlayers.js';
import { buildModel } from '../../models/index.js';
import type { TrainConfig } from './config.js';
import { saveCheckpoint, loadCheckpoint, type CheckpointMeta } from './checkpoint.js';
import { writeTrainingPlot } from './plot.js';
import { Progress } from './progress.js';

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

export interface TrainResult {
  epochs: EpochRecord[];
  /** Fixed-point stage: the per-layer fractional lengths and clipping levels at the end. */
  formats: LayerFormat[] | null;
  final: EvalResult;
  best: number;
  logDir: string;
  seconds: number;
}

export function quantFromConfig(cfg: TrainConfig): QuantConfig {
  const base = {
    wl: cfg.weight_format[0],
    weightFormat: cfg.weight_format,
    inputFormat: cfg.input_format,
    formatType: cfg.format_type,
    inputFormatType: cfg.input_format_type ?? cfg.format_type,
    fraclenMethod: cfg.format_grid_search ? ('grid' as const) : ('metric' as const),
    metric: cfg.metric,
    momentumForMetric: cfg.momentum_for_metric,
    inputFraclenSharing: cfg.input_fraclen_sharing,
    rescaleForward: cfg.rescale_forward,
  };
  return cfg.floating_model ? { ...floatQuant(), ...base, enabled: false } : fixedQuant(base);
}

export function defaultLogDir(cfg: TrainConfig): string {
  return cfg.log_dir ?? join('runs', `${cfg.model}-${cfg.dataset}-${cfg.floating_model ? 'float' : 'fixed'}`);
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

/** Evaluates `model` on `ds`: top-1, top-5 (more than 5 classes) and mean loss. */
export async function evaluate(model: Module, ds: Dataset, mean: number[], std: number[], batchSize: number): Promise<EvalResult> {
  const engine = Engine.get();
  model.eval();
  const loader = new BatchLoader(ds, { batchSize, shuffle: false });
  const k5 = ds.numClasses > 5;
  let top1 = engine.keep(Tensor.from(new Int32Array(1), [1], 'i32'));
  let top5 = engine.keep(Tensor.from(new Int32Array(1), [1], 'i32'));
  let lossSum = engine.keep(zeros([1]));
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
            ls: add(lossSum, weighted(l, b.size)),
          };
        }),
      );
      if (next.t1 !== top1) top1.dispose();
      if (next.t5 !== top5) top5.dispose();
      lossSum.dispose();
      top1 = engine.keep(next.t1);
      top5 = engine.keep(next.t5);
      lossSum = engine.keep(next.ls);
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

function weighted(l: Tensor, n: number): Tensor {
  return affine(l, n, 0);
}

/** Runs the stage a config describes; returns the per-epoch records and the final evaluation. */
export interface TrainOptions {
  quiet?: boolean;
  /** Data already loaded (tests, repeated runs). */
  data?: LoadedData;
  /**
   * Stop once this many epochs of the schedule are complete (the schedule still spans
   * num_epochs): a time-boxed job that a later `resume` continues exactly.
   */
  stopAfter?: number;
}

export async function train(cfg: TrainConfig, opts: TrainOptions = {}): Promise<TrainResult> {
  const engine = Engine.get();
  const t0 = performance.now();
  const data = opts.data ?? (await loadDataAsync(cfg));
  const [ch, ih, iw] = inputShape(data);
  const model = modelFromConfig(cfg, data);
  const logDir = defaultLogDir(cfg);
  mkdirSync(logDir, { recursive: true });
  const log = (rec: Record<string, unknown>) => appendFileSync(join(logDir, 'log.jsonl'), `${JSON.stringify(rec)}\n`);
  const say = (s: string) => {
    if (!opts.quiet) process.stderr.write(`${s}\n`);
  };

  const rng = new Rng(mixSeed(cfg.random_seed, 0xda7a));
  const loader = new BatchLoader(data.train, {
    batchSize: cfg.batch_size,
    shuffle: true,
    dropLast: data.train.length >= cfg.batch_size,
    rng,
    augment: { cropPadding: cfg.augment_crop_padding, hflip: cfg.augment_hflip },
    sampleTransform: data.trainTransform,
  });
  const opt = new SGD(model.parameters(), {
    lr: cfg.lr,
    momentum: cfg.momentum,
    nesterov: cfg.nesterov,
    weightDecay: cfg.weight_decay,
    weightDecayFilter: weightDecayFilter(model, cfg.weight_decay_scheme),
  });

  try {
    let startEpoch = 0;
    let best = -1;
    const history: EpochRecord[] = [];
    if (cfg.resume) {
      const ck = loadCheckpoint(cfg.resume);
      model.loadStateDict(ck.model, { source: cfg.resume });
      opt.loadStateTensors(ck.optimizer);
      if (!ck.meta.loader) throw new F8Error('BAD_INPUT', `${cfg.resume}: checkpoint has no data-loader state; cannot resume exactly`);
      loader.setState(ck.meta.loader);
      startEpoch = ck.meta.epoch;
      best = ck.meta.best ?? -1;
      say(`resumed from ${cfg.resume} after epoch ${startEpoch}`);
    } else if (cfg.fp_pretrained_file) {
      const ck = loadCheckpoint(cfg.fp_pretrained_file);
      if (ck.meta.stage !== 'float') throw new F8Error('BAD_INPUT', `${cfg.fp_pretrained_file}: fp_pretrained_file must be a float-stage checkpoint, this one is ${ck.meta.stage}`);
      const missing = model.namedParameters().filter(([n]) => !ck.model.has(n) && !n.endsWith('alpha')).map(([n]) => n);
      if (missing.length) throw new F8Error('BAD_INPUT', `${cfg.fp_pretrained_file}: lacks parameters of model ${cfg.model}: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ` (+${missing.length - 8})` : ''}`);
      model.loadStateDict(ck.model, { source: cfg.fp_pretrained_file, strict: false });
      say(`initialised from float checkpoint ${cfg.fp_pretrained_file}`);
    }

    const spe = loader.batchesPerEpoch;
    const stage = cfg.floating_model ? 'float' : 'fixed';
    say(`f8net train: ${cfg.model} on ${data.train.name} (${data.train.length} train, ${data.test.length} test), ${stage} stage, ${cfg.num_epochs} epochs x ${spe} steps, ${engine.gpu.describe().description || engine.gpu.describe().vendor}`);
    const endEpoch = Math.min(cfg.num_epochs, opts.stopAfter ?? cfg.num_epochs);
  let lastEval: EvalResult | null = null;
    for (let epoch = startEpoch; epoch < endEpoch; epoch++) {
      model.train();
      const te = performance.now();
      const waitBefore = loader.waitMs;
      let lossAcc = engine.keep(zeros([1]));
      let seen = 0;
      let lastLr = cfg.lr;
      const bar = new Progress(`epoch ${epoch + 1}/${cfg.num_epochs}`, spe, opts.quiet ?? false);
      let i = 0;
      for await (const b of loader.prefetch()) {
        const step = epoch * spe + i;
        const lr = learningRate(cfg, step, spe);
        lastLr = lr;
        const next = engine.tidy(() => {
          const x = normalizeImages(b.images, [b.size, ch, ih, iw], data.mean, data.std);
          const y = Tensor.from(b.labels.subarray(0, b.size), [b.size], 'i32');
          const loss = softmaxCrossEntropy(model.forward(x), y, { labelSmoothing: cfg.label_smoothing });
          backward(loss);
          opt.step(lr);
          return noGrad(() => add(lossAcc, loss));
        });
        opt.zeroGrad();
        lossAcc.dispose();
        lossAcc = engine.keep(next);
        seen += b.size;
        i++;
        if (i % cfg.log_interval === 0 || i === spe) {
          const mean = (await lossAcc.read())[0] / i;
          if (!Number.isFinite(mean)) {
            lossAcc.dispose();
            throw new F8Error('NAN_LOSS', `loss became ${mean} in epoch ${epoch + 1} by step ${i} (lr ${lr.toPrecision(3)}): lower lr, check the data, or resume from ${join(logDir, 'last.safetensors')}`);
          }
          const ips = seen / ((performance.now() - te) / 1000);
          bar.update(i, { loss: mean, lr, ips });
          log({ type: 'step', epoch: epoch + 1, step: i, loss: mean, lr, images_per_s: ips });
        }
      }
      const trainLoss = (await lossAcc.read())[0] / Math.max(1, i);
      lossAcc.dispose();
      const trainSeconds = (performance.now() - te) / 1000;
      const waitShare = (loader.waitMs - waitBefore) / 1000 / trainSeconds;
      bar.stop();
      const ev = await evaluate(model, data.test, data.mean, data.std, cfg.eval_batch_size);
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
      log({ type: 'epoch', ...rec });
      writeCsv(join(logDir, 'metrics.csv'), rec);
      say(
        `epoch ${epoch + 1}: train loss ${trainLoss.toFixed(4)}, test loss ${ev.loss.toFixed(4)}, top-1 ${(100 * ev.top1).toFixed(2)}%` +
          `${ev.top5 !== null ? `, top-5 ${(100 * ev.top5).toFixed(2)}%` : ''}, ${rec.images_per_s.toFixed(0)} img/s, data wait ${(100 * waitShare).toFixed(1)}%`,
      );
      const meta: CheckpointMeta = {
        stage,
        epoch: epoch + 1,
        step: (epoch + 1) * spe,
        config: cfg as unknown as Record<string, unknown>,
        loader: loader.getState(),
        metrics: { top1: ev.top1, test_loss: ev.loss, train_loss: trainLoss },
        best: Math.max(best, ev.top1),
      };
      await saveCheckpoint(join(logDir, 'last.safetensors'), { model, optimizer: opt, meta });
      if (ev.top1 > best) {
        best = ev.top1;
        await saveCheckpoint(join(logDir, 'best.safetensors'), { model, optimizer: opt, meta });
      }
      await writeTrainingPlot(join(logDir, 'curves.png'), readCsvHistory(join(logDir, 'metrics.csv')));
    }
    // The last epoch's evaluation is the final one; evaluate only when no epoch ran here.
    const final = lastEval ?? (await evaluate(model, data.test, data.mean, data.std, cfg.eval_batch_size));
    let formats: LayerFormat[] | null = null;
    if (!cfg.floating_model) {
      // As the paper's code does: the per-layer fractional lengths and clipping levels.
      formats = await describeFormats(model);
      log({ type: 'formats', layers: formats });
      say(`fractional lengths and clipping levels:\n${formatTable(formats)}`);
    }
    return { epochs: history, formats, final, best, logDir, seconds: (performance.now() - t0) / 1000 };
  } finally {
    // Also on errors (a NaN loss, a lost device): library users keep a clean pool.
    model.dispose();
    opt.dispose();
  }
}

const CSV_COLUMNS: (keyof EpochRecord)[] = ['epoch', 'train_loss', 'test_loss', 'top1', 'top5', 'lr', 'seconds', 'images_per_s', 'data_wait_share'];

function writeCsv(file: string, rec: EpochRecord): void {
  if (!existsSync(file) || rec.epoch === 1) appendFileSync(file, `${CSV_COLUMNS.join(',')}\n`, { flag: rec.epoch === 1 ? 'w' : 'a' });
  appendFileSync(file, `${CSV_COLUMNS.map((c) => rec[c] ?? '').join(',')}\n`);
}

function readCsvHistory(file: string): EpochRecord[] {
  const lines = readFileSync(file, 'utf8').trim().split('\n').slice(1);
  return lines.map((l) => {
    const v = l.split(',');
    const r: Record<string, number | null> = {};
    CSV_COLUMNS.forEach((c, i) => (r[c] = v[i] === '' ? null : Number(v[i])));
    return r as unknown as EpochRecord;
  });
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
