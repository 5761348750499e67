/**
 * `f8net export` (fixed-point checkpoint -> integer model directory with both ONNX files),
 * the integer modes of `f8net eval` (runEvalModes) and `f8net predict` (classes and logits of
 * images or an IDX file through an exported model).
 */
import { Command, Option } from 'commander';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { extname, join, basename } from 'node:path';
import sharp from 'sharp';
import { resolveConfig, type TrainConfig } from '../train/config.js';
import { modelFromConfig } from '../train/trainer.js';
import { loadCheckpoint, type Checkpoint } from '../train/checkpoint.js';
import { loadDataAsync, inputShape, type LoadedData } from '../data/sources.js';
import { readIdx, IDX_MAGIC_IMAGES } from '../data/idx.js';
import { IMAGE_EXTENSIONS } from '../data/image-folder.js';
import { F8Error } from '../runtime/errors.js';
import { readOnnx } from '../io/onnx-reader.js';
import type { Module } from '../nn/module.js';
import { exportModel } from '../export/convert.js';
import { refArgmax } from '../ops/loss.ref.js';
import { serializeIntModel, readIntModel } from '../export/format.js';
import { writeExportFolder, exportFolderProblem } from '../export/out-dir.js';
import { toIntegizeOnnx, toIntOnlyOnnx, ONNX_META } from '../export/onnx-export.js';
import { runOnnx, closeOnnxSessions, onnxInputKind } from '../export/onnx-run.js';
import { quantizeImages, runIntCpu } from '../export/run-cpu.js';
import { IntGpuRunner } from '../export/run-gpu.js';
import { evaluateModes, compareModes, parseModes, type EvalMode } from '../export/evaluate.js';
import { refNormalizeImages } from '../ops/image.ref.js';
import { roundHalfEven } from '../quant/fixed-format.js';
import type { IntGraph } from '../export/graph.js';
import { withEngine } from './main.js';

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

/** A checkpoint with its resolved config (evaluation ignores how the run was started). */
export function checkpointConfig(file: string, over: { dataset?: string; datasetDir?: string; maxTestSamples?: number | null } = {}): { ck: Checkpoint; cfg: TrainConfig } {
  const ck = loadCheckpoint(file);
  try {
    const raw = { ...ck.meta.config };
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

/** The model of a checkpoint with its weights, and the integer graph when it is a fixed-point one. */
export async function checkpointModel(file: string, cfg: TrainConfig, ck: Checkpoint, data: LoadedData, withGraph: boolean): Promise<{ model: Module; graph: IntGraph | null }> {
  const model = modelFromConfig(cfg, data);
  model.loadStateDict(ck.model, { source: file });
  if (!withGraph) return { model, graph: null };
  if (ck.meta.stage !== 'fixed') throw new F8Error('BAD_INPUT', `${file}: a ${ck.meta.stage}-stage checkpoint has no integer form; export or evaluate a fixed-point checkpoint (floating_model: false)`);
  const [c, h, w] = inputShape(data);
  const graph = await exportModel(model, { name: cfg.model, args: { ...cfg.model_args }, dataset: cfg.dataset, classes: data.test.numClasses, checkpoint: basename(file) }, { shape: [c, h, w], mean: data.mean, std: data.std });
  return { model, graph };
}

/**
 * `f8net eval --mode ...`: top-1 per mode, and with `compare` the agreement of each pair.
 * Returns the text (or JSON) to print.
 */
export async function runEvalModes(o: { checkpoint: string; mode: string[]; compare?: boolean; limit?: number; json?: boolean; dataset?: string; datasetDir?: string }): Promise<string> {
  const modes: EvalMode[] = parseModes(o.mode);
  if (o.compare && modes.length < 2) throw new F8Error('BAD_CONFIG', '--compare needs two or more modes, e.g. --mode fake,int-cpu,int-gpu');
  const { ck, cfg } = checkpointConfig(o.checkpoint, o);
  const data = await loadDataAsync(cfg);
  const needGraph = modes.some((m) => m !== 'fake');
  const { model, graph } = await checkpointModel(o.checkpoint, cfg, ck, data, needGraph);
  try {
    const results = await evaluateModes({ model, graph: graph ?? undefined, ds: data.test, mean: data.mean, std: data.std, limit: o.limit, batch: cfg.eval_batch_size }, modes);
    const cmp = o.compare ? compareModes(results) : [];
    if (o.json) {
      return JSON.stringify({
        checkpoint: o.checkpoint,
        dataset: data.test.name,
        results: results.map(({ mode, top1, count, seconds, images_per_s }) => ({ mode, top1, count, seconds, images_per_s })),
        ...(o.compare ? { compare: cmp } : {}),
      });
    }
    const lines = [`${o.checkpoint} on ${data.test.name} (${results[0]?.count ?? 0} images)`, 'mode             top-1     images/s'];
    for (const r of results) lines.push(`${r.mode.padEnd(15)} ${pct(r.top1).padStart(7)}  ${r.images_per_s.toFixed(1).padStart(10)}`);
    if (o.compare) {
      lines.push('', 'modes                          same class     differ   max |logit diff|');
      for (const c of cmp) lines.push(`${`${c.a} vs ${c.b}`.padEnd(30)} ${pct(c.agreement).padStart(9)}  ${String(c.disagreements).padStart(9)}   ${c.maxLogitDiff.toExponential(3)}`);
    }
    return lines.join('\n');
  } finally {
    model.dispose();
    await closeOnnxSessions();
  }
}

/** Images for `predict`: [n, C, H, W] pixels and a name per image. */
export async function loadPredictImages(path: string, shape: readonly [number, number, number], limit?: number): Promise<{ pixels: Uint8Array; names: string[] }> {
  const [C, H, W] = shape;
  if (!existsSync(path)) throw new F8Error('BAD_INPUT', `--images ${path}: no such file or folder`);
  const st = statSync(path);
  const lower = path.toLowerCase();
  if (st.isFile() && !IMAGE_EXTENSIONS.includes(extname(lower))) {
    // An IDX image file (optionally gzipped): [n, h, w] u8, padded (centred, zeros) to the model's size.
    const idx = readIdx(path, IDX_MAGIC_IMAGES);
    const [n0, h, w] = [idx.dims[0], idx.dims[1], idx.dims[2] ?? 1];
    if (idx.dims.length !== 3 || C !== 1) throw new F8Error('BAD_INPUT', `--images ${path}: an IDX file of [n, h, w] grey images needs a one-channel model; the model reads [${C}, ${H}, ${W}]`);
    if (h > H || w > W) throw new F8Error('BAD_INPUT', `--images ${path}: ${h}x${w} images are larger than the model's ${H}x${W} input`);
    const n = Math.min(n0, limit ?? n0);
    const pixels = new Uint8Array(n * H * W);
    const [t, l] = [Math.floor((H - h) / 2), Math.floor((W - w) / 2)];
    for (let i = 0; i < n; i++) for (let y = 0; y < h; y++) pixels.set(idx.data.subarray((i * h + y) * w, (i * h + y + 1) * w), (i * H + t + y) * W + l);
    return { pixels, names: Array.from({ length: n }, (_, i) => `${basename(path)}[${i}]`) };
  }
  const files = st.isDirectory()
    ? readdirSync(path)
        .filter((f) => IMAGE_EXTENSIONS.includes(extname(f).toLowerCase()))
        .sort()
        .map((f) => join(path, f))
    : [path];
  if (!files.length) throw new F8Error('BAD_INPUT', `--images ${path}: no ${IMAGE_EXTENSIONS.join('/')} images in this folder`);
  const chosen = files.slice(0, limit ?? files.length);
  const pixels = new Uint8Array(chosen.length * C * H * W);
  for (let i = 0; i < chosen.length; i++) {
    let raw: Buffer;
    try {
      let img = sharp(chosen[i], { limitInputPixels: 40e6 }).resize(W, H, { fit: 'fill' }).removeAlpha();
      img = C === 1 ? img.grayscale() : img.toColourspace('srgb');
      raw = await img.raw().toBuffer();
    } catch (e) {
      throw new F8Error('BAD_INPUT', `${chosen[i]}: not a readable image (${(e as Error).message.split('\n')[0]})`);
    }
    const ch = raw.length / (H * W);
    if (ch !== C) throw new F8Error('BAD_INPUT', `${chosen[i]}: decoded to ${ch} channels; the model reads ${C}`);
    // HWC -> CHW
    for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) pixels[(i * C + c) * H * W + p] = raw[p * C + c];
  }
  return { pixels, names: chosen.map((f) => basename(f)) };
}

/** The input spec an ONNX export carries in its metadata. */
function onnxInputSpec(file: string): { shape: [number, number, number]; scale: number[]; mean: number[]; std: number[] } {
  const md = readOnnx(file).metadata;
  const parse = (k: string): unknown => {
    const v = md[k];
    if (v === undefined) throw new F8Error('BAD_INPUT', `${file}: metadata ${k} is missing; expected an ONNX file written by f8net export`);
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
  if (shape.length !== 3) throw new F8Error('BAD_INPUT', `${file}: metadata ${ONNX_META.inputShape} is not [C, H, W]`);
  return { shape: shape as [number, number, number], scale: nums(ONNX_META.inputScale), mean: nums(ONNX_META.inputMean), std: nums(ONNX_META.inputStd) };
}

export function registerExportCommands(program: Command): void {
  program
    .command('export')
    .description('export a fixed-point checkpoint as an integer-only model: model.json + weights.bin, integize.onnx, int_op_only.onnx')
    .requiredOption('--checkpoint <file>', 'fixed-point checkpoint written by f8net train')
    .requiredOption('--out <dir>', 'output folder (created; files in it are replaced atomically)')
    .option('--no-onnx', 'skip the two ONNX files')
    .option('--force', 'replace --out even when it is not an f8net export (its files are deleted)')
    .option('--json', 'print a JSON summary')
    .action(async (o: { checkpoint: string; out: string; onnx: boolean; force?: boolean; json?: boolean }, cmd: Command) => {
      if (existsSync(o.out) && !statSync(o.out).isDirectory()) throw new F8Error('BAD_INPUT', `--out ${o.out}: exists and is not a folder; the integer model is a folder (model.json, weights.bin, two .onnx files)`);
      const problem = exportFolderProblem(o.out);
      if (problem && !o.force) throw new F8Error('BAD_INPUT', `--out ${o.out}: ${problem}; choose another folder, or pass --force to replace it`);
      const { ck, cfg } = checkpointConfig(o.checkpoint);
      await withEngine(cmd, async () => {
        const data = await loadDataAsync(cfg);
        const { model, graph } = await checkpointModel(o.checkpoint, cfg, ck, data, true);
        model.dispose();
        const g = graph!;
        // The whole folder at once (export/out-dir.ts): never a new model.json beside an old export's ONNX files.
        const { json, bin } = serializeIntModel(g);
        const parts = [{ name: 'model.json', data: new TextEncoder().encode(json) }, { name: 'weights.bin', data: bin }];
        if (o.onnx) parts.push({ name: 'integize.onnx', data: toIntegizeOnnx(g) }, { name: 'int_op_only.onnx', data: toIntOnlyOnnx(g) });
        const { replaced } = writeExportFolder(o.out, parts, { force: o.force });
        const files = parts.map((p) => join(o.out, p.name));
        const weightBytes = Object.values(g.tensors).reduce((s, t) => s + t.data.byteLength, 0);
        const ops = g.nodes.reduce<Record<string, number>>((m, n) => ({ ...m, [n.op]: (m[n.op] ?? 0) + 1 }), {});
        if (o.json) {
          process.stdout.write(`${JSON.stringify({ checkpoint: o.checkpoint, out: o.out, replaced, files, nodes: ops, weight_bytes: weightBytes, input: { shape: g.input.shape, fl: g.input.fl, dtype: g.input.dtype, scale: g.input.scale }, output_fl: g.output.fl, layers: g.layers })}\n`);
          return;
        }
        const lines = [
          `exported ${o.checkpoint} (${g.model.name} on ${g.model.dataset}) to ${o.out}${replaced ? ' (replaced the previous export there)' : ''}:`,
          `  ${g.nodes.length} integer nodes (${Object.entries(ops).map(([k, v]) => `${v} ${k}`).join(', ')}), ${weightBytes} bytes of int8 weights and int32 biases`,
          `  input: ${g.input.dtype} codes [${g.input.shape.join(', ')}] at fl ${g.input.fl} (code = clamp(roundHalfEven(x * ${g.input.scale.map((s) => s.toPrecision(6)).join('/')})), x = (pixel/255 - mean) / std)`,
          `  output: int32 logits at fl ${g.output.fl}`,
          '  layer                          fl_in   fl_w        alpha',
          ...g.layers.map((l) => `  ${l.name.padEnd(30)} ${String(l.inputFl).padStart(5)}   ${(l.weightFl.length > 1 ? `${Math.min(...l.weightFl)}..${Math.max(...l.weightFl)}` : String(l.weightFl[0])).padEnd(8)} ${l.alpha.toFixed(4).padStart(8)}`),
          ...files.map((f) => `  wrote ${f}`),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      });
    });

  program
    .command('predict')
    .description('classify images with an exported model: an integer model folder (model.json) or one of its ONNX files')
    .requiredOption('--model <dir|file.onnx>', 'folder written by f8net export (or its model.json), or integize.onnx / int_op_only.onnx')
    .requiredOption('--images <path>', 'an image file, a folder of images, or an IDX image file (e.g. t10k-images-idx3-ubyte.gz)')
    .addOption(new Option('--runner <where>', 'for an integer model folder: run on the GPU or the CPU reference').choices(['gpu', 'cpu']).default('gpu'))
    .option('--limit <n>', 'only the first n images', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new F8Error('BAD_INPUT', `--limit ${v}: expected a positive integer`);
      return n;
    })
    .option('--json', 'print JSON lines: one object per image with class and logits')
    .action(async (o: { model: string; images: string; runner: 'gpu' | 'cpu'; limit?: number; json?: boolean }, cmd: Command) => {
      const isOnnx = o.model.toLowerCase().endsWith('.onnx');
      let logits: Int32Array;
      let fl: number;
      let names: string[];
      let n: number;
      if (isOnnx) {
        if (!existsSync(o.model) || !statSync(o.model).isFile()) throw new F8Error('BAD_INPUT', `--model ${o.model}: no such ONNX file`);
        const spec = onnxInputSpec(o.model);
        const imgs = await loadPredictImages(o.images, spec.shape, o.limit);
        names = imgs.names;
        n = names.length;
        const shape = [n, ...spec.shape];
        const x = refNormalizeImages(imgs.pixels, shape, spec.mean, spec.std);
        let input: Float32Array | Int32Array = x;
        const kind = await onnxInputKind(o.model);
        if (kind !== 'float') {
          const [lo, hi] = kind === 'int8' ? [-127, 127] : [0, 255];
          const C = spec.shape[0];
          const hw = spec.shape[1] * spec.shape[2];
          input = Int32Array.from(x, (v, i) => Math.min(hi, Math.max(lo, roundHalfEven(v * spec.scale[spec.scale.length === 1 ? 0 : Math.floor(i / hw) % C]))));
        }
        try {
          ({ logits, fl } = await runOnnx(o.model, input, shape));
        } finally {
          await closeOnnxSessions();
        }
      } else {
        const g = readIntModel(o.model);
        const imgs = await loadPredictImages(o.images, g.input.shape, o.limit);
        names = imgs.names;
        n = names.length;
        const codes = quantizeImages(g, imgs.pixels, n);
        fl = g.output.fl;
        if (o.runner === 'cpu') logits = runIntCpu(g, codes, n);
        else {
          logits = await withEngine(cmd, async () => {
            const r = new IntGpuRunner(g);
            try {
              return await r.run(codes, n);
            } finally {
              r.dispose();
            }
          });
        }
      }
      const k = logits.length / n;
      const preds = refArgmax(logits, n, k);
      const out: string[] = [];
      for (let i = 0; i < n; i++) {
        const row = Array.from(logits.subarray(i * k, (i + 1) * k));
        if (o.json) out.push(JSON.stringify({ image: names[i], class: preds[i], logits: row.map((v) => v * 2 ** -fl), logits_int: row, fl }));
        else out.push(`${names[i]}: class ${preds[i]}  logits ${row.map((v) => (v * 2 ** -fl).toFixed(3)).join(' ')}`);
      }
      process.stdout.write(`${out.join('\n')}\n`);
    });
}
