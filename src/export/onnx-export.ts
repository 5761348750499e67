/**
 * ONNX files of the integer model (./graph.ts, F8NET.md §5), in the two forms of §5:
 *  - "integize" (toIntegizeOnnx): integer values held in float32 tensors, plain float operators
 *    (Conv, Gemm, MaxPool, ReduceSum, Mul, Round, Clip, Add, Relu). Input `input` is normalised
 *    images x [N, C, H, W]; the graph quantises them itself. Exact while every value and partial
 *    sum stays below 2^24 in magnitude (float32 holds those integers exactly).
 *  - "int_op_only" (toIntOnlyOnnx): integer tensors and integer operators only. Input `input` is
 *    the 8-bit codes [N, C, H, W] (int8 or uint8, per g.input.dtype). Equal to runIntCpu bit for
 *    bit, given accumulators that do not wrap (see docs/ONNX_EXPORT.md).
 * Both: output `logits` [N, classes] at g.output.fl, a dynamic batch axis 'N', the graph's
 * formats in metadata_props (ONNX_META); opset 13 (integize) or 18 (int_op_only, for BitwiseAnd). The op-by-op mapping is in docs/ONNX_EXPORT.md.
 *
 * @example
 *   writeFileSync('model.int.onnx', toIntOnlyOnnx(g));
 *   const { logits } = await runOnnx('model.int.onnx', codes, [n, ...g.input.shape]); // == runIntCpu(g, codes, n)
 */
import onnxProto from 'onnx-proto';
import { F8Error } from '../runtime/errors.js';
import { INT32_MAX } from '../quant/int-requant.js';
import { dtypeRange, nodeInputs, valueMap, type ConvNode, type IntNode, type IntDType, type IntEpilogue, type IntGraph, type IntValueInfo } from './graph.js';

const { onnx } = onnxProto;
type NodeProto = onnxProto.onnx.INodeProto;
type TensorProto = onnxProto.onnx.ITensorProto;
type AttributeProto = onnxProto.onnx.IAttributeProto;

export type OnnxForm = 'integize' | 'int_op_only';

/** Opsets: 13 for integize (plain float ops), 18 for int_op_only (BitwiseAnd). */
export const ONNX_OPSET: Record<OnnxForm, number> = { integize: 13, int_op_only: 18 };
const IR_VERSION = 8;

/** metadata_props keys of both forms. */
export const ONNX_META = {
  format: 'f8net.format',
  version: 'f8net.version',
  form: 'f8net.onnx_form',
  producer: 'f8net.producer',
  model: 'f8net.model',
  inputFl: 'f8net.input_fl',
  outputFl: 'f8net.output_fl',
  inputScale: 'f8net.input_scale',
  inputMean: 'f8net.input_mean',
  inputStd: 'f8net.input_std',
  inputDtype: 'f8net.input_dtype',
  inputShape: 'f8net.input_shape',
  layers: 'f8net.layers',
} as const;

const DT = onnx.TensorProto.DataType;
type Dt = 'float' | 'double' | 'int8' | 'uint8' | 'int32' | 'int64';
const ONNX_DT: Record<Dt, number> = { float: DT.FLOAT, double: DT.DOUBLE, int8: DT.INT8, uint8: DT.UINT8, int32: DT.INT32, int64: DT.INT64 };

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const ints = (name: string, v: number[]): AttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: v });
const int = (name: string, v: number): AttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INT, i: v });

/** Nodes and initializers of one graph; every tensor name is checked to be defined once. */
class Builder {
  readonly nodes: NodeProto[] = [];
  readonly inits: TensorProto[] = [];
  private readonly defined = new Set<string>();
  private readonly consts = new Map<string, string>();

  define(name: string): string {
    if (this.defined.has(name)) throw new F8Error('BAD_INPUT', `onnx export: tensor name ${name} is defined twice (rename the value or node)`);
    this.defined.add(name);
    return name;
  }

  /** One node `op` named `name`; its output is `out`. */
  op(op: string, inputs: string[], name: string, out: string, attribute: AttributeProto[] = []): string {
    this.nodes.push({ opType: op, input: inputs, output: [this.define(out)], name, attribute });
    return out;
  }

  /** An initializer; `key` set: shared by every use with the same key. */
  tensor(name: string, dt: Dt, dims: number[], values: ArrayLike<number>, key?: string): string {
    const hit = key === undefined ? undefined : this.consts.get(key);
    if (hit) return hit;
    const n = size(dims);
    if (values.length !== n) throw new F8Error('SHAPE_MISMATCH', `onnx export: constant ${name} has ${values.length} values for dims [${dims.join(', ')}]`);
    let data: ArrayBufferView;
    if (dt === 'int64') data = BigInt64Array.from(Array.from(values, (v) => BigInt(v)));
    else if (dt === 'float') data = Float32Array.from(values);
    else if (dt === 'double') data = Float64Array.from(values);
    else if (dt === 'int32') data = Int32Array.from(values);
    else if (dt === 'int8') data = Int8Array.from(values);
    else data = Uint8Array.from(values);
    this.inits.push({ name: this.define(name), dims, dataType: ONNX_DT[dt], rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    if (key !== undefined) this.consts.set(key, name);
    return name;
  }

  /** A shared scalar constant. */
  scalar(dt: Dt, v: number): string {
    return this.tensor(`const/${dt}/${v}`, dt, [], [v], `${dt}:${v}`);
  }
}

/** A per-channel vector [C, 1, ...] broadcasting over a value of per-image rank `rank`, or a scalar when all equal. */
function channelConst(b: Builder, name: string, dt: Dt, v: number[], rank: number): string {
  if (v.every((x) => x === v[0])) return b.scalar(dt, v[0]);
  return b.tensor(name, dt, [v.length, ...Array(rank - 1).fill(1)], v);
}

/** Shifts of an epilogue, one per channel, checked. */
function shifts(e: IntEpilogue, channels: number, node: string): number[] {
  if (e.shift.length !== 1 && e.shift.length !== channels) throw new F8Error('SHAPE_MISMATCH', `onnx export: node ${node} has ${e.shift.length} shifts for ${channels} channels`);
  if (!e.shift.every(Number.isInteger)) throw new F8Error('BAD_INPUT', `onnx export: node ${node} has a non-integer shift in [${e.shift.join(', ')}]`);
  return e.shift.length === 1 ? Array(channels).fill(e.shift[0]) : [...e.shift];
}

/** The epilogue's clamp: [lo, hi] of its dtype, lo raised to 0 by ReLU (shifts are monotone and map 0 to 0). */
function clampRange(e: IntEpilogue): [number, number] {
  const [lo, hi] = dtypeRange(e.out);
  return [e.relu ? Math.max(lo, 0) : lo, hi];
}

function metadata(g: IntGraph, form: OnnxForm): { key: string; value: string }[] {
  const m: Record<string, string> = {
    [ONNX_META.format]: g.format,
    [ONNX_META.version]: String(g.version),
    [ONNX_META.form]: form,
    [ONNX_META.producer]: g.producer,
    [ONNX_META.model]: JSON.stringify(g.model),
    [ONNX_META.inputFl]: String(g.input.fl),
    [ONNX_META.outputFl]: String(g.output.fl),
    [ONNX_META.inputScale]: JSON.stringify(g.input.scale),
    [ONNX_META.inputMean]: JSON.stringify(g.input.mean),
    [ONNX_META.inputStd]: JSON.stringify(g.input.std),
    [ONNX_META.inputDtype]: g.input.dtype,
    [ONNX_META.inputShape]: JSON.stringify(g.input.shape),
    [ONNX_META.layers]: JSON.stringify(g.layers),
  };
  return Object.entries(m).map(([key, value]) => ({ key, value }));
}

/** Checks what both lowerings rely on; returns the value infos. */
function check(g: IntGraph): Map<string, IntValueInfo> {
  const values = valueMap(g);
  const inp = values.get(g.input.name);
  if (!inp || inp.dtype !== g.input.dtype || inp.shape.join() !== g.input.shape.join()) {
    throw new F8Error('BAD_INPUT', `onnx export: the input value ${g.input.name} must be listed in values as ${g.input.dtype} [${g.input.shape.join(', ')}]`);
  }
  const C = g.input.shape[0];
  for (const [k, a] of [['scale', g.input.scale], ['mean', g.input.mean], ['std', g.input.std]] as const) {
    if (a.length !== 1 && a.length !== C) throw new F8Error('SHAPE_MISMATCH', `onnx export: input ${k} has ${a.length} values for ${C} channels (expected 1 or ${C})`);
  }
  const out = values.get(g.output.name);
  if (!out || out.shape.length !== 1) throw new F8Error('BAD_INPUT', `onnx export: output ${g.output.name} must be a value of shape [classes]`);
  const seen = new Set([g.input.name]);
  for (const n of g.nodes) {
    for (const i of nodeInputs(n)) if (!seen.has(i)) throw new F8Error('BAD_INPUT', `onnx export: node ${n.name} reads ${i} before it is computed`);
    if (!values.has(n.output)) throw new F8Error('BAD_INPUT', `onnx export: node ${n.name} writes ${n.output}, which is not in values`);
    if (n.op === 'conv' || n.op === 'linear') {
      if (values.get(n.input)!.dtype === 'int32') throw new F8Error('UNSUPPORTED', `onnx export: ${n.op} ${n.name} reads int32 ${n.input}; it needs 8-bit codes`);
      const w = g.tensors[n.weight];
      if (!w || w.dtype !== 'int8') throw new F8Error('BAD_INPUT', `onnx export: ${n.name} needs an int8 weight tensor ${n.weight}`);
      if (n.bias !== null && (!g.tensors[n.bias] || g.tensors[n.bias].dtype !== 'int32')) throw new F8Error('BAD_INPUT', `onnx export: ${n.name} needs an int32 bias tensor ${n.bias}`);
      const xs = values.get(n.input)!.shape;
      const fits = n.op === 'conv' ? w.shape.length === 4 && xs.length === 3 && w.shape[1] * n.groups === xs[0] : w.shape.length === 2 && w.shape[1] === size(xs);
      if (!fits) throw new F8Error('SHAPE_MISMATCH', `onnx export: ${n.op} ${n.name}: weight [${w.shape.join(', ')}] does not fit input ${n.input} [${xs.join(', ')}]`);
    }
    seen.add(n.output);
  }
  if (!seen.has(g.output.name)) throw new F8Error('BAD_INPUT', `onnx export: no node computes the output ${g.output.name}`);
  return values;
}

/** Graph input `input` [N, C, H, W] and output `logits` [N, classes], the batch axis named 'N'. */
function io(name: string, dt: Dt, shape: number[]): onnxProto.onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType: ONNX_DT[dt], shape: { dim: [{ dimParam: 'N' }, ...shape.map((d) => ({ dimValue: d }))] } } } };
}

function encode(g: IntGraph, form: OnnxForm, b: Builder, inputDt: Dt, outputDt: Dt, classes: number): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: 'f8net',
    producerVersion: g.producer,
    docString: `F8Net integer model ${g.model.name} (${form}); see docs/ONNX_EXPORT.md`,
    opsetImport: [{ domain: '', version: ONNX_OPSET[form] }],
    graph: {
      name: `${g.model.name}-${form}`,
      node: b.nodes,
      initializer: b.inits,
      input: [io('input', inputDt, g.input.shape)],
      output: [io('logits', outputDt, [classes])],
    },
    metadataProps: metadata(g, form),
  });
  return onnx.ModelProto.encode(model).finish();
}

/** The conv / pool attributes. */
function poolAttrs(kernel: [number, number], stride: [number, number], padding: [number, number]): AttributeProto[] {
  return [ints('kernel_shape', kernel), ints('strides', stride), ints('pads', [padding[0], padding[1], padding[0], padding[1]])];
}

/** The nodes of g in order, each with its output's info, the output's ONNX name and the node's name. */
function* nodeOutputs(g: IntGraph, values: Map<string, IntValueInfo>, tname: (v: string) => string): Generator<{ node: IntNode; out: IntValueInfo; y: string; nm: string }> {
  for (const node of g.nodes) yield { node, out: values.get(node.output)!, y: tname(node.output), nm: node.name };
}

/** A conv node's attributes (Conv and ConvInteger): the pool attributes, dilations and group. */
function convAttrs(node: ConvNode, wShape: readonly number[]): AttributeProto[] {
  return [...poolAttrs([wShape[2], wShape[3]], node.stride, node.padding), ints('dilations', node.dilation), int('group', node.groups)];
}

// ---------------------------------------------------------------------------------------------
// integize: float32 tensors holding integers.

/**
 * The "integize" ONNX file of g: float input `input` (normalised images), float `logits`
 * holding integers at g.output.fl. Equal to runIntCpu(quantizeNormalized(x)) while values stay
 * below 2^24 in magnitude.
 */
export function toIntegizeOnnx(g: IntGraph): Uint8Array {
  const values = check(g);
  const b = new Builder();
  const tname = (v: string): string => (v === g.output.name ? 'logits' : `v/${v}`);
  const [C] = g.input.shape;
  const [lo, hi] = dtypeRange(g.input.dtype);

  // code = clamp(roundHalfEven(x * scale)) in double, as quantizeNormalized computes it.
  const q = 'input/quantize';
  let t = b.op('Cast', ['input'], `${q}/cast`, `${q}/x64`, [int('to', DT.DOUBLE)]);
  t = b.op('Mul', [t, channelConst(b, `${q}/scale`, 'double', g.input.scale.length === 1 ? Array(C).fill(g.input.scale[0]) : g.input.scale, 3)], `${q}/mul`, `${q}/scaled`);
  t = b.op('Round', [t], `${q}/round`, `${q}/rounded`);
  t = b.op('Clip', [t, b.scalar('double', lo), b.scalar('double', hi)], `${q}/clip`, `${q}/clipped`);
  b.op('Cast', [t], `${q}/cast_back`, tname(g.input.name), [int('to', DT.FLOAT)]);

  /** clamp(round(v * 2^-n), lo, hi) in float: multiplying by a power of two and Round (half to even) are exact. */
  const epilogue = (v: string, e: IntEpilogue, channels: number, rank: number, node: string, out: string): void => {
    const n = shifts(e, channels, node);
    const [clo, chi] = clampRange(e);
    const factor = n.map((s) => (s > 0 ? 2 ** -Math.min(s, 60) : 2 ** Math.min(-s, 32)));
    if (factor.some((f) => f !== 1)) v = b.op('Mul', [v, channelConst(b, `${node}/scale`, 'float', factor, rank)], `${node}/shift`, `${node}/shifted`);
    if (n.some((s) => s > 0)) v = b.op('Round', [v], `${node}/round`, `${node}/rounded`);
    b.op('Clip', [v, b.scalar('float', clo), b.scalar('float', chi)], `${node}/clamp`, out);
  };

  for (const { node, out, y, nm } of nodeOutputs(g, values, tname)) {
    switch (node.op) {
      case 'conv': {
        const w = g.tensors[node.weight];
        const inputs = [tname(node.input), b.tensor(`${nm}/weight`, 'float', w.shape, w.data)];
        if (node.bias) inputs.push(b.tensor(`${nm}/bias`, 'float', [w.shape[0]], g.tensors[node.bias].data));
        const acc = b.op('Conv', inputs, `${nm}/conv`, `${nm}/acc`, convAttrs(node, w.shape));
        epilogue(acc, node.epilogue, out.shape[0], out.shape.length, nm, y);
        break;
      }
      case 'linear': {
        const w = g.tensors[node.weight];
        const flat = b.op('Flatten', [tname(node.input)], `${nm}/flatten`, `${nm}/flat`, [int('axis', 1)]);
        const inputs = [flat, b.tensor(`${nm}/weight`, 'float', w.shape, w.data)];
        if (node.bias) inputs.push(b.tensor(`${nm}/bias`, 'float', [w.shape[0]], g.tensors[node.bias].data));
        const acc = b.op('Gemm', inputs, `${nm}/gemm`, `${nm}/acc`, [int('transB', 1)]);
        epilogue(acc, node.epilogue, out.shape[0], 1, nm, y);
        break;
      }
      case 'maxpool':
        b.op('MaxPool', [tname(node.input)], `${nm}/maxpool`, y, poolAttrs(node.kernel, node.stride, node.padding));
        break;
      case 'sumpool': {
        const s = b.op('ReduceSum', [tname(node.input), b.tensor('const/axes_hw', 'int64', [2], [2, 3], 'axes_hw')], `${nm}/sum`, `${nm}/acc`, [int('keepdims', 0)]);
        epilogue(s, node.epilogue, out.shape[0], 1, nm, y);
        break;
      }
      case 'add': {
        const operand = (i: 0 | 1): string => {
          let v = tname(node.inputs[i]);
          if (node.relu[i]) v = b.op('Relu', [v], `${nm}/relu${i}`, `${nm}/relu${i}`);
          if (node.shifts[i] !== 0) v = b.op('Mul', [v, b.scalar('float', 2 ** Math.min(node.shifts[i], 32))], `${nm}/align${i}`, `${nm}/aligned${i}`);
          return v;
        };
        const s = b.op('Add', [operand(0), operand(1)], `${nm}/add`, `${nm}/sum`);
        epilogue(s, node.epilogue, out.shape[0], out.shape.length, nm, y);
        break;
      }
      case 'requant':
        epilogue(tname(node.input), node.epilogue, out.shape[0], out.shape.length, nm, y);
        break;
    }
  }
  return encode(g, 'integize', b, 'float', 'float', values.get(g.output.name)!.shape[0]);
}

// ---------------------------------------------------------------------------------------------
// int_op_only: integer tensors and integer operators.

/** Largest magnitude a value of this dtype can hold (codes, or the symmetric int32 range plus the -2^31 of a wrapped sum). */
const MAX_ABS: Record<IntDType, number> = { int8: 127, uint8: 255, int32: 2 ** 31 };

/**
 * The "int_op_only" ONNX file of g: input `input` of 8-bit codes (g.input.dtype), output
 * `logits` int32. Bit for bit runIntCpu, accumulators that do not wrap assumed.
 *
 * Arithmetic is int32 where no intermediate can leave the int32 range (known from the dtypes,
 * weights and shifts at export time), else int64 with Add / Sub / Mul / Div / BitwiseAnd only, clamped
 * with Less / Greater / Where: onnxruntime's CPU Min, Max and Clip on int64 give wrong results
 * for some values (an Eigen code path, microsoft/onnxruntime PR 25280; here Clip(3, -2^31, 2^31)
 * returned 2^31).
 */
export function toIntOnlyOnnx(g: IntGraph): Uint8Array {
  const values = check(g);
  const b = new Builder();
  const outInfo = values.get(g.output.name)!;
  // The output value is `logits` itself when it is int32; otherwise a Cast makes it so.
  const tname = (v: string): string => (v === g.input.name ? 'input' : v === g.output.name && outInfo.dtype === 'int32' ? 'logits' : `v/${v}`);
  type Wide = 'int32' | 'int64';
  const k = (dt: Wide, v: number): string => b.scalar(dt, v);
  const cast = (v: string, to: IntDType | 'int64', name: string, out: string): string => b.op('Cast', [v], name, out, [int('to', ONNX_DT[to])]);

  /** clamp(v, lo, hi): Clip on int32; on int64 two Where selects (see above). */
  const clamp = (v: string, dt: Wide, lo: number, hi: number, nm: string, tag: string, out = `${nm}/${tag}`): string => {
    if (dt === 'int32') return b.op('Clip', [v, k(dt, lo), k(dt, hi)], `${nm}/${tag}`, out);
    const low = b.op('Where', [b.op('Less', [v, k(dt, lo)], `${nm}/${tag}_lt`, `${nm}/${tag}_lt`), k(dt, lo), v], `${nm}/${tag}_lo`, `${nm}/${tag}_lo`);
    return b.op('Where', [b.op('Greater', [low, k(dt, hi)], `${nm}/${tag}_gt`, `${nm}/${tag}_gt`), k(dt, hi), low], `${nm}/${tag}_hi`, out);
  };

  // ConvInteger / MatMulInteger as uint8 x uint8 with zero points (x + 128 for int8 codes,
  // w + 128 for the weights): onnxruntime's u8 x s8 kernels sum byte pairs in saturating int16
  // (VPMADDUBSW) on x86 without VNNI, which 255 * 127 * 2 overflows; its u8 x u8 kernels widen first.
  const u8 = new Map<string, { x: string; zp: string }>();
  const asU8 = (v: string): { x: string; zp: string } => {
    const hit = u8.get(v);
    if (hit) return hit;
    let r: { x: string; zp: string };
    if (values.get(v)!.dtype === 'uint8') r = { x: tname(v), zp: b.scalar('uint8', 0) };
    else {
      const p = `v/${v}/u8`;
      const s = b.op('Add', [cast(tname(v), 'int32', `${p}/widen`, `${p}/i32`), k('int32', 128)], `${p}/offset`, `${p}/offset`);
      r = { x: cast(s, 'uint8', `${p}/narrow`, p), zp: b.scalar('uint8', 128) };
    }
    u8.set(v, r);
    return r;
  };

  /**
   * The epilogue on v (int32 or int64 holding a value in [-2^31, 2^31 - 1]):
   * clamp(shiftRoundHalfEven(v, n), lo, hi), ReLU folded into lo. Left shifts multiply by
   * 2^min(-n, 32) in int64 (|v| <= 2^31: exact; the clamp saturates). Right shifts by
   * d = 2^min(n, 32), with the floor modulo taken from the two's complement bits (Mod is
   * several times slower in onnxruntime):
   *   rem = v & (d - 1); q = (v - rem) / d (exact); inc = (rem + d/2 - 1 + (q & 1)) / d in {0, 1}
   * so inc = 1 iff rem > d/2, or rem = d/2 and q is odd: round half to even for either sign.
   * Channels without a right shift get d = 1, rem = 0 and a zero parity mask. int32 when every n
   * is in [0, 30]; no intermediate overflows (|q d| <= 2^31, rem + d/2 < 2^31 * 1.5 in int64).
   */
  const epilogue = (v: string, vdt: Wide, e: IntEpilogue, channels: number, rank: number, nm: string, out: string, outDt: IntDType): void => {
    const n = shifts(e, channels, nm);
    const [clo, chi] = clampRange(e);
    const dt: Wide = n.some((s) => s < 0 || s > 30) ? 'int64' : 'int32';
    if (dt !== vdt) v = cast(v, dt, `${nm}/to_${dt}`, `${nm}/${dt}`);
    if (n.some((s) => s < 0)) v = b.op('Mul', [v, channelConst(b, `${nm}/lshift`, dt, n.map((s) => (s < 0 ? 2 ** Math.min(-s, 32) : 1)), rank)], `${nm}/lshift`, `${nm}/lshifted`);
    if (n.some((s) => s > 0)) {
      const r = n.map((s) => (s > 0 ? Math.min(s, 32) : 0));
      const d = channelConst(b, `${nm}/div`, dt, r.map((s) => 2 ** s), rank);
      const h = channelConst(b, `${nm}/half`, dt, r.map((s) => (s > 0 ? 2 ** (s - 1) - 1 : 0)), rank);
      const rem = b.op('BitwiseAnd', [v, channelConst(b, `${nm}/low_mask`, dt, r.map((s) => 2 ** s - 1), rank)], `${nm}/rem`, `${nm}/rem`);
      const q = b.op('Div', [b.op('Sub', [v, rem], `${nm}/floor`, `${nm}/floor`), d], `${nm}/quot`, `${nm}/quot`);
      const odd = b.op('BitwiseAnd', [q, channelConst(b, `${nm}/odd_mask`, dt, r.map((s) => (s > 0 ? 1 : 0)), rank)], `${nm}/odd`, `${nm}/odd`);
      const t = b.op('Add', [b.op('Add', [rem, h], `${nm}/rem_half`, `${nm}/rem_half`), odd], `${nm}/rem_half_odd`, `${nm}/rem_half_odd`);
      v = b.op('Add', [q, b.op('Div', [t, d], `${nm}/inc`, `${nm}/inc`)], `${nm}/round`, `${nm}/rounded`);
    }
    if (dt === outDt) clamp(v, dt, clo, chi, nm, 'clamp', out);
    else cast(clamp(v, dt, clo, chi, nm, 'clamp'), outDt, `${nm}/cast`, out);
  };

  /** clampInt32(acc + bias): int32 when no sum can leave the range, else exact in int64 and clamped. */
  const addBias = (acc: string, bias: string | null, accMax: number, rank: number, nm: string): { v: string; dt: Wide } => {
    if (!bias) return { v: acc, dt: 'int32' }; // a wrapped -2^31 shifts and clamps like -(2^31 - 1)
    const t = g.tensors[bias];
    const dims = [t.shape[0], ...Array(rank - 1).fill(1)];
    const biasMax = Math.max(0, ...Array.from(t.data, Math.abs));
    if (accMax + biasMax <= INT32_MAX) return { v: b.op('Add', [acc, b.tensor(`${nm}/bias`, 'int32', dims, t.data)], `${nm}/bias_add`, `${nm}/biased`), dt: 'int32' };
    const s = b.op('Add', [cast(acc, 'int64', `${nm}/acc_i64`, `${nm}/acc_i64`), b.tensor(`${nm}/bias`, 'int64', dims, t.data)], `${nm}/bias_add`, `${nm}/biased`);
    return { v: clamp(s, 'int64', -INT32_MAX, INT32_MAX, nm, 'bias_sat'), dt: 'int64' };
  };

  for (const { node, out, y, nm } of nodeOutputs(g, values, tname)) {
    switch (node.op) {
      case 'conv': {
        const w = g.tensors[node.weight];
        const x = asU8(node.input);
        const acc = b.op('ConvInteger', [x.x, b.tensor(`${nm}/weight_u8`, 'uint8', w.shape, Array.from(w.data, (v) => v + 128)), x.zp, b.scalar('uint8', 128)], `${nm}/conv`, `${nm}/acc`, convAttrs(node, w.shape));
        const r = addBias(acc, node.bias, size(w.shape.slice(1)) * MAX_ABS[values.get(node.input)!.dtype] * 127, 3, nm);
        epilogue(r.v, r.dt, node.epilogue, out.shape[0], 3, nm, y, out.dtype);
        break;
      }
      case 'linear': {
        const w = g.tensors[node.weight];
        const [O, K] = w.shape;
        const x = asU8(node.input);
        const flat = b.op('Flatten', [x.x], `${nm}/flatten`, `${nm}/flat`, [int('axis', 1)]);
        const wt = new Uint8Array(K * O);
        for (let o = 0; o < O; o++) for (let i = 0; i < K; i++) wt[i * O + o] = w.data[o * K + i] + 128;
        const acc = b.op('MatMulInteger', [flat, b.tensor(`${nm}/weight_t_u8`, 'uint8', [K, O], wt), x.zp, b.scalar('uint8', 128)], `${nm}/matmul`, `${nm}/acc`);
        const r = addBias(acc, node.bias, K * MAX_ABS[values.get(node.input)!.dtype] * 127, 1, nm);
        epilogue(r.v, r.dt, node.epilogue, O, 1, nm, y, out.dtype);
        break;
      }
      case 'maxpool': {
        const xi = values.get(node.input)!;
        if (xi.dtype !== 'int32') {
          b.op('MaxPool', [tname(node.input)], `${nm}/maxpool`, y, poolAttrs(node.kernel, node.stride, node.padding));
          break;
        }
        // onnxruntime's MaxPool has no int32 kernel: the max of the window's strided slices of
        // the input padded with -2^31 (below every value, so padded positions never win).
        const [, H, W] = xi.shape;
        const [, OH, OW] = out.shape;
        const [k0, k1] = node.kernel;
        const [s0, s1] = node.stride;
        const [p0, p1] = node.padding;
        if (OH < 1 || OW < 1 || (OH - 1) * s0 + k0 > H + 2 * p0 || (OW - 1) * s1 + k1 > W + 2 * p1) {
          throw new F8Error('SHAPE_MISMATCH', `onnx export: maxpool ${nm} output [${out.shape.join(', ')}] does not fit its input [${xi.shape.join(', ')}]`);
        }
        let x = tname(node.input);
        if (p0 || p1) x = b.op('Pad', [x, b.tensor(`${nm}/pads`, 'int64', [8], [0, 0, p0, p1, 0, 0, p0, p1]), k('int32', -(2 ** 31))], `${nm}/pad`, `${nm}/padded`);
        const axes = b.tensor('const/axes_hw', 'int64', [2], [2, 3], 'axes_hw');
        const steps = b.tensor(`const/steps_${s0}_${s1}`, 'int64', [2], [s0, s1], `steps_${s0}_${s1}`);
        const taps: string[] = [];
        for (let i = 0; i < k0; i++)
          for (let j = 0; j < k1; j++) {
            const at = `${nm}/tap${i}_${j}`;
            const starts = b.tensor(`${at}/starts`, 'int64', [2], [i, j]);
            const ends = b.tensor(`${at}/ends`, 'int64', [2], [i + (OH - 1) * s0 + 1, j + (OW - 1) * s1 + 1]);
            taps.push(b.op('Slice', [x, starts, ends, axes, steps], at, at));
          }
        b.op(taps.length > 1 ? 'Max' : 'Identity', taps, `${nm}/max`, y);
        break;
      }
      case 'sumpool': {
        let x = tname(node.input);
        if (values.get(node.input)!.dtype !== 'int32') x = cast(x, 'int32', `${nm}/widen`, `${nm}/i32`);
        const s = b.op('ReduceSum', [x, b.tensor('const/axes_hw', 'int64', [2], [2, 3], 'axes_hw')], `${nm}/sum`, `${nm}/acc`, [int('keepdims', 0)]);
        epilogue(s, 'int32', node.epilogue, out.shape[0], 1, nm, y, out.dtype);
        break;
      }
      case 'add': {
        // clampInt32(r(a) 2^sa + r(b) 2^sb). int32 when it cannot overflow; else int64 with
        // m = min(sa, sb): the sum is 2^m (a 2^(sa-m) + b 2^(sb-m)); capping the relative shift
        // at 32, bounding the inner sum by +-2^31 and capping m at 31 keep every step below
        // 2^63 and change no clamped result.
        const [sa, sb] = node.shifts;
        const bound = MAX_ABS[values.get(node.inputs[0])!.dtype] * 2 ** sa + MAX_ABS[values.get(node.inputs[1])!.dtype] * 2 ** sb;
        const dt: Wide = bound <= INT32_MAX ? 'int32' : 'int64';
        const m = dt === 'int32' ? 0 : Math.min(sa, sb);
        const operand = (i: 0 | 1): string => {
          let v = tname(node.inputs[i]);
          if (values.get(node.inputs[i])!.dtype !== 'int32') v = cast(v, 'int32', `${nm}/in${i}_i32`, `${nm}/in${i}_i32`);
          if (node.relu[i]) v = b.op('Max', [v, k('int32', 0)], `${nm}/relu${i}`, `${nm}/relu${i}`);
          if (dt === 'int64') v = cast(v, 'int64', `${nm}/in${i}_i64`, `${nm}/in${i}_i64`);
          const rel = Math.min(node.shifts[i] - m, 32);
          return rel > 0 ? b.op('Mul', [v, k(dt, 2 ** rel)], `${nm}/align${i}`, `${nm}/aligned${i}`) : v;
        };
        let s = b.op('Add', [operand(0), operand(1)], `${nm}/add`, `${nm}/sum`);
        if (dt === 'int64') {
          if (m > 0) s = b.op('Mul', [clamp(s, dt, -(2 ** 31), 2 ** 31, nm, 'bound'), k(dt, 2 ** Math.min(m, 31))], `${nm}/align`, `${nm}/aligned`);
          s = clamp(s, dt, -INT32_MAX, INT32_MAX, nm, 'sat');
        }
        epilogue(s, dt, node.epilogue, out.shape[0], out.shape.length, nm, y, out.dtype);
        break;
      }
      case 'requant': {
        let x = tname(node.input);
        if (values.get(node.input)!.dtype !== 'int32') x = cast(x, 'int32', `${nm}/widen`, `${nm}/i32`);
        epilogue(x, 'int32', node.epilogue, out.shape[0], out.shape.length, nm, y, out.dtype);
        break;
      }
    }
  }
  if (outInfo.dtype !== 'int32') cast(tname(g.output.name), 'int32', 'output/cast', 'logits');
  return encode(g, 'int_op_only', b, g.input.dtype, 'int32', outInfo.shape[0]);
}
