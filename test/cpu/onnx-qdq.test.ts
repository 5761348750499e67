/**
 * The qdq ONNX file (src/export/onnx-qdq.ts) in onnxruntime-node, at every graph optimisation
 * level, against runIntCpu: every value of the graph, on the hand-built graphs of ties and int32
 * bounds (test/onnx-cases.ts) and the sample graphs (test/int-graphs.ts). Also: onnxruntime
 * really folds the QDQ groups into QLinearConv / QGemm / QLinearMatMul, the int8 clamp at -127
 * is needed (a bare QuantizeLinear gives -128), the bias carries scale s_in * s_w.
 * Then the export folder (writeExport writes qdq.onnx, --no-qdq leaves it out), predict on the
 * file and eval mode onnx-qdq. The zoo networks are in test/gpu/onnx-qdq-zoo.test.ts (recording
 * their integer graphs needs the engine).
 */
import { describe, it, expect, afterAll } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import onnxProto from 'onnx-proto';
import { toQdqOnnx } from '../../src/export/onnx-qdq.js';
import { ONNX_META, ONNX_OPSET } from '../../src/export/onnx-export.js';
import { runOnnx, onnxInputKind, closeOnnxSessions } from '../../src/export/onnx-run.js';
import { runIntCpu, quantizeNormalized } from '../../src/export/run-cpu.js';
import { decodeOnnx } from '../../src/io/onnx-reader.js';
import type { IntGraph } from '../../src/export/graph.js';
import type { Dataset } from '../../src/data/dataset.js';
import { evaluateModes, parseModes } from '../../src/export/evaluate.js';
import { writeExport } from '../../src/node/from-checkpoint.js';
import { openPredictModel, predict } from '../../src/node/predict.js';
import { sampleGraphs } from '../int-graphs.js';
import { tiesGraph, graph, i8, i32, conv1x1, mismatches, exactValues, imagesFor, cases, codesFor } from '../onnx-cases.js';
import { LEVELS, runQdqValues, optimizedOps, qdqExponents } from '../qdq-helpers.js';

const { onnx } = onnxProto;
afterAll(() => closeOnnxSessions());
const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** Scalar float initializers by name. */
function floats(m: onnxProto.onnx.ModelProto): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const t of m.graph!.initializer!) {
    if (t.dataType !== 1) continue;
    const raw = t.rawData!;
    out.set(t.name!, Array.from(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength))));
  }
  return out;
}

describe('qdq ONNX vs runIntCpu', () => {
  for (const { name, graph: g } of cases()) {
    it(`${name}: every value below 2^24 equal, at every optimisation level`, async () => {
      const bytes = toQdqOnnx(g);
      const n = 3;
      const codes = codesFor(g, n, 23);
      const env = runIntCpu(g, codes, n, true);
      const exact = exactValues(g, env);
      const whole = exact.size === g.values.length;
      expect(whole).toBe(!['wide', 'saturation', 'residual'].includes(name));
      const x = imagesFor(g, codes, 6);
      expect(Array.from(quantizeNormalized(g, x, n))).toEqual(Array.from(codes));
      const want = new Map([...env].filter(([k]) => exact.has(k)));
      for (const level of LEVELS) {
        const got = await runQdqValues(bytes, g, x, n, level);
        expect(mismatches(want, got), level).toBe('');
      }
      if (!whole) return;
      const { logits, fl } = await runOnnx(bytes, x, [n, ...g.input.shape]);
      expect(fl).toBe(g.output.fl);
      expect(Array.from(logits)).toEqual(Array.from(env.get(g.output.name)!));
      const per = size(g.input.shape);
      const r1 = await runOnnx(bytes, x.slice(per, 2 * per), [1, ...g.input.shape]);
      const classes = r1.logits.length;
      expect(Array.from(r1.logits)).toEqual(Array.from(env.get(g.output.name)!.slice(classes, 2 * classes)));
    });
  }

  it('quantises its input like quantizeNormalized: ties to even, clamped to [-127, 127]', async () => {
    const g = tiesGraph();
    const per = size(g.input.shape);
    const x = Float32Array.from({ length: per }, (_, i) => (i < 256 ? (i - 130 + 0.5) / 64 : 0));
    x[255] = 5;
    x[254] = -7;
    const codes = quantizeNormalized(g, x, 1);
    expect([codes[0], codes[128], codes[129], codes[130], codes[131], codes[254]]).toEqual([-127, -2, 0, 0, 2, -127]);
    for (const level of LEVELS) expect(mismatches(runIntCpu(g, codes, 1, true), await runQdqValues(toQdqOnnx(g), g, x, 1, level)), level).toBe('');
  });

  it('clamps int8 codes at -127 where -128 is reachable; a bare QuantizeLinear would give -128', async () => {
    // Channel 1: acc = -x * 127 + bias, shifted by 1, goes far below -127.
    const input = { name: 'image', dtype: 'int8' as const, shape: [1, 4, 4] as [number, number, number], fl: 0, scale: [1], mean: [0], std: [1] };
    const g = graph('sat', input, [[conv1x1('c', 'image', 'c.w', 'c.b', [1], 'int8'), 'int8', [2, 4, 4]], [{ op: 'sumpool', name: 'sp', input: 'c.out', output: 'sp.out', epilogue: { relu: false, shift: [0], out: 'int32' } }, 'int32', [2]]], {
      'c.w': i8([2, 1, 1, 1], [1, 127]),
      'c.b': i32([2], [0, -3]),
    });
    const codes = Int32Array.from({ length: 16 }, (_, i) => -127 + 17 * i);
    const x = Float32Array.from(codes);
    const env = runIntCpu(g, codes, 1, true);
    expect(Array.from(env.get('c.out')!).filter((v) => v === -127).length).toBeGreaterThan(4);
    const bytes = toQdqOnnx(g);
    const m = onnx.ModelProto.decode(bytes);
    expect(m.graph!.node!.map((nd) => nd.name)).toContain('c/sat/clip');
    for (const level of LEVELS) expect(mismatches(env, await runQdqValues(bytes, g, x, 1, level)), level).toBe('');
    // Without the fix-up: the conv's own QuantizeLinear straight into q/c.out.
    const bare = onnx.ModelProto.decode(bytes);
    bare.graph!.node = bare.graph!.node!.filter((nd) => !nd.name!.startsWith('c/sat/'));
    for (const nd of bare.graph!.node!) if (nd.name === 'c/q') nd.output = ['q/c.out'];
    const got = await runQdqValues(onnx.ModelProto.encode(bare).finish(), g, x, 1, 'disabled');
    expect(got.get('c.out')!.filter((v) => v === -128).length).toBeGreaterThan(4);
    // A conv whose codes cannot reach -128 (ReLU, or a small enough weight) has no fix-up.
    const relu = toQdqOnnx({ ...g, nodes: g.nodes.map((nd) => (nd.op === 'conv' ? { ...nd, epilogue: { ...nd.epilogue, relu: true } } : nd)) });
    expect(onnx.ModelProto.decode(relu).graph!.node!.some((nd) => nd.name!.includes('/sat/'))).toBe(false);
    const small = toQdqOnnx({ ...g, tensors: { ...g.tensors, 'c.w': i8([2, 1, 1, 1], [1, 2]), 'c.b': i32([2], [0, 0]) } });
    expect(onnx.ModelProto.decode(small).graph!.node!.some((nd) => nd.name!.includes('/sat/'))).toBe(false);
  });
});

describe('qdq ONNX structure', () => {
  it('onnxruntime folds every conv and linear with 8-bit output into QLinearConv / QGemm / QLinearMatMul (levels extended and all)', async () => {
    let total8 = 0;
    for (const { name, graph: g } of sampleGraphs()) {
      const values = new Map(g.values.map((v) => [v.name, v]));
      const to8 = (out: string) => values.get(out)!.dtype !== 'int32';
      const convs8 = g.nodes.filter((nd) => nd.op === 'conv' && to8(nd.output)).length;
      const linears = g.nodes.filter((nd) => nd.op === 'linear').length;
      total8 += convs8;
      for (const level of ['extended', 'all'] as const) {
        const ops = await optimizedOps(toQdqOnnx(g), level);
        // At 'all' onnxruntime's NHWC layout pass turns them into com.microsoft.QLinearConv. A conv
        // with int32 output stays float, unless onnxruntime folds the float ops after it into its Q.
        const q = (ops.get('QLinearConv') ?? 0) + (ops.get('com.microsoft.QLinearConv') ?? 0);
        const floatConvs = (ops.get('Conv') ?? 0) + (ops.get('FusedConv') ?? 0) + (ops.get('com.microsoft.FusedConv') ?? 0);
        expect(q, `${name} ${level}: ${JSON.stringify([...ops])}`).toBeGreaterThanOrEqual(convs8);
        expect(q + floatConvs, `${name} ${level}`).toBe(g.nodes.filter((nd) => nd.op === 'conv').length);
        // A linear with a bias is a Gemm: onnxruntime's QGemm (float output for the int32 logits).
        expect((ops.get('com.microsoft.QGemm') ?? 0) + (ops.get('QLinearMatMul') ?? 0) + (ops.get('com.microsoft.MatMulIntegerToFloat') ?? 0), `${name} ${level}`).toBe(linears);
      }
      const basic = await optimizedOps(toQdqOnnx(g), 'basic');
      expect(basic.has('QLinearConv') || basic.has('com.microsoft.QLinearConv')).toBe(false);
    }
    expect(total8).toBeGreaterThan(4);
  });

  it('a bias-free linear with 8-bit output folds into QLinearMatMul', async () => {
    const input = { name: 'image', dtype: 'uint8' as const, shape: [4, 2, 2] as [number, number, number], fl: 4, scale: [16], mean: [0], std: [1] };
    const w = Array.from({ length: 6 * 16 }, (_, i) => ((i * 37) % 255) - 127);
    const g: IntGraph = graph('mm', input, [[{ op: 'linear', name: 'fc', input: 'image', output: 'fc.out', weight: 'fc.w', bias: null, epilogue: { relu: false, shift: [5], out: 'int8' } }, 'int8', [6]], [{ op: 'requant', name: 'r', input: 'fc.out', output: 'r.out', epilogue: { relu: false, shift: [0], out: 'int32' } }, 'int32', [6]]], { 'fc.w': i8([6, 16], w) });
    const ops = await optimizedOps(toQdqOnnx(g), 'all');
    expect(ops.get('QLinearMatMul'), JSON.stringify([...ops])).toBe(1);
    const codes = Int32Array.from({ length: 32 }, (_, i) => (i * 53) % 256);
    const x = Float32Array.from(codes, (c) => c / 16);
    for (const level of LEVELS) expect(mismatches(runIntCpu(g, codes, 2, true), await runQdqValues(toQdqOnnx(g), g, x, 2, level)), level).toBe('');
  });

  it('int8 weights, int32 biases with scale s_in * s_w, int8 / uint8 activations with power-of-two scales and zero point 0', () => {
    for (const { name, graph: g } of cases()) {
      const m = onnx.ModelProto.decode(toQdqOnnx(g));
      const f = floats(m);
      const inits = new Map(m.graph!.initializer!.map((t) => [t.name!, t]));
      const producer = new Map(m.graph!.node!.map((nd) => [nd.output![0], nd]));
      const scaleOf = (dq: string): number[] => f.get(producer.get(dq)!.input![1])!;
      for (const nd of m.graph!.node!) {
        if (nd.opType === 'QuantizeLinear' || nd.opType === 'DequantizeLinear') {
          for (const s of f.get(nd.input![1])!) expect(Number.isInteger(Math.log2(s)), `${name} ${nd.name} scale ${s}`).toBe(true);
          const z = nd.input![2] ? inits.get(nd.input![2]) : undefined;
          if (z) expect(Array.from(z.rawData!).every((b) => b === 0), `${name} ${nd.name}`).toBe(true);
        }
        if (nd.opType === 'Conv' || nd.opType === 'Gemm') {
          const [xdq, wdq, bdq] = nd.input!;
          expect(inits.get(producer.get(wdq)!.input![0])!.dataType).toBe(3);
          if (!bdq) continue;
          expect(inits.get(producer.get(bdq)!.input![0])!.dataType).toBe(6);
          const sx = scaleOf(xdq)[0];
          const sw = scaleOf(wdq);
          const sb = scaleOf(bdq);
          expect(sb.length).toBe(sw.length);
          sb.forEach((s, c) => expect(s, `${name} ${nd.name} bias scale [${c}]`).toBe(sx * sw[c]));
        }
      }
    }
  });

  it('carries the formats in metadata_props, opset 13, float input', async () => {
    const g = sampleGraphs()[1].graph;
    const bytes = toQdqOnnx(g);
    const file = decodeOnnx(bytes, 'qdq');
    expect(file.inputs).toEqual(['input']);
    expect(file.outputs).toEqual(['logits']);
    expect(file.metadata[ONNX_META.form]).toBe('qdq');
    expect(Number(file.metadata[ONNX_META.outputFl])).toBe(g.output.fl);
    expect(JSON.parse(file.metadata[ONNX_META.layers])).toEqual(g.layers);
    const m = onnx.ModelProto.decode(bytes);
    expect(m.opsetImport!.map((o) => [o.domain, Number(o.version)])).toEqual([['', ONNX_OPSET.qdq]]);
    expect(m.graph!.output![0].type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue))).toEqual(['N', 3]);
    expect(await onnxInputKind(bytes)).toBe('float');
    expect(qdqExponents(g).get(g.output.name)).toBe(g.output.fl);
  });

  it('refuses graphs it cannot express', () => {
    const g = tiesGraph();
    expect(() => toQdqOnnx({ ...g, nodes: [...g.nodes].reverse() })).toThrow(/before it is computed/);
    const far = { ...g, values: g.values.map((v) => (v.name === 'r2.out' ? { ...v, fl: 200 } : v)) };
    expect(() => toQdqOnnx(far)).toThrow(/outside float32's normal range/);
  });
});

describe('qdq.onnx in the export folder, predict and eval', () => {
  it('writeExport writes qdq.onnx beside the others unless qdq (or onnx) is false; predict and eval mode onnx-qdq read it', async () => {
    const g = sampleGraphs()[0].graph;
    const out = join(mkdtempSync(join(tmpdir(), 'f8net-qdq-export-')), 'int');
    const names = (files: string[]) => files.map((f) => basename(f)).sort();
    expect(names(writeExport(out, g).files)).toEqual(['int_op_only.onnx', 'integize.onnx', 'model.json', 'qdq.onnx', 'weights.bin']);
    expect(readdirSync(out).sort()).toEqual(['int_op_only.onnx', 'integize.onnx', 'model.json', 'qdq.onnx', 'weights.bin']);
    expect(Buffer.from(readFileSync(join(out, 'qdq.onnx'))).equals(Buffer.from(toQdqOnnx(g)))).toBe(true);

    const [C, H, W] = g.input.shape;
    const n = 4;
    const pixels = Uint8Array.from({ length: n * C * H * W }, (_, i) => (i * 89 + 7) % 256);
    const ref = await predict(openPredictModel(out), pixels, n, { runner: 'cpu', topK: 2 });
    const viaQdq = await predict(openPredictModel(join(out, 'qdq.onnx')), pixels, n, { topK: 2 });
    expect(viaQdq.map((p) => p.logitsInt)).toEqual(ref.map((p) => p.logitsInt));

    const ds: Dataset = { name: 'synthetic/test', numClasses: g.model.classes, channels: C, height: H, width: W, length: n, images: pixels, labels: new Uint8Array(n) };
    const r = await evaluateModes({ graph: g, ds, mean: g.input.mean, std: g.input.std }, parseModes('int-cpu,onnx-qdq'));
    expect(r.map((x) => x.mode)).toEqual(['int-cpu', 'onnx-qdq']);
    expect(Array.from(r[1].logits)).toEqual(Array.from(r[0].logits));

    expect(names(writeExport(out, g, { qdq: false }).files)).toEqual(['int_op_only.onnx', 'integize.onnx', 'model.json', 'weights.bin']);
    expect(existsSync(join(out, 'qdq.onnx'))).toBe(false);
    expect(names(writeExport(out, g, { onnx: false }).files)).toEqual(['model.json', 'weights.bin']);
  });
});
