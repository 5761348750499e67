/**
 * `f8net predict` as library functions: open an exported model (integer model folder, or one of
 * its ONNX files), run it on decoded images, and turn its logits into the top-k classes with
 * softmax probabilities and class names. A training checkpoint given as the model is refused
 * with the command that exports it.
 *
 * @example
 *   import { Engine, openPredictModel, predict } from 'f8net';
 *   import { decodeImages } from 'f8net/node';
 *   const m = openPredictModel('runs/recipe-cnn-mnist/int');
 *   const imgs = await decodeImages('digit.png', m.shape);
 *   await Engine.open();
 *   const [p] = await predict(m, imgs.pixels, imgs.names.length, { topK: 3 });
 *   console.log(p.top);            // [{ class: 7, name: null, prob: 0.98 }, ...]
 *   await Engine.get().close();
 */
import { existsSync, statSync, openSync, readSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { F8Error } from '../runtime/errors.js';
import { assertTensorsFinite } from '../io/finite.js';
import { jsonDepth, clip } from '../io/text-limits.js';
import { CHECKPOINT_FORMAT } from '../train/checkpoint.js';
import { readOnnx } from './onnx-file.js';
import { MODEL_JSON } from '../export/format.js';
import { readIntModel } from './int-model-files.js';
import { ONNX_META } from '../export/onnx-export.js';
import { runOnnx, closeOnnxSessions, onnxInputKind } from '../export/onnx-run.js';
import { quantizeImages, runIntCpu } from '../export/run-cpu.js';
import { IntGpuRunner } from '../export/run-gpu.js';
import { refNormalizeImages } from '../ops/image.ref.js';
import { roundHalfEven } from '../quant/fixed-format.js';
import type { IntGraph } from '../export/graph.js';
import { topK } from '../export/topk.js';

export { topK };

/** An exported model ready to predict with. */
export type PredictModel =
  | { kind: 'int'; path: string; graph: IntGraph; shape: [number, number, number]; classNames: string[] | null }
  | { kind: 'onnx'; path: string; shape: [number, number, number]; scale: number[]; mean: number[]; std: number[]; classNames: string[] | null };

/** First bytes of a file (for telling model kinds apart), or null when unreadable. */
function head(file: string, n: number): Uint8Array | null {
  try {
    const fd = openSync(file, 'r');
    try {
      const b = new Uint8Array(n);
      return b.subarray(0, readSync(fd, b, 0, n, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
}

/** Whether a file is a safetensors file (training checkpoints and float weights are). */
function looksLikeSafetensors(file: string): boolean {
  const b = head(file, 9);
  if (!b || b.length < 9 || b[8] !== 0x7b) return false;
  const hlen = new DataView(b.buffer, b.byteOffset).getBigUint64(0, true);
  return hlen < BigInt(statSync(file).size);
}

/**
 * Opens `path` for prediction: a folder written by `f8net export` (or its model.json), or its
 * integize.onnx / int_op_only.onnx / qdq.onnx. A training checkpoint or run folder is refused with the
 * export command to run.
 *
 * @example
 *   const m = openPredictModel('runs/recipe-cnn-mnist/int');
 *   console.log(m.kind, m.shape, m.classNames); // 'int' [1, 28, 28] null
 */
export function openPredictModel(path: string): PredictModel {
  if (!existsSync(path)) throw new F8Error('BAD_INPUT', `--model ${path}: no such file or folder (expected a folder written by 'f8net export', or one of its .onnx files)`);
  const st = statSync(path);
  if (st.isFile() && path.toLowerCase().endsWith('.onnx')) return openOnnx(path);
  if (st.isFile() && (path.toLowerCase().endsWith('.safetensors') || looksLikeSafetensors(path))) {
    const what = safetensorsFormat(path) === CHECKPOINT_FORMAT ? 'this is a training checkpoint' : 'a safetensors file, not an exported model';
    throw new F8Error('BAD_INPUT', `--model ${path}: ${what}; run 'f8net export --checkpoint ${path} --out DIR' first, then 'f8net predict --model DIR'`);
  }
  if (st.isDirectory() && !existsSync(join(path, MODEL_JSON))) {
    const ck = ['best.safetensors', 'last.safetensors'].find((f) => existsSync(join(path, f)));
    if (ck) throw new F8Error('BAD_INPUT', `--model ${path}: this is a training run folder (it holds ${ck}, no ${MODEL_JSON}); run 'f8net export --checkpoint ${join(path, ck)} --out DIR' first`);
  }
  const graph = readIntModel(path);
  return { kind: 'int', path, graph, shape: [...graph.input.shape] as [number, number, number], classNames: graph.model.classNames ?? null };
}

/** The `__metadata__.format` of a safetensors file (its header only is read), or null. */
function safetensorsFormat(file: string): string | null {
  const b = head(file, 8);
  if (!b || b.length < 8) return null;
  const hlen = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true));
  const all = head(file, 8 + Math.min(hlen, 16 * 2 ** 20));
  try {
    const hdr = JSON.parse(Buffer.from(all!.subarray(8)).toString('utf8')) as { __metadata__?: { format?: unknown } };
    return typeof hdr.__metadata__?.format === 'string' ? hdr.__metadata__.format : null;
  } catch {
    return null;
  }
}

function openOnnx(file: string): PredictModel {
  const onnxFile = readOnnx(file);
  // onnxruntime would run NaN initializers and print garbage logits with exit 0.
  assertTensorsFinite(onnxFile.initializers.values(), file);
  const md = onnxFile.metadata;
  const parse = (k: string): unknown => {
    const v = md[k];
    if (v === undefined) throw new F8Error('BAD_INPUT', `${file}: metadata ${k} is missing; expected an ONNX file written by f8net export`);
    if (jsonDepth(v, 4) > 4) throw new F8Error('BAD_INPUT', `${file}: metadata ${k} nests too deep, expected a list of numbers`);
    try {
      return JSON.parse(v);
    } catch {
      return v;
    }
  };
  const nums = (k: string): number[] => {
    const v = parse(k);
    const a = Array.isArray(v) ? v : [v];
    if (!a.length || !a.every((x) => typeof x === 'number' && Number.isFinite(x))) throw new F8Error('BAD_INPUT', `${file}: metadata ${k} is not a list of numbers`);
    return a as number[];
  };
  const shape = nums(ONNX_META.inputShape);
  if (shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d >= 1 && d <= 4096) || shape[0] > 4) throw new F8Error('BAD_INPUT', `${file}: metadata ${ONNX_META.inputShape} is ${clip(JSON.stringify(shape))}, expected [C, H, W] with C in 1..4 and H, W in 1..4096`);
  const C = shape[0];
  const per = (k: string, positive: boolean): number[] => {
    const a = nums(k);
    if (a.length !== 1 && a.length !== C) throw new F8Error('BAD_INPUT', `${file}: metadata ${k} has ${a.length} values, expected 1 or ${C} (one per input channel)`);
    if (positive && !a.every((x) => x > 0)) throw new F8Error('BAD_INPUT', `${file}: metadata ${k} is ${clip(JSON.stringify(a))}, expected positive values`);
    // One value stands for every channel.
    return a.length === 1 ? new Array<number>(C).fill(a[0]) : a;
  };
  // The integer model beside it carries the class names, when it is there.
  let classNames: string[] | null = null;
  try {
    classNames = readIntModel(join(file, '..')).model.classNames ?? null;
  } catch {
    /* an ONNX file on its own: class indices only */
  }
  return { kind: 'onnx', path: file, shape: shape as [number, number, number], scale: per(ONNX_META.inputScale, true), mean: per(ONNX_META.inputMean, false), std: per(ONNX_META.inputStd, true), classNames };
}

export interface Prediction {
  class: number;
  name: string | null;
  top: { class: number; name: string | null; prob: number }[];
  /** Real-valued logits (logits_int * 2^-fl). */
  logits: number[];
  logitsInt: number[];
  fl: number;
}

/**
 * Runs `m` on n images of decoded pixels ([n, C, H, W] uint8). The integer model runs on the GPU
 * (needs an open Engine) or with `runner: 'cpu'` on the CPU reference; ONNX files run in
 * onnxruntime-node.
 *
 * @example
 *   const m = openPredictModel('runs/recipe-cnn-mnist/int');
 *   const imgs = await decodeImages('digits/', m.shape, { skipBad: true });
 *   const preds = await predict(m, imgs.pixels, imgs.names.length, { runner: 'cpu', topK: 3 });
 *   preds.forEach((p, i) => console.log(imgs.names[i], p.class, p.top[0].prob));
 */
export async function predict(m: PredictModel, pixels: Uint8Array, n: number, opts: { runner?: 'gpu' | 'cpu'; topK?: number } = {}): Promise<Prediction[]> {
  let logits: Int32Array;
  let fl: number;
  if (m.kind === 'onnx') {
    const shape = [n, ...m.shape];
    const x = refNormalizeImages(pixels, shape, m.mean, m.std);
    let input: Float32Array | Int32Array = x;
    const kind = await onnxInputKind(m.path);
    if (kind !== 'float') {
      // The integer-only file takes the input codes, quantised as quantizeImages does.
      const [lo, hi] = kind === 'int8' ? [-127, 127] : [0, 255];
      const C = m.shape[0];
      const hw = m.shape[1] * m.shape[2];
      input = Int32Array.from(x, (v, i) => Math.min(hi, Math.max(lo, roundHalfEven(v * m.scale[m.scale.length === 1 ? 0 : Math.floor(i / hw) % C]))));
    }
    try {
      ({ logits, fl } = await runOnnx(m.path, input, shape));
    } finally {
      await closeOnnxSessions();
    }
  } else {
    const codes = quantizeImages(m.graph, pixels, n);
    fl = m.graph.output.fl;
    if (opts.runner === 'cpu') logits = runIntCpu(m.graph, codes, n);
    else {
      const r = new IntGpuRunner(m.graph);
      try {
        logits = await r.run(codes, n);
      } finally {
        r.dispose();
      }
    }
  }
  const k = logits.length / n;
  const out: Prediction[] = [];
  for (let i = 0; i < n; i++) {
    const row = Array.from(logits.subarray(i * k, (i + 1) * k));
    const real = row.map((v) => v * 2 ** -fl);
    const top = topK(real, opts.topK ?? 1, m.classNames);
    out.push({ class: top[0].class, name: top[0].name, top, logits: real, logitsInt: row, fl });
  }
  return out;
}
