/**
 * The "qdq" ONNX file of the integer model (./graph.ts, F8NET.md §5): the form that TensorRT,
 * OpenVINO and onnxruntime's quantisation tools expect. Float operators (Conv, Gemm, MatMul,
 * MaxPool, ReduceSum, Add) between QuantizeLinear / DequantizeLinear pairs; onnxruntime's graph
 * optimiser folds DQ -> Conv -> Q into QLinearConv, DQ -> MatMul -> Q into QLinearMatMul.
 *
 * Scales. Every value v of the integer graph with fractional length e(v) is carried as the real
 * v / 2^e(v): 8-bit values as int8 / uint8 tensors with scale 2^-e(v) and zero point 0, int32
 * values (accumulators, residual sums, logits) as float (QuantizeLinear has no int32 output).
 * Weights are int8 with one power-of-two scale per output channel, chosen so that the conv's
 * float output is acc * 2^-(n[c] + e(out)): the next QuantizeLinear (scale 2^-e(out)) then
 * divides by exactly 2^n[c]. Biases are int32 with scale s_in * s_w[c] (the standard QDQ bias).
 *
 * Rounding. QuantizeLinear rounds half to even, and dividing by a power of two is exact in
 * float, so Q(acc * 2^-(n + e)) = shiftRoundHalfEven(acc, n) (src/quant/int-requant.ts) for
 * every acc the float path holds exactly (|acc| < 2^24, as in the integize form). Two clamps
 * differ from QuantizeLinear's saturation and are written out:
 *  - int8 codes clamp to [-127, 127], QuantizeLinear to [-128, 127]: where an int8 output can
 *    reach -128 (a lower bound of every value is carried through the graph), Q -> DQ -> Clip ->
 *    Q follows the node, so the layer's own DQ -> op -> Q still folds;
 *  - ReLU before a uint8 output is QuantizeLinear's own saturation at 0 (shifts are monotone and
 *    map 0 to 0), so no Relu node is written there; elsewhere a Relu is.
 * Not reproduced: int32 saturation at +-(2^31 - 1) and wrap-around of accumulators (values past
 * 2^24 are already inexact in float); see docs/ONNX_EXPORT.md for what onnxruntime's folded
 * QLinearConv does with accumulators past 2^24.
 *
 * uint8 activations hold F8Net's unsigned 8-bit codes ([0, 255]) exactly. TensorRT reads int8
 * Q/DQ only (onnx/onnx-tensorrt PR 884 refuses uint8), and an unsigned code has no exact int8
 * form with zero point 0; OpenVINO and onnxruntime take both.
 *
 * Input `input`: normalised images [N, C, H, W], quantised by the graph as the integize form
 * does (double arithmetic, bit for bit quantizeNormalized), then QuantizeLinear at 2^-fl.
 * Output `logits`: float [N, classes] holding the integer logits at g.output.fl, as integize.
 *
 * @example
 *   writeFileSync('qdq.onnx', toQdqOnnx(g));
 *   const { logits } = await runOnnx('qdq.onnx', normalised, [n, ...g.input.shape]); // == runIntCpu(g, quantizeNormalized(g, normalised, n), n)
 */
import { F8Error } from '../runtime/errors.js';
import { INT32_MAX } from '../quant/int-requant.js';
import { dtypeRange, type IntDType, type IntEpilogue, type IntGraph, type IntNode, type IntValueInfo } from './graph.js';
import { Builder, channelConst, check, convAttrs, encode, inputCodes, int, nodeOutputs, poolAttrs, shifts, size } from './onnx-build.js';

/** 2^k as a float32 constant: k must keep it a normal float (no subnormal scale, no infinity). */
function pow2(k: number, node: string): number {
  if (!Number.isInteger(k) || k < -126 || k > 127) throw new F8Error('UNSUPPORTED', `qdq export: node ${node} needs a scale of 2^${k}, outside float32's normal range 2^-126 .. 2^127`);
  return 2 ** k;
}

/** The smallest value an epilogue can give for a pre-epilogue value >= `lo` (floor bounds the rounding from below). */
function epilogueLow(lo: number, n: number[], e: IntEpilogue): number {
  const pre = e.relu ? Math.max(lo, 0) : lo;
  const [dlo, dhi] = dtypeRange(e.out);
  return Math.min(...n.map((s) => Math.min(dhi, Math.max(dlo, Math.floor(pre * 2 ** -s)))));
}

/** Lower bound of conv / linear accumulators: bias plus the most negative product per weight, over the input's range. */
function accLow(w: ArrayLike<number>, O: number, bias: ArrayLike<number> | null, xlo: number, xhi: number): number {
  const per = w.length / O;
  let low = Infinity;
  for (let o = 0; o < O; o++) {
    let s = bias ? bias[o] : 0;
    for (let i = o * per; i < (o + 1) * per; i++) s += Math.min(w[i] * xlo, w[i] * xhi);
    low = Math.min(low, Math.max(s, -INT32_MAX));
  }
  return low;
}

/**
 * The "qdq" ONNX file of g (see the file comment): float `input` (normalised images), float
 * `logits` holding the integer logits. Bit for bit runIntCpu(quantizeNormalized(x)) while every
 * accumulator and sum stays below 2^24 in magnitude.
 */
export function toQdqOnnx(g: IntGraph): Uint8Array {
  const values = check(g);
  const b = new Builder();
  /** e(v): the exponent of v's scale. A max pool keeps its input's (its codes are unchanged). */
  const exp = new Map<string, number>([[g.input.name, g.input.fl]]);
  /** Lower bound of each value's integers, for the int8 -128 fix-up. */
  const low = new Map<string, number>([[g.input.name, dtypeRange(g.input.dtype)[0]]]);
  const is8 = (v: string): boolean => values.get(v)!.dtype !== 'int32';
  const qname = (v: string): string => `q/${v}`;
  const rname = (v: string): string => (v === g.output.name && !is8(v) ? 'out/real' : `r/${v}`);
  const zp = (dt: IntDType): string => b.scalar(dt === 'uint8' ? 'uint8' : 'int8', 0);
  const scale = (e: number, node: string): string => b.scalar('float', pow2(-e, node));

  /** The real value of v as read by node `nm` (`tag` tells its operands apart): a DQ of its codes, or the float itself. */
  const real = (v: string, nm: string, tag: string): string => {
    if (!is8(v)) return rname(v);
    return b.op('DequantizeLinear', [qname(v), scale(exp.get(v)!, nm), zp(values.get(v)!.dtype)], `${nm}/dq_${tag}`, `${nm}/dq_${tag}`);
  };

  /**
   * The epilogue on v, a float holding pre * 2^-fp[c], writing the output value `out` (8-bit:
   * its quantised tensor; int32: its real). Factors 2^(fp - n - e(out)) are 1 where fp was chosen
   * for it (conv, linear); the rest are exact powers of two.
   */
  const epilogue = (v: string, fp: number[], e: IntEpilogue, out: IntValueInfo, preLow: number, nm: string): void => {
    const C = out.shape[0];
    const rank = out.shape.length;
    const n = shifts(e, C, nm);
    const fpc = fp.length === 1 ? Array(C).fill(fp[0]) : fp;
    const eOut = out.fl;
    exp.set(out.name, eOut);
    low.set(out.name, epilogueLow(preLow, n, e));
    if (out.dtype === 'int32') {
      // Round(pre * 2^-n) in float (exact below 2^24), back to real units.
      const right = n.some((s) => s > 0);
      const f = fpc.map((x, c) => pow2(x - n[c] - (right ? 0 : eOut), nm));
      const steps: [string, string[]][] = [];
      if (e.relu) steps.push(['Relu', []]);
      if (f.some((x) => x !== 1)) steps.push(['Mul', [channelConst(b, `${nm}/scale`, 'float', f, rank)]]);
      if (right) steps.push(['Round', []], ['Mul', [scale(eOut, nm)]]);
      if (!steps.length) steps.push(['Identity', []]);
      steps.forEach(([op, args], i) => {
        const o = i === steps.length - 1 ? rname(out.name) : `${nm}/${op.toLowerCase()}${i}`;
        v = b.op(op, [v, ...args], o, o);
      });
      return;
    }
    const f = fpc.map((x, c) => pow2(x - n[c] - eOut, nm));
    if (f.some((x) => x !== 1)) v = b.op('Mul', [v, channelConst(b, `${nm}/scale`, 'float', f, rank)], `${nm}/scaled`, `${nm}/scaled`);
    if (e.relu && out.dtype === 'int8') v = b.op('Relu', [v], `${nm}/relu`, `${nm}/relu`);
    const s = scale(eOut, nm);
    const z = zp(out.dtype);
    // QuantizeLinear saturates int8 at -128, the integer model at -127: clip where -128 is reachable.
    if (out.dtype === 'int8' && epilogueLow(preLow, n, { ...e, out: 'int32' }) < -127) {
      const raw = b.op('QuantizeLinear', [v, s, z], `${nm}/q`, `${nm}/q`);
      const d = b.op('DequantizeLinear', [raw, s, z], `${nm}/sat/dq`, `${nm}/sat/dq`);
      const lim = 127 * pow2(-eOut, nm);
      v = b.op('Clip', [d, b.scalar('float', -lim), b.scalar('float', lim)], `${nm}/sat/clip`, `${nm}/sat/clip`);
      b.op('QuantizeLinear', [v, s, z], `${nm}/sat/q`, qname(out.name));
      return;
    }
    b.op('QuantizeLinear', [v, s, z], `${nm}/q`, qname(out.name));
  };

  /** int8 weights with one scale per output channel (axis), and their DQ. */
  const weight = (dims: number[], data: ArrayLike<number>, ew: number[], axis: number, nm: string): string => {
    const O = dims[axis];
    const one = ew.every((x) => x === ew[0]);
    const w = b.tensor(`${nm}/weight`, 'int8', dims, data);
    const s = one ? b.scalar('float', pow2(-ew[0], nm)) : b.tensor(`${nm}/weight_scale`, 'float', [O], ew.map((x) => pow2(-x, nm)));
    const z = one ? b.scalar('int8', 0) : b.tensor(`${nm}/weight_zero`, 'int8', [O], new Int8Array(O));
    return b.op('DequantizeLinear', [w, s, z], `${nm}/dq_weight`, `${nm}/dq_weight`, one ? [] : [int('axis', axis)]);
  };
  /** int32 bias with scale s_in * s_w[c], and its DQ (no zero point: int32 DQ has none but 0). */
  const biasDq = (bias: string | null, fp: number[], nm: string): string[] => {
    if (!bias) return [];
    const t = g.tensors[bias];
    const one = fp.every((x) => x === fp[0]);
    const s = one ? b.scalar('float', pow2(-fp[0], nm)) : b.tensor(`${nm}/bias_scale`, 'float', [fp.length], fp.map((x) => pow2(-x, nm)));
    const bt = b.tensor(`${nm}/bias`, 'int32', [t.shape[0]], t.data);
    return [b.op('DequantizeLinear', [bt, s], `${nm}/dq_bias`, `${nm}/dq_bias`, one ? [] : [int('axis', 0)])];
  };
  /** Conv / linear: the weight exponents that make the float output acc * 2^-(n[c] + e(out)). */
  const layerExps = (node: IntNode & { input: string; epilogue: IntEpilogue }, out: IntValueInfo): { ew: number[]; fp: number[] } => {
    const ex = exp.get(node.input)!;
    const n = shifts(node.epilogue, out.shape[0], node.name);
    const fp = n.map((s) => s + out.fl);
    return { ew: fp.map((x) => x - ex), fp };
  };
  const inRange = (v: string): [number, number] => dtypeRange(values.get(v)!.dtype);

  // The input: codes exactly as quantizeNormalized makes them, in real units, quantised.
  const codes = inputCodes(b, g, 'input/codes');
  const xr = b.op('Mul', [codes, scale(g.input.fl, 'input')], 'input/real', 'input/real');
  b.op('QuantizeLinear', [xr, scale(g.input.fl, 'input'), zp(g.input.dtype)], 'input/q', qname(g.input.name));

  for (const { node, out, nm } of nodeOutputs(g, values, (v) => v)) {
    switch (node.op) {
      case 'conv': {
        const w = g.tensors[node.weight];
        const { ew, fp } = layerExps(node, out);
        const inputs = [real(node.input, nm, 'x'), weight(w.shape, w.data, ew, 0, nm), ...biasDq(node.bias, fp, nm)];
        const acc = b.op('Conv', inputs, `${nm}/conv`, `${nm}/acc`, convAttrs(node, w.shape));
        const [xlo, xhi] = [Math.max(low.get(node.input)!, inRange(node.input)[0]), inRange(node.input)[1]];
        epilogue(acc, fp, node.epilogue, out, accLow(w.data, w.shape[0], node.bias ? g.tensors[node.bias].data : null, xlo, xhi), nm);
        break;
      }
      case 'linear': {
        const w = g.tensors[node.weight];
        const [O, K] = w.shape;
        const { ew, fp } = layerExps(node, out);
        // Flatten the codes (before their DQ), so that DQ -> MatMul / Gemm -> Q is the pattern a folder looks for.
        const flat = b.op('Flatten', [qname(node.input)], `${nm}/flatten`, `${nm}/flat`, [int('axis', 1)]);
        const x = b.op('DequantizeLinear', [flat, scale(exp.get(node.input)!, nm), zp(values.get(node.input)!.dtype)], `${nm}/dq_x`, `${nm}/dq_x`);
        let acc: string;
        if (node.bias) {
          acc = b.op('Gemm', [x, weight(w.shape, w.data, ew, 0, nm), ...biasDq(node.bias, fp, nm)], `${nm}/gemm`, `${nm}/acc`, [int('transB', 1)]);
        } else {
          const wt = new Int8Array(K * O);
          for (let o = 0; o < O; o++) for (let i = 0; i < K; i++) wt[i * O + o] = w.data[o * K + i];
          acc = b.op('MatMul', [x, weight([K, O], wt, ew, 1, nm)], `${nm}/matmul`, `${nm}/acc`);
        }
        const [xlo, xhi] = [Math.max(low.get(node.input)!, inRange(node.input)[0]), inRange(node.input)[1]];
        epilogue(acc, fp, node.epilogue, out, accLow(w.data, O, node.bias ? g.tensors[node.bias].data : null, xlo, xhi), nm);
        break;
      }
      case 'maxpool': {
        const e = exp.get(node.input)!;
        exp.set(node.output, e);
        low.set(node.output, low.get(node.input)!);
        const attrs = poolAttrs(node.kernel, node.stride, node.padding);
        if (!is8(node.input)) {
          b.op('MaxPool', [rname(node.input)], `${nm}/maxpool`, rname(node.output), attrs);
          break;
        }
        // The input's scale on both sides: onnxruntime drops the pair and pools the codes.
        const p = b.op('MaxPool', [real(node.input, nm, 'x')], `${nm}/maxpool`, `${nm}/pooled`, attrs);
        b.op('QuantizeLinear', [p, scale(e, nm), zp(out.dtype)], `${nm}/q`, qname(node.output));
        break;
      }
      case 'sumpool': {
        const xi = values.get(node.input)!;
        const D = node.divisor ?? 1;
        let s = b.op('ReduceSum', [real(node.input, nm, 'x'), b.tensor('const/axes_hw', 'int64', [2], [2, 3], 'axes_hw')], `${nm}/sum`, `${nm}/acc`, [int('keepdims', 0)]);
        // The paper's pool form: the mean (a correctly rounded division; QuantizeLinear rounds it
        // as the integer model does while D 2^n <= 2^16, see onnx-export.ts).
        if (D > 1) s = b.op('Div', [s, b.scalar('float', D)], `${nm}/mean`, `${nm}/mean`);
        epilogue(s, [exp.get(node.input)!], node.epilogue, out, Math.floor((low.get(node.input)! * size(xi.shape.slice(1))) / D), nm);
        break;
      }
      case 'add': {
        // pre = r(a) 2^sa + r(b) 2^sb carried at fp = e(a) + sa: operand b is scaled by 2^(e(b) + sb - fp) (1 in exported models).
        const fp = exp.get(node.inputs[0])! + node.shifts[0];
        const operand = (i: 0 | 1): string => {
          let v = real(node.inputs[i], nm, `in${i}`);
          if (node.relu[i]) v = b.op('Relu', [v], `${nm}/relu${i}`, `${nm}/relu${i}`);
          const f = pow2(exp.get(node.inputs[i])! + node.shifts[i] - fp, nm);
          return f === 1 ? v : b.op('Mul', [v, b.scalar('float', f)], `${nm}/align${i}`, `${nm}/aligned${i}`);
        };
        const lo = (i: 0 | 1): number => (node.relu[i] ? Math.max(low.get(node.inputs[i])!, 0) : low.get(node.inputs[i])!) * 2 ** node.shifts[i];
        const s = b.op('Add', [operand(0), operand(1)], `${nm}/add`, `${nm}/sum`);
        epilogue(s, [fp], node.epilogue, out, Math.max(lo(0) + lo(1), -INT32_MAX), nm);
        break;
      }
      case 'requant':
        epilogue(real(node.input, nm, 'x'), [exp.get(node.input)!], node.epilogue, out, low.get(node.input)!, nm);
        break;
    }
  }
  // The logits as integers at g.output.fl (as the integize form gives them).
  const o = g.output.name;
  const r = real(o, 'output', 'x');
  const e = exp.get(o)!;
  b.op(e === 0 ? 'Identity' : 'Mul', e === 0 ? [r] : [r, b.scalar('float', pow2(e, 'output'))], 'output/integers', 'logits');
  return encode(g, 'qdq', b, 'float', 'float', values.get(o)!.shape[0]);
}
