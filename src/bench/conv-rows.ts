/**
 * Convolution rows: forward, input gradient and weight gradient of dense and depthwise f32
 * convolutions, and the int8 inference convolution (bias, ReLU, re-quantisation), on the zoo
 * layer shapes of ./shapes.ts.
 *
 * Napkin math: FLOP = 2 * N * O * OH * OW * (C / groups) * KH * KW for every pass; bytes = the
 * two operands read once and the result written once (f32: 4 bytes; int8: 1 byte per code).
 * Checks: against src/ops/conv2d.ref.ts and src/ops/int8.ref.ts on the first images of the batch
 * (as many as fit in VERIFY_MACS multiply-adds, at least one); for the weight gradient the
 * upstream gradient of the other images is zero, so the whole batch's sum is the reference's.
 */
import { Engine } from '../runtime/engine.js';
import { Tensor } from '../tensor.js';
import { conv2dForward, conv2dBackwardInput, conv2dBackwardWeight, conv2dOutputShape, type Conv2dOptions } from '../ops/conv2d.js';
import { refConv2d, refConv2dBackwardInput, refConv2dBackwardWeight } from '../ops/conv2d.ref.js';
import { int8Conv2d } from '../ops/int8.js';
import { refInt8Conv2d } from '../ops/int8.ref.js';
import type { ZooConv } from './shapes.js';
import type { RowSpec, RowInstance, PeerInstance, Check } from './types.js';
import { closeCheck, exactCheck, prod, uniform, permute4, NCHW_TO_NHWC, NHWC_TO_NCHW, OIHW_TO_HWIO, HWIO_TO_OIHW } from './check.js';
import { tfjsSync, type Tf } from './tfjs-peer.js';
import { ortOneOp, ortFeed, ortScalar, type Ort } from './ort-peer.js';
import { int8Row, int8Operands, type Int8Operands } from './instances.js';

/** Multiply-adds the CPU reference may spend on one check. */
export const VERIFY_MACS = 60e6;
/** The int8 rows' re-quantisation shift (bias, ReLU, >> 10, unsigned codes out). */
const SHIFT = 10;

type Pass = 'fwd' | 'bwd_input' | 'bwd_weight';
const PASS_NAME: Record<Pass, string> = { fwd: 'forward', bwd_input: 'input gradient', bwd_weight: 'weight gradient' };

interface Geo {
  opts: Conv2dOptions;
  y: number[];
  flop: number;
  /** Images checked. */
  nv: number;
  desc: string;
}

function geo(c: ZooConv): Geo {
  const opts: Conv2dOptions = { stride: c.stride, padding: c.padding, groups: c.groups };
  const y = conv2dOutputShape(c.x, c.w, opts);
  const [N, O, OH, OW] = y;
  const [, CG, KH, KW] = c.w;
  const flop = 2 * N * O * OH * OW * CG * KH * KW;
  const nv = Math.max(1, Math.min(N, Math.floor(VERIFY_MACS / (flop / 2 / N))));
  const desc = `${c.id} x[${c.x.join(',')}] w[${c.w.join(',')}]${c.stride > 1 ? ` s${c.stride}` : ''}`;
  return { opts, y, flop, nv, desc };
}

const note = (nv: number, N: number): string | undefined => (nv < N ? `first ${nv} of ${N} images` : undefined);

/** f32 rows of one convolution: forward, input gradient, weight gradient. */
export function convRows(c: ZooConv): RowSpec[] {
  const g = geo(c);
  const fam = c.depthwise ? 'depthwise' : 'conv2d';
  const [N] = c.x;
  const nx = prod(c.x);
  const ny = prod(g.y);
  const nw = prod(c.w);
  // The reference is computed once per row, however often the row is set up (variants, peers).
  const memo: Record<Pass, { ref?: Float32Array }> = { fwd: {}, bwd_input: {}, bwd_weight: {} };
  const bytes: Record<Pass, number> = { fwd: 4 * (nx + nw + ny), bwd_input: 4 * (ny + nw + nx), bwd_weight: 4 * (nx + ny + nw) };
  return (['fwd', 'bwd_input', 'bwd_weight'] as Pass[]).map((pass) => ({
    id: `${fam}.${pass}/${c.id}`,
    family: `${fam} ${PASS_NAME[pass]}`,
    shape: g.desc,
    flop: g.flop,
    bytes: bytes[pass],
    peak: 'f32',
    unit: 'GFLOP/s',
    setup: async () => convInstance(c, g, pass, N, memo[pass]),
  }));
}

function convInstance(c: ZooConv, g: Geo, pass: Pass, N: number, memo: { ref?: Float32Array }): RowInstance {
  const e = Engine.get();
  const xd = uniform(prod(c.x), 1);
  const wd = uniform(prod(c.w), 2);
  const gyd = uniform(prod(g.y), 3);
  // Weight gradient: images past the checked ones carry no gradient (see the header).
  if (pass === 'bwd_weight') gyd.fill(0, g.nv * prod(g.y.slice(1)));
  const x = e.keep(Tensor.from(xd, c.x));
  const w = e.keep(Tensor.from(wd, c.w));
  const gy = e.keep(Tensor.from(gyd, g.y));
  const run = (): Tensor =>
    pass === 'fwd' ? conv2dForward(x, w, null, g.opts) : pass === 'bwd_input' ? conv2dBackwardInput(gy, w, c.x, g.opts) : conv2dBackwardWeight(x, gy, c.w, g.opts);
  const xv = [g.nv, ...c.x.slice(1)];
  const yv = [g.nv, ...g.y.slice(1)];
  const reference = (): Float32Array => {
    const xs = xd.subarray(0, prod(xv));
    const gs = gyd.subarray(0, prod(yv));
    if (pass === 'fwd') return refConv2d(xs, xv, wd, c.w, null, g.opts);
    if (pass === 'bwd_input') return refConv2dBackwardInput(gs, wd, c.w, xv, g.opts);
    return refConv2dBackwardWeight(xs, xv, gs, c.w, g.opts);
  };
  const compare = (got: ArrayLike<number>): Check => {
    const ref = (memo.ref ??= reference());
    return closeCheck(Array.prototype.slice.call(got, 0, ref.length) as number[], ref, 1e-4, pass === 'bwd_weight' ? undefined : note(g.nv, N));
  };
  return {
    step: () => e.tidy(() => void run()),
    async verify() {
      const y = run();
      const got = (await y.read()) as Float32Array;
      y.dispose();
      return compare(got);
    },
    tfjs: async (tf) => tfjsConv(tf, c, g, pass, xd, wd, gyd, compare),
    ort: pass === 'fwd' ? async (ort) => ortConv(ort, c, g, xd, wd, compare) : undefined,
    dispose() {
      for (const t of [x, w, gy]) t.dispose();
    },
  };
}

/** tfjs in its native NHWC layout (its NCHW conv is slower and, in 4.22, wrong at some sizes). */
async function tfjsConv(tf: Tf, c: ZooConv, g: Geo, pass: Pass, xd: Float32Array, wd: Float32Array, gyd: Float32Array, compare: (v: ArrayLike<number>) => Check): Promise<PeerInstance> {
  const e = Engine.get();
  const [N, C, H, W] = c.x;
  const [O, CG, KH, KW] = c.w;
  const [, , OH, OW] = g.y;
  const s = c.stride;
  const p = c.padding;
  const x = tf.tensor4d(permute4(xd, c.x, NCHW_TO_NHWC), [N, H, W, C]);
  const gy = tf.tensor4d(permute4(gyd, g.y, NCHW_TO_NHWC), [N, OH, OW, O]);
  // Filters: [KH, KW, CG, O] dense, [KH, KW, C, 1] depthwise.
  const fShape: [number, number, number, number] = c.depthwise ? [KH, KW, C, 1] : [KH, KW, CG, O];
  const f = tf.tensor4d(c.depthwise ? permute4(wd, c.w, [2, 3, 0, 1]) : permute4(wd, c.w, OIHW_TO_HWIO), fShape);
  const explicit: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [p, p], [p, p], [0, 0]];
  type T = ReturnType<Tf['tensor']>;
  const run = (): T => {
    const k = tf.engine();
    if (pass === 'fwd') return c.depthwise ? tf.depthwiseConv2d(x, f, s, explicit) : tf.conv2d(x, f, s, explicit);
    if (pass === 'bwd_input') {
      const attrs = { inputShape: [N, H, W, C], strides: s, pad: p, dilations: 1, dataFormat: 'NHWC' };
      return k.runKernel(c.depthwise ? 'DepthwiseConv2dNativeBackpropInput' : 'Conv2DBackpropInput', { dy: gy, filter: f }, attrs as never) as T;
    }
    const attrs = { strides: s, pad: p, dilations: 1, dataFormat: 'NHWC', filterShape: fShape };
    return k.runKernel(c.depthwise ? 'DepthwiseConv2dNativeBackpropFilter' : 'Conv2DBackpropFilter', { x, dy: gy }, attrs as never) as T;
  };
  const toOurs = (v: Float32Array): Float32Array => {
    if (pass === 'fwd') return permute4(v, [N, OH, OW, O], NHWC_TO_NCHW);
    if (pass === 'bwd_input') return permute4(v, [N, H, W, C], NHWC_TO_NCHW);
    return c.depthwise ? permute4(v, fShape, [2, 3, 0, 1]) : permute4(v, fShape, HWIO_TO_OIHW);
  };
  const what = pass === 'fwd' ? (c.depthwise ? 'tf.depthwiseConv2d' : 'tf.conv2d') : pass === 'bwd_input' ? 'Conv2DBackpropInput' : 'Conv2DBackpropFilter';
  return {
    what: `${c.depthwise && pass !== 'fwd' ? 'Depthwise' : ''}${what} NHWC`,
    async step() {
      const y = run();
      await tfjsSync(tf, e);
      y.dispose();
    },
    async verify() {
      const y = run();
      const v = (await y.data()) as Float32Array;
      y.dispose();
      return compare(toOurs(v));
    },
    dispose() {
      tf.dispose([x, gy, f]);
    },
  };
}

async function ortConv(ort: Ort, c: ZooConv, g: Geo, xd: Float32Array, wd: Float32Array, compare: (v: ArrayLike<number>) => Check): Promise<PeerInstance> {
  const p = c.padding;
  const attrs = { kernel_shape: c.w.slice(2), strides: [c.stride, c.stride], pads: [p, p, p, p], group: c.groups };
  return ortOneOp(ort, { op: 'Conv', inputs: ['x', 'w'], attrs }, ortFeed('float32', xd, c.x), g.y, 'Conv', compare, [{ name: 'w', dtype: 'float32', dims: c.w, data: wd }]);
}

/** The int8 inference convolution of the exported model on one zoo shape. */
export function int8ConvRow(c: ZooConv, dot4?: boolean): RowSpec {
  const g = geo(c);
  const fam = c.depthwise ? 'int8 depthwise' : dot4 ? 'int8 conv (dot4I8Packed)' : 'int8 conv';
  const [N, , , ] = c.x;
  const [O] = c.w;
  const memo: { ref?: Int32Array } = {};
  return {
    id: `${c.depthwise ? 'int8.dwconv' : dot4 ? 'int8.conv.dot4' : 'int8.conv'}/${c.id}`,
    family: fam,
    shape: `${g.desc} u8 -> u8 (bias, ReLU, >>${SHIFT})`,
    flop: g.flop,
    bytes: prod(c.x) + prod(c.w) + prod(g.y) + 4 * O,
    peak: 'int8',
    unit: 'GOP/s',
    setup: async () => {
      const ops = int8Operands(c.x, c.w, c.groups);
      const requant = { shift: SHIFT, signed: false };
      const run = () => int8Conv2d(ops.x, ops.w, ops.b, { ...g.opts, relu: true, requant, dot4 });
      const xv = [g.nv, ...c.x.slice(1)];
      const ref = () => refInt8Conv2d(ops.xs.subarray(0, prod(xv)), xv, ops.ws, c.w, ops.bs, { ...g.opts, relu: true, requant });
      const compare = (got: ArrayLike<number>): Check => {
        const r = (memo.ref ??= ref());
        return exactCheck(Array.prototype.slice.call(got, 0, r.length) as number[], r, note(g.nv, N));
      };
      return int8Row(run, compare, {
        ort: async (ort) => ortQLinearConv(ort, c.x, c.w, g.y, g.opts, ops, compare),
        dispose: () => ops.dispose(),
      });
    },
  };
}

/**
 * QLinearConv with unit input and weight scales and output scale 2^SHIFT: round-half-even of
 * (acc + bias) / 2^SHIFT saturated to [0, 255], which is our bias + ReLU + shift + clamp.
 */
export async function ortQLinearConv(
  ort: Ort,
  xShape: readonly number[],
  wShape: readonly number[],
  yShape: readonly number[],
  opts: Conv2dOptions,
  ops: Pick<Int8Operands, 'xs' | 'ws' | 'bs'>,
  compare: (v: ArrayLike<number>) => Check,
): Promise<PeerInstance> {
  const p = typeof opts.padding === 'number' ? opts.padding : 0;
  const s = typeof opts.stride === 'number' ? opts.stride : 1;
  const node = {
    op: 'QLinearConv',
    inputs: ['x', 'xs', 'xz', 'w', 'ws', 'wz', 'ys', 'yz', 'b'],
    attrs: { kernel_shape: wShape.slice(2) as number[], strides: [s, s], pads: [p, p, p, p], group: opts.groups ?? 1 },
  };
  const inits = [
    ortScalar('xs', 'float32', 1),
    ortScalar('xz', 'uint8', 0),
    { name: 'w', dtype: 'int8' as const, dims: [...wShape], data: Int8Array.from(ops.ws) },
    ortScalar('ws', 'float32', 1),
    ortScalar('wz', 'int8', 0),
    ortScalar('ys', 'float32', 2 ** SHIFT),
    ortScalar('yz', 'uint8', 0),
    { name: 'b', dtype: 'int32' as const, dims: [wShape[0]], data: ops.bs },
  ];
  return ortOneOp(ort, node, ortFeed('uint8', Uint8Array.from(ops.xs), [...xShape]), [...yShape], 'QLinearConv u8s8', compare, inits);
}
