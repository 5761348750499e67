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
import { INT_MODEL_FORMAT, INT_MODEL_VERSION, type IntDType, type IntGraph, type IntNode, type IntValueInfo } from '../../src/export/graph.js';
import { decodeOnnx } from '../../src/io/onnx-reader.js';
import { Rng } from '../../src/runtime/rng.js';
import { sampleGraphs, randomCodes } from '../int-graphs.js';

const { onnx } = onnxProto;
afterAll(() => closeOnnxSessions());

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** A graph from its nodes; values' shapes given with the nodes. */
function graph(name: string, input: IntGraph['input'], nodes: [IntNode, IntDType, number[]][], tensors: IntGraph['tensors']): IntGraph {
  const values: IntValueInfo[] = [{ name: input.name, dtype: input.dtype, shape: [...input.shape], fl: input.fl }];
  for (const [n, dtype, shape] of nodes) values.push({ name: n.output, dtype, shape, fl: 0 });
  const last = values[values.length - 1];
  return {
    format: INT_MODEL_FORMAT,
    version: INT_MODEL_VERSION,
    producer: 'f8net test',
    model: { name, args: {}, dataset: 'synthetic', classes: last.shape[0], checkpoint: '-' },
    input,
    output: { name: last.name, fl: 3 },
    values,
    nodes: nodes.map(([n]) => n),
    tensors,
    layers: [{ name: 'c', inputSigned: true, inputFl: input.fl, weightFl: [7], alpha: 2 }],
  };
}
const i8 = (shape: number[], v: number[]) => ({ dtype: 'int8' as const, shape, data: Int8Array.from(v) });
const i32 = (shape: number[], v: number[]) => ({ dtype: 'int32' as const, shape, data: Int32Array.from(v) });
const conv1x1 = (name: string, input: string, weight: string, bias: string | null, shift: number[], out: IntDType, relu = false): IntNode => ({
  op: 'conv', name, input, output: `${name}.out`, weight, bias, stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1, epilogue: { relu, shift, out },
});
const requant = (name: string, input: string, shift: number[], out: IntDType, relu = false): IntNode => ({ op: 'requant', name, input, output: `${name}.out`, epilogue: { relu, shift, out } });

/**
 * Rounding ties of both signs at shifts 1..7, per-channel shifts with left and right shifts
 * mixed, shifts of 30 and more (int64 path), code saturation, max pool on int32, an add of
 * codes with operand ReLU, a sum pool; every value below 2^24 so the integize form is exact too.
 * The input's scale is 64, so x = (k + 1/2) / 64 is a tie of the input quantisation.
 */
function tiesGraph(): IntGraph {
  const HW = 16;
  const input = { name: 'image', dtype: 'int8' as const, shape: [1, HW, HW] as [number, number, number], fl: 6, scale: [64], mean: [0.25], std: [0.5] };
  const S = [6, HW, HW];
  return graph('ties', input, [
    [conv1x1('c', 'image', 'c.w', 'c.b', [0], 'int32'), 'int32', S],
    [requant('r1', 'c.out', [1, 2, 3, 4, -3, 7], 'int32'), 'int32', S],
    [requant('r2', 'c.out', [1, 1, 2, 2, 0, 5], 'int8'), 'int8', S],
    [requant('r3', 'c.out', [1], 'uint8', true), 'uint8', S],
    [requant('r4', 'c.out', [31, 32, 40, 30, 0, 1], 'int32'), 'int32', S],
    [{ op: 'maxpool', name: 'mp', input: 'r1.out', output: 'mp.out', kernel: [3, 3], stride: [2, 2], padding: [1, 1] }, 'int32', [6, 8, 8]],
    [{ op: 'maxpool', name: 'mpc', input: 'r2.out', output: 'mpc.out', kernel: [2, 2], stride: [2, 2], padding: [1, 1] }, 'int8', [6, 9, 9]],
    [{ op: 'add', name: 'a', inputs: ['r2.out', 'r3.out'], output: 'a.out', relu: [true, false], shifts: [1, 0], epilogue: { relu: false, shift: [1], out: 'int32' } }, 'int32', S],
    [{ op: 'add', name: 'a2', inputs: ['r4.out', 'r1.out'], output: 'a2.out', relu: [false, true], shifts: [0, 2], epilogue: { relu: true, shift: [2, 1, 0, -1, 3, 1], out: 'int8' } }, 'int8', S],
    [{ op: 'sumpool', name: 'sp', input: 'a.out', output: 'sp.out', epilogue: { relu: false, shift: [3], out: 'int8' } }, 'int8', [6]],
    [{ op: 'linear', name: 'fc', input: 'sp.out', output: 'fc.out', weight: 'fc.w', bias: 'fc.b', epilogue: { relu: false, shift: [1, 2, 0], out: 'int32' } }, 'int32', [3]],
  ], {
    'c.w': i8([6, 1, 1, 1], [1, -1, 3, -5, 1, 127]),
    'c.b': i32([6], [0, 7, -3, 100, 0, -1000]),
    'fc.w': i8([3, 6], [1, -2, 3, -4, 5, -127, 127, 0, 1, 1, 1, 1, -1, -1, -1, 2, 2, 2]),
    'fc.b': i32([3], [5, -5, 0]),
  });
}

/**
 * Values at the int32 bounds (int_op_only only): weight-0 channels whose accumulator is the
 * bias itself, giving exact ties of shifts 31 and 32 on +-2^30 and +-3 2^29, biases that
 * saturate the accumulator, left shifts that saturate, adds with shifts past 32.
 */
function wideGraph(): IntGraph {
  const input = { name: 'input', dtype: 'uint8' as const, shape: [2, 3, 3] as [number, number, number], fl: 4, scale: [10, 20], mean: [0, 0], std: [1, 1] };
  const S = [8, 3, 3];
  const b = [2 ** 30, -(2 ** 30), 3 * 2 ** 29, -3 * 2 ** 29, 2147483647, -2147483647, 2147483000, -2147483000];
  return graph('wide', input, [
    [conv1x1('c', 'input', 'c.w', 'c.b', [0], 'int32'), 'int32', S],
    [requant('r31', 'c.out', [31], 'int32'), 'int32', S],
    [requant('r32', 'c.out', [32], 'int32'), 'int32', S],
    [requant('r30', 'c.out', [30, 30, 29, 29, 30, 31, 1, 2], 'int32'), 'int32', S],
    [requant('rl', 'c.out', [-1, -2, 0, -31, -40, 1, -1, 0], 'int32'), 'int32', S],
    [requant('rc', 'c.out', [24, 24, 25, 25, 28, 28, -3, 31], 'int8'), 'int8', S],
    [{ op: 'add', name: 'a', inputs: ['c.out', 'r30.out'], output: 'a.out', relu: [false, false], shifts: [0, 40], epilogue: { relu: false, shift: [0], out: 'int32' } }, 'int32', S],
    [{ op: 'add', name: 'a2', inputs: ['r31.out', 'r30.out'], output: 'a2.out', relu: [true, false], shifts: [33, 35], epilogue: { relu: false, shift: [33], out: 'int32' } }, 'int32', S],
    [{ op: 'add', name: 'a3', inputs: ['rc.out', 'c.out'], output: 'a3.out', relu: [false, true], shifts: [31, 0], epilogue: { relu: false, shift: [20], out: 'int32' } }, 'int32', S],
    [{ op: 'sumpool', name: 'sp', input: 'a3.out', output: 'sp.out', epilogue: { relu: false, shift: [4], out: 'uint8' } }, 'uint8', [8]],
    [{ op: 'linear', name: 'fc', input: 'sp.out', output: 'fc.out', weight: 'fc.w', bias: 'fc.b', epilogue: { relu: false, shift: [-20], out: 'int32' } }, 'int32', [2]],
  ], {
    'c.w': i8([8, 2, 1, 1], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 127, 127, -127, -127]),
    'c.b': i32([8], b),
    'fc.w': i8([2, 8], [1, 2, 3, 4, 5, 6, 7, 8, -8, -7, -6, -5, -4, -3, -2, -1]),
    'fc.b': i32([2], [2147480000, -2147480000]),
  });
}

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

/** First few mismatches of each value, or '' when all equal. */
function mismatches(want: Map<string, Int32Array>, got: Map<string, number[]>): string {
  const lines: string[] = [];
  for (const [name, w] of want) {
    const gv = got.get(name);
    if (!gv) continue;
    const bad: string[] = [];
    for (let i = 0; i < w.length && bad.length < 4; i++) if (w[i] !== gv[i]) bad.push(`[${i}] want ${w[i]} got ${gv[i]}`);
    if (gv.length !== w.length) bad.push(`length ${gv.length}, want ${w.length}`);
    if (bad.length) lines.push(`${name}: ${bad.join(', ')}`);
  }
  return lines.join('\n');
}

/**
 * The values the integize form must reproduce exactly: those whose node keeps every value,
 * accumulator (any summation order) and aligned add operand below 2^24, from inputs that are exact too.
 */
function exactValues(g: IntGraph, env: Map<string, Int32Array>): Set<string> {
  const vals = new Map(g.values.map((v) => [v.name, v]));
  const maxAbs = (name: string) => env.get(name)!.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const exact = new Set([g.input.name]);
  for (const n of g.nodes) {
    let m = maxAbs(n.output);
    if (n.op === 'conv' || n.op === 'linear') {
      const w = g.tensors[n.weight];
      const k = n.op === 'conv' ? size(w.shape.slice(1)) : w.shape[1];
      const b = n.bias ? Math.max(...Array.from(g.tensors[n.bias].data, Math.abs)) : 0;
      m = Math.max(m, k * maxAbs(n.input) * 127 + b);
    } else if (n.op === 'add') m = Math.max(m, maxAbs(n.inputs[0]) * 2 ** n.shifts[0] + maxAbs(n.inputs[1]) * 2 ** n.shifts[1]);
    else if (n.op === 'sumpool') {
      const hw = size(vals.get(n.input)!.shape.slice(1));
      const x = env.get(n.input)!;
      for (let q = 0; q < x.length / hw; q++) m = Math.max(m, x.subarray(q * hw, (q + 1) * hw).reduce((a, v) => a + Math.abs(v), 0));
    }
    const inputs = n.op === 'add' ? n.inputs : [n.input];
    if (m < 2 ** 24 && inputs.every((i) => exact.has(i))) exact.add(n.output);
  }
  return exact;
}

/** Normalised images whose quantisation gives `codes`: (code + offset) / scale, offsets in [-0.45, 0.45]. */
function imagesFor(g: IntGraph, codes: Int32Array, seed: number): Float32Array {
  const rng = new Rng(seed);
  const [C, H, W] = g.input.shape;
  return Float32Array.from(codes, (c, i) => {
    const ch = Math.floor(i / (H * W)) % C;
    return (c + (rng.nextFloat() - 0.5) * 0.9) / g.input.scale[g.input.scale.length === 1 ? 0 : ch];
  });
}

const cases = (): { name: string; graph: IntGraph }[] => [{ name: 'ties', graph: tiesGraph() }, { name: 'wide', graph: wideGraph() }, ...sampleGraphs()];
/** Codes of every value in the range, repeated, then random ones. */
function codesFor(g: IntGraph, n: number, seed: number): Int32Array {
  if (g.model.name !== 'ties' && g.model.name !== 'wide') return randomCodes(g, n, seed);
  const lo = g.input.dtype === 'int8' ? -127 : 0;
  const per = size(g.input.shape);
  const r = randomCodes(g, n, seed);
  return Int32Array.from(r, (v, i) => (i < per ? lo + (i % (lo === 0 ? 256 : 255)) : v));
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
        expect(['ConvInteger', 'MatMulInteger', 'Cast', 'Add', 'Sub', 'Mul', 'Div', 'BitwiseAnd', 'Clip', 'Max', 'Less', 'Greater', 'Where', 'MaxPool', 'Pad', 'Slice', 'ReduceSum', 'Flatten', 'Identity']).toContain(nd.opType);
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
