/**
 * Batch normalisation over NCHW (or [N, C]) with its backward (wgsl/batchnorm.wgsl).
 * CPU references: ./batchnorm.ref.ts.
 *
 * Training mode normalises with the batch mean and biased variance and updates the running
 * statistics in place on the GPU, as PyTorch does (running = (1 - m)*running + m*batch, the
 * variance unbiased); nothing is read back. Eval mode uses the running statistics.
 * Dispatches: training forward 3 (chunk partials, per-channel merge + running update, apply),
 * eval forward 2, backward up to 3.
 *
 * @example
 *   const y = batchNorm2d(x, gamma, beta, runningMean, runningVar, { training: true });
 *   const { mean, var: v } = batchStats(x); // biased variance, differentiable
 */
import { Engine } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';
import { Tensor } from '../tensor.js';
import { record, needsGrad } from '../autograd/tape.js';

const FILE = 'batchnorm.wgsl';
const WG = 64;
/** Partial-reduction threads to aim for (C * P); enough for a GPU, cheap on lavapipe. */
const TARGET_THREADS = 4096;
/** Fewest units a chunk reduces, so that small tensors do not spawn idle threads. */
const MIN_CHUNK = 64;
/** Units one chan_apply thread writes at most (a plane is cut into segments of this size). */
const APPLY_UNITS = 8;

export interface BatchNormOptions {
  training: boolean;
  /** Weight of the batch statistics in the running update (PyTorch's momentum); default 0.1. */
  momentum?: number;
  /** Added to the variance before the square root; default 1e-5. */
  eps?: number;
}

/** How a [N, C, H, W] tensor is cut into per-channel chunks (see the WGSL header). */
interface Geometry {
  C: number;
  HW: number;
  /** Values per channel, N*H*W. */
  count: number;
  vec4: boolean;
  HWv: number;
  M: number;
  L: number;
  P: number;
  /** Planes (N*C), segments per plane and units per segment of chan_apply. */
  NP: number;
  S: number;
  R: number;
}

function geometry(op: string, x: Tensor): Geometry {
  if (x.dtype !== 'f32') throw new F8Error('UNSUPPORTED', `${op}: f32 input expected, got ${x.dtype}`);
  if (x.shape.length !== 4 && x.shape.length !== 2) {
    throw new F8Error('SHAPE_MISMATCH', `${op}: input must be [N, C, H, W] or [N, C], got [${x.shape.join(', ')}]`);
  }
  const [N, C] = x.shape;
  const HW = x.shape.length === 4 ? x.shape[2] * x.shape[3] : 1;
  if (N * C * HW === 0) throw new F8Error('SHAPE_MISMATCH', `${op}: empty input [${x.shape.join(', ')}]`);
  const vec4 = HW % 4 === 0;
  const HWv = vec4 ? HW / 4 : HW;
  const M = N * HWv;
  const P0 = Math.max(1, Math.min(Math.ceil(M / MIN_CHUNK), Math.ceil(TARGET_THREADS / C)));
  const L = Math.ceil(M / P0);
  const S = Math.ceil(HWv / APPLY_UNITS);
  return { C, HW, count: N * HW, vec4, HWv, M, L, P: Math.ceil(M / L), NP: N * C, S, R: Math.ceil(HWv / S) };
}

function checkChannels(op: string, what: string, t: Tensor, C: number): void {
  if (t.dtype !== 'f32' || t.size !== C) {
    throw new F8Error('SHAPE_MISMATCH', `${op}: ${what} must be an f32 tensor of ${C} values (one per channel), got ${t.dtype} [${t.shape.join(', ')}]`);
  }
}

function params(g: Geometry, extra: Record<string, number> = {}): Record<string, number> {
  return {
    C: g.C, HWv: g.HWv, M: g.M, L: g.L, P: g.P, V: g.vec4 ? 4 : 1, hw: g.HW, NP: g.NP, S: g.S, R: g.R,
    mode: 0, eps: 0, momentum: 0, unbias: 0, count: g.count, ...extra,
  };
}

/** Dispatches a per-channel kernel (C threads). */
function perChannel(entry: string, g: Geometry, bind: Record<string, Tensor>, extra: Record<string, number> = {}): void {
  const e = Engine.get();
  const k = e.kernel(FILE, entry, { WG, VEC4: 0, HAS_G: 0, HAS_X: 0 });
  e.dispatch(k, bind, params(g, extra), e.grid1d(g.C, WG));
}

/** Per-chunk partials ([P][C] vec2) of stats_partial or grad_partial. */
function partials(entry: string, g: Geometry, bind: Record<string, Tensor>): Tensor {
  const e = Engine.get();
  const part = Tensor.empty([2 * g.P * g.C]);
  const k = e.kernel(FILE, entry, { WG, VEC4: g.vec4 ? 1 : 0, HAS_G: 0, HAS_X: 0 });
  e.dispatch(k, { ...bind, part }, params(g), e.grid1d(g.P * g.C, WG));
  return part;
}

/** out = k1[c]*gy + k2[c]*(x - m[c]) + k3[c] with coef = [C] vec4 (k1, k2, m, k3). */
function chanApply(g: Geometry, shape: readonly number[], coef: Tensor, gy: Tensor | null, x: Tensor | null): Tensor {
  const e = Engine.get();
  const out = Tensor.empty(shape);
  const k = e.kernel(FILE, 'chan_apply', { WG, VEC4: g.vec4 ? 1 : 0, HAS_G: gy ? 1 : 0, HAS_X: x ? 1 : 0 });
  const bind: Record<string, Tensor> = { coef, out };
  if (gy) bind.gy = gy;
  if (x) bind.x = x;
  e.dispatch(k, bind, params(g), e.grid1d(g.NP * g.S, WG));
  return out;
}

/**
 * out = k1[c]·gy + k2[c]·(x − m[c]) + k3[c] over x's [N, C, H, W] (or [N, C]), coef f32 [4·C]
 * as (k1, k2, m, k3) per channel (gy null: without its term): batch norm's apply kernel, one
 * integer division per plane segment, not per element. The fixed-point layer's combined output
 * gradient (src/ops/qconv.ts combineGrad) runs through it. CPU reference: refChannelAffine.
 * @example const gc = channelAffine(coef, gy, u);
 */
export function channelAffine(coef: Tensor, gy: Tensor | null, x: Tensor): Tensor {
  const op = 'channelAffine';
  const g = geometry(op, x);
  if (coef.dtype !== 'f32' || coef.size !== 4 * g.C) throw new F8Error('SHAPE_MISMATCH', `${op}: coef must be f32 [${4 * g.C}] (four per channel), got ${coef}`);
  if (gy && (gy.dtype !== 'f32' || gy.size !== x.size)) throw new F8Error('SHAPE_MISMATCH', `${op}: gradient ${gy} and x ${x} differ`);
  return chanApply(g, x.shape, coef, gy, x);
}

/**
 * Batch normalisation of x ([N, C, H, W] or [N, C]) with per-channel gamma, beta.
 * Training: normalises with the batch statistics and updates runningMean/runningVar in place
 * (unbiased variance); the backward is the full batch-statistics gradient. Eval: normalises
 * with the running statistics; the backward is the affine one.
 *
 * @example
 *   const y = batchNorm2d(x, gamma, beta, rm, rv, { training: true, momentum: 0.1, eps: 1e-5 });
 */
export function batchNorm2d(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  runningMean: Tensor,
  runningVar: Tensor,
  opts: BatchNormOptions,
): Tensor {
  const op = 'batchNorm2d';
  const g = geometry(op, x);
  checkChannels(op, 'gamma', gamma, g.C);
  checkChannels(op, 'beta', beta, g.C);
  checkChannels(op, 'runningMean', runningMean, g.C);
  checkChannels(op, 'runningVar', runningVar, g.C);
  const momentum = opts.momentum ?? 0.1;
  const eps = opts.eps ?? 1e-5;
  const training = opts.training;
  // st[c]: forward coefficients; st[C + c]: (mean, invstd, var, 0) for the backward.
  const st = Tensor.empty([8 * g.C]);
  if (training) {
    if (g.count < 2) {
      throw new F8Error('SHAPE_MISMATCH', `${op}: training needs more than one value per channel, got input [${x.shape.join(', ')}]`);
    }
    const part = partials('stats_partial', g, { x });
    perChannel('bn_train_finalize', g, { x, part, st, gamma, beta, rmean: runningMean, rvar: runningVar }, {
      eps, momentum, unbias: g.count / (g.count - 1),
    });
    part.dispose();
  } else {
    perChannel('bn_eval_coef', g, { st, gamma, beta, rmean: runningMean, rvar: runningVar }, { eps });
  }
  const y = chanApply(g, x.shape, st, null, x);
  if (!needsGrad(x, gamma, beta)) {
    st.dispose();
    return y;
  }
  return record(y, op, [x, gamma, beta], (gy) => {
    const wantX = x.requiresGrad;
    const wantGamma = gamma.requiresGrad;
    const wantBeta = beta.requiresGrad;
    const needSums = wantGamma || wantBeta || (training && wantX);
    const part = needSums ? partials('grad_partial', g, { x, gy, st }) : Tensor.empty([4]);
    const dgamma = Tensor.empty([g.C]);
    const dbeta = Tensor.empty([g.C]);
    const coef = Tensor.empty([4 * g.C]);
    perChannel('bn_bwd_finalize', g, { part, st, gamma, dgamma, dbeta, coef }, {
      P: needSums ? g.P : 0, mode: training ? 1 : 0,
    });
    part.dispose();
    const gx = wantX ? chanApply(g, x.shape, coef, gy, training ? x : null) : null;
    coef.dispose();
    if (!wantGamma) dgamma.dispose();
    if (!wantBeta) dbeta.dispose();
    return [gx, wantGamma ? dgamma : null, wantBeta ? dbeta : null];
  });
}

/**
 * Per-channel batch mean and biased variance of x ([N, C, H, W] or [N, C]), each [C].
 * Both are differentiable w.r.t. x (d mean/dx = 1/M, d var/dx = 2(x - mean)/M).
 *
 * @example
 *   const { mean, var: v } = batchStats(y); updateRunningStats(rm, rv, mean, v, N * H * W, 0.1);
 */
export function batchStats(x: Tensor): { mean: Tensor; var: Tensor } {
  const op = 'batchStats';
  const g = geometry(op, x);
  const part = partials('stats_partial', g, { x });
  const mean = Tensor.empty([g.C]);
  const vari = Tensor.empty([g.C]);
  perChannel('stats_finalize', g, { x, part, mean, vari });
  part.dispose();
  const grad = (gs: Tensor, mode: number): Tensor => {
    const coef = Tensor.empty([4 * g.C]);
    perChannel('stats_bwd_coef', g, { g: gs, mean, coef }, { mode });
    const gx = chanApply(g, x.shape, coef, null, mode ? x : null);
    coef.dispose();
    return gx;
  };
  record(mean, `${op}.mean`, [x], (gm) => [grad(gm, 0)]);
  record(vari, `${op}.var`, [x], (gv) => [grad(gv, 1)]);
  return { mean, var: vari };
}

/**
 * In place, like PyTorch: runningMean = (1 - momentum)*runningMean + momentum*mean and
 * runningVar = (1 - momentum)*runningVar + momentum*batchVar*count/(count - 1), where batchVar
 * is the biased variance over `count` values per channel (N*H*W). No tape, no read-back.
 *
 * @example
 *   updateRunningStats(rm, rv, mean, v, N * H * W, 0.1);
 */
export function updateRunningStats(
  runningMean: Tensor,
  runningVar: Tensor,
  mean: Tensor,
  batchVar: Tensor,
  count: number,
  momentum: number,
): void {
  const op = 'updateRunningStats';
  const C = runningMean.size;
  checkChannels(op, 'runningVar', runningVar, C);
  checkChannels(op, 'mean', mean, C);
  checkChannels(op, 'var', batchVar, C);
  if (!(count >= 2)) throw new F8Error('BAD_INPUT', `${op}: count must be at least 2 values per channel for an unbiased variance, got ${count}`);
  const g: Geometry = { C, HW: 1, count, vec4: false, HWv: 1, M: 1, L: 1, P: 1, NP: 1, S: 1, R: 1 };
  perChannel('running_update', g, { mean, vari: batchVar, rmean: runningMean, rvar: runningVar }, {
    momentum, unbias: count / (count - 1),
  });
}
