/**
 * Pooling over NCHW f32 tensors (wgsl/pool.wgsl), each with its backward beside it.
 * CPU references: ./pool.ref.ts.
 *
 * Output size is PyTorch's floor rule: OH = floor((H + 2*ph - kh) / sh) + 1. Padding must be
 * at most half the kernel (PyTorch's rule), so every window holds at least one input element.
 * Max pooling returns PyTorch's element: the first maximum of the clipped window in row-major
 * scan order (a NaN wins); the backward routes the gradient to it through the i32 indices the
 * forward stores when x requires a gradient. Backwards are gathers (no atomics), deterministic.
 *
 * @example
 *   const y = maxPool2d(x, { kernel: 3, stride: 2, padding: 1 });
 *   const z = avgPool2d(x, { kernel: 2 });            // stride defaults to the kernel
 *   const f = globalAvgPool(x);                        // [N, C]
 */
import { Engine } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';
import { Tensor } from '../tensor.js';
import { record, needsGrad } from '../autograd/tape.js';

const FILE = 'pool.wgsl';
const WG = 64;
/** Elements (or vec4 units) one thread handles along a row at most. */
const ROW_UNITS = 8;

export type Pair = number | readonly [number, number];

export interface Pool2dOptions {
  kernel: Pair;
  /** Default: the kernel. */
  stride?: Pair;
  /** Default 0; at most half the kernel. */
  padding?: Pair;
}

export interface AvgPool2dOptions extends Pool2dOptions {
  /** Divide by kh*kw including padded positions (PyTorch's default, true) or by the valid ones. */
  countIncludePad?: boolean;
}

interface PoolGeom {
  N: number;
  C: number;
  H: number;
  W: number;
  OH: number;
  OW: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
}

function pair(op: string, what: string, v: Pair, min: number): [number, number] {
  const [a, b] = typeof v === 'number' ? [v, v] : v;
  if (!Number.isInteger(a) || !Number.isInteger(b) || a < min || b < min) {
    throw new F8Error('BAD_CONFIG', `${op}: ${what} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`);
  }
  return [a, b];
}

function geometry(op: string, shape: readonly number[], opts: Pool2dOptions): PoolGeom {
  if (shape.length !== 4) throw new F8Error('SHAPE_MISMATCH', `${op}: input must be [N, C, H, W], got [${shape.join(', ')}]`);
  const [N, C, H, W] = shape;
  const [kh, kw] = pair(op, 'kernel', opts.kernel, 1);
  const [sh, sw] = pair(op, 'stride', opts.stride ?? opts.kernel, 1);
  const [ph, pw] = pair(op, 'padding', opts.padding ?? 0, 0);
  if (2 * ph > kh || 2 * pw > kw) {
    throw new F8Error('BAD_CONFIG', `${op}: padding ${ph}x${pw} exceeds half the kernel ${kh}x${kw} (pad must be <= kernel/2, as in PyTorch)`);
  }
  const OH = Math.floor((H + 2 * ph - kh) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - kw) / sw) + 1;
  if (OH < 1 || OW < 1) {
    throw new F8Error('SHAPE_MISMATCH', `${op}: input ${H}x${W} with padding ${ph}x${pw} is smaller than the kernel ${kh}x${kw}`);
  }
  return { N, C, H, W, OH, OW, kh, kw, sh, sw, ph, pw };
}

/** The output shape [N, C, OH, OW] of maxPool2d / avgPool2d (throws on invalid options). */
export function poolOutputShape(shape: readonly number[], opts: Pool2dOptions): [number, number, number, number] {
  const g = geometry('pool2d', shape, opts);
  return [g.N, g.C, g.OH, g.OW];
}

function checkInput(op: string, x: Tensor): void {
  if (x.dtype !== 'f32') throw new F8Error('UNSUPPORTED', `${op}: f32 input expected, got ${x.dtype}`);
}

/** Dispatches a row-walking kernel over `rows` rows of `len` elements. */
function launch(entry: string, defines: Record<string, number>, bind: Record<string, Tensor>, g: PoolGeom, rows: number, len: number, extra: Record<string, number> = {}): void {
  const e = Engine.get();
  const k = e.kernel(FILE, entry, { WG, VEC4: 0, ARGMAX: 0, MAX: 0, ...defines });
  const S = Math.ceil(len / ROW_UNITS);
  const params = {
    H: g.H, W: g.W, OH: g.OH, OW: g.OW, kh: g.kh, kw: g.kw, sh: g.sh, sw: g.sw, ph: g.ph, pw: g.pw,
    rows, S, R: Math.ceil(len / S), include_pad: 1, planes: g.N * g.C, hwv: 0, hwf: 0, ...extra,
  };
  e.dispatch(k, bind, params, e.grid1d(rows * S, WG));
}

/**
 * 2-D max pooling; differentiable (the gradient goes to the chosen element of each window).
 *
 * @example
 *   const y = maxPool2d(x, { kernel: 3, stride: 2, padding: 1 }); // ResNet stem
 */
export function maxPool2d(x: Tensor, opts: Pool2dOptions): Tensor {
  const op = 'maxPool2d';
  checkInput(op, x);
  const g = geometry(op, x.shape, opts);
  const outShape = [g.N, g.C, g.OH, g.OW];
  const y = Tensor.empty(outShape);
  const idx = needsGrad(x) ? Tensor.empty(outShape, 'i32') : null;
  launch('max_fwd', { ARGMAX: idx ? 1 : 0 }, idx ? { x, y, idx } : { x, y }, g, g.N * g.C * g.OH, g.OW);
  if (!idx) return y;
  return record(y, op, [x], (gy) => {
    const gx = Tensor.empty(x.shape);
    launch('pool_bwd', { MAX: 1 }, { gy, idx, gx }, g, g.N * g.C * g.H, g.W);
    return [gx];
  });
}

/**
 * 2-D average pooling; differentiable. countIncludePad (default true) divides by kh*kw.
 *
 * @example
 *   const y = avgPool2d(x, { kernel: 3, stride: 1, padding: 1, countIncludePad: false });
 */
export function avgPool2d(x: Tensor, opts: AvgPool2dOptions): Tensor {
  const op = 'avgPool2d';
  checkInput(op, x);
  const g = geometry(op, x.shape, opts);
  const include_pad = opts.countIncludePad === false ? 0 : 1;
  const y = Tensor.empty([g.N, g.C, g.OH, g.OW]);
  launch('avg_fwd', {}, { x, y }, g, g.N * g.C * g.OH, g.OW, { include_pad });
  return record(y, op, [x], (gy) => {
    const gx = Tensor.empty(x.shape);
    launch('pool_bwd', { MAX: 0 }, { gy, gx }, g, g.N * g.C * g.H, g.W, { include_pad });
    return [gx];
  });
}

/**
 * Mean over each H x W plane: [N, C, H, W] -> [N, C]; differentiable.
 *
 * @example
 *   const logits = linear(globalAvgPool(features), w, b);
 */
export function globalAvgPool(x: Tensor): Tensor {
  const op = 'globalAvgPool';
  checkInput(op, x);
  if (x.shape.length !== 4) throw new F8Error('SHAPE_MISMATCH', `${op}: input must be [N, C, H, W], got [${x.shape.join(', ')}]`);
  const [N, C, H, W] = x.shape;
  if (H * W === 0) throw new F8Error('SHAPE_MISMATCH', `${op}: empty planes in [${x.shape.join(', ')}]`);
  const vec4 = (H * W) % 4 === 0;
  const hwv = vec4 ? (H * W) / 4 : H * W;
  const g: PoolGeom = { N, C, H, W, OH: 1, OW: 1, kh: H, kw: W, sh: 1, sw: 1, ph: 0, pw: 0 };
  const extra = { hwv, hwf: H * W };
  const e = Engine.get();
  const y = Tensor.empty([N, C]);
  const k = e.kernel(FILE, 'gap_fwd', { WG, VEC4: vec4 ? 1 : 0, ARGMAX: 0, MAX: 0 });
  e.dispatch(k, { xp: x, y }, {
    H, W, OH: 1, OW: 1, kh: H, kw: W, sh: 1, sw: 1, ph: 0, pw: 0, rows: N * C, S: 1, R: 1, include_pad: 1, planes: N * C, ...extra,
  }, e.grid1d(N * C, WG));
  return record(y, op, [x], (gy) => {
    const gx = Tensor.empty(x.shape);
    launch('gap_bwd', { VEC4: vec4 ? 1 : 0 }, { gy, gxp: gx }, g, N * C, hwv, extra);
    return [gx];
  });
}
