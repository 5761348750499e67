/**
 * The golden training steps of test/golden/layers.json (tools/seed_goldens.py: the paper's own
 * PyTorch modules), decoded, and the comparisons both golden tests use:
 *  - levels (integer weights, x_q levels, fractional lengths): exactly equal;
 *  - floats: max |got - want| <= 1e-5 * max |want| over the tensor (relative to the tensor's
 *    scale: single elements of a gradient can be cancellations near 0);
 *  - BN running statistics: the same; per element (|got - want| <= 1e-5 |want|) for the variance;
 *  - alpha gradients: 1e-5 of the sum of the absolute terms they add up (the scalings nearly
 *    cancel through BN, so the gradient itself can be 1e-6 of its terms and the paper's f32 value
 *    is only good to ~1e-7 of them).
 * Every comparison is recorded in `summary` (largest relative difference per kind, levels off),
 * which the tests print at the end.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';

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
