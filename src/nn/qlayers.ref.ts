/**
 * CPU reference of one F8Net layer in fixed-point mode (./qlayers.ts, F8NET.md §3): the forward
 * pass and the backward pass of the same straight-through estimator and folding, in float64,
 * built from the CPU references of the pieces (src/quant/fixed.ts quantize, fraclenFromTensor,
 * fixScaling; src/ops/conv2d.ref.ts; src/ops/batchnorm.ref.ts; src/ops/fold.ref.ts).
 *
 * A linear layer is the 1x1 convolution of [N, K, 1, 1] with [O, K, 1, 1] (no BN, bias folded).
 * The conv references accumulate in f64 but take and return f32 arrays; quantize() works on the
 * f32 value of its input as the GPU kernel does (x * 2^fl rounded to f32 before rounding to an
 * integer). Everything else (statistics, folding, the backward chain) is f64.
 *
 * Forward (training; evaluation uses the running statistics and the given fl):
 *   fl    = fl_batch of x (metric or grid search, signedness of the input), or `inputFraclen` when given
 *   fl_s  = `scaleFraclen` (the rounded running length after this step's update), default fl
 *   s_in  = fixScaling(alpha, fl_s, wl, signed);   xin = x / s_in for the head form f8net_scaled, else x
 *   x_q   = fakeQuant(xin, fl)                    (mask m_x)
 *   (head form weight_only: fl = 8, unsigned, s_in = 1, alpha unused; x_q = relu(x) in training,
 *    fakeQuant(x, 8) unsigned in evaluation. double_side is the plain signed input.)
 *   y0    = conv(s_in * x_q, w);  mu, var = batch mean, biased variance of y0 per channel
 *   s_next= fixScaling(next.alpha, next.fl, ...) or 1
 *   k, b  = foldBn(gamma, beta, mu, var, s_in, s_next) | foldPlain(bias, s_in, s_next)
 *   w_f   = k[o] * w;  fl_w from w_f (per layer or per output channel);  w_q = fakeQuant(w_f, fl_w) (mask m_w)
 *   y     = conv(x_q, w_q) + b, b rounded to 2^-(fl + fl_w) only with `quantBias`
 * Backward for dL/dy = gy: through the conv into x_q and w_q, the m_w mask into w_f, w_f = k w
 * into k and w, the fold into gamma, beta (bias), mu, var, s_in, s_next, the batch statistics
 * into y0, y0 = conv(s_in x_q, w) into x_q, w and s_in, the m_x mask into xin, the division into
 * x and s_in, and s_in, s_next into the two alphas (ds/dalpha = sign(alpha) 2^fl / (2^(wl-signed) - 1)).
 *
 * `margins` says how far the data sits from the discrete decisions that f32 (GPU) and f64 (here)
 * could take differently: fl from a statistic (distance of log2(c/m) from the integer steps that
 * matter) and the roundings of xin * 2^fl and w_f * 2^fl_w (distance from a half integer).
 *
 * @example
 *   const r = refQLayer({ x, xShape: [2, 3, 5, 5], weight, wShape: [4, 3, 3, 3], conv: { padding: 1 },
 *     bn: { gamma, beta, runningMean, runningVar }, alpha: 8, wl: 8, signed: false, training: true, gy });
 *   r.y; r.grads.alpha; r.margins.w
 */
import { fixScaling, fraclenFromTensor, gridSearchFraclen, quantize, tensorStat, FRACLEN_C, type Metric } from '../quant/fixed.js';
import { refConv2d, refConv2dBackwardInput, refConv2dBackwardWeight, geometry, outSize, type Conv2dOptionsLike } from '../ops/conv2d.ref.js';
import { refBatchStats, refUpdateRunningStats } from '../ops/batchnorm.ref.js';
import { refFoldBn, refFoldBnPaper, refPaperFoldWeight, refFoldPlain } from '../ops/fold.ref.js';
import { roundHalfEven } from '../quant/fixed-format.js';
import type { HeadForm } from '../quant/head-form.js';
import type { ClassifierForm } from '../quant/classifier-form.js';

export interface RefBn {
  gamma: ArrayLike<number>;
  beta: ArrayLike<number>;
  runningMean: ArrayLike<number>;
  runningVar: ArrayLike<number>;
  eps?: number;
  momentum?: number;
}

/** The layer that reads this layer's output, as far as its fix_scaling goes. */
export interface RefNext {
  alpha: number;
  fl: number;
  wl: number;
  signed: boolean;
}

export interface RefQLayerInput {
  x: Float32Array;
  /** [N, C, H, W] for a convolution, [N, K] for a linear layer. */
  xShape: number[];
  weight: Float32Array;
  /** [O, C/groups, KH, KW] or [O, K]. */
  wShape: number[];
  /** Convolution geometry; absent for a linear layer. */
  conv?: Conv2dOptionsLike;
  /** BN after the conv; without it `bias` is folded (foldPlain). */
  bn?: RefBn | null;
  bias?: ArrayLike<number>;
  /** The clipping level in use (the master's when shared). */
  alpha: number;
  /** Input word length and signedness. */
  wl: number;
  signed: boolean;
  /** The layer reads the network input in this form (src/nn/qlayers.ts HeadForm); absent: not a head. */
  headForm?: HeadForm;
  /**
   * A linear layer's classifier form (src/quant/classifier-form.ts; default 'folded'). 'paper':
   * w_q = Q(w) alone, y = s_in x_q . w_q + b in training, x_q . w_q + b / s_in in evaluation.
   */
  classifierForm?: ClassifierForm;
  /**
   * With classifierForm 'paper': the paper's rescale_forward of its linear, ws = 1 / sqrt(O) /
   * std(w_q) (unbiased, of the quantised weight, no gradient); s_in becomes t = s_in ws.
   */
  rescaleForward?: boolean;
  /**
   * 'paper' (QuantConfig.foldOrder): in evaluation with BN, w_f = ((t w) s_in) / s_next and
   * b = (beta - t mean) / s_next with t = gamma / sqrt(var + eps), every step in f32 as the paper's
   * code (src/ops/fold.ref.ts refFoldBnPaper); default 'fused' (f64 k w).
   */
  foldOrder?: 'fused' | 'paper';
  metric?: Metric;
  /** 'grid': input and weight lengths by grid search (§2) instead of from `metric`. */
  fraclenMethod?: 'metric' | 'grid';
  weightWl?: number;
  perChannel?: boolean;
  training: boolean;
  /** The input length to use (evaluation, or a shared length); default: fl of x from the metric. */
  inputFraclen?: number;
  /**
   * The length inside s_in (F8NET.md §3): the rounded running length after this step's update,
   * clamp(round(fl_run)). Default: the input length (evaluation, where both are round(fl_run)).
   */
  scaleFraclen?: number;
  /** Round the folded bias to the accumulator grid 2^-(fl + fl_w) (evaluation and export; default false). */
  quantBias?: boolean;
  /** The following layer; its `fl` is its rounded running length as it stands when this layer runs. */
  next?: RefNext | null;
  /** Upstream gradient dL/dy (same layout as y); no backward without it. */
  gy?: ArrayLike<number>;
}

export interface RefQLayerGrads {
  x: Float64Array;
  weight: Float64Array;
  gamma: Float64Array | null;
  beta: Float64Array | null;
  bias: Float64Array | null;
  /** Gradient of the alpha in use (the master's, when shared). */
  alpha: number;
  /** Gradient of the following layer's alpha through s_next (0 without one). */
  alphaNext: number;
  /**
   * The sums of the absolute terms that `alpha` and `alphaNext` add up. With BN, the scalings
   * nearly cancel (BN normalises them away): an alpha gradient can be 1e-6 of its terms, so an
   * f32 computation of it is only good to ~1e-7 of these scales; compare at this scale.
   */
  alphaScale: number;
  alphaNextScale: number;
  /** Per channel, the sum of the absolute terms of `gamma` (with BN; it cancels the same way). */
  gammaScale: Float64Array | null;
}

export interface RefQLayerResult {
  y: Float64Array;
  yShape: number[];
  fl: number;
  flW: number[];
  sIn: number;
  sNext: number;
  xq: Float32Array;
  wq: Float32Array;
  k: number[];
  b: number[];
  mean: Float64Array | null;
  var: Float64Array | null;
  /** Running statistics after the step (unchanged in evaluation). */
  runningMean: Float64Array | null;
  runningVar: Float64Array | null;
  grads: RefQLayerGrads | null;
  margins: { flX: number; x: number; flW: number; w: number };
}

const den = (wl: number, signed: boolean) => 2 ** (wl - (signed ? 1 : 0)) - 1;

/** Distance of log2(c / m) from the integers 1..flmax (where the fl of a statistic steps). */
function log2Margin(stats: ArrayLike<number>, c: number, flmax: number): number {
  let best = Infinity;
  for (let i = 0; i < stats.length; i++) {
    const l = Math.log2(c / stats[i]);
    for (let k = 1; k <= flmax; k++) best = Math.min(best, Math.abs(l - k));
  }
  return best;
}

/** §3 step 1: the input length (given, grid search or a statistic) and its distance from a step of the statistic's fl. */
function refInputFraclen(x: Float32Array, given: number | undefined, o: { grid: boolean; wl: number; signed: boolean; metric: Metric }): { fl: number; margin: number } {
  if (given !== undefined) return { fl: given, margin: Infinity };
  if (o.grid) return { fl: gridSearchFraclen(x, { wl: o.wl, signed: o.signed }).fl, margin: Infinity };
  const fl = fraclenFromTensor(x, { wl: o.wl, signed: o.signed, metric: o.metric });
  return { fl, margin: log2Margin([tensorStat(x, o.metric)], FRACLEN_C[o.signed ? 'signed' : 'unsigned'][o.metric], o.wl - (o.signed ? 1 : 0)) };
}

/**
 * §3 step 4: the signed weight length(s) of w (one per output channel with perChannel) and the
 * fake-quantised f32 weight. Grid search decides on the f32 values it quantises; its margin is not
 * a log2 distance.
 */
function refWeightQuant(w: ArrayLike<number>, o: { grid: boolean; perChannel: boolean; wl: number; metric: Metric; layout: { channels: number; inner: number } }) {
  const w32 = Float32Array.from(w);
  const { wl, metric, layout } = o;
  const cW = FRACLEN_C.signed[metric];
  let flW: number[];
  let margin = Infinity;
  if (o.grid) flW = o.perChannel ? [...gridSearchFraclen(w32, { wl, signed: true, perChannel: layout }).fl] : [gridSearchFraclen(w32, { wl, signed: true }).fl];
  else if (o.perChannel) {
    flW = [...fraclenFromTensor(w, { wl, signed: true, metric, perChannel: layout })];
    margin = log2Margin(tensorStat(w, metric, layout), cW, wl - 1);
  } else {
    flW = [fraclenFromTensor(w, { wl, signed: true, metric })];
    margin = log2Margin([tensorStat(w, metric)], cW, wl - 1);
  }
  const qw = o.perChannel ? quantize(w32, Int32Array.from(flW), { wl, signed: true, channelAxis: layout }) : quantize(w32, flW[0], { wl, signed: true });
  return { flW, margin, qw };
}

/** Distance of v from the nearest half integer (a rounding boundary). */
const halfMargin = (v: number) => Math.abs(v - Math.floor(v) - 0.5);

export function refQLayer(a: RefQLayerInput): RefQLayerResult {
  if ((a.classifierForm ?? 'folded') === 'paper') return refPaperLinear(a);
  const isConv = a.conv !== undefined;
  const xs = isConv ? a.xShape : [a.xShape[0], a.xShape[1], 1, 1];
  const ws = isConv ? a.wShape : [a.wShape[0], a.wShape[1], 1, 1];
  const copts = a.conv ?? {};
  const [N] = xs;
  const O = ws[0];
  const [OH, OW] = outSize(xs[2], xs[3], ws[2], ws[3], geometry(copts));
  const HW = OH * OW;
  const M = N * HW;
  const ys = [N, O, OH, OW];
  const metric = a.metric ?? 'std';
  const weightOnly = a.headForm === 'weight_only';
  const scaled = a.headForm === 'f8net_scaled';
  // A weight_only head reads an unsigned input at fl 8 (its word length is 8).
  const signed = weightOnly ? false : a.signed;
  const wl = weightOnly ? 8 : a.wl;
  const wwl = a.weightWl ?? 8;
  const innerW = ws[1] * ws[2] * ws[3];

  // 1. Input length, s_in, x_q.
  const grid = a.fraclenMethod === 'grid';
  const { fl, margin: flXMargin } = refInputFraclen(a.x, weightOnly ? 8 : a.inputFraclen, { grid, wl, signed, metric });
  const flS = a.scaleFraclen ?? fl;
  const sIn = weightOnly ? 1 : fixScaling(a.alpha, flS, wl, signed);
  const xin = Float64Array.from(a.x, (v) => (scaled ? v / sIn : v));
  // weight_only in training: no quantisation, the ReLU of the unsigned input (mask x > 0).
  const qx = weightOnly && a.training
    ? { value: Float32Array.from(a.x, (v) => Math.max(v, 0)), mask: Uint8Array.from(a.x, (v) => (v > 0 ? 1 : 0)) }
    : quantize(Float32Array.from(xin), fl, { wl, signed });
  const xq = qx.value;
  let xMargin = Infinity;
  if (scaled || (weightOnly && !a.training)) for (const v of xin) xMargin = Math.min(xMargin, halfMargin(v * 2 ** fl));

  // 2. Statistics of y0 = conv(s_in x_q, w) (training with BN).
  const z = Float32Array.from(xq, (v) => sIn * v);
  let y0: Float32Array | null = null;
  let mean: Float64Array | null = null;
  let vari: Float64Array | null = null;
  let runningMean: Float64Array | null = null;
  let runningVar: Float64Array | null = null;
  if (a.bn) {
    if (a.training) {
      y0 = refConv2d(z, xs, a.weight, ws, null, copts);
      ({ mean, var: vari } = refBatchStats(y0, ys));
      ({ runningMean, runningVar } = refUpdateRunningStats(a.bn.runningMean, a.bn.runningVar, mean, vari, M, a.bn.momentum ?? 0.1));
    } else {
      mean = Float64Array.from(a.bn.runningMean);
      vari = Float64Array.from(a.bn.runningVar);
      runningMean = Float64Array.from(a.bn.runningMean);
      runningVar = Float64Array.from(a.bn.runningVar);
    }
  }

  // 3. Fold.
  const sNext = a.next ? fixScaling(a.next.alpha, a.next.fl, a.next.wl, a.next.signed) : 1;
  const eps = a.bn?.eps ?? 1e-5;
  const bias = a.bias ?? new Float64Array(O);
  const fused = a.bn ? refFoldBn(a.bn.gamma, a.bn.beta, mean!, vari!, sIn, sNext, eps) : refFoldPlain(bias, sIn, sNext);
  const { k } = fused;
  let { b } = fused;
  const paperFold = a.foldOrder === 'paper' && !a.training && !!a.bn;
  const pf = paperFold ? refFoldBnPaper(a.bn!.gamma, a.bn!.beta, mean!, vari!, sNext, eps) : null;
  if (pf) b = pf.b;

  // 4. Weight length and w_q.
  const wf = pf ? Float64Array.from(refPaperFoldWeight(a.weight, pf.t, sIn, sNext, innerW)) : Float64Array.from(a.weight, (v, i) => k[Math.floor(i / innerW)] * v);
  const { flW, margin: flWMargin, qw } = refWeightQuant(wf, { grid, perChannel: !!a.perChannel, wl: wwl, metric, layout: { channels: O, inner: innerW } });
  const flOf = (i: number) => (a.perChannel ? flW[Math.floor(i / innerW)] : flW[0]);
  const wq = qw.value;
  let wMargin = Infinity;
  for (let i = 0; i < wf.length; i++) wMargin = Math.min(wMargin, halfMargin(wf[i] * 2 ** flOf(i)));

  // 5. y = conv(x_q, w_q) + b (b on the accumulator grid with quantBias; half to even as the kernel).
  const bAdd = a.quantBias ? b.map((v, o) => roundHalfEven(v * 2 ** (fl + flW[a.perChannel ? o : 0])) / 2 ** (fl + flW[a.perChannel ? o : 0])) : b;
  const yc = refConv2d(xq, xs, wq, ws, null, copts);
  const y = Float64Array.from(yc, (v, i) => v + bAdd[Math.floor(i / HW) % O]);

  let grads: RefQLayerGrads | null = null;
  if (a.gy) {
    const G = Float32Array.from(a.gy);
    const gbv = new Float64Array(O);
    for (let i = 0; i < G.length; i++) gbv[Math.floor(i / HW) % O] += G[i];
    const gxq = Float64Array.from(refConv2dBackwardInput(G, wq, ws, xs, copts));
    const gwq = refConv2dBackwardWeight(xq, xs, G, ws, copts);
    const gW = new Float64Array(a.weight.length);
    const gk = new Float64Array(O);
    const gkAbs = new Float64Array(O);
    const gbvAbs = new Float64Array(O);
    for (let i = 0; i < G.length; i++) gbvAbs[Math.floor(i / HW) % O] += Math.abs(G[i]);
    for (let i = 0; i < gwq.length; i++) {
      const o = Math.floor(i / innerW);
      const g = gwq[i] * qw.mask[i];
      gW[i] = g * k[o];
      gk[o] += g * a.weight[i];
      gkAbs[o] += Math.abs(g * a.weight[i]);
    }
    // Fold backward.
    let gSIn = 0;
    let gSNext = 0;
    let gSInAbs = 0;
    let gSNextAbs = 0;
    let gMeanAbs: Float64Array | null = null;
    let gVarAbs: Float64Array | null = null;
    let gGammaAbs: Float64Array | null = null;
    let gGamma: Float64Array | null = null;
    let gBeta: Float64Array | null = null;
    let gBias: Float64Array | null = null;
    let gMean: Float64Array | null = null;
    let gVar: Float64Array | null = null;
    for (let o = 0; o < O; o++) {
      gSNext += (-gk[o] * k[o] - gbv[o] * b[o]) / sNext;
      gSNextAbs += (gkAbs[o] * Math.abs(k[o]) + gbvAbs[o] * Math.abs(b[o])) / sNext;
    }
    if (a.bn) {
      gGamma = new Float64Array(O);
      gBeta = new Float64Array(O);
      gMean = new Float64Array(O);
      gVar = new Float64Array(O);
      gMeanAbs = new Float64Array(O);
      gGammaAbs = new Float64Array(O);
      gVarAbs = new Float64Array(O);
      for (let o = 0; o < O; o++) {
        const gam = a.bn.gamma[o];
        const r = 1 / Math.sqrt(vari![o] + eps);
        const mu = mean![o];
        gGamma[o] = (gk[o] * r * sIn) / sNext - (gbv[o] * mu * r) / sNext;
        gBeta[o] = gbv[o] / sNext;
        gMean[o] = (-gbv[o] * gam * r) / sNext;
        // dk/dvar = -k r^2 / 2; db/dvar = gamma mu r^3 / (2 s_next)
        gVar[o] = -0.5 * gk[o] * k[o] * r * r + (0.5 * gbv[o] * gam * mu * r * r * r) / sNext;
        gSIn += (gk[o] * gam * r) / sNext;
        gSInAbs += (gkAbs[o] * Math.abs(gam) * r) / sNext;
        gMeanAbs[o] = (gbvAbs[o] * Math.abs(gam) * r) / sNext;
        gGammaAbs[o] = (gkAbs[o] * r * sIn + gbvAbs[o] * Math.abs(mu) * r) / sNext;
        gVarAbs[o] = 0.5 * gkAbs[o] * Math.abs(k[o]) * r * r + (0.5 * gbvAbs[o] * Math.abs(gam * mu) * r * r * r) / sNext;
      }
    } else {
      gBias = Float64Array.from(gbv, (g) => g / sNext);
      for (let o = 0; o < O; o++) {
        gSIn += gk[o] / sNext;
        gSInAbs += gkAbs[o] / sNext;
      }
    }
    // Batch statistics -> y0 -> (s_in x_q, w).
    if (a.bn && a.training) {
      const gy0 = new Float32Array(y0!.length);
      for (let i = 0; i < gy0.length; i++) {
        const o = Math.floor(i / HW) % O;
        gy0[i] = gMean![o] / M + (gVar![o] * 2 * (y0![i] - mean![o])) / M;
        // The y0 path adds sum(gy0 * y0) / s_in to the s_in gradient.
        gSInAbs += ((gMeanAbs![o] / M + (gVarAbs![o] * 2 * Math.abs(y0![i] - mean![o])) / M) * Math.abs(y0![i])) / sIn;
      }
      const gz = refConv2dBackwardInput(gy0, a.weight, ws, xs, copts);
      const gw2 = refConv2dBackwardWeight(z, xs, gy0, ws, copts);
      for (let i = 0; i < gW.length; i++) gW[i] += gw2[i];
      for (let i = 0; i < gxq.length; i++) {
        gxq[i] += sIn * gz[i];
        gSIn += gz[i] * xq[i];
      }
    }
    // The x mask, the division by s_in.
    const gx = new Float64Array(a.x.length);
    for (let i = 0; i < gx.length; i++) {
      const g = gxq[i] * qx.mask[i];
      if (scaled) {
        gx[i] = g / sIn;
        gSIn -= (g * xin[i]) / sIn;
        gSInAbs += Math.abs(g * xin[i]) / sIn;
      } else gx[i] = g;
    }
    grads = {
      x: gx,
      weight: gW,
      gamma: gGamma,
      beta: gBeta,
      bias: gBias,
      alpha: weightOnly ? 0 : (gSIn * Math.sign(a.alpha) * 2 ** flS) / den(wl, signed),
      alphaNext: a.next ? (gSNext * Math.sign(a.next.alpha) * 2 ** a.next.fl) / den(a.next.wl, a.next.signed) : 0,
      alphaScale: (gSInAbs * 2 ** flS) / den(wl, signed),
      gammaScale: gGammaAbs,
      alphaNextScale: a.next ? (gSNextAbs * 2 ** a.next.fl) / den(a.next.wl, a.next.signed) : 0,
    };
  }
  return {
    y,
    yShape: isConv ? ys : [N, O],
    fl,
    flW,
    sIn,
    sNext,
    xq,
    wq,
    k,
    b,
    mean,
    var: vari,
    runningMean,
    runningVar,
    grads,
    margins: { flX: flXMargin, x: xMargin, flW: flWMargin, w: wMargin },
  };
}

/**
 * The paper's classifier form (src/quant/classifier-form.ts) of a linear layer, forward and
 * backward in float64:
 *   fl, s_in as in refQLayer (no head form, no BN, no following layer: it is the last layer)
 *   w_q  = fakeQuant(w, fl_w), fl_w from w itself (mask m_w)
 *   t = s_in, or with rescaleForward t = s_in ws, ws = 1 / sqrt(O) / std(w_q) (no gradient)
 *   train: y = t (x_q . w_q + b / t) (= t x_q . w_q + b, as the GPU layer computes it)
 *   eval:  y = x_q . w_q + b / t, b / t on the accumulator grid 2^-(fl + fl_w) with quantBias
 * Backward: dL/dx_q = t gy . w_q (eval: gy . w_q), the m_x mask; dL/dw = m_w (t x_q^T gy);
 * dL/db = sum gy (eval: / t); dL/ds_in = sum gy ws (x_q . w_q) (eval: -sum gy (b / t) / s_in).
 */
function refPaperLinear(a: RefQLayerInput): RefQLayerResult {
  if (a.conv !== undefined || a.bn) throw new Error('refPaperLinear: the paper classifier form is a linear layer without BN');
  const [N, K] = a.xShape;
  const O = a.wShape[0];
  const metric = a.metric ?? 'std';
  const grid = a.fraclenMethod === 'grid';
  const wwl = a.weightWl ?? 8;
  const { wl, signed } = a;
  const { fl, margin: flXMargin } = refInputFraclen(a.x, a.inputFraclen, { grid, wl, signed, metric });
  const flS = a.scaleFraclen ?? fl;
  const sIn = fixScaling(a.alpha, flS, wl, signed);
  const qx = quantize(Float32Array.from(a.x), fl, { wl, signed });
  const xq = qx.value;
  // The weight alone: its length and its quantisation.
  const { flW, margin: flWMargin, qw } = refWeightQuant(a.weight, { grid, perChannel: !!a.perChannel, wl: wwl, metric, layout: { channels: O, inner: K } });
  const flO = (o: number) => flW[a.perChannel ? o : 0];
  const wq = qw.value;
  let wMargin = Infinity;
  for (let i = 0; i < a.weight.length; i++) wMargin = Math.min(wMargin, halfMargin(a.weight[i] * 2 ** flO(Math.floor(i / K))));
  // The paper's rescale_forward: ws = 1 / sqrt(O) / std(w_q); t = s_in ws takes s_in's place.
  let ws = 1;
  if (a.rescaleForward) {
    const mean = wq.reduce((s, v) => s + v, 0) / wq.length;
    ws = 1 / Math.sqrt(O) / Math.sqrt(wq.reduce((s, v) => s + (v - mean) ** 2, 0) / (wq.length - 1));
  }
  const t = sIn * ws;
  // b / t (foldPlain with t as the divisor), on the accumulator grid with quantBias.
  const bias = a.bias ?? new Float64Array(O);
  const bS = Array.from({ length: O }, (_, o) => bias[o] / t);
  const bAdd = a.quantBias ? bS.map((v, o) => roundHalfEven(v * 2 ** (fl + flO(o))) / 2 ** (fl + flO(o))) : bS;
  const dot = new Float64Array(N * O);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += xq[n * K + k] * wq[o * K + k];
      dot[n * O + o] = acc;
    }
  }
  const f = a.training ? t : 1;
  const y = Float64Array.from(dot, (v, i) => f * (v + bAdd[i % O]));
  let grads: RefQLayerGrads | null = null;
  if (a.gy) {
    const G = Float64Array.from(a.gy);
    const gx = new Float64Array(N * K);
    const gW = new Float64Array(O * K);
    const gBias = new Float64Array(O);
    let gSIn = 0;
    let gSInAbs = 0;
    for (let n = 0; n < N; n++) {
      for (let o = 0; o < O; o++) {
        const g = G[n * O + o];
        gBias[o] += a.training ? g : g / t;
        const gs = a.training ? g * ws * dot[n * O + o] : (-g * bS[o]) / sIn;
        gSIn += gs;
        gSInAbs += Math.abs(gs);
        for (let k = 0; k < K; k++) {
          gx[n * K + k] += f * g * wq[o * K + k];
          gW[o * K + k] += f * g * xq[n * K + k];
        }
      }
    }
    for (let i = 0; i < gx.length; i++) gx[i] *= qx.mask[i];
    for (let i = 0; i < gW.length; i++) gW[i] *= qw.mask[i];
    grads = {
      x: gx,
      weight: gW,
      gamma: null,
      beta: null,
      bias: gBias,
      alpha: (gSIn * Math.sign(a.alpha) * 2 ** flS) / den(wl, signed),
      alphaNext: 0,
      alphaScale: (gSInAbs * 2 ** flS) / den(wl, signed),
      gammaScale: null,
      alphaNextScale: 0,
    };
  }
  return {
    y,
    yShape: [N, O],
    fl,
    flW,
    sIn,
    sNext: 1,
    xq,
    wq,
    k: Array(O).fill(1),
    b: bS,
    mean: null,
    var: null,
    runningMean: null,
    runningVar: null,
    grads,
    margins: { flX: flXMargin, x: Infinity, flW: flWMargin, w: wMargin },
  };
}
