/**
 * One F8Net stage trained in a page: the portable TrainingLoop (src/train/loop.ts, the loop of
 * `f8net train`) with the page's callbacks instead of log files. The checkpoint of every epoch
 * is kept as bytes (the same safetensors file the CLI writes), so that a lost device still
 * leaves the last one downloadable. The fixed stage starts from the float stage's checkpoint
 * bytes, as fp_pretrained_file does.
 *
 * @example
 *   const f = await trainStage(floatCfg, data, { onStep: draw });
 *   const q = await trainStage(fixedCfg, data, { onStep: draw }, f.checkpoint);
 */
import { TrainingLoop, type EpochRecord, type EvalResult } from '../train/loop.js';
import { decodeCheckpoint, type CheckpointMeta } from '../train/checkpoint.js';
import { describeFormats, type LayerFormat } from '../nn/qlayers.js';
import type { Module } from '../nn/module.js';
import type { LoadedData } from '../data/sources.js';
import type { TrainConfig } from '../train/config.js';

export interface StepReport {
  stage: 'float' | 'fixed';
  /** 1-based. */
  epoch: number;
  step: number;
  steps: number;
  loss: number;
  imagesPerS: number;
}

export interface StageHooks {
  /** Every step whose loss was read back (every log_interval steps and at each epoch's end). */
  onStep?(s: StepReport): void;
  onEpoch?(rec: EpochRecord, stage: 'float' | 'fixed'): void;
  /** The checkpoint after each epoch, as file bytes. */
  onCheckpoint?(bytes: Uint8Array, meta: CheckpointMeta): void;
  signal?: AbortSignal;
}

/** The page's training choices (web/app.ts), also what bench/page-training.ts runs in Node. */
export interface PageTrainOptions {
  trainSamples?: number;
  testSamples?: number;
  floatEpochs?: number;
  fixedEpochs?: number;
  width?: number;
  batchSize?: number;
  /** random_seed of both stages (the configs' own when absent). */
  seed?: number;
}

/**
 * The --set lines the page applies to configs/cnn_mnist_float.yml and cnn_mnist_fixed.yml: no
 * run folder, the fixed stage from the float stage's bytes instead of fp_pretrained_file.
 */
export function pageStageSets(o: PageTrainOptions): { float: string[]; fixed: string[] } {
  const common = [`model_args={width: ${o.width ?? 32}}`, 'log_dir=null', 'log_interval=5', ...(o.batchSize ? [`batch_size=${o.batchSize}`] : []), ...(o.seed !== undefined ? [`random_seed=${o.seed}`] : [])];
  return { float: [`num_epochs=${o.floatEpochs ?? 1}`, ...common], fixed: [`num_epochs=${o.fixedEpochs ?? 1}`, 'fp_pretrained_file=null', ...common] };
}

export interface StageResult {
  /** The trained model; the caller disposes it. */
  model: Module;
  epochs: EpochRecord[];
  final: EvalResult;
  formats: LayerFormat[] | null;
  /** The last epoch's checkpoint file. */
  checkpoint: Uint8Array;
}

export async function trainStage(cfg: TrainConfig, data: LoadedData, hooks: StageHooks = {}, floatCheckpoint?: Uint8Array): Promise<StageResult> {
  const loop = new TrainingLoop(cfg, data);
  try {
    if (floatCheckpoint) loop.initFromFloat(decodeCheckpoint(floatCheckpoint, 'float stage'));
    let checkpoint: Uint8Array = new Uint8Array(0);
    const r = await loop.run(
      {
        onStep: (s) => {
          if (s.loss === null) return;
          hooks.onStep?.({ stage: loop.stage, epoch: s.epoch + 1, step: s.step, steps: s.stepsPerEpoch, loss: s.loss, imagesPerS: s.images / (s.ms / 1000) });
        },
        onEpoch: async (rec) => {
          hooks.onEpoch?.(rec, loop.stage);
          checkpoint = await loop.checkpointBytes();
          hooks.onCheckpoint?.(checkpoint, loop.checkpointMeta());
        },
      },
      { signal: hooks.signal },
    );
    const formats = cfg.floating_model ? null : await describeFormats(loop.model);
    loop.optimizer.dispose();
    return { model: loop.model, epochs: r.history, final: r.lastEval!, formats, checkpoint };
  } catch (e) {
    loop.model.dispose();
    loop.optimizer.dispose();
    throw e;
  }
}
