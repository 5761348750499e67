/**
 * onnxruntime-node (CPU) as a peer: one-operator ONNX models built in memory with onnx-proto,
 * run through an InferenceSession. onnxruntime-node is a dev dependency: without it, loadOrt
 * throws UNSUPPORTED.
 *
 * @example
 *   const ort = await loadOrt();
 *   const bytes = onnxModel({ nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }],
 *     inputs: [{ name: 'x', dtype: 'float32', dims: [4] }], outputs: [{ name: 'y', dtype: 'float32' }] });
 *   const peer = await ortPeer(ort, bytes, { x: ortFeed('float32', data, [4]) }, 'Relu', (y) => check(y));
 */
import onnxProto from 'onnx-proto';
import { F8Error } from '../runtime/errors.js';
import type { Check, PeerInstance } from './types.js';

export type Ort = typeof import('onnxruntime-node');

const { onnx } = onnxProto;

export async function loadOrt(): Promise<Ort> {
  try {
    return await import('onnxruntime-node');
  } catch (e) {
    throw new F8Error('UNSUPPORTED', `--compare ort needs onnxruntime-node (npm install onnxruntime-node): ${(e as Error).message.split('\n')[0]}`);
  }
}

export type OnnxDType = 'float32' | 'uint8' | 'int8' | 'int32';
const ELEM: Record<OnnxDType, number> = { float32: 1, uint8: 2, int8: 3, int32: 6 };
type Data = Float32Array | Uint8Array | Int8Array | Int32Array;

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, number | number[] | string>;
  /** Attributes that are floats (the others are ints). */
  floatAttrs?: string[];
}

export interface OnnxValue {
  name: string;
  dtype: OnnxDType;
  dims?: number[];
}

export interface OnnxInit extends OnnxValue {
  dims: number[];
  data: Data;
}

/** Bytes of a ModelProto (IR 8, opset 13 by default) holding one graph of the given nodes. */
export function onnxModel(m: { nodes: OnnxNode[]; inputs: OnnxValue[]; outputs: OnnxValue[]; inits?: OnnxInit[]; opset?: number }): Uint8Array {
  const A = onnx.AttributeProto.AttributeType;
  const attr = (name: string, v: number | number[] | string, float: boolean) => {
    if (typeof v === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(v) };
    if (Array.isArray(v)) return float ? { name, type: A.FLOATS, floats: v } : { name, type: A.INTS, ints: v };
    return float ? { name, type: A.FLOAT, f: v } : { name, type: A.INT, i: v };
  };
  const vi = (v: OnnxValue) =>
    onnx.ValueInfoProto.create({
      name: v.name,
      type: { tensorType: { elemType: ELEM[v.dtype], ...(v.dims ? { shape: { dim: v.dims.map((d) => ({ dimValue: d })) } } : {}) } },
    });
  const init = (t: OnnxInit) =>
    onnx.TensorProto.create({ name: t.name, dims: t.dims, dataType: ELEM[t.dtype], rawData: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength).slice() });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'f8net-bench',
    opsetImport: [{ domain: '', version: m.opset ?? 13 }],
    graph: {
      name: 'bench',
      node: m.nodes.map((n, i) =>
        onnx.NodeProto.create({
          name: `n${i}`,
          opType: n.op,
          input: n.inputs,
          output: n.outputs,
          attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attr(k, v, !!n.floatAttrs?.includes(k))),
        }),
      ),
      input: m.inputs.map(vi),
      output: m.outputs.map(vi),
      initializer: (m.inits ?? []).map(init),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

export interface OrtFeed {
  dtype: OnnxDType;
  data: Data;
  dims: number[];
}

export const ortFeed = (dtype: OnnxDType, data: Data, dims: number[]): OrtFeed => ({ dtype, data, dims });

/** A scalar constant (quantisation scales and zero points). */
export function ortScalar(name: string, dtype: 'float32' | 'uint8' | 'int8', v: number): OnnxInit {
  return { name, dtype, dims: [], data: dtype === 'float32' ? Float32Array.of(v) : dtype === 'uint8' ? Uint8Array.of(v) : Int8Array.of(v) };
}

/**
 * A peer running one operator: the fed input `x` (and the constants `inits`, named in
 * `node.inputs`, default ['x']) to the output `y` of x's dtype and `yDims`.
 */
export function ortOneOp(
  ort: Ort,
  node: { op: string; inputs?: string[]; attrs?: OnnxNode['attrs'] },
  x: OrtFeed,
  yDims: number[],
  what: string,
  check: (out: ArrayLike<number>) => Check,
  inits: OnnxInit[] = [],
): Promise<PeerInstance> {
  const model = onnxModel({
    nodes: [{ op: node.op, inputs: node.inputs ?? ['x'], outputs: ['y'], attrs: node.attrs }],
    inputs: [{ name: 'x', dtype: x.dtype, dims: x.dims }],
    outputs: [{ name: 'y', dtype: x.dtype, dims: yDims }],
    inits,
  });
  return ortPeer(ort, model, { x }, what, check);
}

/**
 * A peer running `model` on `feeds`; `check` compares the first output with the reference.
 * `what` names the operator for the table.
 */
export async function ortPeer(ort: Ort, model: Uint8Array, feeds: Record<string, OrtFeed>, what: string, check: (out: ArrayLike<number>) => Check): Promise<PeerInstance> {
  const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all' });
  const inputs = Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, new ort.Tensor(f.dtype, f.data, f.dims)]));
  const out = session.outputNames[0];
  return {
    what,
    async step() {
      await session.run(inputs);
    },
    async verify() {
      const r = await session.run(inputs);
      return check(r[out].data as ArrayLike<number>);
    },
    dispose() {
      void session.release();
    },
  };
}
