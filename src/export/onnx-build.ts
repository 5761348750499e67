/**
 * Shared pieces of the ONNX files of the integer model (./onnx-export.ts, ./onnx-qdq.ts): the
 * protobuf node/initializer builder, the checks every lowering relies on, metadata_props,
 * the model envelope, conv/pool attributes and the input quantisation of the float forms.
 * Nothing here decides a form's arithmetic.
 */
import onnxProto from 'onnx-proto';
import { F8Error } from '../runtime/errors.js';
import { ONNX_META, ONNX_OPSET, type OnnxForm } from './onnx-meta.js';
import { dtypeRange, nodeInputs, valueMap, type ConvNode, type IntNode, type IntEpilogue, type IntGraph, type IntValueInfo } from './graph.js';

export const { onnx } = onnxProto;
type NodeProto = onnxProto.onnx.INodeProto;
type TensorProto = onnxProto.onnx.ITensorProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;

const IR_VERSION = 8;

export const DT = onnx.TensorProto.DataType;
export type Dt = 'float' | 'double' | 'int8' | 'uint8' | 'int32' | 'int64';
export const ONNX_DT: Record<Dt, number> = { float: DT.FLOAT, double: DT.DOUBLE, int8: DT.INT8, uint8: DT.UINT8, int32: DT.INT32, int64: DT.INT64 };

export const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
export const ints = (name: string, v: number[]): AttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: v });
export const int = (name: string, v: number): AttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INT, i: v });

/** Nodes and initializers of one graph; every tensor name is checked to be defined once. */
export class Builder {
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
export function channelConst(b: Builder, name: string, dt: Dt, v: number[], rank: number): string {
  if (v.every((x) => x === v[0])) return b.scalar(dt, v[0]);
  return b.tensor(name, dt, [v.length, ...Array(rank - 1).fill(1)], v);
}

/** Shifts of an epilogue, one per channel, checked. */
export function shifts(e: IntEpilogue, channels: number, node: string): number[] {
  if (e.shift.length !== 1 && e.shift.length !== channels) throw new F8Error('SHAPE_MISMATCH', `onnx export: node ${node} has ${e.shift.length} shifts for ${channels} channels`);
  if (!e.shift.every(Number.isInteger)) throw new F8Error('BAD_INPUT', `onnx export: node ${node} has a non-integer shift in [${e.shift.join(', ')}]`);
  return e.shift.length === 1 ? Array(channels).fill(e.shift[0]) : [...e.shift];
}

/** The epilogue's clamp: [lo, hi] of its dtype, lo raised to 0 by ReLU (shifts are monotone and map 0 to 0). */
export function clampRange(e: IntEpilogue): [number, number] {
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
  if (g.input.headForm) m[ONNX_META.headForm] = g.input.headForm;
  if (g.output.classifierForm) m[ONNX_META.classifierForm] = g.output.classifierForm;
  return Object.entries(m).map(([key, value]) => ({ key, value }));
}

/** Checks what both lowerings rely on; returns the value infos. */
export function check(g: IntGraph): Map<string, IntValueInfo> {
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

export function encode(g: IntGraph, form: OnnxForm, b: Builder, inputDt: Dt, outputDt: Dt, classes: number): Uint8Array {
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
export function poolAttrs(kernel: [number, number], stride: [number, number], padding: [number, number]): AttributeProto[] {
  return [ints('kernel_shape', kernel), ints('strides', stride), ints('pads', [padding[0], padding[1], padding[0], padding[1]])];
}

/** The nodes of g in order, each with its output's info, the output's ONNX name and the node's name. */
export function* nodeOutputs(g: IntGraph, values: Map<string, IntValueInfo>, tname: (v: string) => string): Generator<{ node: IntNode; out: IntValueInfo; y: string; nm: string }> {
  for (const node of g.nodes) yield { node, out: values.get(node.output)!, y: tname(node.output), nm: node.name };
}

/** A conv node's attributes (Conv and ConvInteger): the pool attributes, dilations and group. */
export function convAttrs(node: ConvNode, wShape: readonly number[]): AttributeProto[] {
  return [...poolAttrs([wShape[2], wShape[3]], node.stride, node.padding), ints('dilations', node.dilation), int('group', node.groups)];
}

/**
 * The float forms' own input quantisation: normalised images `input` (float [N, C, H, W]) to
 * codes code = clamp(roundHalfEven(x * scale[c]), lo, hi) computed in double, as
 * quantizeNormalized computes them (a float32 product could round across a tie), cast back to
 * float32 (codes are small integers, exact) into `out`.
 */
export function inputCodes(b: Builder, g: IntGraph, out: string): string {
  const [C] = g.input.shape;
  const [lo, hi] = dtypeRange(g.input.dtype);
  const q = 'input/quantize';
  let t = b.op('Cast', ['input'], `${q}/cast`, `${q}/x64`, [int('to', DT.DOUBLE)]);
  t = b.op('Mul', [t, channelConst(b, `${q}/scale`, 'double', g.input.scale.length === 1 ? Array(C).fill(g.input.scale[0]) : g.input.scale, 3)], `${q}/mul`, `${q}/scaled`);
  t = b.op('Round', [t], `${q}/round`, `${q}/rounded`);
  t = b.op('Clip', [t, b.scalar('double', lo), b.scalar('double', hi)], `${q}/clip`, `${q}/clipped`);
  return b.op('Cast', [t], `${q}/cast_back`, out, [int('to', DT.FLOAT)]);
}
