/**
 * Cases of the integer-inference kernels (wgsl/int8*.wgsl): conv (dense and depthwise), linear,
 * add, max and sum pools, and the requant node. All bit-exact against the CPU reference.
 */
import { Tensor } from '../tensor.js';
import type { Conv2dOptions } from '../ops/conv2d.js';
import { int8Activation, int8Weights, int8Conv2d, int8Linear, int8Add, int8MaxPool2d, int8SumPool, int8Requant, readInt8 } from '../ops/int8.js';
import { refInt8Conv2d, refInt8Linear, refInt8Add, refInt8MaxPool2d, refInt8SumPool, refInt8Requant } from '../ops/int8.ref.js';
import { intArray } from '../runtime/rng.js';
import { kernelCase, type KernelCase } from './types.js';

const prod = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const EXACT = { exact: true } as const;
/** The exported layer's epilogue: bias, ReLU, shift 10, unsigned codes out. */
const EPILOGUE = { relu: true, requant: { shift: 10, signed: false } };

/** Unsigned codes x in [0, 255], int8 weights in [-127, 127], i32 biases (the tuner's and bench's operands). */
export function int8ConvInputs(xs: readonly number[], ws: readonly number[], seed = 41) {
  return { x: intArray(prod(xs), seed, 0, 255), w: intArray(prod(ws), seed + 1, -127, 127), b: intArray(ws[0], seed + 2, -20000, 20000) };
}

export function int8ConvCase(name: string, xs: number[], ws: number[], opts: Conv2dOptions): KernelCase {
  const groups = opts.groups ?? 1;
  return kernelCase({
    family: groups > 1 && ws[1] === 1 ? 'int8.depthwise' : 'int8.conv',
    name,
    shapes: { x: xs, w: ws },
    tolerance: EXACT,
    inputs: () => int8ConvInputs(xs, ws),
    reference: (i) => [refInt8Conv2d(i.x, xs, i.w, ws, i.b, { ...opts, ...EPILOGUE }), refInt8Conv2d(i.x, xs, i.w, ws, i.b, opts)],
    gpu: async (i) => {
      const x = int8Activation(i.x, xs, false);
      const w = int8Weights(i.w, ws, groups);
      const b = Tensor.from(i.b, [ws[0]], 'i32');
      return [await readInt8(int8Conv2d(x, w, b, { ...opts, ...EPILOGUE })), (await int8Conv2d(x, w, b, opts).read()) as Int32Array];
    },
    // The exported layer (codes out) alone: what the tuner times.
    prepare: (i) => {
      const x = int8Activation(i.x, xs, false);
      const w = int8Weights(i.w, ws, groups);
      const b = Tensor.from(i.b, [ws[0]], 'i32');
      return () => int8Conv2d(x, w, b, { ...opts, ...EPILOGUE });
    },
  });
}

const [LN, LK, LO] = [5, 67, 13];
const LINEAR = kernelCase({
  family: 'int8.linear',
  name: `[${LN},${LK}] x [${LO},${LK}]^T, u8 out and raw i32`,
  shapes: { x: [LN, LK], w: [LO, LK] },
  tolerance: EXACT,
  inputs: () => int8ConvInputs([LN, LK], [LO, LK], 51),
  reference: (i) => [refInt8Linear(i.x, [LN, LK], i.w, [LO, LK], i.b, EPILOGUE), refInt8Linear(i.x, [LN, LK], i.w, [LO, LK], i.b)],
  gpu: async (i) => {
    const x = int8Activation(i.x, [LN, LK], false);
    const w = int8Weights(i.w, [LO, LK]);
    const b = Tensor.from(i.b, [LO], 'i32');
    return [await readInt8(int8Linear(x, w, b, EPILOGUE)), (await int8Linear(x, w, b).read()) as Int32Array];
  },
});

const ADD_SHAPE = [2, 5, 3, 7];
const ADD = kernelCase({
  family: 'int8.add',
  name: `residual add with shifts and operand ReLU, [${ADD_SHAPE.join(',')}]`,
  shapes: { a: ADD_SHAPE, b: ADD_SHAPE },
  tolerance: EXACT,
  inputs: () => ({ a: intArray(prod(ADD_SHAPE), 61, -(2 ** 16), 2 ** 16), b: intArray(prod(ADD_SHAPE), 62, -127, 127) }),
  reference: (i) => [refInt8Add(i.a, i.b, ADD_SHAPE, { shifts: [0, 7], operandRelu: [false, true], relu: true, requant: { shift: 7, signed: false } })],
  gpu: async (i) => {
    const a = Tensor.from(i.a, ADD_SHAPE, 'i32');
    const b = int8Activation(i.b, ADD_SHAPE, true);
    return [await readInt8(int8Add(a, b, { shifts: [0, 7], operandRelu: [false, true], relu: true, requant: { shift: 7, signed: false } }))];
  },
});

const POOL_SHAPE = [2, 6, 9, 11];
const POOLS = kernelCase({
  family: 'int8.pool',
  name: `max 3x3/2 pad 1 and global sum of u8 [${POOL_SHAPE.join(',')}]`,
  shapes: { x: POOL_SHAPE },
  tolerance: EXACT,
  inputs: () => ({ x: intArray(prod(POOL_SHAPE), 71, 0, 255) }),
  reference: (i) => [refInt8MaxPool2d(i.x, POOL_SHAPE, [3, 3], [2, 2], [1, 1]), refInt8SumPool(i.x, POOL_SHAPE, { requant: { shift: 6, signed: false } })],
  gpu: async (i) => {
    const x = int8Activation(i.x, POOL_SHAPE, false);
    return [await readInt8(int8MaxPool2d(x, { kernel: 3, stride: 2, padding: 1 })), await readInt8(int8SumPool(x, { requant: { shift: 6, signed: false } }))];
  },
});

const RQ_SHAPE = [2, 5, 3, 3];
const REQUANT = kernelCase({
  family: 'int8.requant',
  name: `per-channel shifts to s8, [${RQ_SHAPE.join(',')}]`,
  shapes: { x: RQ_SHAPE },
  tolerance: EXACT,
  inputs: () => ({ x: intArray(prod(RQ_SHAPE), 81, -(2 ** 22), 2 ** 22), shift: intArray(5, 82, 0, 20) }),
  reference: (i) => [refInt8Requant(i.x, RQ_SHAPE, { requant: { shift: i.shift, signed: true } })],
  gpu: async (i) => [await readInt8(int8Requant(Tensor.from(i.x, RQ_SHAPE, 'i32'), { requant: { shift: i.shift, signed: true } }))],
});

export const int8Cases: KernelCase[] = [
  int8ConvCase('odd sizes 3x3 pad 1', [1, 5, 7, 11], [37, 5, 3, 3], { padding: 1 }),
  int8ConvCase('stride 2 groups 2', [2, 6, 9, 8], [10, 3, 3, 3], { stride: 2, padding: 1, groups: 2 }),
  int8ConvCase('depthwise 3x3 pad 1', [1, 12, 9, 13], [12, 1, 3, 3], { padding: 1, groups: 12 }),
  LINEAR,
  ADD,
  POOLS,
  REQUANT,
];
