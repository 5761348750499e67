/**
 * `f8net export` (fixed-point checkpoint -> integer model directory with its three ONNX files),
 * the integer modes of `f8net eval` (runEvalModes) and `f8net predict` (classes and logits of
 * images or an IDX file through an exported model).
 */
import { Command, Option } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { decodeImages } from '../node/decode-images.js';
import { F8Error } from '../runtime/errors.js';
import { exportFolderProblem } from '../node/out-dir.js';
import { evaluateCheckpoint, exportCheckpoint } from '../node/from-checkpoint.js';
import { openPredictModel, predict } from '../node/predict.js';
import { withEngine } from './main.js';

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

/** `f8net eval --mode ...`: the text (or JSON) of evaluateCheckpoint's results. */
export async function runEvalModes(o: { checkpoint: string; mode: string[]; compare?: boolean; limit?: number; json?: boolean; dataset?: string; datasetDir?: string; maxTestSamples?: number | null }): Promise<string> {
  const { dataset, results, compare: cmp } = await evaluateCheckpoint(o.checkpoint, o.mode, o);
  if (o.json) {
    return JSON.stringify({
      checkpoint: o.checkpoint,
      dataset,
      results: results.map(({ mode, top1, count, seconds, images_per_s }) => ({ mode, top1, count, seconds, images_per_s })),
      ...(o.compare ? { compare: cmp } : {}),
    });
  }
  const lines = [`${o.checkpoint} on ${dataset} (${results[0]?.count ?? 0} images)`, 'mode             top-1     images/s'];
  for (const r of results) lines.push(`${r.mode.padEnd(15)} ${pct(r.top1).padStart(7)}  ${r.images_per_s.toFixed(1).padStart(10)}`);
  if (o.compare) {
    lines.push('', 'modes                          same class     differ   max |logit diff|');
    for (const c of cmp) lines.push(`${`${c.a} vs ${c.b}`.padEnd(30)} ${pct(c.agreement).padStart(9)}  ${String(c.disagreements).padStart(9)}   ${c.maxLogitDiff.toExponential(3)}`);
  }
  return lines.join('\n');
}

export function registerExportCommands(program: Command): void {
  program
    .command('export')
    .description('export a fixed-point checkpoint as an integer-only model: model.json + weights.bin, integize.onnx, int_op_only.onnx, qdq.onnx')
    .requiredOption('--checkpoint <file>', 'fixed-point checkpoint written by f8net train')
    .requiredOption('--out <dir>', 'output folder (created; files in it are replaced atomically)')
    .option('--no-onnx', 'skip the ONNX files (all three)')
    .option('--no-qdq', 'skip qdq.onnx (the QuantizeLinear/DequantizeLinear form for TensorRT, OpenVINO, onnxruntime)')
    .option('--force', 'replace --out even when it is not an f8net export (its files are deleted)')
    .option('--json', 'print a JSON summary')
    .action(async (o: { checkpoint: string; out: string; onnx: boolean; qdq: boolean; force?: boolean; json?: boolean }, cmd: Command) => {
      if (existsSync(o.out) && !statSync(o.out).isDirectory()) throw new F8Error('BAD_INPUT', `--out ${o.out}: exists and is not a folder; the integer model is a folder (model.json, weights.bin, .onnx files)`);
      // Refused before any GPU work; writeExportFolder checks again when it swaps the folder in.
      const problem = exportFolderProblem(o.out);
      if (problem && !o.force) throw new F8Error('BAD_INPUT', `--out ${o.out}: ${problem}; choose another folder, or pass --force to replace it`);
      await withEngine(cmd, async () => {
        const { graph: g, files, replaced } = await exportCheckpoint(o.checkpoint, o.out, { onnx: o.onnx, qdq: o.qdq, force: o.force });
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
    .requiredOption('--model <dir|file.onnx>', 'folder written by f8net export (or its model.json), or integize.onnx / int_op_only.onnx / qdq.onnx')
    .requiredOption('--images <path>', 'an image file, a folder of images, or an IDX image file (e.g. t10k-images-idx3-ubyte.gz)')
    .addOption(new Option('--runner <where>', 'for an integer model folder: run on the GPU or the CPU reference').choices(['gpu', 'cpu']).default('gpu'))
    .option('--limit <n>', 'only the first n images', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new F8Error('BAD_INPUT', `--limit ${v}: expected a positive integer`);
      return n;
    })
    .option('--top-k <k>', 'show the k most probable classes with their softmax probabilities', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new F8Error('BAD_INPUT', `--top-k ${v}: expected a positive integer`);
      return n;
    }, 3)
    .option('--skip-bad-images', 'skip unreadable image files (and count them) instead of stopping at the first')
    .option('--json', 'print JSON lines: one object per image with class, top-k probabilities and logits')
    .action(async (o: { model: string; images: string; runner: 'gpu' | 'cpu'; limit?: number; topK: number; skipBadImages?: boolean; json?: boolean }, cmd: Command) => {
      const m = openPredictModel(o.model);
      const imgs = await decodeImages(o.images, m.shape, { limit: o.limit, skipBad: o.skipBadImages });
      const n = imgs.names.length;
      const run = () => predict(m, imgs.pixels, n, { runner: o.runner, topK: o.topK });
      const preds = m.kind === 'int' && o.runner === 'gpu' ? await withEngine(cmd, run) : await run();
      const pc = (p: number) => `${(100 * p).toFixed(1)}%`;
      const label = (c: number, name: string | null) => (name === null ? String(c) : `${c} ${JSON.stringify(name)}`);
      const out: string[] = [];
      for (let i = 0; i < n; i++) {
        const p = preds[i];
        const note = imgs.notes[i];
        if (o.json) {
          out.push(JSON.stringify({ image: imgs.names[i], class: p.class, ...(p.name !== null ? { name: p.name } : {}), top: p.top, logits: p.logits, logits_int: p.logitsInt, fl: p.fl, ...(note ? { adjusted: note } : {}) }));
        } else {
          const rest = p.top.slice(1).map((t) => `${label(t.class, t.name)} ${pc(t.prob)}`);
          out.push(`${imgs.names[i]}: class ${label(p.class, p.name)} (${pc(p.top[0].prob)})${rest.length ? `, then ${rest.join(', ')}` : ''}${note ? `  [${note}]` : ''}`);
        }
      }
      if (out.length) process.stdout.write(`${out.join('\n')}\n`);
      if (imgs.skipped.length) {
        for (const s of imgs.skipped) process.stderr.write(`f8net: skipped ${s.reason}\n`);
        process.stderr.write(`f8net: ${imgs.skipped.length} of ${imgs.skipped.length + n} images skipped as unreadable\n`);
      }
    });
}
