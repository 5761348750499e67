/**
 * Small integer models (src/export/graph.ts) that cover every node type and epilogue variant,
 * for the tests of the runners, the file format and the ONNX export:
 *  - conv: signed and unsigned codes in, per-layer and per-channel shifts (negative ones too),
 *    out int8 / uint8 / int32, stride, padding, dilation, groups and depthwise, no bias;
 *  - linear on [C] and on a flattened [C, H, W];
 *  - maxpool on codes and on int32, with padding and a floor size;
 *  - sumpool on codes and on int32, with and without a shift, and with a divisor (the paper's
 *    pool form: the mean of 5 x 5 and 3 x 3 positions, right and left shifts, int8 and uint8 out);
 *  - add with operand ReLU, shifts on either side, saturation;
 *  - requant: int32 -> uint8 / int8 / int32.
 * Shapes are not multiples of 4 or of the kernels' tiles.
 */
import { Rng } from '../src/runtime/rng.js';
import { INT_MODEL_FORMAT, INT_MODEL_VERSION, dtypeRange, type IntDType, type IntEpilogue, type IntGraph, type IntNode, type IntValueInfo } from '../src/export/graph.js';

const outSize = (h: number, k: number, s: number, p: number, d = 1): number => Math.floor((h + 2 * p - d * (k - 1) - 1) / s) + 1;
const ep = (out: IntDType, shift: number[] = [0], relu = false): IntEpilogue => ({ relu, shift, out });

/** Builds a graph node by node with shape inference. */
export class GraphBuilder {
  readonly g: IntGraph;
  private count = 0;
  constructor(
    readonly rng: Rng,
    name: string,
    input: { dtype: 'int8' | 'uint8'; shape: [number, number, number]; fl: number },
  ) {
    const C = input.shape[0];
    this.g = {
      format: INT_MODEL_FORMAT,
      version: INT_MODEL_VERSION,
      producer: 'f8net test',
      model: { name, args: {}, dataset: 'synthetic', classes: 0, checkpoint: '-' },
      input: { name: 'input', ...input, scale: Array.from({ length: C }, (_, c) => 60 + 7 * c), mean: Array(C).fill(0.5), std: Array(C).fill(0.25) },
      output: { name: '', fl: 0 },
      values: [{ name: 'input', dtype: input.dtype, shape: [...input.shape], fl: input.fl }],
      nodes: [],
      tensors: {},
      layers: [],
    };
  }
  value(name: string): IntValueInfo {
    const v = this.g.values.find((x) => x.name === name);
    if (!v) throw new Error(`no value ${name}`);
    return v;
  }
  private add(node: IntNode, shape: number[], dtype: IntDType, fl: number): string {
    this.g.nodes.push(node);
    this.g.values.push({ name: node.output, dtype, shape, fl });
    return node.output;
  }
  private name(op: string): string {
    return `${op}${this.count++}`;
  }
  private weights(name: string, shape: number[], extremes: boolean): string {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = Int8Array.from({ length: n }, (_, i) => (extremes && i % 7 === 0 ? (i % 2 ? 127 : -127) : this.rng.nextInt(255) - 127));
    this.g.tensors[name] = { dtype: 'int8', shape, data };
    return name;
  }
  private bias(name: string, O: number, mag: number): string {
    this.g.tensors[name] = { dtype: 'int32', shape: [O], data: Int32Array.from({ length: O }, () => Math.round((this.rng.nextFloat() * 2 - 1) * mag)) };
    return name;
  }
  conv(x: string, O: number, k: number, o: { stride?: number; padding?: number; dilation?: number; groups?: number; bias?: number | null; extremes?: boolean; epilogue: IntEpilogue; flW?: number }): string {
    const xi = this.value(x);
    const [C, H, W] = xi.shape;
    const groups = o.groups ?? 1;
    const s = o.stride ?? 1;
    const p = o.padding ?? 0;
    const d = o.dilation ?? 1;
    const name = this.name('conv');
    const weight = this.weights(`${name}.weight`, [O, C / groups, k, k], !!o.extremes);
    const bias = o.bias === null ? null : this.bias(`${name}.bias`, O, o.bias ?? 3000);
    const flAcc = xi.fl + (o.flW ?? 7);
    const node: IntNode = { op: 'conv', name, input: x, output: `${name}.out`, weight, bias, stride: [s, s], padding: [p, p], dilation: [d, d], groups, epilogue: o.epilogue };
    return this.add(node, [O, outSize(H, k, s, p, d), outSize(W, k, s, p, d)], o.epilogue.out, flAcc - o.epilogue.shift[0]);
  }
  linear(x: string, O: number, e: IntEpilogue, bias: number | null = 5000): string {
    const xi = this.value(x);
    const K = xi.shape.reduce((a, b) => a * b, 1);
    const name = this.name('linear');
    const node: IntNode = { op: 'linear', name, input: x, output: `${name}.out`, weight: this.weights(`${name}.weight`, [O, K], false), bias: bias === null ? null : this.bias(`${name}.bias`, O, bias), epilogue: e };
    return this.add(node, [O], e.out, xi.fl + 7 - e.shift[0]);
  }
  maxpool(x: string, k: number, s: number, p: number): string {
    const xi = this.value(x);
    const name = this.name('maxpool');
    const [C, H, W] = xi.shape;
    return this.add({ op: 'maxpool', name, input: x, output: `${name}.out`, kernel: [k, k], stride: [s, s], padding: [p, p] }, [C, outSize(H, k, s, p), outSize(W, k, s, p)], xi.dtype, xi.fl);
  }
  sumpool(x: string, e: IntEpilogue, divisor?: number): string {
    const xi = this.value(x);
    const name = this.name('sumpool');
    const node: IntNode = { op: 'sumpool', name, input: x, output: `${name}.out`, epilogue: e };
    if (divisor !== undefined) node.divisor = divisor;
    return this.add(node, [xi.shape[0]], e.out, xi.fl - e.shift[0]);
  }
  addNode(a: string, b: string, relu: [boolean, boolean], shifts: [number, number], e: IntEpilogue): string {
    const ai = this.value(a);
    const name = this.name('add');
    return this.add({ op: 'add', name, inputs: [a, b], output: `${name}.out`, relu, shifts, epilogue: e }, [...ai.shape], e.out, ai.fl + shifts[0] - e.shift[0]);
  }
  requant(x: string, e: IntEpilogue): string {
    const xi = this.value(x);
    const name = this.name('requant');
    return this.add({ op: 'requant', name, input: x, output: `${name}.out`, epilogue: e }, [...xi.shape], e.out, xi.fl - e.shift[0]);
  }
  finish(out: string): IntGraph {
    const o = this.value(out);
    this.g.output = { name: out, fl: o.fl };
    this.g.model.classes = o.shape[0];
    return this.g;
  }
}

const perChannel = (rng: Rng, C: number, lo: number, hi: number): number[] => Array.from({ length: C }, () => lo + rng.nextInt(hi - lo + 1));

/** The sample models; deterministic. */
export function sampleGraphs(): { name: string; graph: IntGraph }[] {
  const out: { name: string; graph: IntGraph }[] = [];
  {
    // A small CNN: the shape of the default model.
    const b = new GraphBuilder(new Rng(11), 'cnn', { dtype: 'int8', shape: [3, 9, 9], fl: 5 });
    let x = b.conv('input', 6, 3, { padding: 1, epilogue: ep('uint8', [9], true) });
    x = b.maxpool(x, 2, 2, 0);
    x = b.conv(x, 10, 3, { padding: 1, epilogue: ep('int32', [0], true) });
    x = b.sumpool(x, ep('uint8', [10]));
    out.push({ name: 'cnn', graph: b.finish(b.linear(x, 5, ep('int32'))) });
  }
  {
    // Per-channel shifts (some negative), int32 outputs with shifts, a requant node, a depthwise
    // conv, dilation, grouped conv, no bias, and a linear layer on a flattened [C, H, W].
    const rng = new Rng(12);
    const b = new GraphBuilder(rng, 'per-channel', { dtype: 'uint8', shape: [5, 11, 7], fl: 6 });
    let x = b.conv('input', 7, 3, { stride: 2, padding: 1, epilogue: ep('int32', perChannel(rng, 7, -2, 3), false), extremes: true });
    x = b.requant(x, ep('uint8', perChannel(rng, 7, 4, 9), true));
    x = b.conv(x, 7, 3, { groups: 7, padding: 2, dilation: 2, epilogue: ep('int8', perChannel(rng, 7, -1, 8)), bias: 200000 });
    x = b.conv(x, 9, 1, { bias: null, epilogue: ep('int8', [6], false) });
    x = b.conv(x, 6, 3, { groups: 3, stride: 2, epilogue: ep('int8', perChannel(rng, 6, 3, 7), true) });
    x = b.requant(b.conv(x, 4, 1, { epilogue: ep('int32', [0]) }), ep('int8', [5]));
    out.push({ name: 'per-channel', graph: b.finish(b.linear(x, 3, ep('int32', [-1]))) });
  }
  {
    // A residual network: raw int32 block input read by a conv (through requant) and by the
    // identity path (ReLU, shifted), max pools on int32 and on codes, a sum pool on int32.
    const b = new GraphBuilder(new Rng(13), 'residual', { dtype: 'int8', shape: [3, 10, 10], fl: 6 });
    const t = b.conv('input', 8, 3, { padding: 1, epilogue: ep('int32', [0]) });
    const tp = b.maxpool(t, 3, 2, 1);
    const e = b.requant(tp, ep('uint8', [8], true));
    const c1 = b.conv(e, 8, 3, { padding: 1, epilogue: ep('uint8', [9], true) });
    const c2 = b.conv(c1, 8, 3, { padding: 1, epilogue: ep('int32', [0]) });
    const s = b.addNode(c2, tp, [false, true], [0, 2], ep('int32'));
    const s2 = b.addNode(s, c2, [true, false], [1, 3], ep('int32', [0], true));
    const codes = b.maxpool(b.requant(s2, ep('uint8', [9])), 2, 2, 1);
    const p = b.sumpool(s2, ep('uint8', [15]));
    const q = b.sumpool(codes, ep('int32', [0]));
    const both = b.addNode(b.requant(q, ep('int32', [2])), b.requant(p, ep('int32', [0])), [false, false], [0, 0], ep('uint8', [4], true));
    out.push({ name: 'residual', graph: b.finish(b.linear(both, 4, ep('int32', [2]))) });
  }
  {
    // The paper's pool form: sum pools that divide by their positions (25 on int32 with a right
    // shift and ReLU into uint8, 9 on codes with a left shift into int8), one linear layer each.
    const b = new GraphBuilder(new Rng(15), 'paper-pool', { dtype: 'int8', shape: [3, 9, 9], fl: 5 });
    const t = b.conv('input', 6, 3, { stride: 2, padding: 1, epilogue: ep('int32', [0]) });
    const p = b.sumpool(t, ep('uint8', [9], true), 25);
    const codes = b.maxpool(b.requant(t, ep('int8', [8])), 3, 1, 0);
    const q = b.sumpool(b.conv(codes, 5, 1, { epilogue: ep('int8', [7]) }), ep('int8', [-2]), 9);
    out.push({ name: 'paper-pool', graph: b.finish(b.addNode(b.linear(p, 4, ep('int32', [2])), b.linear(q, 4, ep('int32', [0])), [false, false], [0, 0], ep('int32'))) });
  }
  {
    // Saturation: extreme weights, biases near the int32 bounds, left shifts that saturate, sums that clamp.
    const b = new GraphBuilder(new Rng(14), 'saturation', { dtype: 'int8', shape: [4, 6, 6], fl: 3 });
    const a = b.conv('input', 5, 3, { padding: 1, extremes: true, bias: 2147480000, epilogue: ep('int32', [-16]) });
    const c = b.conv('input', 5, 3, { padding: 1, extremes: true, bias: 2147480000, epilogue: ep('int32', [-8], true) });
    const s = b.addNode(a, c, [true, false], [4, 9], ep('int8', [20]));
    const r = b.requant(b.conv(s, 5, 1, { extremes: true, epilogue: ep('int32', [0]) }), ep('int32', [-31]));
    out.push({ name: 'saturation', graph: b.finish(b.linear(b.sumpool(b.requant(r, ep('uint8', [24])), ep('uint8', [0])), 3, ep('int32', [0]))) });
  }
  return out;
}

/** Random 8-bit input codes for g, with the extremes of the range present. */
export function randomCodes(g: IntGraph, n: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  const [lo, hi] = dtypeRange(g.input.dtype);
  const size = n * g.input.shape.reduce((a, b) => a * b, 1);
  return Int32Array.from({ length: size }, (_, i) => (i % 13 === 0 ? (i % 2 ? hi : lo) : lo + rng.nextInt(hi - lo + 1)));
}
