/**
 * F8Net conv-BN folding (wgsl/fold.wgsl, F8NET.md §3): the per-output-channel weight factor
 * k and bias b of the folded layer, differentiable w.r.t. gamma, beta (or the bias), the batch
 * mean and variance, and the input and output fix scalings (s_next one value, or one per output
 * channel when the following layer has per-channel input lengths). CPU reference: ./fold.ref.ts.
 *
 * The op has two outputs and one backward for both (recordFold): b's tape node hands its gradient
 * to k's, which computes every input's gradient from both at once.
 *
 * @example
 *   const { k, b } = foldBn(gamma, beta, mean, variance, sIn, sNext, 1e-5);
 *   const wf = mulChannel(w, k, 0);
 */
import { Engine } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';
import { Tensor } from '../tensor.js';
import { record, ZERO_GRAD } from '../autograd/tape.js';
import { zeros } from './elementwise.js';

const groups = (o: number): [number] => [Math.ceil(o / 64)];

function check(name: string, ts: Record<string, Tensor | null>, o: number): void {
  for (const [k, t] of Object.entries(ts)) {
    if (!t) continue;
    const ok = k === 'sIn' ? t.size === 1 : k === 'sNext' ? t.size === 1 || t.size === o : t.size === o;
    if (!ok || t.dtype !== 'f32') throw new F8Error('SHAPE_MISMATCH', `${name}: ${k} has ${t.size} ${t.dtype} elements, expected ${k === 'sIn' ? 1 : k === 'sNext' ? `1 or ${o}` : o} f32`);
  }
}

/**
 * Records the fold's two outputs with one backward for both: b's node (its only input k) hands
 * its gradient to k's node and passes k ZERO_GRAD, so that k's node runs even when only b has a
 * gradient; k's node then runs the backward once with both (the tape runs b's node first, as b
 * is downstream of k). Two nodes, each running the backward with a zero for the other output,
 * cost two backward passes, two zero fills and one tape sum per input: 14 dispatches a layer
 * where this takes 3 or 4.
 */
function recordFold(name: string, k: Tensor, b: Tensor, inputs: Tensor[], bwd: (gk: Tensor, gb: Tensor) => Tensor[]): void {
  const o = k.size;
  let gbPending: Tensor | null = null;
  record(k, `${name}.k`, inputs, (gk) => bwd(gk, gbPending ?? zeros([o])));
  record(b, `${name}.b`, [k], (gb) => {
    gbPending = gb;
    return [ZERO_GRAD];
  });
}

/** k = gamma/sqrt(var+eps)*s_in/s_next, b = (beta - gamma*mean/sqrt(var+eps))/s_next. */
export function foldBn(gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor, sIn: Tensor, sNext: Tensor, eps: number): { k: Tensor; b: Tensor } {
  const o = gamma.size;
  check('foldBn', { gamma, beta, mean, variance, sIn, sNext }, o);
  const e = Engine.get();
  const k = Tensor.empty([o]);
  const b = Tensor.empty([o]);
  const P = { o, eps, sn_pc: sNext.size > 1 ? 1 : 0, n_in: 1 };
  e.dispatch(e.kernel('fold.wgsl', 'fold_bn'), { gamma, beta, mean, variance, s_in: sIn, s_next: sNext, k_out: k, b_out: b }, P, groups(o));
  const inputs = [gamma, beta, mean, variance, sIn, sNext];
  const bwd = (gk: Tensor, gb: Tensor): Tensor[] => {
    const gg = Tensor.empty([o]);
    const gbe = Tensor.empty([o]);
    const gm = Tensor.empty([o]);
    const gv = Tensor.empty([o]);
    const gsi = Tensor.empty([1]);
    const gsn = Tensor.empty([sNext.size]);
    const bind = { gamma, beta, mean, variance, s_in: sIn, s_next: sNext, gk, gb };
    e.dispatch(e.kernel('fold.wgsl', 'fold_bn_backward'), { ...bind, g_gamma: gg, g_var: gv }, P, groups(o));
    e.dispatch(e.kernel('fold.wgsl', 'fold_bn_backward_shift'), { ...bind, g_beta: gbe, g_mean: gm }, P, groups(o));
    if (P.sn_pc === 1) e.dispatch(e.kernel('fold.wgsl', 'fold_bn_backward_snext'), { ...bind, g_s_next: gsn }, P, groups(o));
    e.dispatch(e.kernel('fold.wgsl', 'fold_bn_scalars'), { ...bind, g_s_in: gsi, g_s_next: gsn }, P, [1]);
    return [gg, gbe, gm, gv, gsi, gsn];
  };
  recordFold('foldBn', k, b, inputs, bwd);
  return { k, b };
}

/** Without BN: k = s_in/s_next for every channel, b = bias/s_next. */
/**
 * The fold in the paper's operation order (QuantConfig.foldOrder 'paper', evaluation only, no
 * gradient: it records nothing on the tape): t = gamma / sqrt(var + eps) per channel and
 * b = (beta - t * mean) / s_next, each step one f32 operation; the caller forms
 * w_f = ((t * w) * s_in) / s_next elementwise (src/nn/qlayers.ts). CPU reference: refFoldBnPaper.
 * @example const { t, b } = foldBnPaper(gamma, beta, runningMean, runningVar, sNext, 1e-5);
 */
export function foldBnPaper(gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor, sNext: Tensor, eps: number): { t: Tensor; b: Tensor } {
  const o = gamma.size;
  check('foldBnPaper', { gamma, beta, mean, variance, sNext }, o);
  const e = Engine.get();
  const t = Tensor.empty([o]);
  const b = Tensor.empty([o]);
  const P = { o, eps, sn_pc: sNext.size > 1 ? 1 : 0, n_in: 1 };
  e.dispatch(e.kernel('fold.wgsl', 'fold_bn_paper'), { gamma, beta, mean, variance, s_next: sNext, k_out: t, b_out: b }, P, groups(o));
  return { t, b };
}

export function foldPlain(bias: Tensor, sIn: Tensor, sNext: Tensor): { k: Tensor; b: Tensor } {
  const o = bias.size;
  check('foldPlain', { bias, sIn, sNext }, o);
  const e = Engine.get();
  const k = Tensor.empty([o]);
  const b = Tensor.empty([o]);
  const P = { o, eps: 0, sn_pc: sNext.size > 1 ? 1 : 0, n_in: 1 };
  e.dispatch(e.kernel('fold.wgsl', 'fold_plain'), { beta: bias, s_in: sIn, s_next: sNext, k_out: k, b_out: b }, P, groups(o));
  const inputs = [bias, sIn, sNext];
  const bwd = (gk: Tensor, gb: Tensor): Tensor[] => {
    const gbe = Tensor.empty([o]);
    const gsi = Tensor.empty([1]);
    const gsn = Tensor.empty([sNext.size]);
    const bind = { beta: bias, s_in: sIn, s_next: sNext, gk, gb };
    e.dispatch(e.kernel('fold.wgsl', 'fold_plain_backward'), { ...bind, g_beta: gbe, g_s_next: gsn }, P, groups(o));
    e.dispatch(e.kernel('fold.wgsl', 'fold_plain_scalars'), { ...bind, g_s_in: gsi, g_s_next: gsn }, P, [1]);
    return [gbe, gsi, gsn];
  };
  recordFold('foldPlain', k, b, inputs, bwd);
  return { k, b };
}

/**
 * The folded bias on the integer model's accumulator grid (§5): round(b * 2^fl) / 2^fl, half to
 * even, fl = fl_in + fl_w (fl_in i32 [1], or per input channel, of which the largest is taken: the
 * accumulator's finest grid; fl_w i32 [1] or [O]), clamped at +-2^31. So the fake-quant
 * layer adds exactly the int32 bias B = roundHalfEven(b_f * 2^(fl_in + fl_w)) of the export.
 * Gradient: straight through (the rounding step is below the accumulator's resolution).
 * @example quantizeBias(fold.b, flIn, layer.weightFraclen)
 */
export function quantizeBias(b: Tensor, flIn: Tensor, flW: Tensor): Tensor {
  const o = b.size;
  if (flIn.dtype !== 'i32' || flW.dtype !== 'i32' || (flW.size !== 1 && flW.size !== o)) {
    throw new F8Error('SHAPE_MISMATCH', `quantizeBias: fl_in must be i32 and fl_w i32 [1] or [${o}], got ${flIn} and ${flW}`);
  }
  const e = Engine.get();
  const y = Tensor.empty([o]);
  e.dispatch(e.kernel('fold.wgsl', 'quantize_bias'), { bias_in: b, fl_in: flIn, fl_w: flW, bias_q: y }, { o, eps: 0, sn_pc: flW.size > 1 ? 1 : 0, n_in: flIn.size }, groups(o));
  return record(y, 'quantizeBias', [b], (g) => [g]);
}
