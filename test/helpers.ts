/**
 * Test helpers: opening the engine once per file (skipping with a message only where no
 * adapter exists), comparing GPU results with CPU references, and gradient checks.
 */
import { describe, beforeAll, afterAll, expect } from 'vitest';
import { Engine } from '../src/runtime/engine.js';
import { openGpu } from '../src/runtime/gpu.js';
import { Tensor } from '../src/tensor.js';
import { backward } from '../src/autograd/tape.js';
import { compare } from '../src/runtime/compare.js';
import '../src/ops/elementwise.js';

let adapterChecked: boolean | null = null;
async function haveAdapter(): Promise<boolean> {
  if (adapterChecked !== null) return adapterChecked;
  try {
    const g = await openGpu();
    g.release();
    adapterChecked = true;
  } catch {
    adapterChecked = false;
  }
  return adapterChecked;
}

const available = await haveAdapter();
if (!available) {
  if (process.env.CI) throw new Error('CI=true but no WebGPU adapter was found: scripts/setup.sh should have installed one');
  console.warn('f8net tests: no WebGPU adapter on this machine; GPU tests are skipped (run scripts/setup.sh)');
}

/** Whether a WebGPU adapter exists here (on CI one must). */
export const gpuAvailable = available;

/** describe() for tests that need the GPU: opens the engine before and closes it after. */
export function gpuDescribe(name: string, body: () => void): void {
  (available ? describe : describe.skip)(name, () => {
    beforeAll(async () => {
      if (!Engine.tryGet()) await Engine.open();
    });
    afterAll(async () => {
      await Engine.tryGet()?.close();
    });
    body();
  });
}

export type { ConvCase } from '../src/bench/check.js';

/** Deterministic pseudo-random numbers for tests (mulberry32). */
export function rand(n: number, seed = 1, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = lo + (hi - lo) * u;
  }
  return out;
}

/** Asserts |got - ref| <= atol + rtol*|ref| everywhere (src/runtime/compare.ts), listing the first mismatches. */
export function expectClose(got: ArrayLike<number>, ref: ArrayLike<number>, atol = 1e-5, rtol = 1e-4, what = ''): void {
  expect(got.length, `${what} length`).toBe(ref.length);
  const r = compare(got, ref, { atol, rtol });
  if (!r.ok) expect.fail(`${what}: ${r.mismatches} of ${ref.length} differ (atol ${atol}, rtol ${rtol}): ${r.first.join('; ')}`);
}

/** Asserts bit-exact equality (src/runtime/compare.ts), listing the first mismatches. */
export function expectExact(got: ArrayLike<number>, ref: ArrayLike<number>, what = ''): void {
  expect(got.length, `${what} length`).toBe(ref.length);
  const r = compare(got, ref, { exact: true });
  if (!r.ok) expect.fail(`${what}: ${r.mismatches} of ${ref.length} differ: ${r.first.join('; ')}`);
}

/**
 * Finite-difference gradient check of `f` at `inputs` (f32, small shapes): compares the tape's
 * gradient of sum(f(inputs) * R) for a fixed random R with central differences.
 * `which` limits the check to some inputs (others still get requiresGrad = false).
 */
export async function gradCheck(
  f: (...xs: Tensor[]) => Tensor,
  inputs: { data: Float32Array; shape: number[] }[],
  opts: { eps?: number; atol?: number; rtol?: number; which?: number[]; maxPerInput?: number } = {},
): Promise<void> {
  const eps = opts.eps ?? 1e-2;
  const atol = opts.atol ?? 2e-2;
  const rtol = opts.rtol ?? 2e-2;
  const which = opts.which ?? inputs.map((_, i) => i);
  const engine = Engine.get();
  const evalSum = async (datas: Float32Array[], R: Float32Array | null): Promise<number | Float32Array> => {
    const out = engine.tidy(() => f(...datas.map((d, i) => Tensor.from(d, inputs[i].shape))));
    const y = (await out.read()) as Float32Array;
    out.dispose();
    if (!R) return y;
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * R[i];
    return s;
  };
  const y0 = (await evalSum(inputs.map((x) => x.data), null)) as Float32Array;
  const R = rand(y0.length, 777, -1, 1);
  // Analytic gradients.
  const grads = await engine.tidyAsync(async () => {
    const ts = inputs.map((x, i) => {
      const t = Tensor.from(x.data, x.shape);
      t.requiresGrad = which.includes(i);
      return t;
    });
    const out = f(...ts);
    backward(out, Tensor.from(R, out.shape as number[]));
    const gs: Float32Array[] = [];
    for (const i of which) {
      const g = ts[i].grad;
      gs.push(g ? ((await g.read()) as Float32Array) : new Float32Array(inputs[i].data.length));
      g?.dispose();
    }
    return gs;
  });
  for (let w = 0; w < which.length; w++) {
    const i = which[w];
    const n = inputs[i].data.length;
    const idx = [...Array(n).keys()];
    const pick = opts.maxPerInput && n > opts.maxPerInput ? idx.filter((_, k) => k % Math.ceil(n / opts.maxPerInput!) === 0) : idx;
    const num: number[] = [];
    const ana: number[] = [];
    for (const j of pick) {
      const plus = inputs.map((x) => x.data.slice());
      const minus = inputs.map((x) => x.data.slice());
      plus[i][j] += eps;
      minus[i][j] -= eps;
      const fp = (await evalSum(plus, R)) as number;
      const fm = (await evalSum(minus, R)) as number;
      num.push((fp - fm) / (2 * eps));
      ana.push(grads[w][j]);
    }
    expectClose(ana, num, atol, rtol, `gradient of input ${i}`);
  }
}
