/**
 * The Node side of training: wraps the portable TrainingLoop (loop.ts) with the run folder
 * (log_dir: next free name, lock, stale temporaries, logs trimmed on resume; run-dir.ts), logs
 * (JSONL, CSV, PNG curves), atomic checkpoints (last and best), terminal progress, and
 * SIGINT/SIGTERM: the first stops at the end of the current step, writes last.safetensors at
 * that step and prints the command that resumes it; a second exits at once (the previous
 * checkpoint stays intact, as every write is a rename).
 *
 * @example
 *   const result = await train(loadConfig(null, ['num_epochs=1']));
 *   console.log(result.final.top1);
 */
import { appendFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Engine } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';
import { loadDataAsync, type LoadedData } from '../data/sources.js';
import { describeFormats, formatTable, type LayerFormat } from '../nn/qlayers.js';
import { resolveConfig, withStoredHeadForm, type TrainConfig } from '../train/config.js';
import { loadConfig } from './config-file.js';
import { type Checkpoint } from '../train/checkpoint.js';
import { saveCheckpoint, loadCheckpoint } from './checkpoint-files.js';
import { writeTrainingPlot } from './training-plot.js';
import { RunProgress, restoreTerminal } from './progress.js';
import { TrainingLoop, evaluate, type EpochRecord, type EvalResult, type StepInfo } from '../train/loop.js';
import { checkpointHeader, claimRunDir, lockRunDir, releaseRunDir, removeStaleTemps, trimLogs } from './run-dir.js';
import { isTorchFile, readTrainingCheckpoint } from './torch-checkpoint.js';

export { quantFromConfig, modelFromConfig, weightDecayFilter, evaluate, evaluateWithConfusion, TrainingLoop } from '../train/loop.js';
export type { EvalResult, EpochRecord, ConfusionResult, StepInfo, LoopCallbacks } from '../train/loop.js';

export interface TrainResult {
  epochs: EpochRecord[];
  /** Fixed-point stage: the per-layer fractional lengths and clipping levels at the end. */
  formats: LayerFormat[] | null;
  final: EvalResult;
  best: number;
  logDir: string;
  seconds: number;
  /** Set when SIGINT/SIGTERM (or opts.signal) stopped the run: where it stopped and how to go on. */
  interrupted: { epoch: number; step: number; checkpoint: string; resumeCommand: string } | null;
}

export function defaultLogDir(cfg: TrainConfig): string {
  return cfg.log_dir ?? join('runs', `${cfg.model}-${cfg.dataset}-${cfg.floating_model ? 'float' : 'fixed'}`);
}

/** "1 epoch", "2 epochs". */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * Keys a `--set` may change when resuming: they change neither the model, the data, nor the
 * steps already taken (num_epochs extends or shortens the schedule that is still to come).
 */
export const RESUME_SAFE_KEYS: readonly string[] = ['resume', 'num_epochs', 'log_interval', 'eval_batch_size', 'progress_seconds', 'dataset_dir', 'exist_ok'];

/**
 * The config of a resumed run: the checkpoint's stored config (log_dir included), with only the
 * keys of RESUME_SAFE_KEYS taken from `sets` (and from `file`, a config given as well); any other
 * key that would change the stored value is refused, naming it.
 */
export function resumeConfig(resume: string, sets: string[] = [], file: string | null = null): TrainConfig {
  // The paper's checkpoint stores no config of ours: the run is the one the config and --set describe.
  if (isTorchFile(resume)) {
    const cfg = file ? loadConfig(file, sets) : resolveConfig({}, sets, '--set');
    return { ...cfg, resume };
  }
  const ck = loadCheckpoint(resume);
  const stored = storedConfig(ck);
  const given = file ? loadConfig(file, sets) : resolveConfig({}, sets, '--set');
  const defaults = resolveConfig({}, [], 'defaults');
  const setKeys = new Set(sets.map((s) => s.slice(0, Math.max(0, s.indexOf('='))).trim()));
  const out: Record<string, unknown> = { ...stored };
  for (const [k, v] of Object.entries(given)) {
    const explicit = setKeys.has(k) || (file !== null && JSON.stringify(v) !== JSON.stringify((defaults as unknown as Record<string, unknown>)[k]));
    if (!explicit) continue;
    if (RESUME_SAFE_KEYS.includes(k)) out[k] = v;
    else if (JSON.stringify(v) !== JSON.stringify(out[k])) {
      throw new F8Error(
        'BAD_CONFIG',
        `--set ${k}: cannot change ${k} when resuming (the checkpoint ${resume} was trained with ${k} = ${JSON.stringify(out[k] ?? null)}); keys a resume may change: ${RESUME_SAFE_KEYS.filter((x) => x !== 'resume').join(', ')}`,
      );
    }
  }
  out.resume = resume;
  try {
    return resolveConfig(out, [], `${resume} (stored config)`);
  } catch (e) {
    if (e instanceof F8Error) throw new F8Error('BAD_CONFIG', `${resume}: stored config is not valid: ${e.message}`);
    throw e;
  }
}

function storedConfig(ck: Checkpoint): Record<string, unknown> {
  const c: Record<string, unknown> = withStoredHeadForm({ ...ck.meta.config });
  // Checkpoints written before log_dir was stored: their folder is the checkpoint's.
  if (c.log_dir === null || c.log_dir === undefined) c.log_dir = dirname(ck.source);
  return c;
}

/** Keys where `cfg` differs from the checkpoint's stored config, outside RESUME_SAFE_KEYS. */
function unsafeChanges(cfg: TrainConfig, ck: Checkpoint): string[] {
  const stored = storedConfig(ck);
  const now = cfg as unknown as Record<string, unknown>;
  return Object.keys(now).filter((k) => !RESUME_SAFE_KEYS.includes(k) && k !== 'log_dir' && k in stored && JSON.stringify(now[k]) !== JSON.stringify(stored[k]));
}

export interface TrainOptions {
  quiet?: boolean;
  /** Data already loaded (tests, repeated runs). */
  data?: LoadedData;
  /**
   * Stop once this many epochs of the schedule are complete (the schedule still spans
   * num_epochs): a time-boxed job that a later `resume` continues exactly.
   */
  stopAfter?: number;
  /** Stop at the end of the current step, write last.safetensors there, and return `interrupted`. */
  signal?: AbortSignal;
  /** Turn SIGINT and SIGTERM into `signal` (the command line); a second one exits at once with 130. */
  handleSignals?: boolean;
  /** Hears of every step (after the progress line and the log). */
  onStep?: (s: StepInfo) => void;
  /** Where progress and messages go (default standard error). */
  stream?: NodeJS.WriteStream;
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Trains the stage a config describes (float, or fixed point from fp_pretrained_file); needs an
 * open Engine. Writes logs and checkpoints to the run's folder (result.logDir).
 *
 * @example
 *   import { Engine } from 'f8net';
 *   import { train, loadConfig } from 'f8net/node';
 *   await Engine.open();
 *   const r = await train(loadConfig(null, ['num_epochs=1', 'max_train_samples=2000']));
 *   console.log(r.final.top1, r.logDir);
 *   await Engine.get().close();
 */
export async function train(cfg: TrainConfig, opts: TrainOptions = {}): Promise<TrainResult> {
  const engine = Engine.get();
  const t0 = performance.now();
  const stream = opts.stream ?? process.stderr;
  const say = (s: string) => {
    if (!opts.quiet) stream.write(`${s}\n`);
  };
  const ctrl = new AbortController();
  opts.signal?.addEventListener('abort', () => ctrl.abort());
  let signals = 0;
  // Outside the steps (loading data, building the model, after the last checkpoint) there is nothing to save.
  let phase: 'setup' | 'training' | 'done' = 'setup';
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (phase !== 'training') {
      restoreTerminal();
      const state = phase === 'done' ? 'the checkpoints are written' : cfg.resume ? `the checkpoint ${cfg.resume} is unchanged` : 'no step had run';
      stream.write(`\nf8net train: ${sig}: exiting; ${state}\n`);
      process.exit(130);
    }
    if (signals > 1) {
      restoreTerminal();
      stream.write(`\nf8net train: second ${sig}: exiting now; the previous checkpoint is intact\n`);
      process.exit(130);
    }
    restoreTerminal();
    stream.write(`\nf8net train: ${sig}: stopping after this step to write a checkpoint (press Ctrl-C again to quit at once)\n`);
    ctrl.abort();
  };
  if (opts.handleSignals) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }

  let logDir = '';
  let loop: TrainingLoop | null = null;
  const notes: string[] = [];
  try {
    let resumeCk: Checkpoint | null = null;
    // The paper's checkpoint (a torch file) starts a new run folder from its state; it is read once the model is built.
    const paperResume = cfg.resume !== null && isTorchFile(cfg.resume);
    if (cfg.resume && !paperResume) {
      resumeCk = loadCheckpoint(cfg.resume);
      const bad = unsafeChanges(cfg, resumeCk);
      if (bad.length) {
        throw new F8Error('BAD_CONFIG', `resume ${cfg.resume}: the config differs from the checkpoint's in ${bad.map((k) => `${k}`).join(', ')}; a resume takes the checkpoint's config (f8net train --set resume=${shellQuote(cfg.resume)}) and may change only ${RESUME_SAFE_KEYS.filter((x) => x !== 'resume').join(', ')}`);
      }
      if (cfg.num_epochs < resumeCk.meta.epoch) throw new F8Error('BAD_CONFIG', `--set num_epochs=${cfg.num_epochs}: the checkpoint ${cfg.resume} is already at epoch ${resumeCk.meta.epoch}`);
      logDir = cfg.log_dir ?? (storedConfig(resumeCk).log_dir as string);
      const l = lockRunDir(logDir);
      if (l.staleLock !== null) notes.push(`took over the stale lock of process ${l.staleLock}`);
      // Resuming from an earlier checkpoint (best) would cut the later steps out of the run's logs and overwrite its last checkpoint.
      const last = join(logDir, 'last.safetensors');
      const later = checkpointHeader(last);
      if (!cfg.exist_ok && later?.step != null && later.step > resumeCk.meta.step && resolve(last) !== resolve(cfg.resume)) {
        throw new F8Error('BAD_CONFIG', `resume ${cfg.resume}: is at step ${resumeCk.meta.step}, but the run in ${logDir} went on to step ${later.step} (${last}); resuming here would discard those steps. Resume from ${last}, or add --set exist_ok=true to discard them`);
      }
    } else {
      const asked = defaultLogDir(cfg);
      const c = claimRunDir(asked, { existOk: cfg.exist_ok });
      logDir = c.dir;
      if (c.taken) notes.push(`${c.taken} holds another run`);
      if (c.staleLock !== null) notes.push(`took over the stale lock of process ${c.staleLock}`);
      // exist_ok: the earlier run's logs would mix with this one's.
      for (const f of ['log.jsonl', 'metrics.csv']) rmSync(join(logDir, f), { force: true });
    }
    const gone = removeStaleTemps(logDir);
    if (gone.length) notes.push(`removed ${plural(gone.length, 'temporary file')} of dead processes`);

    const warn = !cfg.floating_model && !cfg.fp_pretrained_file && !cfg.resume ? 'warning: fixed-point stage from random weights (floating_model false without fp_pretrained_file; F8Net starts it from a float checkpoint); ' : '';
    // Where the run goes, on the first line (and the last); printed also with --quiet when there is a warning.
    const first = `f8net train: ${warn}run folder ${logDir}${notes.length ? ` (${notes.join('; ')})` : ''}`;
    if (warn && opts.quiet) stream.write(`${first}\n`);
    else say(first);

    const data = opts.data ?? (await loadDataAsync(cfg));
    loop = new TrainingLoop(cfg, data);
    const spe = loop.stepsPerEpoch;
    if (paperResume) {
      const { ck, notes: read } = readTrainingCheckpoint(cfg.resume!, loop.model, cfg, loop.loader.getState());
      if (cfg.num_epochs < ck.meta.epoch) throw new F8Error('BAD_CONFIG', `--set num_epochs=${cfg.num_epochs}: the checkpoint ${cfg.resume} is already at epoch ${ck.meta.epoch}`);
      loop.resumeFrom(ck, { partial: true });
      for (const n of read) say(`f8net train: ${n}`);
      say(`resumed from ${cfg.resume} at step ${loop.globalStep} (${plural(loop.epoch, 'epoch')} done)`);
    } else if (resumeCk) {
      loop.resumeFrom(resumeCk);
      const cut = trimLogs(logDir, { epoch: loop.epoch, step: loop.globalStep, stepsPerEpoch: spe });
      say(`resumed from ${cfg.resume} at step ${loop.globalStep} (${plural(loop.epoch, 'epoch')}${loop.batch ? ` and ${plural(loop.batch, 'step')}` : ''} done)${cut.jsonl + cut.csv ? ` (cut ${plural(cut.jsonl, 'log line')} and ${plural(cut.csv, 'metrics row')} written after it)` : ''}`);
    } else if (cfg.fp_pretrained_file) {
      const { ck, notes: read } = readTrainingCheckpoint(cfg.fp_pretrained_file, loop.model, cfg);
      for (const n of read) say(`f8net train: ${n}`);
      loop.initFromFloat(ck);
      say(`initialised from float checkpoint ${cfg.fp_pretrained_file}`);
    }
    const log = (rec: Record<string, unknown>) => appendFileSync(join(logDir, 'log.jsonl'), `${JSON.stringify(rec)}\n`);
    // The stored config names the run's folder, so that a resume needs nothing else.
    const stored = { ...cfg, log_dir: logDir } as TrainConfig;
    const meta = () => ({ ...loop!.checkpointMeta(), config: stored as unknown as Record<string, unknown> });

    say(`f8net train: ${cfg.model} on ${data.train.name} (${data.train.length} train, ${data.test.length} test), ${loop.stage} stage, ${plural(cfg.num_epochs, 'epoch')} x ${plural(spe, 'step')}, ${engine.gpu.describe().description || engine.gpu.describe().vendor}`);
    const progress = new RunProgress({ numEpochs: cfg.num_epochs, totalSteps: cfg.num_epochs * spe, startStep: loop.globalStep, plainEverySeconds: cfg.progress_seconds, quiet: opts.quiet, stream });
    const l = loop;
    phase = 'training';
    const r = await loop.run(
      {
        onStep: (s) => {
          const ips = s.images / Math.max(1e-9, s.ms / 1000);
          progress.step({ ...s, ips });
          if (s.loss !== null) log({ type: 'step', epoch: s.epoch + 1, step: s.step, global_step: s.globalStep, loss: s.loss, lr: s.lr, images_per_s: ips });
          opts.onStep?.(s);
        },
        onEvalProgress: (epoch, done, total) => progress.evalProgress(epoch, done, total),
        onEpoch: async (rec) => {
          progress.clear();
          log({ type: 'epoch', ...rec });
          writeCsv(join(logDir, 'metrics.csv'), rec);
          say(
            `epoch ${rec.epoch}: train loss ${rec.train_loss.toFixed(4)}, test loss ${rec.test_loss.toFixed(4)}, top-1 ${(100 * rec.top1).toFixed(2)}%` +
              `${rec.top5 !== null ? `, top-5 ${(100 * rec.top5).toFixed(2)}%` : ''}, ${rec.images_per_s.toFixed(0)} img/s, data wait ${(100 * rec.data_wait_share).toFixed(1)}%`,
          );
          const what = { model: l.model, optimizer: l.optimizer, meta: meta() };
          await saveCheckpoint(join(logDir, 'last.safetensors'), what);
          if (l.improved) await saveCheckpoint(join(logDir, 'best.safetensors'), what);
          await writeTrainingPlot(join(logDir, 'curves.png'), readCsvHistory(join(logDir, 'metrics.csv')));
        },
      },
      { stopAfter: opts.stopAfter, signal: ctrl.signal, lastCheckpoint: join(logDir, 'last.safetensors') },
    );
    progress.stop();
    if (r.stopped) {
      const ckFile = join(logDir, 'last.safetensors');
      // Mid-epoch: the state at this step; at an epoch's end onEpoch has just written it.
      if (loop.batch > 0) await saveCheckpoint(ckFile, { model: loop.model, optimizer: loop.optimizer, meta: meta() });
      phase = 'done';
      log({ type: 'interrupted', epoch: loop.epoch, global_step: loop.globalStep });
      const resumeCommand = `f8net train --set resume=${shellQuote(ckFile)}`;
      stream.write(`f8net train: stopped ${loop.batch > 0 ? `in epoch ${loop.epoch + 1}` : `after epoch ${loop.epoch}`} at step ${loop.globalStep} of ${cfg.num_epochs * spe}; checkpoint ${ckFile}\n`);
      const final = r.lastEval ?? { top1: NaN, top5: null, loss: NaN, count: 0 };
      return { epochs: r.history, formats: null, final, best: loop.best, logDir, seconds: (performance.now() - t0) / 1000, interrupted: { epoch: loop.epoch, step: loop.globalStep, checkpoint: ckFile, resumeCommand } };
    }
    phase = 'done';
    // The last epoch's evaluation is the final one; evaluate only when no epoch ran here.
    const final = r.lastEval ?? (await evaluate(loop.model, data.test, data.mean, data.std, cfg.eval_batch_size));
    let formats: LayerFormat[] | null = null;
    if (!cfg.floating_model) {
      // As the paper's code does: the per-layer fractional lengths and clipping levels.
      formats = await describeFormats(loop.model);
      log({ type: 'formats', layers: formats });
      say(`fractional lengths and clipping levels:\n${formatTable(formats)}`);
    }
    return { epochs: r.history, formats, final, best: loop.best, logDir, seconds: (performance.now() - t0) / 1000, interrupted: null };
  } finally {
    // Also on errors (a NaN loss, a lost device): library users keep a clean pool.
    loop?.dispose();
    restoreTerminal();
    if (logDir) releaseRunDir(logDir);
    if (opts.handleSignals) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
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
