/**
 * Evaluation of one model in several forms on one test set, image for image: the fake-quant
 * model on the GPU ('fake'), the integer model on the CPU ('int-cpu', the definition) and on the
 * GPU ('int-gpu'), and the three ONNX files through onnxruntime ('onnx-integize', 'onnx-int', 'onnx-qdq').
 * Each mode yields real-valued logits (integer logits / 2^fl) and predictions, so that modes can
 * be compared: the share of images whose predicted class agrees and the largest logit difference.
 *
 * @example
 *   const r = await evaluateModes({ model, graph, ds, mean, std }, ['fake', 'int-cpu', 'int-gpu']);
 *   console.log(compareModes(r));
 */
import { Engine } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';
import { Tensor } from '../tensor.js';
import { noGrad } from '../autograd/tape.js';
import type { Module } from '../nn/module.js';
import type { Dataset } from '../data/dataset.js';
import { normalizeImages } from '../ops/image.js';
import { refNormalizeImages } from '../ops/image.ref.js';
import { refArgmax } from '../ops/loss.ref.js';
import { quantizeImages, runIntCpu } from './run-cpu.js';
import { IntGpuRunner } from './run-gpu.js';
import { toIntegizeOnnx, toIntOnlyOnnx } from './onnx-export.js';
import { toQdqOnnx } from './onnx-qdq.js';
import { runOnnx } from './onnx-run.js';
import type { IntGraph } from './graph.js';

export const EVAL_MODES = ['fake', 'int-cpu', 'int-gpu', 'onnx-integize', 'onnx-int', 'onnx-qdq'] as const;
export type EvalMode = (typeof EVAL_MODES)[number];

export interface ModeResult {
  mode: EvalMode;
  top1: number;
  count: number;
  seconds: number;
  images_per_s: number;
  /** Real-valued logits [count, classes]. */
  logits: Float64Array;
  preds: Int32Array;
}

export interface ModeInputs {
  /** The fixed-point model (needed for 'fake'). */
  model?: Module;
  /** The integer model (needed for every other mode). */
  graph?: IntGraph;
  /** ONNX bytes; made from `graph` when absent. */
  onnx?: { integize?: Uint8Array; intOnly?: Uint8Array; qdq?: Uint8Array };
  ds: Dataset;
  mean: number[];
  std: number[];
  /** Images per batch (default 100). */
  batch?: number;
  /** Evaluate only the first `limit` images. */
  limit?: number;
}

/** Parses "fake,int-cpu" or ["fake", "int-cpu"] into modes, rejecting unknown names. */
export function parseModes(spec: string | string[]): EvalMode[] {
  const names = (Array.isArray(spec) ? spec : [spec]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  const out: EvalMode[] = [];
  for (const n of names) {
    if (!(EVAL_MODES as readonly string[]).includes(n)) throw new F8Error('BAD_CONFIG', `--mode ${n}: expected one of ${EVAL_MODES.join(', ')}`);
    if (!out.includes(n as EvalMode)) out.push(n as EvalMode);
  }
  if (!out.length) throw new F8Error('BAD_CONFIG', `--mode: expected one or more of ${EVAL_MODES.join(', ')}`);
  return out;
}

async function fakeLogits(model: Module, ds: Dataset, count: number, mean: number[], std: number[], batch: number): Promise<Float64Array> {
  const e = Engine.get();
  model.eval();
  const S = ds.channels * ds.height * ds.width;
  let out: Float64Array | null = null;
  let k = 0;
  for (let i = 0; i < count; i += batch) {
    const n = Math.min(batch, count - i);
    const px = ds.images.slice(i * S, (i + n) * S);
    const y = (await e.tidyAsync(() => noGrad(() => model.forward(normalizeImages(px, [n, ds.channels, ds.height, ds.width], mean, std))).read())) as Float32Array;
    k = y.length / n;
    out ??= new Float64Array(count * k);
    out.set(y, i * k);
  }
  return out ?? new Float64Array(0);
}

async function intLogits(mode: EvalMode, g: IntGraph, onnx: NonNullable<ModeInputs['onnx']>, ds: Dataset, count: number, batch: number): Promise<Float64Array> {
  const S = ds.channels * ds.height * ds.width;
  const k = g.model.classes;
  const out = new Float64Array(count * k);
  const scale = 2 ** -g.output.fl;
  const gpu = mode === 'int-gpu' ? new IntGpuRunner(g) : null;
  try {
    for (let i = 0; i < count; i += batch) {
      const n = Math.min(batch, count - i);
      const px = ds.images.subarray(i * S, (i + n) * S);
      const shape = [n, ...g.input.shape];
      let logits: Int32Array;
      let fl = g.output.fl;
      if (mode === 'int-cpu') logits = runIntCpu(g, quantizeImages(g, px, n), n);
      else if (mode === 'int-gpu') logits = await gpu!.run(quantizeImages(g, px, n), n);
      else if (mode === 'onnx-int') ({ logits, fl } = await runOnnx(onnx.intOnly!, quantizeImages(g, px, n), shape));
      // integize and qdq take normalised images and quantise them themselves.
      else ({ logits, fl } = await runOnnx(mode === 'onnx-qdq' ? onnx.qdq! : onnx.integize!, refNormalizeImages(px, shape, g.input.mean, g.input.std), shape));
      const s = fl === g.output.fl ? scale : 2 ** -fl;
      for (let j = 0; j < n * k; j++) out[i * k + j] = logits[j] * s;
    }
  } finally {
    gpu?.dispose();
  }
  return out;
}

/** Runs each mode over the test set (or its first `limit` images). */
export async function evaluateModes(inp: ModeInputs, modes: EvalMode[]): Promise<ModeResult[]> {
  const { ds } = inp;
  const count = Math.min(ds.length, inp.limit ?? ds.length);
  const batch = inp.batch ?? 100;
  const g = inp.graph;
  if (g) {
    const [C, H, W] = g.input.shape;
    if (C !== ds.channels || H !== ds.height || W !== ds.width) {
      throw new F8Error('SHAPE_MISMATCH', `evaluate: the integer model reads [${C}, ${H}, ${W}] images, ${ds.name} holds [${ds.channels}, ${ds.height}, ${ds.width}]`);
    }
  }
  const onnx = { ...inp.onnx };
  const results: ModeResult[] = [];
  for (const mode of modes) {
    const t0 = performance.now();
    let logits: Float64Array;
    if (mode === 'fake') {
      if (!inp.model) throw new F8Error('BAD_CONFIG', 'evaluate: mode fake needs the fixed-point model (a checkpoint)');
      logits = await fakeLogits(inp.model, ds, count, inp.mean, inp.std, batch);
    } else {
      if (!g) throw new F8Error('BAD_CONFIG', `evaluate: mode ${mode} needs the integer model`);
      if (mode === 'onnx-int') onnx.intOnly ??= toIntOnlyOnnx(g);
      if (mode === 'onnx-integize') onnx.integize ??= toIntegizeOnnx(g);
      if (mode === 'onnx-qdq') onnx.qdq ??= toQdqOnnx(g);
      logits = await intLogits(mode, g, onnx, ds, count, batch);
    }
    const seconds = (performance.now() - t0) / 1000;
    const preds = refArgmax(logits, count, count ? logits.length / count : 0);
    let correct = 0;
    for (let i = 0; i < count; i++) if (preds[i] === ds.labels[i]) correct++;
    results.push({ mode, top1: count ? correct / count : 0, count, seconds, images_per_s: count / seconds, logits, preds });
  }
  return results;
}

export interface ModeComparison {
  a: EvalMode;
  b: EvalMode;
  /** Share of images whose predicted classes agree. */
  agreement: number;
  disagreements: number;
  /** Largest |logit_a - logit_b| over all images and classes (real units). */
  maxLogitDiff: number;
}

/** Every pair of results compared. */
export function compareModes(results: ModeResult[]): ModeComparison[] {
  const out: ModeComparison[] = [];
  for (let i = 0; i < results.length; i++)
    for (let j = i + 1; j < results.length; j++) {
      const [a, b] = [results[i], results[j]];
      let same = 0;
      for (let k = 0; k < a.count; k++) if (a.preds[k] === b.preds[k]) same++;
      let md = 0;
      for (let k = 0; k < a.logits.length; k++) md = Math.max(md, Math.abs(a.logits[k] - b.logits[k]));
      out.push({ a: a.mode, b: b.mode, agreement: a.count ? same / a.count : 1, disagreements: a.count - same, maxLogitDiff: md });
    }
  return out;
}
