/**
 * The F8Net conv-BN layer's training step with one weight-gradient pass instead of two
 * (F8NET.md §3; kernels wgsl/qconv.wgsl, CPU references ./qconv.ref.ts).
 *
 * The layer computes u = conv(x_q, w_s) (y0 = s·u, s the fold's input scaling), BN batch
 * statistics of y0, the fold k, b, w_q = fakeQuant(k·w_s) and y = conv(x_q, w_q) + b. Done op by
 * op, the backward runs two weight gradients, Wg(x_q, g_y) for w_q and Wg(s·x_q, g_y0) for w, and
 * two input gradients. Both weight gradients are linear in the output gradient and read the same
 * x_q, and dL/dk needs no weight gradient at all: Σ_cij m·G·w_s = Σ_pos g_y·u − Σ_clipped G·w_s.
 * So the op records two tape nodes:
 *  - y's node: dL/db = Σ g_y, dL/dk from Σ g_y·u (chan_dot) minus the clipped weights' share,
 *    dL/dw_s = −k·G at the clipped weights only (clip_grad: the STE mask of w_q computed in the
 *    kernel from w_f and fl_w, G entry by entry where it is 0; clip_reduce), dL/dx_q =
 *    Bwd_x(g_y, w_q − w_f); it leaves g_y for the statistics' node;
 *  - the statistics' node (mean; var records its gradient for it): g_c = k·g_y + s·g_y0 (combineGrad),
 *    dL/dw_s = Wg(x_q, g_c) (the one weight-gradient pass, which also carries the y path's k·G),
 *    dL/dx_q = Bwd_x(g_c, w_s) (with the y node's Bwd_x(g_y, w_q − w_f): Bwd_x(g_y, w_q) + Bwd_x(s·g_y0, w_s)),
 *    dL/ds = Σ g_y0·u in closed form.
 * The fold itself (gamma, beta, mean, var, s, s_next) stays the ordinary foldBn op on the tape.
 * y's node runs before the statistics' node (it is downstream of them through the fold), and the
 * var node, downstream of mean, before mean's. Clipped weights are rare (the fl formula puts the
 * clip beyond about 3 sigma); the result is the same, within float rounding, for any number of them.
 *
 * @example
 *   const { y, wq, b } = qconvBnTrain({ xq, ws, sFold: sIn, gamma, beta, sNext, runningMean, runningVar, conv: { padding: 1 }, eps: 1e-5, momentum: 0.1, quantizeWeight });
 */
import { Engine } from '../runtime/engine.js';
import { defineKnobs } from '../runtime/tuning.js';
import { F8Error } from '../runtime/errors.js';
import { Tensor } from '../tensor.js';
import { record, noGrad, ZERO_GRAD } from '../autograd/tape.js';
import { conv2dForward, conv2dBackwardInput, conv2dBackwardWeight, conv2dOutputShape, convGeometry, type Conv2dOptions } from './conv2d.js';
import { batchStats, updateRunningStats, channelAffine } from './batchnorm.js';
import { foldBn } from './fold.js';
import { checkFormat, type FakeQuantOpts } from './fakequant.js';
import { mulChannel } from './reduce.js';
import { add, sub, zeros } from './elementwise.js';

/** fused: take this op in the fixed-point layer's training step (false: the op-by-op graph, kept to compare). */
export const qconvKnobs = defineKnobs('qconv', { fused: true });
export const qconvTuning = (e: Engine = Engine.get()) => e.tuning.get(qconvKnobs);

const FIELDS = 'N C H W O OH OW KH KW sh sw ph pw dh dw cg og count M has_g flmax hi fl_pc';
function params(v: Partial<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of FIELDS.split(' ')) out[k] = v[k] ?? 0;
  return out;
}
const kern = (e: Engine, entry: string) => e.kernel('qconv.wgsl', entry, {});
const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

/**
 * The y path's weight-gradient terms at the clipped weights, with the STE mask of
 * w_q = fakeQuant(w_f, fl_w) (signed, word length wl) computed in the kernel: gw = −k·G and
 * gcw = G·w_s where the mask is 0, both 0 elsewhere (G = Wg(x, gy) entry by entry).
 */
export function clipGrad(x: Tensor, gy: Tensor, wf: Tensor, flw: Tensor, ws: Tensor, k: Tensor, wl: number, opts: Conv2dOptions = {}): { gw: Tensor; gcw: Tensor } {
  const wShape = wf.shape;
  const [N, O, OH, OW] = conv2dOutputShape(x.shape, wShape, opts);
  if (gy.shape.length !== 4 || gy.shape.some((d, i) => d !== [N, O, OH, OW][i])) throw new F8Error('SHAPE_MISMATCH', `clipGrad: gradient ${fmt(gy.shape)} must be ${fmt([N, O, OH, OW])}`);
  if (ws.size !== wf.size || k.size !== O || (flw.size !== 1 && flw.size !== O) || flw.dtype !== 'i32') {
    throw new F8Error('SHAPE_MISMATCH', `clipGrad: w_s ${ws}, k ${k} and fl_w ${flw} must match w_f ${fmt(wShape)} (k and an i32 fl_w per output channel, or one fl_w)`);
  }
  const { hi, flmax } = checkFormat(wl, true, 'clipGrad');
  const g = convGeometry(opts);
  const [, C, H, W] = x.shape;
  const [, cg, KH, KW] = wShape;
  const count = wf.size;
  const e = Engine.get();
  const gw = Tensor.empty([...wShape]);
  const gcw = Tensor.empty([...wShape]);
  const P = params({ N, C, H, W, O, OH, OW, KH, KW, ...g, cg, og: O / g.groups, count, flmax, hi, fl_pc: flw.size > 1 ? 1 : 0 });
  e.dispatch(kern(e, 'clip_grad'), { x, gy, kf: k, wf, flw, ws, out_a: gw, out_b: gcw }, P, e.grid1d(count, 64));
  return { gw, gcw };
}

/** dL/dk = Σ g_y·u − Σ_clipped G·w_s and dL/db = Σ g_y per channel, from chanDot's sums and clipGrad's gcw. */
export function clipReduce(sums: Tensor, gcw: Tensor): { gk: Tensor; gb: Tensor } {
  const O = sums.size / 2;
  const [, cg, KH, KW] = gcw.shape;
  if (gcw.shape[0] !== O) throw new F8Error('SHAPE_MISMATCH', `clipReduce: ${gcw} for ${O} channels`);
  const e = Engine.get();
  const gk = Tensor.empty([O]);
  const gb = Tensor.empty([O]);
  e.dispatch(kern(e, 'clip_reduce'), { sums, coef: gcw, out_a: gk, out_b: gb }, params({ O, cg, KH, KW }), [Math.ceil(O / 64), 1, 1]);
  return { gk, gb };
}

function dims4(op: string, t: Tensor): [number, number, number, number] {
  if (t.shape.length !== 4) throw new F8Error('SHAPE_MISMATCH', `${op}: ${t} must be 4-D [N, O, OH, OW]`);
  return t.shape as unknown as [number, number, number, number];
}

/** [Σ gy; Σ gy·u] per channel of [N, O, OH, OW] tensors: f32 [2·O]. */
export function chanDot(gy: Tensor, u: Tensor): Tensor {
  const [N, O, OH, OW] = dims4('chanDot', gy);
  if (u.size !== gy.size) throw new F8Error('SHAPE_MISMATCH', `chanDot: u ${u} and gradient ${gy} differ in size`);
  const e = Engine.get();
  const sums = Tensor.empty([2 * O]);
  e.dispatch(kern(e, 'chan_dot'), { gy, u, sums }, params({ N, O, OH, OW }), [O, 1, 1]);
  return sums;
}

/** coef f32 [4·O], (A, B, 0, C) per channel, of g_c = A·g_y + B·u + C (see wgsl/qconv.wgsl coefs); k null: A = 0. */
export function combineCoefs(k: Tensor | null, gmean: Tensor, gvar: Tensor, muU: Tensor, s: Tensor, M: number): Tensor {
  const O = gmean.size;
  const e = Engine.get();
  const out = Tensor.empty([4 * O]);
  e.dispatch(kern(e, 'coefs'), { kf: k ?? gmean, gmean, gvar, mu_u: muU, sc: s, out_a: out }, params({ O, M, has_g: k ? 1 : 0 }), [Math.ceil(O / 64), 1, 1]);
  return out;
}

/**
 * g_c = A[o]·g_y + B[o]·u + C[o] (gy null: without the first term), through batch norm's apply
 * kernel (channelAffine). It had a kernel of its own with an integer division per element, which
 * took 6x the GPU time of batch norm's apply on the same tensors on lavapipe (docs/BENCH.md).
 */
export function combineGrad(gy: Tensor | null, u: Tensor, coef: Tensor): Tensor {
  dims4('combineGrad', u);
  return channelAffine(coef, gy, u);
}

/** mean = s·mu_u and biased variance = s²·var_u of y0 = s·u. */
export function scaleStats(muU: Tensor, varU: Tensor, s: Tensor): { mean: Tensor; var: Tensor } {
  const O = muU.size;
  const e = Engine.get();
  const mean = Tensor.empty([O]);
  const vari = Tensor.empty([O]);
  e.dispatch(kern(e, 'scale_stats'), { mu_u: muU, var_u: varU, sc: s, out_a: mean, out_b: vari }, params({ O }), [Math.ceil(O / 64), 1, 1]);
  return { mean, var: vari };
}

/** dL/ds through y0 = s·u: Σ_o gmean·mu_u + 2·gvar·s·var_u, f32 [1]. */
export function scaleGrad(gmean: Tensor, gvar: Tensor, muU: Tensor, varU: Tensor, s: Tensor): Tensor {
  const e = Engine.get();
  const out = Tensor.empty([1]);
  e.dispatch(kern(e, 'scale_grad'), { gmean, gvar, mu_u: muU, var_u: varU, sc: s, out_a: out }, params({ O: gmean.size }), [1, 1, 1]);
  return out;
}

export interface QConvBnTrainArgs {
  /** The quantised input [N, C, H, W]. */
  xq: Tensor;
  /** The weight with any per-input-channel scaling in it, [O, C/groups, KH, KW]. */
  ws: Tensor;
  /** s of y0 = s·conv(x_q, w_s) and of the fold: s_in per layer, a constant 1 with per-channel inputs. [1] */
  sFold: Tensor;
  gamma: Tensor;
  beta: Tensor;
  sNext: Tensor;
  runningMean: Tensor;
  runningVar: Tensor;
  conv: Conv2dOptions;
  eps: number;
  momentum: number;
  /** §3 step 4 for the layer: records and returns the weight length(s) and the format of w_f. */
  weightFormat: (wf: Tensor) => { fl: Tensor; opts: FakeQuantOpts };
  /** Quantises w_f with that format (no tape). */
  quantize: (wf: Tensor, fl: Tensor, opts: FakeQuantOpts) => Tensor;
}

/**
 * The training forward of the fixed-point conv-BN layer, y = conv(x_q, w_q) + b_f, with the fused
 * backward (see the header). Returns y, the quantised folded weight and the folded bias.
 */
export function qconvBnTrain(a: QConvBnTrainArgs): { y: Tensor; wq: Tensor; b: Tensor } {
  const { xq, ws, sFold, conv } = a;
  if (sFold.size !== 1) throw new F8Error('SHAPE_MISMATCH', `qconvBnTrain: sFold has ${sFold.size} elements, expected 1`);
  const u = conv2dForward(xq, ws, null, conv);
  const [N, O, OH, OW] = u.shape;
  const M = N * OH * OW;
  const st = noGrad(() => batchStats(u));
  const muU = st.mean;
  const varU = st.var;
  const { mean, var: variance } = scaleStats(muU, varU, sFold);
  noGrad(() => updateRunningStats(a.runningMean, a.runningVar, mean, variance, M, a.momentum));

  // What the y node leaves for the statistics' node.
  const pending: { gy: Tensor | null; gvar: Tensor | null } = { gy: null, gvar: null };
  let k: Tensor | null = null;
  record(mean, 'qconvBn.mean', [xq, ws, sFold], (gm) => {
    const gv = pending.gvar ?? zeros([O]);
    const gy = pending.gy;
    const coef = combineCoefs(gy ? k : null, gm, gv, muU, sFold, M);
    const gc = combineGrad(gy, u, coef);
    return [
      xq.requiresGrad ? conv2dBackwardInput(gc, ws, xq.shape, conv) : null,
      ws.requiresGrad ? conv2dBackwardWeight(xq, gc, ws.shape, conv) : null,
      sFold.requiresGrad ? scaleGrad(gm, gv, muU, varU, sFold) : null,
    ];
  });
  const statsTaped = mean.requiresGrad;
  record(variance, 'qconvBn.var', [mean], (gv) => {
    pending.gvar = gv;
    // So that mean's node runs even when only the variance has a gradient (a zero made only then).
    return [ZERO_GRAD];
  });

  const fold = foldBn(a.gamma, a.beta, mean, variance, sFold, a.sNext, a.eps);
  k = fold.k;
  const wf = noGrad(() => mulChannel(ws, fold.k, 0));
  const { fl, opts } = a.weightFormat(wf);
  const wq = noGrad(() => a.quantize(wf, fl, opts));
  const y = conv2dForward(xq, wq, fold.b, conv);
  const kf = fold.k;
  record(y, 'qconvBn.y', [xq, ws, kf, fold.b], (gy) =>
    noGrad(() => {
      if (statsTaped) pending.gy = gy;
      const sums = chanDot(gy, u);
      const { gw, gcw } = clipGrad(xq, gy, wf, fl, ws, kf, opts.wl, conv);
      const { gk, gb } = clipReduce(sums, gcw);
      // Without the statistics' node the y path's weight gradient k·G has no other carrier.
      const gws = ws.requiresGrad ? (statsTaped ? gw : add(mulChannel(conv2dBackwardWeight(xq, gy, ws.shape, conv), kf, 0), gw)) : null;
      const gxq = xq.requiresGrad ? conv2dBackwardInput(gy, statsTaped ? sub(wq, wf) : wq, xq.shape, conv) : null;
      return [gxq, gws, kf.requiresGrad ? gk : null, fold.b.requiresGrad ? gb : null];
    }),
  );
  return { y, wq, b: fold.b };
}
