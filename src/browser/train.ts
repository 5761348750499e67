/**
 * One F8Net stage trained in a page: the loop of src/train/trainer.ts (same model, loader,
 * schedule, SGD, evaluation and checkpoint meta) without its log files, reporting through
 * callbacks instead, and yielding to the page between steps so curves redraw. The checkpoint
 * of every epoch is kept as bytes (the same safetensors file `f8net train` writes), so a lost
 * device still leaves the last one downloadable.
 *
 * @example
 *   const r = await trainStage(cfg, data, { onStep: (s) => draw(s) });
 *   download(r.checkpoint, 'last.safetensors');
 */
import { Engine } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';
import { Tensor } from '../tensor.js';
import { backward, noGrad } from '../autograd/tape.js';
import { add, zeros } from '../ops/elementwise.js';
import { softmaxCrossEntropy } from '../ops/loss.js';
import { normalizeImages } from '../ops/image.js';
import { SGD } from '../optim/sgd.js';
import { BatchLoader } from '../data/loader.js';
import { Rng, mixSeed } from '../data/rng.js';
import { inputShape, type LoadedData } from '../data/sources.js';
import type { Module, StateDict } from '../nn/module.js';
import { describeFormats, type LayerFormat } from '../nn/qlayers.js';
import type { TrainConfig } from '../train/config.js';
import { encodeCheckpoint, type CheckpointMeta } from '../train/checkpoint.js';
import { evaluate, modelFromConfig, weightDecayFilter, learningRate, type EpochRecord, type EvalResult } from '../train/trainer.js';

export interface StepReport {
  stage: 'float' | 'fixed';
  epoch: number;
  step: number;
  steps: number;
  loss: number;
  imagesPerS: number;
}

export interface StageHooks {
  onStep?(s: StepReport): void;
  onEpoch?(rec: EpochRecord, stage: 'float' | 'fixed'): void;
  /** The checkpoint after each epoch, as file bytes. */
  onCheckpoint?(bytes: Uint8Array, meta: CheckpointMeta): void;
  /** Steps between loss read-backs (default cfg.log_interval). */
  readEvery?: number;
}

export interface StageResult {
  /** The trained model; the caller disposes it. */
  model: Module;
  epochs: EpochRecord[];
  final: EvalResult;
  formats: LayerFormat[] | null;
  checkpoint: Uint8Array;
  meta: CheckpointMeta;
}

export function concatBytes(chunks: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.byteLength, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out;
}

const yieldToPage = () => new Promise<void>((r) => setTimeout(r, 0));

/** Trains the stage `cfg` describes; `init` (a float stage's state) starts the fixed stage as fp_pretrained_file does. */
export async function trainStage(cfg: TrainConfig, data: LoadedData, hooks: StageHooks = {}, init?: StateDict): Promise<StageResult> {
  const engine = Engine.get();
  const [ch, ih, iw] = inputShape(data);
  const model = modelFromConfig(cfg, data);
  const stage = cfg.floating_model ? 'float' : 'fixed';
  const loader = new BatchLoader(data.train, {
    batchSize: cfg.batch_size,
    shuffle: true,
    dropLast: data.train.length >= cfg.batch_size,
    rng: new Rng(mixSeed(cfg.random_seed, 0xda7a)),
    augment: { cropPadding: cfg.augment_crop_padding, hflip: cfg.augment_hflip },
  });
  const opt = new SGD(model.parameters(), {
    lr: cfg.lr,
    momentum: cfg.momentum,
    nesterov: cfg.nesterov,
    weightDecay: cfg.weight_decay,
    weightDecayFilter: weightDecayFilter(model, cfg.weight_decay_scheme),
  });
  try {
    if (init) model.loadStateDict(init, { source: 'float stage', strict: false });
    const spe = loader.batchesPerEpoch;
    const every = hooks.readEvery ?? cfg.log_interval;
    const epochs: EpochRecord[] = [];
    let best = -1;
    let checkpoint: Uint8Array = new Uint8Array(0);
    let meta: CheckpointMeta | null = null;
    let final: EvalResult | null = null;
    for (let epoch = 0; epoch < cfg.num_epochs; epoch++) {
      model.train();
      const te = performance.now();
      let lossAcc = engine.keep(zeros([1]));
      let seen = 0;
      let lastLr = cfg.lr;
      let i = 0;
      for await (const b of loader.prefetch()) {
        const lr = learningRate(cfg, epoch * spe + i, spe);
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
        if (i % every === 0 || i === spe) {
          const mean = (await lossAcc.read())[0] / i;
          if (!Number.isFinite(mean)) throw new F8Error('NAN_LOSS', `loss became ${mean} in epoch ${epoch + 1} by step ${i} (lr ${lr.toPrecision(3)}): lower lr`);
          hooks.onStep?.({ stage, epoch: epoch + 1, step: i, steps: spe, loss: mean, imagesPerS: seen / ((performance.now() - te) / 1000) });
          await yieldToPage();
        }
      }
      const trainLoss = (await lossAcc.read())[0] / Math.max(1, i);
      lossAcc.dispose();
      const seconds = (performance.now() - te) / 1000;
      const ev = await evaluate(model, data.test, data.mean, data.std, cfg.eval_batch_size);
      final = ev;
      const rec: EpochRecord = { epoch: epoch + 1, train_loss: trainLoss, test_loss: ev.loss, top1: ev.top1, top5: ev.top5, lr: lastLr, seconds, images_per_s: seen / seconds, data_wait_share: 0 };
      epochs.push(rec);
      hooks.onEpoch?.(rec, stage);
      best = Math.max(best, ev.top1);
      meta = {
        stage,
        epoch: epoch + 1,
        step: (epoch + 1) * spe,
        config: cfg as unknown as Record<string, unknown>,
        loader: loader.getState(),
        metrics: { top1: ev.top1, test_loss: ev.loss, train_loss: trainLoss },
        best,
      };
      checkpoint = concatBytes(await encodeCheckpoint({ model, optimizer: opt, meta }));
      hooks.onCheckpoint?.(checkpoint, meta);
    }
    const formats = cfg.floating_model ? null : await describeFormats(model);
    return { model, epochs, final: final!, formats, checkpoint, meta: meta! };
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    opt.dispose();
  }
}
