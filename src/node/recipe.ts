/**
 * The F8Net recipe as one job, the default of `f8net train`: the float stage, the 8-bit
 * fixed-point stage initialised from its best checkpoint, the integer export, and the integer
 * model checked against the fake-quant model it came from (same class, largest logit
 * difference). It calls the same functions as the separate commands (train, exportCheckpoint,
 * evaluateModes), so its numbers are theirs.
 *
 * The default sizes keep the job to a few minutes on a software adapter (lavapipe, 2 cores:
 * about 11 s per float epoch and 26 s per fixed-point epoch): the small CNN at width 16,
 * 6 float epochs and 3 fixed-point epochs over the 8,000 training digits.
 *
 * @example
 *   import { Engine, runRecipe } from 'f8net';
 *   await Engine.open();
 *   const r = await runRecipe({ sets: ['max_train_samples=512'], floatEpochs: 1, fixedEpochs: 1 });
 *   console.log(r.float.top1, r.fixed.top1, r.integer.agreement);
 *   await Engine.get().close();
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { TrainConfig } from '../train/config.js';
import { loadConfig } from './config-file.js';
import { train, type TrainResult } from './trainer.js';
import { loadDataAsync, type LoadedData } from '../data/sources.js';
import { F8Error } from '../runtime/errors.js';
import { checkpointModel, writeExport } from './from-checkpoint.js';
import { evaluateModes, compareModes, type EvalMode } from '../export/evaluate.js';

/**
 * Config keys the recipe sets itself per stage. `f8net train` given one of them (without a
 * config file) runs that one stage instead; runRecipe refuses them.
 */
export const RECIPE_STAGE_KEYS: readonly string[] = ['floating_model', 'fp_pretrained_file', 'resume', 'num_epochs', 'lr', 'log_dir'];

/** Whether `--set` overrides describe one stage rather than the recipe. */
export function setsNameAStage(sets: string[]): boolean {
  return sets.some((s) => RECIPE_STAGE_KEYS.includes(s.split('=')[0].trim()));
}

export interface RecipeOptions {
  /** `key=value` overrides applied to both stages (e.g. `max_train_samples=1000`). */
  sets?: string[];
  /** Epochs of the float stage (default 6). */
  floatEpochs?: number;
  /** Epochs of the fixed-point stage (default 3). */
  fixedEpochs?: number;
  /** Base learning rates of the two stages (defaults 0.1 and 0.01, the F8Net recipe's ratio). */
  floatLr?: number;
  fixedLr?: number;
  /**
   * Folder of the job: `float/`, `fixed/`, `int/` go under it. It must be new or empty; the
   * default, runs/recipe-<model>-<dataset>, takes the next free suffix (-2, -3, ...) instead.
   */
  dir?: string;
  /** Integer runners checked against the fake-quant model (default int-cpu and int-gpu). */
  intModes?: Exclude<EvalMode, 'fake'>[];
  /** Write the two ONNX files too (default true). */
  onnx?: boolean;
  quiet?: boolean;
  /**
   * SIGINT/SIGTERM stop the stage in progress at the end of its step with a checkpoint there, and
   * the recipe ends with an INTERRUPTED error naming the command that resumes that stage (the CLI).
   */
  handleSignals?: boolean;
  /** Data already loaded (tests). */
  data?: LoadedData;
}

export interface RecipeResult {
  float: { top1: number; checkpoint: string; logDir: string; seconds: number };
  fixed: { top1: number; checkpoint: string; logDir: string; seconds: number };
  /** The integer model against the fake-quant model, over the whole test split. */
  integer: { dir: string; files: string[]; images: number; sameClass: number; agreement: number; maxLogitDiff: number; modes: { mode: EvalMode; top1: number }[] };
  seconds: number;
}

/**
 * The job's folder: never one that holds an earlier job. The default name gets the next free
 * suffix (-2, -3, ...); a folder the caller names must be new or empty.
 */
function recipeDir(asked: string | undefined, dflt: string): string {
  const used = (d: string) => existsSync(d) && (!statSync(d).isDirectory() || readdirSync(d).length > 0);
  if (asked !== undefined) {
    if (used(asked)) throw new F8Error('BAD_INPUT', `--out ${asked}: already holds files (an earlier job?); give a new or empty folder`);
    return asked;
  }
  let d = dflt;
  for (let k = 2; used(d); k++) d = `${dflt}-${k}`;
  return d;
}

/**
 * Runs the whole recipe; needs an open Engine.
 *
 * @example
 *   await Engine.open();
 *   const r = await runRecipe({ sets: ['max_train_samples=2000'], floatEpochs: 2, fixedEpochs: 1, dir: 'runs/quick' });
 *   console.log(formatRecipe(r));
 */
/** The recipe stopped by a signal inside a stage: where its checkpoint is and how to go on. */
function interrupted(stage: string, r: NonNullable<TrainResult['interrupted']>, next: string): F8Error {
  return new F8Error('INTERRUPTED', `recipe interrupted in ${stage}; checkpoint ${r.checkpoint}; resume that stage with: ${r.resumeCommand}; ${next}`);
}

export async function runRecipe(opts: RecipeOptions = {}): Promise<RecipeResult> {
  const t0 = performance.now();
  const sets = opts.sets ?? [];
  for (const s of sets) {
    const k = s.split('=')[0].trim();
    if (RECIPE_STAGE_KEYS.includes(k)) {
      throw new F8Error('BAD_CONFIG', `--set ${s}: the recipe sets ${k} itself for each stage; run a stage alone with 'f8net train --config configs/cnn_mnist_float.yml' (or _fixed.yml) to choose it`);
    }
  }
  const base = loadConfig(null, ['model_args={width: 16}', ...sets]);
  const dir = recipeDir(opts.dir, join('runs', `recipe-${base.model}-${base.dataset}`));
  const stageCfg = (extra: string[]): TrainConfig => loadConfig(null, ['model_args={width: 16}', ...sets, ...extra]);
  const floatCfg = stageCfg(['floating_model=true', `num_epochs=${opts.floatEpochs ?? 6}`, `lr=${opts.floatLr ?? 0.1}`, `log_dir=${JSON.stringify(join(dir, 'float'))}`]);
  const data = opts.data ?? (await loadDataAsync(floatCfg));
  const say = (s: string) => {
    if (!opts.quiet) process.stderr.write(`${s}\n`);
  };

  say(`f8net recipe: writing to ${dir}; stage 1 of 3, float ${floatCfg.model} on ${data.train.name}`);
  const f = await train(floatCfg, { quiet: opts.quiet, data, handleSignals: opts.handleSignals });
  if (f.interrupted) throw interrupted('stage 1 (float)', f.interrupted, `then the fixed-point stage: f8net train --config configs/cnn_mnist_fixed.yml --set fp_pretrained_file=${join(f.logDir, 'best.safetensors')}`);
  const floatCk = join(f.logDir, 'best.safetensors');
  const fixedCfg = stageCfg(['floating_model=false', `fp_pretrained_file=${JSON.stringify(floatCk)}`, `num_epochs=${opts.fixedEpochs ?? 3}`, `lr=${opts.fixedLr ?? 0.01}`, `log_dir=${JSON.stringify(join(dir, 'fixed'))}`]);
  say(`f8net recipe: stage 2 of 3, 8-bit fixed point from ${floatCk}`);
  const q: TrainResult = await train(fixedCfg, { quiet: opts.quiet, data, handleSignals: opts.handleSignals });
  if (q.interrupted) throw interrupted('stage 2 (fixed point)', q.interrupted, `then the export: f8net export --checkpoint ${join(q.logDir, 'best.safetensors')} --out ${join(dir, 'int')}`);
  const fixedCk = join(q.logDir, 'best.safetensors');

  say(`f8net recipe: stage 3 of 3, integer export of ${fixedCk} and check against the fake-quant model`);
  const { model, graph, cfg } = await checkpointModel(fixedCk, { withGraph: true, data });
  let integer: RecipeResult['integer'];
  try {
    const intDir = join(dir, 'int');
    const { files } = writeExport(intDir, graph!, { onnx: opts.onnx ?? true });
    const modes: EvalMode[] = ['fake', ...(opts.intModes ?? ['int-cpu', 'int-gpu'])];
    const results = await evaluateModes({ model, graph: graph!, ds: data.test, mean: data.mean, std: data.std, batch: cfg.eval_batch_size }, modes);
    // fake against each integer runner: the worst pair is the one reported.
    const pairs = compareModes(results).filter((c) => c.a === 'fake');
    const worst = pairs.reduce((w, c) => (c.disagreements > w.disagreements || (c.disagreements === w.disagreements && c.maxLogitDiff > w.maxLogitDiff) ? c : w));
    const images = results[0].count;
    integer = { dir: intDir, files, images, sameClass: images - worst.disagreements, agreement: worst.agreement, maxLogitDiff: Math.max(...pairs.map((c) => c.maxLogitDiff)), modes: results.map((r) => ({ mode: r.mode, top1: r.top1 })) };
  } finally {
    model.dispose();
  }
  return {
    float: { top1: f.best, checkpoint: floatCk, logDir: f.logDir, seconds: f.seconds },
    fixed: { top1: q.best, checkpoint: fixedCk, logDir: q.logDir, seconds: q.seconds },
    integer,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** The recipe's one summary, as `f8net train` prints it. */
export function formatRecipe(r: RecipeResult): string {
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  const i = r.integer;
  return [
    `F8Net recipe done in ${r.seconds.toFixed(0)} s`,
    `  float top-1                 ${pct(r.float.top1).padStart(7)}   ${r.float.checkpoint}`,
    `  8-bit fixed-point top-1     ${pct(r.fixed.top1).padStart(7)}   ${r.fixed.checkpoint}`,
    `  integer model (${i.modes.filter((m) => m.mode !== 'fake').map((m) => m.mode).join(', ')}) vs fake-quant: same class on ${i.sameClass}/${i.images} images, largest logit difference ${i.maxLogitDiff.toExponential(2)}`,
    `  integer model files         ${i.files.join(', ')}`,
  ].join('\n');
}
