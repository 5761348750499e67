// The F8Net layers (src/nn/qlayers.ts): float-mode gradients by finite differences, fixed-point
// forward and STE/folding gradients against the float64 CPU reference (src/nn/qlayers.ref.ts),
// running fractional lengths, clipping-level sharing, and evaluation mode.
//
// Fixed-point data are chosen (seed search on the CPU reference) so that no discrete decision
// sits near a boundary: log2(c/m) at least 1e-3 from an fl step, xin*2^fl and w_f*2^fl_w at
// least 2e-3 of a quantisation step from a half integer. f32 (GPU) and f64 (reference) then take
// the same decisions, every forward value matches to 1e-4 of the output scale and every gradient
// to 1e-3 of its scale, with no element allowed to differ by a quantisation step.
import { it, expect } from 'vitest';
import { gpuDescribe, rand, expectClose, expectExact, gradCheck } from '../helpers.js';
import { Engine } from '../../src/runtime/engine.js';
import { Tensor } from '../../src/tensor.js';
import { backward } from '../../src/autograd/tape.js';
import { Module } from '../../src/nn/module.js';
import { QConv2d, QLinear, QLayer, floatQuant, fixedQuant, type QuantConfig, type HeadForm, type ClassifierForm } from '../../src/nn/qlayers.js';
import { refQLayer, type RefQLayerInput, type RefQLayerResult, type RefNext } from '../../src/nn/qlayers.ref.js';
import { fraclenFromTensor, evalFraclen as refEvalFraclen } from '../../src/quant/fixed.js';
import { Rng } from '../../src/runtime/rng.js';

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** Gradients compared at atol 1e-3 of their scale, rtol 1e-3. */
function expectGrad(got: ArrayLike<number>, ref: ArrayLike<number>, what: string): void {
  expectClose(got, ref, 1e-3 * Math.max(maxAbs(ref), 1e-6), 1e-3, what);
}

function clearGrads(...ms: Module[]): void {
  for (const m of ms) {
    for (const p of m.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }
}

/** Runs forward(x) with fields of `layer` temporarily replaced (to gradient-check parameters with gradCheck). */
function withFields<T>(layer: object, fields: Record<string, Tensor>, fn: () => T): T {
  const o = layer as Record<string, unknown>;
  const saved = Object.fromEntries(Object.keys(fields).map((k) => [k, o[k]]));
  Object.assign(o, fields);
  try {
    return fn();
  } finally {
    Object.assign(o, saved);
  }
}

// ---- fixed-point cases ----------------------------------------------------------------------

interface Case {
  name: string;
  kind: 'conv' | 'linear';
  signed: boolean;
  /** The layer reads the network input in this form. */
  head?: HeadForm;
  /** A linear layer's classifier form (src/quant/classifier-form.ts; default folded). */
  classifier?: ClassifierForm;
  /** QuantConfig.foldOrder (default fused). */
  foldOrder?: 'fused' | 'paper';
  /** QuantConfig.rescaleForward (with the paper classifier form: its rescale of the quantised weight). */
  rescale?: boolean;
  perChannel?: boolean;
  bn?: boolean;
  stride?: number;
  next?: boolean;
  eval?: boolean;
  alpha: number;
  /** Data range of x before the outliers. */
  xr: [number, number];
  /** A few large values (clip of unsigned inputs at 255 / 2^fl). */
  outliers?: number;
  /** Two large weights (in channels 0 and 2): w_f saturates at 127 / 2^fl_w, the STE mask of w_q is exercised. */
  wOutlier?: number;
  /**
   * Absolute tolerance of dL/dalpha where it is a cancellation: with BN after a conv of the raw
   * input, s_in cancels in w_f = gamma/sigma(y0) w s_in / s_next but for eps, so dL/dalpha is a
   * near-zero difference of terms each ~1e3 times larger, and f32 and f64 agree only to their scale.
   */
  alphaAtol?: number;
}

const N = 2;
const C = 3;
const O = 4;
const HW = 5;
const NEXT = { alpha: 5.5, fl: 5, run: 4.4, wl: 8, signed: false };

interface CaseData {
  x: Float32Array;
  xShape: number[];
  weight: Float32Array;
  wShape: number[];
  gamma: Float32Array;
  beta: Float32Array;
  bias: Float32Array;
  runningMean: Float32Array;
  runningVar: Float32Array;
  inputRun: number;
  gy: Float32Array;
  ref: RefQLayerResult;
}

function refNext(c: Case): RefNext | null {
  if (!c.next) return null;
  // s_next: the following layer's rounded running length as it stands (F8NET.md §3), in training too.
  return { alpha: NEXT.alpha, fl: refEvalFraclen(NEXT.run, NEXT.wl, NEXT.signed), wl: NEXT.wl, signed: NEXT.signed };
}

function refInput(c: Case, d: Omit<CaseData, 'ref'>, over: Partial<RefQLayerInput> = {}): RefQLayerInput {
  const bn = c.kind === 'conv' && c.bn !== false;
  return {
    x: d.x,
    xShape: d.xShape,
    weight: d.weight,
    wShape: d.wShape,
    conv: c.kind === 'conv' ? { padding: 1, stride: c.stride ?? 1 } : undefined,
    bn: bn ? { gamma: d.gamma, beta: d.beta, runningMean: d.runningMean, runningVar: d.runningVar } : null,
    bias: bn ? undefined : d.bias,
    alpha: c.alpha,
    wl: 8,
    signed: c.signed,
    headForm: c.head,
    classifierForm: c.classifier,
    rescaleForward: c.rescale,
    foldOrder: c.foldOrder,
    perChannel: c.perChannel,
    training: !c.eval,
    inputFraclen: c.eval ? refEvalFraclen(d.inputRun, 8, c.signed) : undefined,
    // s_in from the rounded running length after this step's update, not the batch length.
    scaleFraclen: c.eval ? undefined : refEvalFraclen(Math.fround(0.1 * fraclenFromTensor(d.x, { wl: 8, signed: c.signed, metric: 'std' }) + 0.9 * d.inputRun), 8, c.signed),
    quantBias: !!c.eval,
    next: refNext(c),
    gy: d.gy,
    ...over,
  };
}

/** The first seed whose data keep every discrete decision away from its boundary. */
function caseData(c: Case): CaseData {
  for (let seed = 1; seed < 200; seed++) {
    const s = seed * 100;
    const xShape = c.kind === 'conv' ? [N, C, HW, HW] : [N * 3, 12];
    const wShape = c.kind === 'conv' ? [O, C, 3, 3] : [O, 12];
    const nx = xShape.reduce((a, b) => a * b, 1);
    const x = rand(nx, s + 1, c.xr[0], c.xr[1]);
    if (c.outliers) for (let i = 0; i < 3; i++) x[(i * 37 + 5) % nx] = c.outliers;
    const weight = rand(wShape.reduce((a, b) => a * b, 1), s + 2, -0.4, 0.4);
    if (c.wOutlier) {
      weight[1] = c.wOutlier;
      weight[(weight.length / O) * 2 + 3] = -c.wOutlier;
    }
    const d: Omit<CaseData, 'ref'> = {
      x,
      xShape,
      weight,
      wShape,
      gamma: rand(O, s + 3, 0.5, 1.5),
      beta: rand(O, s + 4, -0.5, 0.5),
      bias: rand(O, s + 5, -0.5, 0.5),
      runningMean: rand(O, s + 6, -0.5, 0.5),
      runningVar: rand(O, s + 7, 0.5, 2),
      // 0.1 * fl_batch + 0.9 * 3.2 rounds to 3 or 4 while the batch lengths are 5..8: s_in and
      // the quantiser use different lengths (the case where the rule of F8NET.md §3 matters).
      inputRun: 3.2,
      gy: new Float32Array(0),
    };
    const ref0 = refQLayer(refInput(c, d, { gy: undefined }));
    d.gy = rand(ref0.y.length, s + 8, -1, 1);
    const m = ref0.margins;
    if (m.flX > 1e-3 && m.flW > 1e-3 && m.x > 2e-3 && m.w > 2e-3) return { ...d, ref: refQLayer(refInput(c, d)) };
  }
  throw new Error(`${c.name}: no seed keeps the data away from the rounding boundaries`);
}

function quantOf(c: Case): QuantConfig {
  // The reference covers per-channel weights with one input length per layer.
  return fixedQuant({ formatType: c.perChannel ? 'per_channel' : 'per_layer', inputFormatType: 'per_layer', headForm: c.head, classifierForm: c.classifier, foldOrder: c.foldOrder, rescaleForward: !!c.rescale });
}

/** The layer of a case with the case's parameters, and its following layer. */
function buildLayer(c: Case, d: CaseData): { layer: QConv2d | QLinear; next: QConv2d | null } {
  const rng = new Rng(1);
  const quant = quantOf(c);
  let layer: QConv2d | QLinear;
  if (c.kind === 'conv') {
    const conv = new QConv2d('layer', C, O, 3, { padding: 1, stride: c.stride ?? 1, inputSigned: c.signed, quant, rng, bn: c.bn !== false, head: !!c.head });
    conv.weight.write(d.weight);
    if (conv.hasBn) {
      conv.gamma!.write(d.gamma);
      conv.beta!.write(d.beta);
      conv.runningMean!.write(d.runningMean);
      conv.runningVar!.write(d.runningVar);
    } else conv.bias!.write(d.bias);
    layer = conv;
  } else {
    const lin = new QLinear('layer', d.wShape[1], O, { inputSigned: c.signed, quant, rng, head: !!c.head });
    lin.weight.write(d.weight);
    lin.bias.write(d.bias);
    layer = lin;
  }
  layer.alpha.write([c.alpha]);
  layer.inputFraclenRun.write([d.inputRun]);
  let next: QConv2d | null = null;
  if (c.next) {
    next = new QConv2d('next', O, 2, 1, { inputSigned: NEXT.signed, quant: fixedQuant(), rng });
    next.alpha.write([NEXT.alpha]);
    next.inputFraclen.write(Int32Array.of(NEXT.fl));
    next.inputFraclenRun.write([NEXT.run]);
    layer.following = next;
  }
  if (c.eval) {
    layer.eval();
    next?.eval();
  }
  return { layer, next };
}

interface GpuRun {
  y: Float32Array;
  gx: Float32Array;
  grads: Map<string, Float32Array>;
  alphaNext: number | null;
  fl: number;
  flW: number[];
  runningMean: Float32Array | null;
  runningVar: Float32Array | null;
}

/** forward, backward(gy); optionally `between` runs after the forward and before the backward. */
async function runGpu(layer: QLayer, next: QLayer | null, d: CaseData, between?: () => void): Promise<GpuRun> {
  const e = Engine.get();
  clearGrads(layer, ...(next ? [next] : []));
  const out = await e.tidyAsync(async () => {
    const x = Tensor.from(d.x, d.xShape);
    x.requiresGrad = true;
    const y = layer.forward(x);
    between?.();
    backward(y, Tensor.from(d.gy, y.shape));
    const gx = (await x.grad!.read()) as Float32Array;
    x.grad!.dispose();
    return { y: (await y.read()) as Float32Array, gx };
  });
  const grads = new Map<string, Float32Array>();
  for (const [n, p] of layer.namedParameters()) if (p.grad) grads.set(n, (await p.grad.read()) as Float32Array);
  const conv = layer instanceof QConv2d && layer.hasBn ? layer : null;
  return {
    ...out,
    grads,
    alphaNext: next?.alpha.grad ? (await next.alpha.grad.item()) : null,
    fl: await layer.inputFraclen.item(),
    flW: [...(await layer.weightFraclen.read())],
    runningMean: conv ? ((await conv.runningMean!.read()) as Float32Array) : null,
    runningVar: conv ? ((await conv.runningVar!.read()) as Float32Array) : null,
  };
}

function compare(c: Case, g: GpuRun, r: RefQLayerResult): void {
  expect(g.fl, `${c.name}: input fl`).toBe(r.fl);
  expect(g.flW, `${c.name}: weight fl`).toEqual(r.flW);
  const ys = maxAbs(r.y);
  expectClose(g.y, r.y, 1e-4 * ys, 1e-4, `${c.name}: y`);
  if (g.runningMean) {
    expectClose(g.runningMean, r.runningMean!, 1e-5, 1e-4, `${c.name}: running mean`);
    expectClose(g.runningVar!, r.runningVar!, 1e-5, 1e-4, `${c.name}: running var`);
  }
  // The paper's fold order is an evaluation form without gradients of its own (foldBnPaper records none).
  if (c.foldOrder === 'paper') {
    expect(Array.from(g.y), `${c.name}: y is the reference's bit for bit (the integer grid)`).toEqual(Array.from(r.y, Math.fround));
    return;
  }
  const rg = r.grads!;
  expectGrad(g.gx, rg.x, `${c.name}: dL/dx`);
  expectGrad(g.grads.get('weight')!, rg.weight, `${c.name}: dL/dweight`);
  if (rg.gamma) {
    expectGrad(g.grads.get('gamma')!, rg.gamma, `${c.name}: dL/dgamma`);
    expectGrad(g.grads.get('beta')!, rg.beta!, `${c.name}: dL/dbeta`);
  }
  if (rg.bias) expectGrad(g.grads.get('bias')!, rg.bias, `${c.name}: dL/dbias`);
  expectClose([g.grads.get('alpha')?.[0] ?? 0], [rg.alpha], c.alphaAtol ?? 1e-3 * Math.abs(rg.alpha) + 1e-6, 1e-3, `${c.name}: dL/dalpha`);
  if (c.next) expectClose([g.alphaNext ?? 0], [rg.alphaNext], 1e-3 * Math.abs(rg.alphaNext) + 1e-6, 1e-3, `${c.name}: dL/dalpha of the following layer`);
}

const CASES: Case[] = [
  { name: 'conv, network input (f8net_scaled head), per layer, clipped, with a following layer', kind: 'conv', signed: true, head: 'f8net_scaled', alpha: 0.9, xr: [-1, 1], next: true, wOutlier: 3 },
  { name: 'conv, unsigned, per channel, clipped at 255, with a following layer', kind: 'conv', signed: false, perChannel: true, alpha: 8, xr: [-0.6, 1.4], outliers: 6, next: true, wOutlier: 3 },
  { name: 'conv, signed (linear bottleneck), per channel, stride 2, last layer', kind: 'conv', signed: true, perChannel: true, stride: 2, alpha: 3, xr: [-2, 2] },
  { name: 'conv without BN (bias), unsigned, per layer, with a following layer', kind: 'conv', signed: false, bn: false, alpha: 4, xr: [-1, 3], next: true },
  { name: 'conv in evaluation (running stats, round(fl_run)), unsigned, with a following layer', kind: 'conv', signed: false, eval: true, alpha: 8, xr: [-0.5, 1.5], next: true },
  { name: 'linear, unsigned, per layer, last layer', kind: 'linear', signed: false, alpha: 6, xr: [-0.5, 2] },
  { name: 'linear, network input (f8net_scaled head), per channel, with a following layer', kind: 'linear', signed: true, head: 'f8net_scaled', perChannel: true, alpha: 1.5, xr: [-1, 1], next: true },
  // weight_only: input not quantised in training (ReLU of the unsigned input), fix scaling 1, alpha unused.
  { name: 'conv, weight_only head, per layer, with a following layer', kind: 'conv', signed: true, head: 'weight_only', alpha: 0.9, xr: [-0.2, 1], next: true, wOutlier: 3 },
  { name: 'conv, weight_only head in evaluation (input at fl 8), with a following layer', kind: 'conv', signed: true, head: 'weight_only', eval: true, alpha: 8, xr: [0, 1], next: true },
  { name: 'linear, weight_only head, per channel, with a following layer', kind: 'linear', signed: true, head: 'weight_only', perChannel: true, alpha: 2, xr: [0, 1], next: true },
  // double_side: the normalised image, a signed input like any other (no division by s_in).
  { name: 'conv, double_side head, per layer, clipped, with a following layer', kind: 'conv', signed: true, head: 'double_side', alpha: 3, xr: [-2, 2], outliers: 9, next: true, alphaAtol: 1e-5 },
  // The paper's classifier form: w_q = Q(w) alone; y = s_in x_q . w_q + b in training, x_q . w_q + round(b / s_in) in evaluation.
  { name: 'linear, paper classifier form, unsigned, per layer, clipped, last layer', kind: 'linear', signed: false, classifier: 'paper', alpha: 6, xr: [-0.5, 2], outliers: 9, wOutlier: 3 },
  { name: 'linear, paper classifier form, per-channel weights, last layer', kind: 'linear', signed: false, classifier: 'paper', perChannel: true, alpha: 3, xr: [-0.5, 2] },
  { name: 'linear, paper classifier form in evaluation (bias b / s_in on the accumulator grid), last layer', kind: 'linear', signed: false, classifier: 'paper', eval: true, alpha: 6, xr: [-0.5, 2] },
  // With the paper's rescale_forward: t = s_in / sqrt(O) / std(w_q) in s_in's place.
  { name: 'linear, paper classifier form, rescale_forward, last layer', kind: 'linear', signed: false, classifier: 'paper', rescale: true, alpha: 6, xr: [-0.5, 2], outliers: 9, wOutlier: 3 },
  { name: 'linear, paper classifier form, rescale_forward, per-channel weights, last layer', kind: 'linear', signed: false, classifier: 'paper', rescale: true, perChannel: true, alpha: 3, xr: [-0.5, 2] },
  { name: 'linear, paper classifier form, rescale_forward in evaluation (bias b / t on the accumulator grid), last layer', kind: 'linear', signed: false, classifier: 'paper', rescale: true, eval: true, alpha: 6, xr: [-0.5, 2] },
  // The paper's fold order in evaluation: ((gamma / sqrt(var + eps)) w s_in) / s_next in f32.
  { name: 'conv in evaluation, fold_order paper, unsigned, with a following layer', kind: 'conv', signed: false, eval: true, foldOrder: 'paper', alpha: 8, xr: [-0.5, 1.5], next: true },
  { name: 'conv, double_side head in evaluation, with a following layer', kind: 'conv', signed: true, head: 'double_side', eval: true, alpha: 3, xr: [-2, 2], next: true },
];

gpuDescribe('F8Net layers', () => {
  // ---- a. float mode ----------------------------------------------------------------------
  it('float QConv2d (BN, training, unsigned input -> ReLU): gradients w.r.t. x, weight, gamma, beta', async () => {
    const conv = new QConv2d('c', C, O, 3, { padding: 1, inputSigned: false, quant: floatQuant(), rng: new Rng(3) });
    // |x| >= 0.2, away from the ReLU kink (eps 1e-2).
    const x = rand(N * C * HW * HW, 11, 0.2, 1).map((v, i) => (i % 3 === 0 ? -v : v));
    const w = rand(O * C * 9, 12, -0.4, 0.4);
    await gradCheck(
      (xt, wt, g, b) => withFields(conv, { weight: wt, gamma: g, beta: b }, () => conv.forward(xt)),
      [
        { data: x, shape: [N, C, HW, HW] },
        { data: w, shape: [O, C, 3, 3] },
        { data: rand(O, 13, 0.5, 1.5), shape: [O] },
        { data: rand(O, 14, -0.5, 0.5), shape: [O] },
      ],
      { eps: 1e-2, atol: 2e-2, rtol: 2e-2 },
    );
    conv.dispose();
  });

  it('float QLinear (signed input): gradients w.r.t. x, weight, bias', async () => {
    const fc = new QLinear('fc', 7, 5, { inputSigned: true, quant: floatQuant(), rng: new Rng(4) });
    await gradCheck(
      (xt, wt, b) => withFields(fc, { weight: wt, bias: b }, () => fc.forward(xt)),
      [
        { data: rand(3 * 7, 21), shape: [3, 7] },
        { data: rand(5 * 7, 22), shape: [5, 7] },
        { data: rand(5, 23), shape: [5] },
      ],
      { eps: 1e-2, atol: 1e-2, rtol: 1e-2 },
    );
    fc.dispose();
  });

  // ---- b. fixed mode against the reference ------------------------------------------------
  for (const c of CASES) {
    it(`fixed: ${c.name}: forward${c.foldOrder === 'paper' ? '' : ' and gradients'} match the reference`, async () => {
      const d = caseData(c);
      const { layer, next } = buildLayer(c, d);
      compare(c, await runGpu(layer, next, d), d.ref);
      layer.dispose();
      next?.dispose();
    });
  }

  it('fixed: the gradient to the following alpha uses the s_next of the forward pass, even after the following layer updates its running length', async () => {
    const c = CASES[0];
    const d = caseData(c);
    const { layer, next } = buildLayer(c, d);
    // As in a network: the following layer's forward updates its running length between this
    // layer's forward and the backward.
    const g = await runGpu(layer, next, d, () => next!.inputFraclenRun.write([NEXT.run + 2]));
    compare(c, g, d.ref);
    layer.dispose();
    next!.dispose();
  });

  // ---- c. running lengths -----------------------------------------------------------------
  it('running input length: fl_run = m*fl_batch + (1-m)*fl_run; input_fraclen records fl_batch; eval uses clamp(roundHalfEven(fl_run))', async () => {
    const e = Engine.get();
    const m = 0.3;
    for (const signed of [false, true]) {
      const conv = new QConv2d('c', C, O, 3, { padding: 1, inputSigned: signed, quant: fixedQuant({ momentumForMetric: m }), rng: new Rng(5) });
      const next = new QConv2d('n', O, O, 1, { inputSigned: false, quant: fixedQuant(), rng: new Rng(6) });
      conv.following = next;
      const flmax = signed ? 7 : 8;
      let run = (await conv.inputFraclenRun.item());
      expect(run).toBe(6); // starting format (8, 6)
      let closed = run;
      // Known std: uniform(-s, s) has std s/sqrt(3); scales chosen so fl_batch moves both ways.
      for (const [k, scale] of [0.3, 1, 8, 0.05, 2, 0.01].entries()) {
        const x = rand(N * C * HW * HW, 40 + k, -scale, scale);
        const fl = fraclenFromTensor(x, { wl: 8, signed, metric: 'std' });
        e.tidy(() => conv.forward(Tensor.from(x, [N, C, HW, HW])));
        expect(await conv.inputFraclen.item(), `step ${k}: input_fraclen`).toBe(fl);
        const got = await conv.inputFraclenRun.item();
        expect(Math.abs(got - (m * fl + (1 - m) * run)), `step ${k}: one f32 update`).toBeLessThan(1e-6);
        closed = m * fl + (1 - m) * closed;
        expect(Math.abs(got - closed), `step ${k}: closed form`).toBeLessThan(1e-5);
        run = got;
      }
      // Evaluation: round half to even, clamped to [0, wl - signed]; fl_run is not changed.
      conv.eval();
      const x = rand(N * C * HW * HW, 60, -1, 1);
      for (const [r, want] of [[4.5, 4], [5.5, 6], [6.5, 6], [5.49, 5], [9.7, flmax], [-0.7, 0]] as const) {
        conv.inputFraclenRun.write([r]);
        e.tidy(() => conv.forward(Tensor.from(x, [N, C, HW, HW])));
        expect(await conv.inputFraclen.item(), `eval fl for run ${r}`).toBe(want);
        expect(await conv.inputFraclenRun.item()).toBe(Math.fround(r));
      }
      conv.dispose();
      next.dispose();
    }
  });

  // ---- d. master sharing ------------------------------------------------------------------
  class Pair extends Module {
    readonly a: QConv2d;
    readonly b: QConv2d;
    constructor(quant: QuantConfig) {
      super();
      const rng = new Rng(9);
      this.a = this.child('a', new QConv2d('a', C, O, 3, { padding: 1, inputSigned: false, quant, rng }));
      this.b = this.child('b', new QConv2d('b', C, 2, 1, { inputSigned: false, quant, rng }));
      this.b.master = this.a;
    }
    forward(x: Tensor): Tensor {
      return x;
    }
  }
  const pairRef = async (l: QConv2d, d: { x: Float32Array; gy: Float32Array }, alpha: number, fl: number | undefined, scaleFraclen: number) =>
    refQLayer({
      x: d.x,
      xShape: [N, C, HW, HW],
      weight: (await l.weight.read()) as Float32Array,
      wShape: [...l.weight.shape],
      conv: { padding: l.conv.padding },
      bn: { gamma: await l.gamma!.read(), beta: await l.beta!.read(), runningMean: await l.runningMean!.read(), runningVar: await l.runningVar!.read() },
      alpha,
      wl: 8,
      signed: false,
      training: l.training,
      inputFraclen: fl,
      scaleFraclen,
      gy: d.gy,
    });

  it('master sharing: one alpha (both layers\' gradients go to the master), two private lengths, both in the state dict', async () => {
    const e = Engine.get();
    const p = new Pair(fixedQuant());
    p.a.alpha.write([6]);
    p.b.alpha.write([11]); // unused: b takes the master's
    p.a.inputFraclenRun.write([3]);
    p.b.inputFraclenRun.write([7]);
    const x = rand(N * C * HW * HW, 70, -0.5, 1.5);
    const ga = rand(N * O * HW * HW, 71);
    const gb = rand(N * 2 * HW * HW, 72);
    const fl0 = fraclenFromTensor(x, { wl: 8, signed: false, metric: 'std' });
    // Private lengths: each s_in from its own updated rounded running length.
    const refA = await pairRef(p.a, { x, gy: ga }, 6, undefined, refEvalFraclen(Math.fround(0.1 * fl0 + 0.9 * 3), 8, false));
    const refB = await pairRef(p.b, { x, gy: gb }, 6, undefined, refEvalFraclen(Math.fround(0.1 * fl0 + 0.9 * 7), 8, false));
    const [ya, yb] = await e.tidyAsync(async () => {
      const xt = Tensor.from(x, [N, C, HW, HW]);
      const a = p.a.forward(xt);
      const b = p.b.forward(xt);
      backward(a, Tensor.from(ga, a.shape));
      backward(b, Tensor.from(gb, b.shape));
      return [await a.read(), await b.read()];
    });
    expectClose(ya, refA.y, 1e-4 * maxAbs(refA.y), 1e-4, 'a: y');
    expectClose(yb, refB.y, 1e-4 * maxAbs(refB.y), 1e-4, 'b: y (with the master\'s alpha)');
    const want = refA.grads!.alpha + refB.grads!.alpha;
    expectClose([await p.a.alpha.grad!.item()], [want], 1e-3 * Math.abs(want), 1e-3, 'master alpha gradient = sum of both');
    expect(p.b.alpha.grad, 'b\'s own alpha gets no gradient').toBeNull();
    // Private lengths: the same batch length, two running values from two starting points.
    const fl = fraclenFromTensor(x, { wl: 8, signed: false, metric: 'std' });
    expect(await p.a.inputFraclen.item()).toBe(fl);
    expect(await p.b.inputFraclen.item()).toBe(fl);
    expect(await p.a.inputFraclenRun.item()).toBeCloseTo(0.1 * fl + 0.9 * 3, 5);
    expect(await p.b.inputFraclenRun.item()).toBeCloseTo(0.1 * fl + 0.9 * 7, 5);
    // In evaluation each uses its own round(fl_run).
    p.eval();
    p.a.inputFraclenRun.write([3.2]);
    p.b.inputFraclenRun.write([6.8]);
    e.tidy(() => {
      const xt = Tensor.from(x, [N, C, HW, HW]);
      p.a.forward(xt);
      p.b.forward(xt);
    });
    expect(await p.a.inputFraclen.item()).toBe(3);
    expect(await p.b.inputFraclen.item()).toBe(7);
    const sd = await p.stateDict();
    for (const k of ['alpha', 'input_fraclen_run', 'input_fraclen', 'weight_fraclen', 'weight']) {
      expect(sd.has(`a.${k}`), `a.${k}`).toBe(true);
      expect(sd.has(`b.${k}`), `b.${k}`).toBe(true);
    }
    expect(sd.get('a.alpha')!.data[0]).toBe(6);
    expect(sd.get('b.alpha')!.data[0]).toBe(11);
    clearGrads(p);
    p.dispose();
  });

  it('input_fraclen_sharing: the second layer uses the master\'s length (training and evaluation)', async () => {
    const e = Engine.get();
    const p = new Pair(fixedQuant({ inputFraclenSharing: true }));
    p.a.alpha.write([6]);
    const x = rand(N * C * HW * HW, 80, -0.5, 1.5);
    const x4 = x.map((v) => 4 * v); // b reads 4x: its own batch length would be 2 lower
    const flA = fraclenFromTensor(x, { wl: 8, signed: false, metric: 'std' });
    expect(fraclenFromTensor(x4, { wl: 8, signed: false, metric: 'std' })).toBe(flA - 2);
    const gb = rand(N * 2 * HW * HW, 81);
    // Quantised with the master's batch length, scaled with the master's updated rounded running length.
    const refB = await pairRef(p.b, { x: x4, gy: gb }, 6, flA, refEvalFraclen(Math.fround(0.1 * flA + 0.9 * 6), 8, false));
    const yb = await e.tidyAsync(async () => {
      p.a.forward(Tensor.from(x, [N, C, HW, HW]));
      return p.b.forward(Tensor.from(x4, [N, C, HW, HW])).read();
    });
    expect(await p.b.inputFraclen.item()).toBe(flA);
    expectClose(yb, refB.y, 1e-4 * maxAbs(refB.y), 1e-4, 'b with the master\'s fl');
    p.eval();
    p.a.inputFraclenRun.write([3.2]);
    p.b.inputFraclenRun.write([6.8]);
    e.tidy(() => p.b.forward(Tensor.from(x, [N, C, HW, HW])));
    expect(await p.b.inputFraclen.item()).toBe(3);
    p.dispose();
  });

  // ---- e. evaluation mode -----------------------------------------------------------------
  it('evaluation: no running statistic changes and the output is deterministic', async () => {
    const e = Engine.get();
    const c = CASES[4];
    const d = caseData(c);
    const { layer, next } = buildLayer(c, d);
    const conv = layer as QConv2d;
    const state = async () => [await conv.runningMean!.read(), await conv.runningVar!.read(), await conv.inputFraclenRun.read(), await next!.inputFraclenRun.read()];
    const before = await state();
    const outs: Float32Array[] = [];
    for (let i = 0; i < 3; i++) outs.push((await e.tidyAsync(() => conv.forward(Tensor.from(d.x, d.xShape)).read())) as Float32Array);
    const after = await state();
    before.forEach((b, i) => expectExact(after[i], b, `state ${i}`));
    expectExact(outs[1], outs[0], 'second eval pass');
    expectExact(outs[2], outs[0], 'third eval pass');
    expectClose(outs[0], d.ref.y, 1e-4 * maxAbs(d.ref.y), 1e-4, 'eval y vs reference');
    expect(await conv.inputFraclen.item()).toBe(refEvalFraclen(d.inputRun, 8, false));
    layer.dispose();
    next!.dispose();
  });
});

gpuDescribe('F8Net layers with per-channel input lengths', () => {
  const shape = [2, 3, 5, 5];
  const plane = 2 * 5 * 5;
  function build(inputFormatType: 'per_layer' | 'per_channel', alpha: number): QConv2d {
    const q = fixedQuant({ formatType: 'per_layer', inputFormatType });
    const c = new QConv2d('c', 3, 4, 3, { padding: 1, inputSigned: false, quant: q, rng: new Rng(4) });
    c.alpha.write([alpha]);
    return c;
  }

  it('equal channels: per-channel lengths give exactly the per-layer layer (output and gradients)', async () => {
    const e = Engine.get();
    // Every channel holds the same values, so every per-channel length equals the layer's.
    const base = rand(plane, 31, -2, 3);
    const x = new Float32Array(2 * 3 * 25);
    for (let n = 0; n < 2; n++) for (let c = 0; c < 3; c++) for (let i = 0; i < 25; i++) x[(n * 3 + c) * 25 + i] = base[n * 25 + i];
    // alpha = 255 / 2^6 makes s_in a power of two, so both foldings round identically.
    const res = [];
    for (const kind of ['per_layer', 'per_channel'] as const) {
      const layer = build(kind, 255 / 64);
      res.push(
        await e.tidyAsync(async () => {
          const xt = Tensor.from(x, shape);
          xt.requiresGrad = true;
          const y = layer.forward(xt);
          backward(y, Tensor.from(rand(y.size, 5), y.shape as number[]));
          const out = {
            y: await y.read(),
            gx: await xt.grad!.read(),
            gw: await layer.weight.grad!.read(),
            ga: await layer.alpha.grad!.read(),
            fl: [...(await layer.inputFraclen.read())],
          };
          layer.dispose();
          return out;
        }),
      );
    }
    expect(res[1].fl).toEqual([res[0].fl[0], res[0].fl[0], res[0].fl[0]]);
    expectExact(res[1].y, res[0].y, 'y');
    expectClose(res[1].gx, res[0].gx, 1e-6, 1e-5, 'dx');
    expectClose(res[1].gw, res[0].gw, 1e-6, 1e-5, 'dw');
    expectClose(res[1].ga, res[0].ga, 1e-6, 1e-4, 'dalpha');
  });

  it('channels of different scales get their own lengths, and the running lengths follow them', async () => {
    const e = Engine.get();
    const x = new Float32Array(2 * 3 * 25);
    const scales = [0.05, 1, 20];
    for (let n = 0; n < 2; n++) for (let c = 0; c < 3; c++) for (let i = 0; i < 25; i++) x[(n * 3 + c) * 25 + i] = Math.sin(7 * i + n + 3 * c) * scales[c];
    const layer = build('per_channel', 8);
    await e.tidyAsync(async () => {
      const y = layer.forward(Tensor.from(x, shape));
      expect([...(await y.read())].every(Number.isFinite)).toBe(true);
    });
    const want = fraclenFromTensor(x, { wl: 8, signed: false, metric: 'std', perChannel: { outer: 2, channels: 3, inner: 25 } });
    expect([...(await layer.inputFraclen.read())]).toEqual([...want]);
    expect(new Set(want).size).toBe(3);
    const run = await layer.inputFraclenRun.read();
    for (let c = 0; c < 3; c++) expect(run[c]).toBeCloseTo(0.1 * want[c] + 0.9 * 6, 5);
    layer.dispose();
  });

  it('refuses per-channel input lengths on a grouped convolution that is not depthwise', () => {
    const q = fixedQuant({ inputFormatType: 'per_channel' });
    expect(() => new QConv2d('g', 4, 8, 3, { groups: 2, inputSigned: false, quant: q, rng: new Rng(1) })).toThrow(/per-channel input lengths need groups 1 or a depthwise conv/);
  });

  it('classifier_form paper refuses per-channel input lengths and a following layer; an unknown form is named', async () => {
    const e = Engine.get();
    const run = (quant: QuantConfig, following = false) => {
      const fc = new QLinear('fc', 6, 3, { inputSigned: false, quant, rng: new Rng(2) });
      const next = following ? new QConv2d('next', 3, 2, 1, { inputSigned: false, quant: fixedQuant(), rng: new Rng(3) }) : null;
      fc.following = next;
      try {
        e.tidy(() => void fc.forward(Tensor.from(rand(12, 5, 0, 1), [2, 6])));
      } finally {
        fc.dispose();
        next?.dispose();
      }
    };
    expect(() => run(fixedQuant({ classifierForm: 'paper', inputFormatType: 'per_channel' }))).toThrow(/layer fc: classifier_form paper has one input length/);
    expect(() => run(fixedQuant({ classifierForm: 'paper' }), true)).toThrow(/layer fc: classifier_form paper is for the last layer.*next reads it/);
    expect(() => run(fixedQuant({ classifierForm: 'pap' as ClassifierForm }))).toThrow(/layer fc: classifier form 'pap' is not one of folded, paper/);
  });
});

gpuDescribe('rescale_forward', () => {
  class Probe extends QConv2d {
    rescale(w: Tensor, fanOut: number): Tensor {
      return this.rescaled(w, fanOut);
    }
  }
  it('multiplies the weight by 1 / sqrt(fan_out) / std(w), with gradients through std', async () => {
    const q = fixedQuant({ rescaleForward: true });
    const p = new Probe('p', 2, 3, 3, { padding: 1, inputSigned: false, quant: q, rng: new Rng(2) });
    const w = rand(3 * 2 * 9, 12, -1, 1);
    const n = w.length;
    const mean = w.reduce((a, b) => a + b, 0) / n;
    const std = Math.sqrt(w.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
    const got = await p.rescale(Tensor.from(w, [3, 2, 3, 3]), 27).read();
    expectClose(got, Array.from(w, (v) => v / Math.sqrt(27) / std), 1e-6, 1e-5, 'rescaled');
    await gradCheck((t) => p.rescale(t, 27), [{ data: w.slice(0, 12), shape: [12] }], { eps: 1e-3, atol: 5e-3, rtol: 5e-3 });
    p.dispose();
  });

  it('rescale_forward_conv false leaves the convolutions as without rescale_forward (the paper: its classifier alone)', async () => {
    const e = Engine.get();
    const x = rand(2 * 2 * 5 * 5, 31, 0, 2);
    const out = async (quant: QuantConfig): Promise<Float32Array> => {
      const conv = new QConv2d('c', 2, 3, 3, { padding: 1, inputSigned: false, quant, rng: new Rng(7) });
      try {
        return (await e.tidyAsync(() => conv.forward(Tensor.from(x, [2, 2, 5, 5])).read())) as Float32Array;
      } finally {
        conv.dispose();
      }
    };
    const plain = await out(fixedQuant({ rescaleForward: false }));
    expect(Array.from(await out(fixedQuant({ rescaleForward: true, rescaleForwardConv: false })))).toEqual(Array.from(plain));
    expect(Array.from(await out(fixedQuant({ rescaleForward: true })))).not.toEqual(Array.from(plain));
  });
});
