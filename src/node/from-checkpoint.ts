/**
 * From a training checkpoint to the models it describes: its resolved config, the network
 * with its weights, the integer graph of a fixed-point checkpoint, and the exported files.
 * `f8net eval`, `f8net export` and the recipe call these; the CLI only parses and prints.
 *
 * @example
 *   import { Engine, exportCheckpoint } from 'f8net';
 *   await Engine.open();
 *   const { graph, files } = await exportCheckpoint('runs/cnn-mnist-fixed/best.safetensors', 'runs/cnn-mnist-int');
 *   console.log(graph.nodes.length, files);
 *   await Engine.get().close();
 */
import { basename, join } from 'node:path';
import { resolveConfig, withStoredHeadForm, type TrainConfig } from '../train/config.js';
import { modelFromConfig } from './trainer.js';
import { type Checkpoint } from '../train/checkpoint.js';
import { loadCheckpoint } from './checkpoint-files.js';
import { loadDataAsync, inputShape, type LoadedData } from '../data/sources.js';
import { F8Error } from '../runtime/errors.js';
import { writeExportFolder } from './out-dir.js';
import type { Module } from '../nn/module.js';
import { exportModel } from '../export/convert.js';
import { serializeIntModel } from '../export/format.js';
import { toIntegizeOnnx, toIntOnlyOnnx } from '../export/onnx-export.js';
import { toQdqOnnx } from '../export/onnx-qdq.js';
import { evaluateModes, compareModes, parseModes, type EvalMode, type ModeResult, type ModeComparison } from '../export/evaluate.js';
import { closeOnnxSessions } from '../export/onnx-run.js';
import type { IntGraph } from '../export/graph.js';

/**
 * A checkpoint with its resolved config (evaluation ignores how the run was started).
 * `over` evaluates on another data set (or folder of one).
 *
 * @example
 *   const { ck, cfg } = checkpointConfig('runs/cnn-mnist-fixed/best.safetensors');
 *   console.log(ck.meta.stage, cfg.model);
 */
export function checkpointConfig(file: string, over: { dataset?: string; datasetDir?: string; maxTestSamples?: number | null } = {}): { ck: Checkpoint; cfg: TrainConfig } {
  const ck = loadCheckpoint(file);
  try {
    const raw = withStoredHeadForm({ ...ck.meta.config });
    if (over.dataset) raw.dataset = over.dataset;
    if (over.datasetDir) raw.dataset_dir = over.datasetDir;
    if (over.maxTestSamples !== undefined) raw.max_test_samples = over.maxTestSamples;
    raw.resume = null;
    raw.fp_pretrained_file = null;
    raw.floating_model = ck.meta.stage === 'float';
    return { ck, cfg: resolveConfig(raw, [], `${file} (config)`) };
  } catch (e) {
    if (e instanceof F8Error) throw new F8Error('BAD_INPUT', `${file}: stored config is not valid: ${e.message}`);
    throw e;
  }
}

export interface CheckpointModelOptions {
  /** Also build the integer graph (fixed-point checkpoints only; default false). */
  withGraph?: boolean;
  /** The data set, when already loaded (default: loaded from the checkpoint's config). */
  data?: LoadedData;
  /** Evaluate on another data set, or another folder of it. */
  dataset?: string;
  /** Another test subset than the one the checkpoint was trained with (null: all). */
  maxTestSamples?: number | null;
  datasetDir?: string;
}

export interface CheckpointModel {
  model: Module;
  /** The integer graph, with `withGraph`. */
  graph: IntGraph | null;
  ck: Checkpoint;
  cfg: TrainConfig;
  data: LoadedData;
}

/**
 * The network of a checkpoint with its weights, and with `withGraph` its integer graph. Needs an
 * open Engine; the caller disposes the model.
 *
 * @example
 *   await Engine.open();
 *   const { model, graph, data } = await checkpointModel('runs/cnn-mnist-fixed/best.safetensors', { withGraph: true });
 *   console.log(graph!.nodes.length, data.test.length);
 *   model.dispose();
 */
export async function checkpointModel(file: string, opts: CheckpointModelOptions = {}): Promise<CheckpointModel> {
  const { ck, cfg } = checkpointConfig(file, opts);
  const data = opts.data ?? (await loadDataAsync(cfg));
  const model = modelFromConfig(cfg, data);
  try {
    model.loadStateDict(ck.model, { source: file });
    if (!opts.withGraph) return { model, graph: null, ck, cfg, data };
    if (ck.meta.stage !== 'fixed') throw new F8Error('BAD_INPUT', `${file}: a ${ck.meta.stage}-stage checkpoint has no integer form; export or evaluate a fixed-point checkpoint (floating_model: false)`);
    const [c, h, w] = inputShape(data);
    // The data set's names, else those the checkpoint recorded (a folder set that moved away).
    const names = data.classes ?? (Array.isArray(ck.meta.classes) ? ck.meta.classes : undefined);
    const classNames = names && names.length === data.test.numClasses ? { classNames: [...names] } : {};
    const graph = await exportModel(model, { name: cfg.model, args: { ...cfg.model_args }, dataset: cfg.dataset, classes: data.test.numClasses, checkpoint: basename(file), ...classNames }, { shape: [c, h, w], mean: data.mean, std: data.std });
    return { model, graph, ck, cfg, data };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/**
 * Writes an integer graph to the folder `out` as one unit: model.json + weights.bin and, unless
 * `onnx` is false, integize.onnx, int_op_only.onnx and (unless `qdq` is false) qdq.onnx, written into a temporary sibling folder
 * and swapped in with renames (node/out-dir.ts), so `out` holds one complete export or the
 * previous one. A non-empty folder that is not an f8net export is refused unless `force`.
 * Returns the paths written and whether an earlier export was replaced.
 */
export function writeExport(out: string, g: IntGraph, opts: { onnx?: boolean; qdq?: boolean; force?: boolean } = {}): { files: string[]; replaced: boolean } {
  const { json, bin } = serializeIntModel(g);
  const parts = [{ name: 'model.json', data: new TextEncoder().encode(json) }, { name: 'weights.bin', data: bin }];
  if (opts.onnx ?? true) parts.push({ name: 'integize.onnx', data: toIntegizeOnnx(g) }, { name: 'int_op_only.onnx', data: toIntOnlyOnnx(g) });
  if ((opts.onnx ?? true) && (opts.qdq ?? true)) parts.push({ name: 'qdq.onnx', data: toQdqOnnx(g) });
  const { replaced } = writeExportFolder(out, parts, { force: opts.force });
  return { files: parts.map((p) => join(out, p.name)), replaced };
}

export interface ExportResult {
  graph: IntGraph;
  files: string[];
  /** An earlier export in the folder was replaced. */
  replaced: boolean;
}

/**
 * `f8net export` as a function: a fixed-point checkpoint to the integer model folder `out`.
 * Needs an open Engine (the fold runs on the GPU). `data` skips reloading the data set.
 *
 * @example
 *   await Engine.open();
 *   const { graph, files } = await exportCheckpoint('runs/cnn-mnist-fixed/best.safetensors', 'runs/int', { onnx: false });
 *   console.log(graph.nodes.length, files); // [..., 'runs/int/model.json', 'runs/int/weights.bin']
 */
export async function exportCheckpoint(file: string, out: string, opts: { onnx?: boolean; qdq?: boolean; force?: boolean; data?: LoadedData } = {}): Promise<ExportResult> {
  const { model, graph } = await checkpointModel(file, { withGraph: true, data: opts.data });
  model.dispose();
  return { graph: graph!, ...writeExport(out, graph!, opts) };
}

export interface CheckpointEvaluation {
  dataset: string;
  results: ModeResult[];
  /** Every pair of modes, when asked for. */
  compare: ModeComparison[];
}

/**
 * `f8net eval --mode ...` as a function: a checkpoint evaluated in each mode (fake-quant, its
 * integer forms on CPU, GPU and ONNX), and with `compare` each pair's agreement.
 *
 * @example
 *   const r = await evaluateCheckpoint('runs/x/best.safetensors', ['fake', 'int-gpu'], { compare: true, limit: 500 });
 *   console.log(r.compare[0].agreement, r.compare[0].maxLogitDiff);
 */
export async function evaluateCheckpoint(
  file: string,
  modeSpec: string | string[],
  opts: { compare?: boolean; limit?: number; dataset?: string; datasetDir?: string; maxTestSamples?: number | null } = {},
): Promise<CheckpointEvaluation> {
  const modes: EvalMode[] = parseModes(modeSpec);
  if (opts.compare && modes.length < 2) throw new F8Error('BAD_CONFIG', '--compare needs two or more modes, e.g. --mode fake,int-cpu,int-gpu');
  const { model, graph, cfg, data } = await checkpointModel(file, { ...opts, withGraph: modes.some((m) => m !== 'fake') });
  try {
    const results = await evaluateModes({ model, graph: graph ?? undefined, ds: data.test, mean: data.mean, std: data.std, limit: opts.limit, batch: cfg.eval_batch_size }, modes);
    return { dataset: data.test.name, results, compare: opts.compare ? compareModes(results) : [] };
  } finally {
    model.dispose();
    await closeOnnxSessions();
  }
}
