/**
 * Elementwise f32 ops (wgsl/elementwise.wgsl), each with its backward beside it.
 * CPU references: ./elementwise.ref.ts.
 *
 * @example
 *   const z = add(x, y); const r = relu(z); const s = scale(r, 0.5);
 */
import { Engine } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';
import { Tensor } from '../tensor.js';
import { record, setGradHelpers } from '../autograd/tape.js';
import { sum as sumAll } from './reduce.js';

const WG = 256;
export const F32_MAX = 3.4028234663852886e38;

function launch(entry: string, out: Tensor, x: Tensor | null, y: Tensor | null, a = 0, b = 0): Tensor {
  const e = Engine.get();
  const k = e.kernel('elementwise.wgsl', entry, { WG });
  const n4 = Math.ceil(out.size / 4);
  const bind: Record<string, Tensor> = { out };
  if (x) bind.x = x;
  if (y) bind.y = y;
  e.dispatch(k, bind, { n4, a, b }, e.grid1d(n4, WG));
  return out;
}

function sameShape(op: string, x: Tensor, y: Tensor): void {
  if (x.size !== y.size || x.shape.length !== y.shape.length || x.shape.some((d, i) => d !== y.shape[i])) {
    throw new F8Error('SHAPE_MISMATCH', `${op}: shapes [${x.shape.join(', ')}] and [${y.shape.join(', ')}] differ`);
  }
  if (x.dtype !== 'f32' || y.dtype !== 'f32') throw new F8Error('UNSUPPORTED', `${op}: f32 tensors expected, got ${x.dtype} and ${y.dtype}`);
}

/** a*x + b*y (no tape). */
export function axpbyRaw(x: Tensor, y: Tensor, a: number, b: number, op = 'axpby'): Tensor {
  sameShape(op, x, y);
  return launch('axpby', Tensor.empty(x.shape), x, y, a, b);
}

/** x + y */
export function add(x: Tensor, y: Tensor): Tensor {
  const out = axpbyRaw(x, y, 1, 1, 'add');
  return record(out, 'add', [x, y], (g) => [g, g]);
}

/** x - y */
export function sub(x: Tensor, y: Tensor): Tensor {
  const out = axpbyRaw(x, y, 1, -1, 'sub');
  return record(out, 'sub', [x, y], (g) => [g, scale(g, -1)]);
}

/** x * y (elementwise) */
export function mul(x: Tensor, y: Tensor): Tensor {
  sameShape('mul', x, y);
  const out = launch('mul', Tensor.empty(x.shape), x, y, 1);
  return record(out, 'mul', [x, y], (g) => [
    x.requiresGrad ? launch('mul', Tensor.empty(x.shape), g, y, 1) : null,
    y.requiresGrad ? launch('mul', Tensor.empty(x.shape), g, x, 1) : null,
  ]);
}

/** a*x + b */
export function affine(x: Tensor, a: number, b = 0): Tensor {
  const out = launch('affine', Tensor.empty(x.shape), x, null, a, b);
  return record(out, 'affine', [x], (g) => [launch('affine', Tensor.empty(g.shape), g, null, a, 0)]);
}

/** s*x */
export function scale(x: Tensor, s: number): Tensor {
  return affine(x, s, 0);
}

/** clamp(x, lo, hi); the gradient passes where lo < x < hi. */
export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  const out = launch('clamp_fwd', Tensor.empty(x.shape), x, null, lo, hi);
  return record(out, 'clamp', [x], (g) => [launch('clamp_bwd', Tensor.empty(x.shape), x, g, lo, hi)]);
}

/** max(x, 0) */
export function relu(x: Tensor): Tensor {
  return clamp(x, 0, F32_MAX);
}

/** x * s (s a one-element tensor), differentiable in both; `invert` computes x / s. */
export function scaleByTensor(x: Tensor, s: Tensor, invert = false): Tensor {
  if (s.size !== 1 || s.dtype !== 'f32' || x.dtype !== 'f32') {
    throw new F8Error('SHAPE_MISMATCH', `scaleByTensor: an f32 tensor and a one-element f32 scale expected, got ${x} and ${s}`);
  }
  const e = Engine.get();
  const run = (src: Tensor): Tensor => {
    const out = Tensor.empty(src.shape);
    const n4 = Math.ceil(src.size / 4);
    e.dispatch(e.kernel('elementwise.wgsl', 'scale_by_tensor', { WG }), { x: src, sc: s, out }, { n4, a: invert ? -1 : 1, b: 0 }, e.grid1d(n4, WG));
    return out;
  };
  const out = run(x);
  return record(out, invert ? 'divByTensor' : 'scaleByTensor', [x, s], (g) => [
    x.requiresGrad ? run(g) : null,
    // d(x*s)/ds = x; d(x/s)/ds = -x/s^2 = -out/s.
    s.requiresGrad ? (invert ? scaleByTensor(affine(sumAll(mulRaw(g, out)), -1), s, true) : sumAll(mulRaw(g, x))) : null,
  ]);
}

/** (a*x)^b where a*x > 0, else 0; differentiable (e.g. 1/sqrt(n*var) with a = n, b = -0.5). */
export function powAffine(x: Tensor, a: number, b: number): Tensor {
  const out = launch('pow_affine', Tensor.empty(x.shape), x, null, a, b);
  return record(out, 'powAffine', [x], (g) => [launch('pow_affine_bwd', Tensor.empty(x.shape), x, g, a, b)]);
}

function mulRaw(x: Tensor, y: Tensor): Tensor {
  return launch('mul', Tensor.empty(x.shape), x, y, 1);
}

/** x + y on i32 tensors (counters; no tape). */
export function addInt(x: Tensor, y: Tensor): Tensor {
  if (x.dtype !== 'i32' || y.dtype !== 'i32' || x.size !== y.size) {
    throw new F8Error('SHAPE_MISMATCH', `addInt: two i32 tensors of one size expected, got ${x} and ${y}`);
  }
  const e = Engine.get();
  const out = Tensor.empty(x.shape, 'i32');
  const n4 = Math.ceil(x.size / 4);
  e.dispatch(e.kernel('elementwise.wgsl', 'add_i32', { WG }), { xi: x, yi: y, outi: out }, { n4, a: 0, b: 0 }, e.grid1d(x.size, WG));
  return out;
}

/**
 * 2^(a - b) elementwise for i32 tensors a, b of one size, exactly (f32 result, no tape): e.g. the
 * ratio of two fix scalings with one clipping level. @example pow2Diff(flE, flN) // [4] for fl 6 and 4
 */
export function pow2Diff(a: Tensor, b: Tensor): Tensor {
  if (a.dtype !== 'i32' || b.dtype !== 'i32' || a.size !== b.size) {
    throw new F8Error('SHAPE_MISMATCH', `pow2Diff: two i32 tensors of one size expected, got ${a} and ${b}`);
  }
  const e = Engine.get();
  const out = Tensor.empty(a.shape);
  const n4 = Math.ceil(a.size / 4);
  e.dispatch(e.kernel('elementwise.wgsl', 'pow2_diff', { WG }), { xi: a, yi: b, out }, { n4, a: 0, b: 0 }, e.grid1d(n4, WG));
  return out;
}

/** A tensor of the given shape filled with `value` (no tape). */
export function full(shape: readonly number[], value: number): Tensor {
  return launch('fill', Tensor.empty(shape), null, null, value);
}

export function zeros(shape: readonly number[]): Tensor {
  return full(shape, 0);
}

/** Fills an existing tensor in place. */
export function fillInPlace(t: Tensor, value: number): Tensor {
  return launch('fill', t, null, null, value);
}

/** A copy in a new buffer (no tape). */
export function copy(x: Tensor): Tensor {
  const out = Tensor.empty(x.shape, x.dtype);
  Engine.get().copy(x.buffer, 0, out.buffer, 0, x.bytes);
  return out;
}

/** A reshaped view sharing x's buffer; the gradient is reshaped back. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const out = x.reshape(shape);
  return record(out, 'reshape', [x], (g) => [g.reshape(x.shape)]);
}

setGradHelpers(
  (a, b) => axpbyRaw(a, b, 1, 1),
  (t) => full(t.shape, 1),
  copy,
  (t) => full(t.shape, 0),
);
