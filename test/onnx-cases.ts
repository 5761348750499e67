/**
 * Hand-built integer graphs and helpers shared by the ONNX export tests (test/cpu/onnx-export.test.ts,
 * test/cpu/onnx-qdq.test.ts): rounding ties, int32 bounds, the comparison of every value, the
 * values a float form must reproduce exactly, and images whose quantisation gives chosen codes.
 */
import { INT_MODEL_FORMAT, INT_MODEL_VERSION, type IntDType, type IntGraph, type IntNode, type IntValueInfo } from '../src/export/graph.js';
import { Rng } from '../src/runtime/rng.js';
import { sampleGraphs, randomCodes } from './int-graphs.js';

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** A graph from its nodes; values' shapes given with the nodes. */
export function graph(name: string, input: IntGraph['input'], nodes: [IntNode, IntDType, number[]][], tensors: IntGraph['tensors']): IntGraph {
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
export const i8 = (shape: number[], v: number[]) => ({ dtype: 'int8' as const, shape, data: Int8Array.from(v) });
export const i32 = (shape: number[], v: number[]) => ({ dtype: 'int32' as const, shape, data: Int32Array.from(v) });
export const conv1x1 = (name: string, input: string, weight: string, bias: string | null, shift: number[], out: IntDType, relu = false): IntNode => ({
  op: 'conv', name, input, output: `${name}.out`, weight, bias, stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1, epilogue: { relu, shift, out },
});
export const requant = (name: string, input: string, shift: number[], out: IntDType, relu = false): IntNode => ({ op: 'requant', name, input, output: `${name}.out`, epilogue: { relu, shift, out } });

/**
 * Rounding ties of both signs at shifts 1..7, per-channel shifts with left and right shifts
 * mixed, shifts of 30 and more (int64 path), code saturation, max pool on int32, an add of
 * codes with operand ReLU, a sum pool; every value below 2^24 so the integize form is exact too.
 * The input's scale is 64, so x = (k + 1/2) / 64 is a tie of the input quantisation.
 */
export function tiesGraph(): IntGraph {
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
export function wideGraph(): IntGraph {
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
/**
 * The paper's pool form: sum pools that divide by their 12 positions, with right, zero and left
 * shifts (codesFor gives image sums with ties of each: sums that are odd multiples of 12 2^n / 2),
 * signed sums (no ReLU: negative quotients and their ties) and ReLU into uint8; every value below 2^24.
 */
export function meanTiesGraph(): IntGraph {
  const input = { name: 'image', dtype: 'uint8' as const, shape: [1, 3, 4] as [number, number, number], fl: 4, scale: [16], mean: [0], std: [1] };
  const O = 12;
  const S = [O, 3, 4];
  const pool = (name: string, shift: number, out: IntDType, relu = false): [IntNode, IntDType, number[]] => [
    { op: 'sumpool', name, input: 'c.out', output: `${name}.out`, epilogue: { relu, shift: [shift], out }, divisor: 12 }, out, [O],
  ];
  const add = (name: string, a: string, b: string): [IntNode, IntDType, number[]] => [
    { op: 'add', name, inputs: [a, b], output: `${name}.out`, relu: [false, false], shifts: [0, 0], epilogue: { relu: false, shift: [0], out: 'int32' } }, 'int32', [O],
  ];
  return graph('mean-ties', input, [
    [conv1x1('c', 'image', 'c.w', 'c.b', [0], 'int32'), 'int32', S],
    pool('p0', 0, 'int8'),
    pool('p1', 1, 'int8'),
    pool('p3', 3, 'uint8', true),
    pool('pl', -1, 'int8'),
    pool('pl3', -3, 'uint8', true),
    add('a', 'p0.out', 'p1.out'),
    add('b', 'p3.out', 'pl.out'),
    add('d', 'a.out', 'b.out'),
    add('e', 'd.out', 'pl3.out'),
  ], {
    'c.w': i8([O, 1, 1, 1], [1, -1, 2, -3, 5, -7, 11, 1, -1, 1, 3, -127]),
    'c.b': i32([O], [0, 0, 1, -6, 3, 0, -2, 6, -6, 18, 0, 5]),
  });
}

/** First few mismatches of each value, or '' when all equal. */
export function mismatches(want: Map<string, Int32Array>, got: Map<string, number[]>): string {
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
export function exactValues(g: IntGraph, env: Map<string, Int32Array>): Set<string> {
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
export function imagesFor(g: IntGraph, codes: Int32Array, seed: number): Float32Array {
  const rng = new Rng(seed);
  const [C, H, W] = g.input.shape;
  return Float32Array.from(codes, (c, i) => {
    const ch = Math.floor(i / (H * W)) % C;
    return (c + (rng.nextFloat() - 0.5) * 0.9) / g.input.scale[g.input.scale.length === 1 ? 0 : ch];
  });
}

export const cases = (): { name: string; graph: IntGraph }[] => [{ name: 'ties', graph: tiesGraph() }, { name: 'wide', graph: wideGraph() }, { name: 'mean-ties', graph: meanTiesGraph() }, ...sampleGraphs()];
/** Codes of every value in the range, repeated, then random ones. */
export function codesFor(g: IntGraph, n: number, seed: number): Int32Array {
  if (g.model.name === 'mean-ties') {
    // Image sums 6, 36, 144, 9, ...: with the weights and biases of meanTiesGraph, ties of every pool's shift.
    const per = size(g.input.shape);
    return Int32Array.from({ length: n * per }, (_, i) => (i % per === 0 ? [6, 36, 144, 9, 18, 60, 45][(Math.floor(i / per) + seed) % 7] : 0));
  }
  if (g.model.name !== 'ties' && g.model.name !== 'wide') return randomCodes(g, n, seed);
  const lo = g.input.dtype === 'int8' ? -127 : 0;
  const per = size(g.input.shape);
  const r = randomCodes(g, n, seed);
  return Int32Array.from(r, (v, i) => (i < per ? lo + (i % (lo === 0 ? 256 : 255)) : v));
}
