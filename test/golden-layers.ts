/**
 * The golden training steps of test/golden/layers.json (tools/seed_goldens.py: the paper's own
 * PyTorch modules), decoded, and the comparisons both golden tests use:
 *  - levels (integer weights, x_q levels, fractional lengths): exactly equal;
 *  - floats: max |got - want| <= 1e-5 * max |want| over the tensor (relative to the tensor's
 *    scale: single elements of a gradient can be cancellations near 0);
 *  - BN running statistics: the same; per element (|got - want| <= 1e-5 |want|) for the variance;
 *  - beta and gamma gradients (sums over the batch that the next layer's BN nearly cancels):
 *    1e-5 of the larger of the tensor's scale and the sum of the terms' magnitudes (betaTerms,
 *    RefQLayerGrads.gammaScale);
 *  - alpha gradients: 1e-5 of the sum of the absolute terms they add up (the scalings nearly
 *    cancel through BN, so the gradient itself can be 1e-6 of its terms and the paper's f32 value
 *    is only good to ~1e-7 of them).
 * Every comparison is recorded in `summary` (largest relative difference per kind, levels off),
 * which the tests print at the end.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { refQLayer, type RefQLayerResult } from '../src/nn/qlayers.ref.js';
import { evalFraclen, fixScaling, fraclenFromTensor, gridSearchFraclen, runningFraclen } from '../src/quant/fixed.js';
import type { ClassifierForm } from '../src/quant/classifier-form.js';

export const REL = 1e-5;

export type F32 = { f32: string };

export interface LayerSpec {
  name: string;
  kind: 'conv' | 'linear';
  in: number;
  out: number;
  kernel?: number;
  stride?: number;
  padding?: number;
  groups?: number;
  signed: boolean;
  master: string | null;
  following: string | null;
  head: 'weight_only' | 'double_side' | null;
  perChannelW: boolean;
  pcInput: boolean;
  method: 'metric' | 'grid';
  metric: 'std' | 'mae' | 'rms';
}

export interface LayerState {
  alpha: number;
  weight: F32;
  gamma?: F32;
  beta?: F32;
  runningMean?: F32;
  runningVar?: F32;
  bias?: F32;
  flRun: F32;
}

export interface LayerGrads {
  alpha: number | null;
  weight: F32 | null;
  gamma?: F32 | null;
  beta?: F32 | null;
  bias?: F32 | null;
}

export interface LayerStep {
  input: F32;
  inputShape: number[];
  output: F32;
  outputShape: number[];
  gradOutput?: F32;
  flIn?: number[];
  xq?: number[];
  flW: number[];
  wInt: number[];
  sIn: F32;
}

export interface Step {
  train: boolean;
  quantBias: boolean;
  x: F32;
  xShape: number[];
  y: F32;
  yShape: number[];
  R?: F32;
  gradX?: F32;
  grads?: Record<string, LayerGrads>;
  layers: Record<string, LayerStep>;
}

export interface GoldenCase {
  name: string;
  net: 'conv' | 'depthwise' | 'conv_linear' | 'resnet_basic' | 'mbv2' | 'head_weight_only' | 'head_double_side';
  seed: number;
  momentum: number;
  layers: LayerSpec[];
  states: Record<string, LayerState>[];
  steps: Step[];
  batchFlips: number;
  stepsBatchNotRunning: number;
}

export interface Golden {
  meta: { sgd: { lr: number; momentum: number; nesterov: boolean; weightDecay: number }; trainSteps: number };
  cases: GoldenCase[];
}

export function loadGolden(): Golden {
  return JSON.parse(readFileSync(new URL('./golden/layers.json', import.meta.url), 'utf8')) as Golden;
}

export function f32(v: F32): Float32Array {
  const b = Buffer.from(v.f32, 'base64');
  const out = new Float32Array(b.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = b.readFloatLE(4 * i);
  return out;
}

/** The layer whose alpha `spec` uses (its master's owner, or itself). */
export function alphaOwner(c: GoldenCase, name: string): string {
  let s = c.layers.find((l) => l.name === name)!;
  while (s.master) s = c.layers.find((l) => l.name === s.master)!;
  return s.name;
}

export const summary = {
  comparisons: 0,
  levels: 0,
  levelsOff: 0,
  maxRel: {} as Record<string, number>,
  note(kind: string, rel: number): void {
    this.maxRel[kind] = Math.max(this.maxRel[kind] ?? 0, rel);
  },
  text(title: string): string {
    const rows = Object.entries(this.maxRel)
      .sort()
      .map(([k, v]) => `  ${k.padEnd(16)} ${v.toExponential(2)}`);
    return `${title}: ${this.comparisons} float comparisons, ${this.levels} level comparisons, ${this.levelsOff} levels off\n  largest relative differences:\n${rows.join('\n')}`;
  },
};

/** Floats: max |got - want| <= REL * max |want| (kind: the summary's row). */
export function expectRel(got: ArrayLike<number>, want: ArrayLike<number>, kind: string, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= worst) || Number.isNaN(d)) {
      worst = Number.isNaN(d) ? Infinity : d;
      at = i;
    }
  }
  const rel = scale > 0 ? worst / scale : worst;
  summary.comparisons++;
  summary.note(kind, rel);
  if (!(rel <= REL)) expect.fail(`${what}: relative difference ${rel.toExponential(3)} > ${REL} at ${at}: got ${got[at]}, want ${want[at]} (scale ${scale})`);
}

/**
 * A sum that cancels (an alpha gradient): |got - want| <= REL * scale, `scale` the sum of the
 * absolute terms (RefQLayerGrads.alphaScale); the summary notes the difference over the scale.
 */
export function expectRelTo(got: number, want: number, scale: number, kind: string, what: string): void {
  const rel = Math.abs(got - want) / scale;
  summary.comparisons++;
  summary.note(kind, rel);
  if (!(rel <= REL)) expect.fail(`${what}: got ${got}, want ${want}: difference ${rel.toExponential(3)} of the terms' scale ${scale} > ${REL}`);
}

/**
 * A per-channel sum that can cancel (the beta gradient: sum of dL/dy over the channel / s_next):
 * |got_c - want_c| <= REL * max(max |want|, terms_c), terms_c the sum of its terms' magnitudes.
 */
export function expectRelTerms(got: ArrayLike<number>, want: ArrayLike<number>, terms: ArrayLike<number>, kind: string, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const rel = Math.abs(got[i] - want[i]) / Math.max(scale, terms[i]);
    worst = Math.max(worst, Number.isNaN(rel) ? Infinity : rel);
    if (!(rel <= REL)) expect.fail(`${what}[${i}]: got ${got[i]}, want ${want[i]}: difference ${rel.toExponential(3)} of max(${scale}, terms ${terms[i]}) > ${REL}`);
  }
  summary.comparisons++;
  summary.note(kind, worst);
}

/**
 * The fix scaling that divides `spec`'s output (its following layer's, from that layer's
 * rounded running length before step t; 1 without one), per channel of the output.
 */
export function sNextOf(c: GoldenCase, spec: LayerSpec, t: number): number[] {
  if (!spec.following) return [1];
  const f = c.layers.find((l) => l.name === spec.following)!;
  const alpha = c.states[t][alphaOwner(c, f.name)].alpha;
  return Array.from(f32(c.states[t][f.name].flRun), (r) => fixScaling(alpha, evalFraclen(r, 8, f.signed), 8, f.signed));
}

/** Per output channel: the sum of |dL/dy| / s_next, the magnitude of the beta gradient's terms. */
export function betaTerms(c: GoldenCase, spec: LayerSpec, t: number): number[] {
  const ls = c.steps[t].layers[spec.name];
  const gy = f32(ls.gradOutput!);
  const O = spec.out;
  const hw = ls.outputShape.slice(2).reduce((a, b) => a * b, 1);
  const s = sNextOf(c, spec, t);
  const out = new Array<number>(O).fill(0);
  gy.forEach((v, i) => (out[Math.floor(i / hw) % O] += Math.abs(v)));
  return out.map((v, o) => v / Math.abs(s[s.length > 1 ? o : 0]));
}

/** Per element: |got - want| <= REL * |want| (BN running variance, positive). */
export function expectRelEach(got: ArrayLike<number>, want: ArrayLike<number>, kind: string, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const rel = Math.abs(got[i] - want[i]) / Math.abs(want[i]);
    worst = Math.max(worst, Number.isNaN(rel) ? Infinity : rel);
    if (!(rel <= REL)) expect.fail(`${what}[${i}]: got ${got[i]}, want ${want[i]} (relative ${rel.toExponential(3)} > ${REL})`);
  }
  summary.comparisons++;
  summary.note(kind, worst);
}

/** Levels: exactly equal. */
export function expectLevels(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  let off = 0;
  let first = '';
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) {
      if (!off) first = `at ${i}: got ${got[i]}, want ${want[i]}`;
      off++;
    }
  }
  summary.levels += want.length;
  summary.levelsOff += off;
  if (off) expect.fail(`${what}: ${off} of ${want.length} levels differ (${first})`);
}

/** Where the gradient w.r.t. each layer's input goes: 'x' (the case input) or the output of a layer. */
export const SINKS: Record<GoldenCase['net'], Record<string, string[]>> = {
  conv: { layer: ['x'], next: ['layer'] },
  depthwise: { layer: ['x'], next: ['layer'] },
  conv_linear: { layer: ['x'], next: ['layer'] },
  head_weight_only: { layer: ['x'], next: ['layer'] },
  head_double_side: { layer: ['x'], next: ['layer'] },
  // relu(conv2 + downsample) feeds next: its input gradient is both addends' output gradient
  // (where the sum is <= 0 next's input is 0, which its unsigned quantiser's mask already drops).
  resnet_basic: { conv1: ['x'], downsample: ['x'], conv2: ['conv1'], next: ['conv2', 'downsample'] },
  // project + x feeds next: its input gradient reaches project's output and, by the identity, x.
  mbv2: { expand: ['x'], depthwise: ['expand'], project: ['depthwise'], next: ['project', 'x'] },
};

export const levelsOf = (v: ArrayLike<number>, fl: number[], inner: number) => Array.from(v, (x, i) => x * 2 ** fl[fl.length > 1 ? Math.floor(i / inner) % fl.length : 0]);

export function refLayer(c: GoldenCase, spec: LayerSpec, t: number, T: number, classifierForm?: ClassifierForm): { r: RefQLayerResult; fl: number } {
  const step = c.steps[t];
  const ls = step.layers[spec.name];
  const st = c.states[step.train ? t : T];
  const me = st[spec.name];
  const x = f32(ls.input);
  const signed = spec.signed;
  const run = f32(me.flRun)[0];
  // A weight_only head's input length is 8, fixed (the paper's get_input_fraclen; its buffer,
  // never updated, is not compared).
  const wo = spec.head === 'weight_only';
  let fl: number;
  if (wo) fl = 8;
  else if (!step.train) fl = evalFraclen(run, 8, signed);
  else if (spec.method === 'grid') fl = gridSearchFraclen(x, { wl: 8, signed }).fl;
  else fl = fraclenFromTensor(x, { wl: 8, signed, metric: spec.metric });
  // s_in from the rounded running length after this step's update (F8NET.md §3).
  const runNew = step.train && !wo ? runningFraclen(run, fl, c.momentum) : run;
  if (step.train && !wo) expectRel([runNew], f32(c.states[t + 1][spec.name].flRun), 'flRun', `${spec.name} fl_run`);
  const fspec = spec.following ? c.layers.find((l) => l.name === spec.following)! : null;
  const next = fspec
    ? { alpha: st[alphaOwner(c, fspec.name)].alpha, fl: evalFraclen(f32(st[fspec.name].flRun)[0], 8, fspec.signed), wl: 8, signed: fspec.signed }
    : null;
  const conv = spec.kind === 'conv';
  const wShape = conv ? [spec.out, spec.in / spec.groups!, spec.kernel!, spec.kernel!] : [spec.out, spec.in];
  const r = refQLayer({
    x,
    xShape: conv ? ls.inputShape : [ls.inputShape[0], spec.in],
    weight: f32(me.weight),
    wShape,
    conv: conv ? { stride: spec.stride, padding: spec.padding, groups: spec.groups } : undefined,
    bn: conv ? { gamma: f32(me.gamma!), beta: f32(me.beta!), runningMean: f32(me.runningMean!), runningVar: f32(me.runningVar!), eps: 1e-5, momentum: 0.1 } : null,
    bias: conv ? undefined : f32(me.bias!),
    alpha: st[alphaOwner(c, spec.name)].alpha,
    wl: 8,
    signed,
    headForm: spec.head ?? undefined,
    metric: spec.metric,
    fraclenMethod: spec.method,
    perChannel: spec.perChannelW,
    training: step.train,
    inputFraclen: fl,
    scaleFraclen: evalFraclen(runNew, 8, signed),
    quantBias: step.quantBias,
    ...(classifierForm ? { classifierForm } : {}),
    next,
    gy: step.train ? f32(ls.gradOutput!) : undefined,
  });
  return { r, fl };
}

