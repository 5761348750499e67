/**
 * ONNX export of the integer model (src/export/onnx-export.ts) run by onnxruntime-node (CPU EP)
 * against runIntCpu: every value of the graph (not only the logits) compared, batch 1 and 3 on
 * one session, on the sample graphs of test/int-graphs.ts and on hand-built graphs of rounding
 * ties, negative values, shifts of 31 and more and int32 saturation.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { toIntegizeOnnx, toIntOnlyOnnx, ONNX_META, ONNX_OPSET } from '../../src/export/onnx-export.js';
import { runOnnx, onnxInputKind, closeOnnxSessions } from '../../src/export/onnx-run.js';
import { runIntCpu, quantizeNormalized } from '../../src/export/run-cpu.js';
import { INT_MODEL_FORMAT, INT_MODEL_VERSION, type IntDType, type IntGraph, type IntValueInfo } from '../../src/export/graph.js';
import { decodeOnnx } from '../../src/io/onnx-reader.js';
import { sampleGraphs, randomCodes } from '../int-graphs.js';
import { tiesGraph, mismatches, exactValues, imagesFor, cases, codesFor } from '../onnx-cases.js';

const { onnx } = onnxProto;
afterAll(() => closeOnnxSessions());

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** Every value of the graph (but the input) as an extra output of the ONNX file; runs it. */
async function runAllValues(bytes: Uint8Array, g: IntGraph, feed: ort.Tensor): Promise<Map<string, number[]>> {
  const m = onnx.ModelProto.decode(bytes);
  const float = m.graph!.input![0].type!.tensorType!.elemType === onnx.TensorProto.DataType.FLOAT;
  const T: Record<IntDType, number> = { int8: 3, uint8: 2, int32: 6 };
  const name = (v: IntValueInfo) => (v.name === g.output.name && (float || v.dtype === 'int32') ? 'logits' : `v/${v.name}`);
  for (const v of g.values) {
    if (v.name !== g.input.name && name(v) !== 'logits') m.graph!.output!.push({ name: name(v), type: { tensorType: { elemType: float ? 1 : T[v.dtype] } } });
  }
  const s = await ort.InferenceSession.create(onnx.ModelProto.encode(m).finish());
  const r = await s.run({ input: feed });
  const out = new Map<string, number[]>();
  for (const v of g.values) if (v.name !== g.input.name) out.set(v.name, Array.from(r[name(v)].data as ArrayLike<number>));
  await s.release();
  return out;
}


describe('int_op_only ONNX vs runIntCpu', () => {
  for (const { name, graph: g } of cases()) {
    it(`${name}: every value bit for bit, batch 3 and batch 1`, async () => {
      const bytes = toIntOnlyOnnx(g);
      const n = 3;
      const codes = codesFor(g, n, 21);
      const env = runIntCpu(g, codes, n, true);
      const typed = g.input.dtype === 'int8' ? Int8Array.from(codes) : Uint8Array.from(codes);
      const got = await runAllValues(bytes, g, new ort.Tensor(g.input.dtype, typed, [n, ...g.input.shape]));
      expect(mismatches(env, got)).toBe('');

      const want = env.get(g.output.name)!;
      const r3 = await runOnnx(bytes, codes, [n, ...g.input.shape]);
      expect(Array.from(r3.logits)).toEqual(Array.from(want));
      expect(r3.fl).toBe(g.output.fl);
      const per = size(g.input.shape);
      const r1 = await runOnnx(bytes, codes.slice(per, 2 * per), [1, ...g.input.shape]);
      const classes = want.length / n;
      expect(Array.from(r1.logits)).toEqual(Array.from(want.slice(classes, 2 * classes)));
    });
  }

  it('uses integer tensors and integer operators only', () => {
    for (const { graph: g } of cases()) {
      const m = onnx.ModelProto.decode(toIntOnlyOnnx(g));
      const intTypes = new Set([2, 3, 6, 7]);
      for (const t of m.graph!.initializer!) expect(intTypes.has(t.dataType!), `initializer ${t.name}`).toBe(true);
      for (const nd of m.graph!.node!) {
        expect(['ConvInteger', 'MatMulInteger', 'Cast', 'Add', 'Sub', 'Mul', 'Div', 'Mod', 'BitwiseAnd', 'Clip', 'Max', 'Less', 'Greater', 'Where', 'MaxPool', 'Pad', 'Slice', 'ReduceSum', 'Flatten', 'Identity']).toContain(nd.opType);
        if (nd.opType === 'Cast') expect(intTypes.has(Number(nd.attribute![0].i))).toBe(true);
      }
      expect(m.graph!.input![0].type!.tensorType!.elemType).toBe(g.input.dtype === 'int8' ? 3 : 2);
      expect(m.graph!.output![0].type!.tensorType!.elemType).toBe(6);
    }
  });

  it('rejects inputs of the wrong kind or outside the code range', async () => {
    const g = tiesGraph();
    const bytes = toIntOnlyOnnx(g);
    const shape = [1, ...g.input.shape];
    await expect(runOnnx(bytes, new Float32Array(size(shape)), shape)).rejects.toThrow(/Int32Array/);
    await expect(runOnnx(bytes, new Int32Array(size(shape)).fill(128), shape)).rejects.toThrow(/outside the int8 range/);
    await expect(runOnnx(bytes, new Int32Array(size(shape)), [1, 2, 16, 8])).rejects.toThrow(/expects \[N, 1, 16, 16\]/);
  });
});

describe('integize ONNX vs runIntCpu', () => {
  for (const { name, graph: g } of cases()) {
    it(`${name}: every value below 2^24 equal`, async () => {
      const bytes = toIntegizeOnnx(g);
      const n = 3;
      const codes = codesFor(g, n, 22);
      const env = runIntCpu(g, codes, n, true);
      const exact = exactValues(g, env);
      // The graphs at the int32 bounds are the ones this form cannot follow (residual: a sum pool past 2^24).
      const whole = exact.size === g.values.length;
      expect(whole).toBe(!['wide', 'saturation', 'residual'].includes(name));
      if (name === 'residual') expect(exact.size).toBeGreaterThan(g.values.length / 2);
      const x = imagesFor(g, codes, 5);
      expect(Array.from(quantizeNormalized(g, x, n))).toEqual(Array.from(codes));
      const { logits, fl } = await runOnnx(bytes, x, [n, ...g.input.shape]);
      expect(fl).toBe(g.output.fl);
      expect(logits.length).toBe(env.get(g.output.name)!.length);
      const got = await runAllValues(bytes, g, new ort.Tensor('float32', x, [n, ...g.input.shape]));
      expect(mismatches(new Map([...env].filter(([k]) => exact.has(k))), got)).toBe('');
      if (!whole) return;
      expect(Array.from(logits)).toEqual(Array.from(env.get(g.output.name)!));
      const per = size(g.input.shape);
      const r1 = await runOnnx(bytes, x.slice(0, per), [1, ...g.input.shape]);
      expect(Array.from(r1.logits)).toEqual(Array.from(env.get(g.output.name)!.slice(0, r1.logits.length)));
    });
  }

  it('quantises its input like quantizeNormalized: ties to even, clamped', async () => {
    const g = tiesGraph();
    const per = size(g.input.shape);
    // Ties k + 1/2 for k in [-130, 125], and values far outside the code range.
    const x = Float32Array.from({ length: per }, (_, i) => (i < 256 ? (i - 130 + 0.5) / 64 : 0));
    x[256 - 1] = 5;
    x[256 - 2] = -7;
    const codes = quantizeNormalized(g, x, 1);
    expect(codes[0]).toBe(-127);
    expect(codes[130 - 2]).toBe(-2); // -1.5 -> -2
    expect(codes[130 - 1]).toBe(0); // -0.5 -> 0
    expect(codes[130]).toBe(0); // 0.5 -> 0
    expect(codes[131]).toBe(2); // 1.5 -> 2
    const bytes = toIntegizeOnnx(g);
    const { logits } = await runOnnx(bytes, x, [1, ...g.input.shape]);
    expect(Array.from(logits)).toEqual(Array.from(runIntCpu(g, codes, 1)));
    const got = await runAllValues(bytes, g, new ort.Tensor('float32', x, [1, ...g.input.shape]));
    expect(mismatches(runIntCpu(g, codes, 1, true), got)).toBe('');
  });

  it('uses float tensors and plain float operators', () => {
    const m = onnx.ModelProto.decode(toIntegizeOnnx(sampleGraphs()[2].graph));
    const ops = new Set(m.graph!.node!.map((nd) => nd.opType));
    for (const op of ops) expect(['Cast', 'Mul', 'Round', 'Clip', 'Conv', 'Gemm', 'Flatten', 'MaxPool', 'ReduceSum', 'Relu', 'Add']).toContain(op);
    for (const t of m.graph!.initializer!) expect([1, 7, 11]).toContain(t.dataType);
    expect(m.graph!.input![0].type!.tensorType!.elemType).toBe(1);
  });
});

describe('ONNX files', () => {
  it('carry the formats in metadata_props, a dynamic batch axis and their opset', async () => {
    const g = sampleGraphs()[1].graph;
    for (const [bytes, form, kind] of [[toIntegizeOnnx(g), 'integize', 'float'], [toIntOnlyOnnx(g), 'int_op_only', g.input.dtype]] as const) {
      const f = decodeOnnx(bytes, form);
      expect(f.inputs).toEqual(['input']);
      expect(f.outputs).toEqual(['logits']);
      expect(f.initializers.size).toBeGreaterThan(0);
      const md = f.metadata;
      expect(md[ONNX_META.format]).toBe(INT_MODEL_FORMAT);
      expect(md[ONNX_META.version]).toBe(String(INT_MODEL_VERSION));
      expect(md[ONNX_META.form]).toBe(form);
      expect(Number(md[ONNX_META.inputFl])).toBe(g.input.fl);
      expect(Number(md[ONNX_META.outputFl])).toBe(g.output.fl);
      expect(JSON.parse(md[ONNX_META.inputScale])).toEqual(g.input.scale);
      expect(JSON.parse(md[ONNX_META.inputMean])).toEqual(g.input.mean);
      expect(JSON.parse(md[ONNX_META.inputStd])).toEqual(g.input.std);
      expect(md[ONNX_META.inputDtype]).toBe(g.input.dtype);
      expect(JSON.parse(md[ONNX_META.inputShape])).toEqual(g.input.shape);
      expect(JSON.parse(md[ONNX_META.layers])).toEqual(g.layers);
      expect(JSON.parse(md[ONNX_META.model])).toEqual(g.model);
      const m = onnx.ModelProto.decode(bytes);
      expect(m.opsetImport!.map((o) => [o.domain, Number(o.version)])).toEqual([['', ONNX_OPSET[form]]]);
      expect(m.graph!.input![0].type!.tensorType!.shape!.dim![0].dimParam).toBe('N');
      expect(m.graph!.output![0].type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue))).toEqual(['N', 3]);
      const names = new Set(g.nodes.map((nd) => nd.name));
      for (const nd of m.graph!.node!) expect(names.has(nd.name!.split('/')[0]) || nd.name!.startsWith('input/') || nd.name!.startsWith('v/') || nd.name === 'output/cast').toBe(true);
      expect(await onnxInputKind(bytes)).toBe(kind);
    }
  });

  it('run from a path, batch after batch', async () => {
    const g = sampleGraphs()[0].graph;
    const file = join(mkdtempSync(join(tmpdir(), 'f8net-onnx-export-')), 'cnn.int.onnx');
    writeFileSync(file, toIntOnlyOnnx(g));
    expect(await onnxInputKind(file)).toBe('int8');
    const n = 4;
    const codes = randomCodes(g, n, 3);
    const want = runIntCpu(g, codes, n);
    const per = size(g.input.shape);
    for (let i = 0; i < n; i++) {
      const { logits } = await runOnnx(file, codes.slice(i * per, (i + 1) * per), [1, ...g.input.shape]);
      expect(Array.from(logits)).toEqual(Array.from(want.slice(i * 5, (i + 1) * 5)));
    }
  });

  it('reject graphs the forms cannot express', () => {
    const g = tiesGraph();
    const bad = { ...g, nodes: g.nodes.map((nd) => (nd.name === 'fc' ? { ...nd, input: 'c.out' } : nd)) };
    expect(() => toIntOnlyOnnx(bad)).toThrow(/reads int32 c.out/);
    const order = { ...g, nodes: [...g.nodes].reverse() };
    expect(() => toIntegizeOnnx(order)).toThrow(/before it is computed/);
  });
});
