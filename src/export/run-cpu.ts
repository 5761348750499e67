/**
 * The CPU integer runner: plain integer loops over an IntGraph (./graph.ts), the definition that
 * the GPU runner and the int-op-only ONNX file are tested against bit for bit. Built on the CPU
 * references of the int8 ops (src/ops/int8.ref.ts) and the integer arithmetic of
 * src/quant/int-requant.ts.
 *
 * @example
 *   const codes = quantizeImages(g, pixels, n);      // Int32Array [n, C, H, W] 8-bit codes
 *   const logits = runIntCpu(g, codes, n);           // Int32Array [n, classes] at g.output.fl
 */
import { F8Error } from '../runtime/errors.js';
import { refInt8MaxPool2d, refInt8SumPool, refInt8Add, refInt8Requant, refEpilogue, type RefEpilogue } from '../ops/int8.ref.js';
import { clampInt32 } from '../quant/int-requant.js';
import { roundHalfEven } from '../quant/fixed-format.js';
import { refNormalizeImages } from '../ops/image.ref.js';
import { dtypeRange, valueMap, type IntEpilogue, type IntGraph, type IntValueInfo } from './graph.js';

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** The epilogue of a graph node (./graph.ts) as the op references take it (src/ops/int8.ref.ts). */
export function refEpilogueOf(e: IntEpilogue): RefEpilogue {
  const shift = e.shift.length === 1 ? e.shift[0] : Int32Array.from(e.shift);
  return e.out === 'int32' ? { relu: e.relu, shift } : { relu: e.relu, requant: { shift, signed: e.out === 'int8' } };
}

/**
 * The epilogue of ./graph.ts on values [n, C, ...inner]: ReLU, shift (one or per channel), clamp.
 * @example applyEpilogue(Int32Array.of(-5, 1000), 2, 1, { relu: true, shift: [3], out: 'uint8' }) // [0, 125]
 */
export function applyEpilogue(v: Int32Array, channels: number, inner: number, e: IntEpilogue): Int32Array {
  return refEpilogue(v, channels, inner, refEpilogueOf(e));
}

/**
 * Network input codes from 8-bit pixels [n, C, H, W] (the input spec of ./graph.ts): the f32
 * normalisation of training, then clamp(roundHalfEven(x * scale[c])).
 */
export function quantizeImages(g: IntGraph, pixels: Uint8Array, n: number): Int32Array {
  const [C, H, W] = g.input.shape;
  if (pixels.length !== n * C * H * W) throw new F8Error('SHAPE_MISMATCH', `quantizeImages: ${pixels.length} pixels for ${n} images of [${C}, ${H}, ${W}]`);
  // One mean or std stands for every channel (./validate.ts allows 1 or C entries).
  const per = (a: number[]) => (a.length === 1 ? new Array<number>(C).fill(a[0]) : a);
  const x = refNormalizeImages(pixels, [n, C, H, W], per(g.input.mean), per(g.input.std));
  return quantizeNormalized(g, x, n);
}

/** Input codes from already normalised images x [n, C, H, W]. */
export function quantizeNormalized(g: IntGraph, x: Float32Array, n: number): Int32Array {
  const [C, H, W] = g.input.shape;
  const [lo, hi] = dtypeRange(g.input.dtype);
  const out = new Int32Array(n * C * H * W);
  for (let i = 0; i < out.length; i++) {
    const c = Math.floor(i / (H * W)) % C;
    const s = g.input.scale.length === 1 ? g.input.scale[0] : g.input.scale[c];
    const q = roundHalfEven(x[i] * s);
    out[i] = q < lo ? lo : q > hi ? hi : q;
  }
  return out;
}

/**
 * Integer conv2d accumulators (before the epilogue), the loop of refInt8Conv2d written for speed:
 * x codes [n, C, H, W], w [O, C/groups, KH, KW], bias [O] or null. Products are summed in int32
 * with wrap-around, then the bias is added with saturation, as in src/ops/int8.ref.ts.
 */
export function convAccumulate(
  x: Int32Array,
  xShape: readonly number[],
  w: ArrayLike<number>,
  wShape: readonly number[],
  bias: ArrayLike<number> | null,
  g: { stride: [number, number]; padding: [number, number]; dilation: [number, number]; groups: number },
): Int32Array {
  const [n, C, H, W] = xShape;
  const [O, CG, KH, KW] = wShape;
  const [sh, sw] = g.stride;
  const [ph, pw] = g.padding;
  const [dh, dw] = g.dilation;
  const OH = Math.floor((H + 2 * ph - dh * (KH - 1) - 1) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - dw * (KW - 1) - 1) / sw) + 1;
  const OG = O / g.groups;
  const out = new Int32Array(n * O * OH * OW);
  // One output plane at a time; the innermost loop runs along an output row for one weight.
  // Sums wrap modulo 2^32 at every step, which equals wrapping the exact sum once.
  const acc = new Int32Array(OH * OW);
  for (let b = 0; b < n; b++)
    for (let o = 0; o < O; o++) {
      acc.fill(0);
      const c0 = Math.floor(o / OG) * CG;
      for (let cg = 0; cg < CG; cg++) {
        const xPlane = (b * C + c0 + cg) * H * W;
        for (let kh = 0; kh < KH; kh++)
          for (let kw = 0; kw < KW; kw++) {
            const wv = w[((o * CG + cg) * KH + kh) * KW + kw];
            if (wv === 0) continue;
            // Output columns whose input column iw = ow*sw - pw + kw*dw lies in [0, W).
            const off = kw * dw - pw;
            const owLo = Math.max(0, Math.ceil(-off / sw));
            const owHi = Math.min(OW - 1, Math.floor((W - 1 - off) / sw));
            for (let oh = 0; oh < OH; oh++) {
              const ih = oh * sh - ph + kh * dh;
              if (ih < 0 || ih >= H) continue;
              const xRow = xPlane + ih * W + off;
              const aRow = oh * OW;
              for (let ow = owLo; ow <= owHi; ow++) acc[aRow + ow] = (acc[aRow + ow] + wv * x[xRow + ow * sw]) | 0;
            }
          }
      }
      const bo = bias ? bias[o] : 0;
      const base = (b * O + o) * OH * OW;
      // Then the bias, with saturation.
      for (let i = 0; i < OH * OW; i++) out[base + i] = clampInt32(acc[i] + bo);
    }
  return out;
}

/** The per-image shape of a value, checked to exist. */
function info(values: Map<string, IntValueInfo>, name: string, node: string): IntValueInfo {
  const v = values.get(name);
  if (!v) throw new F8Error('BAD_INPUT', `integer model: node ${node} reads unknown value ${name}`);
  return v;
}

/**
 * Runs the graph on input codes [n, ...input.shape] (Int32Array of 8-bit codes). Returns every
 * value when `all` is set (for tests and debugging), else the logits [n, classes].
 *
 * @example
 *   import { readIntModel } from 'f8net/node';
 *   import { runIntCpu, quantizeImages, logitsToFloat } from 'f8net/int';
 *   const g = readIntModel('runs/recipe-cnn-mnist/int');
 *   const logits = runIntCpu(g, quantizeImages(g, new Uint8Array(28 * 28), 1), 1); // int32 [1, 10]
 *   console.log(logitsToFloat(g, logits));
 */
export function runIntCpu(g: IntGraph, codes: Int32Array, n: number): Int32Array;
export function runIntCpu(g: IntGraph, codes: Int32Array, n: number, all: true): Map<string, Int32Array>;
export function runIntCpu(g: IntGraph, codes: Int32Array, n: number, all = false): Int32Array | Map<string, Int32Array> {
  const values = valueMap(g);
  if (codes.length !== n * size(g.input.shape)) {
    throw new F8Error('SHAPE_MISMATCH', `integer model: ${codes.length} input codes for ${n} images of [${g.input.shape.join(', ')}]`);
  }
  const env = new Map<string, Int32Array>([[g.input.name, codes]]);
  const get = (name: string, node: string): Int32Array => {
    const v = env.get(name);
    if (!v) throw new F8Error('BAD_INPUT', `integer model: node ${node} reads ${name} before it is computed`);
    return v;
  };
  for (const node of g.nodes) {
    const out = info(values, node.output, node.name);
    let y: Int32Array;
    switch (node.op) {
      case 'conv':
      case 'linear': {
        const xi = info(values, node.input, node.name);
        const w = g.tensors[node.weight];
        const b = node.bias ? g.tensors[node.bias].data : null;
        const xShape = node.op === 'conv' ? [n, ...xi.shape] : [n, size(xi.shape), 1, 1];
        const wShape = node.op === 'conv' ? w.shape : [w.shape[0], w.shape[1], 1, 1];
        const one: [number, number] = [1, 1];
        const geo = node.op === 'conv' ? { stride: node.stride, padding: node.padding, dilation: node.dilation, groups: node.groups } : { stride: one, padding: [0, 0] as [number, number], dilation: one, groups: 1 };
        const acc = convAccumulate(get(node.input, node.name), xShape, w.data, wShape, b, geo);
        y = applyEpilogue(acc, wShape[0], size(out.shape.slice(1)), node.epilogue);
        break;
      }
      case 'maxpool': {
        const xi = info(values, node.input, node.name);
        y = refInt8MaxPool2d(get(node.input, node.name), [n, ...xi.shape], node.kernel, node.stride, node.padding);
        break;
      }
      case 'sumpool': {
        const xi = info(values, node.input, node.name);
        y = refInt8SumPool(get(node.input, node.name), [n, ...xi.shape], { ...refEpilogueOf(node.epilogue), divisor: node.divisor });
        break;
      }
      case 'add': {
        const a = get(node.inputs[0], node.name);
        const b = get(node.inputs[1], node.name);
        if (b.length !== a.length) throw new F8Error('SHAPE_MISMATCH', `integer model: node ${node.name} adds ${a.length / n} and ${b.length / n} values per image`);
        y = refInt8Add(a, b, [n, ...out.shape], { ...refEpilogueOf(node.epilogue), shifts: node.shifts, operandRelu: node.relu });
        break;
      }
      case 'requant': {
        y = refInt8Requant(get(node.input, node.name), [n, ...out.shape], refEpilogueOf(node.epilogue));
        break;
      }
    }
    if (y.length !== n * size(out.shape)) {
      throw new F8Error('SHAPE_MISMATCH', `integer model: node ${node.name} produced ${y.length / n} values per image, its output ${out.name} declares [${out.shape.join(', ')}]`);
    }
    env.set(node.output, y);
  }
  if (all) return env;
  return get(g.output.name, 'output');
}

/** Logits as reals: v / 2^fl. */
export function logitsToFloat(g: IntGraph, logits: Int32Array): Float64Array {
  const s = 2 ** -g.output.fl;
  return Float64Array.from(logits, (v) => v * s);
}
