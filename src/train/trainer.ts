/**
 * The Node side of training: wraps the portable TrainingLoop (loop.ts) with the run folder
 * (log_dir), logs (JSONL, CSV, PNG curves), atomic checkpoints (last and best) and terminal
 * progress.
 *
 * @example
 *   const result = await train(loadConfig(null, ['num_epochs=1']));
 *   console.log(result.final.top1);
 */
import { mkdirSync, appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../runtime/engine.js';
import { loadDataAsync, type LoadedData } from '../data/sources.js';
import { describeFormats, formatTable, type LayerFormat } from '../nn/qlayers.js';
import type { TrainConfig } from './config.js';
import { saveCheckpoint, loadCheckpoint } from './checkpoint.js';
import { writeTrainingPlot } from './plot.js';
import { Progress } from './progress.js';
import { TrainingLoop, evaluate, type EpochRecord, type EvalResult } from './loop.js';

export { quantFromConfig, modelFromConfig, weightDecayFilter, evaluate, evaluateWithConfusion, TrainingLoop } from './loop.js';
export type { EvalResult, EpochRecord, ConfusionResult, StepInfo, LoopCallbacks } from './loop.js';

export interface TrainResult {
  epochs: EpochRecord[];
  /** Fixed-point stage: the per-layer fractional lengths and clipping levels at the end. */
  formats: LayerFormat[] | null;
  final: EvalResult;
  best: number;
  logDir: string;
  seconds: number;
}

export function defaultLogDir(cfg: TrainConfig): string {
  return cfg.log_dir ?? join('runs', `${cfg.model}-${cfg.dataset}-${cfg.floating_model ? 'float' : 'fixed'}`);
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
  const loop = new TrainingLoop(cfg, data);
  const logDir = defaultLogDir(cfg);
  mkdirSync(logDir, { recursive: true });
  const log = (rec: Record<string, unknown>) => appendFileSync(join(logDir, 'log.jsonl'), `${JSON.stringify(rec)}\n`);
  const say = (s: string) => {
    if (!opts.quiet) process.stderr.write(`${s}\n`);
  };

  try {
    if (cfg.resume) {
      loop.resumeFrom(loadCheckpoint(cfg.resume));
      say(`resumed from ${cfg.resume} after epoch ${loop.epoch}`);
    } else if (cfg.fp_pretrained_file) {
      loop.initFromFloat(loadCheckpoint(cfg.fp_pretrained_file));
      say(`initialised from float checkpoint ${cfg.fp_pretrained_file}`);
    }

    const spe = loop.stepsPerEpoch;
    say(`f8net train: ${cfg.model} on ${data.train.name} (${data.train.length} train, ${data.test.length} test), ${loop.stage} stage, ${cfg.num_epochs} epochs x ${spe} steps, ${engine.gpu.describe().description || engine.gpu.describe().vendor}`);
    let bar: Progress | null = null;
    const r = await loop.run(
      {
        onStep: (s) => {
          if (s.step === 1 || !bar) bar = new Progress(`epoch ${s.epoch + 1}/${cfg.num_epochs}`, spe, opts.quiet ?? false);
          if (s.loss === null) return;
          const ips = s.images / (s.ms / 1000);
          bar.update(s.step, { loss: s.loss, lr: s.lr, ips });
          log({ type: 'step', epoch: s.epoch + 1, step: s.step, loss: s.loss, lr: s.lr, images_per_s: ips });
        },
        onEpoch: async (rec) => {
          bar?.stop();
          bar = null;
          log({ type: 'epoch', ...rec });
          writeCsv(join(logDir, 'metrics.csv'), rec);
          say(
            `epoch ${rec.epoch}: train loss ${rec.train_loss.toFixed(4)}, test loss ${rec.test_loss.toFixed(4)}, top-1 ${(100 * rec.top1).toFixed(2)}%` +
              `${rec.top5 !== null ? `, top-5 ${(100 * rec.top5).toFixed(2)}%` : ''}, ${rec.images_per_s.toFixed(0)} img/s, data wait ${(100 * rec.data_wait_share).toFixed(1)}%`,
          );
          const what = { model: loop.model, optimizer: loop.optimizer, meta: loop.checkpointMeta() };
          await saveCheckpoint(join(logDir, 'last.safetensors'), what);
          if (loop.improved) await saveCheckpoint(join(logDir, 'best.safetensors'), what);
          await writeTrainingPlot(join(logDir, 'curves.png'), readCsvHistory(join(logDir, 'metrics.csv')));
        },
      },
      { stopAfter: opts.stopAfter, lastCheckpoint: join(logDir, 'last.safetensors') },
    );
    // The last epoch's evaluation is the final one; evaluate only when no epoch ran here.
    const final = r.lastEval ?? (await evaluate(loop.model, data.test, data.mean, data.std, cfg.eval_batch_size));
    let formats: LayerFormat[] | null = null;
    if (!cfg.floating_model) {
      // As the paper's code does: the per-layer fractional lengths and clipping levels.
      formats = await describeFormats(loop.model);
      log({ type: 'formats', layers: formats });
      say(`fractional lengths and clipping levels:\n${formatTable(formats)}`);
    }
    return { epochs: r.history, formats, final, best: loop.best, logDir, seconds: (performance.now() - t0) / 1000 };
  } finally {
    // Also on errors (a NaN loss, a lost device): library users keep a clean pool.
    loop.dispose();
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
