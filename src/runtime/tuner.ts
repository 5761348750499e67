/**
 * Per-adapter kernel tuning. Kernels with variants (tile sizes, workgroup size, subgroup use,
 * the int8 dot path) read their knobs from exported tuning objects (conv2dTuning,
 * depthwiseTuning, matmulTiles, int8Tuning); the engine compiles one pipeline per distinct
 * setting. The first time f8net runs on an adapter, a short search tries a few settings per
 * family: each is checked against the CPU reference on a small odd-sized problem (bit-exact for
 * the integer kernels), then timed on a representative layer of the model zoo; the fastest that
 * passed is kept. The choice is cached per adapter and driver (Node: a file in the user's cache
 * folder, src/node/tuning-cache.ts; this module sees the cache only as text through a
 * TuningStore) with the f8net version and a hash of wgsl/, so a kernel change or an upgrade
 * makes it stale; a stale or corrupt cache is ignored with a warning naming it and why.
 *
 * @example
 *   const e = await Engine.open();
 *   const r = await ensureTuning(e);            // src/node/tuning-cache.ts: cache hit applies it; else searches (~1 min on lavapipe)
 *   for (const w of r.warnings) console.warn(w);
 *   await ensureTuning(e, { retune: true });     // searches again and rewrites the cache
 */
import { Engine } from './engine.js';
import { F8Error } from './errors.js';
import { Tensor } from '../tensor.js';
import { Rng } from '../runtime/rng.js';
import { conv2dForward, conv2dBackwardWeight, conv2dOutputShape, conv2dTuning, depthwiseTuning, type Conv2dOptions } from '../ops/conv2d.js';
import { refConv2d, refConv2dBackwardWeight } from '../ops/conv2d.ref.js';
import { matmul, matmulTiles } from '../ops/matmul.js';
import { refMatmul } from '../ops/matmul.ref.js';
import { int8Activation, int8Weights, int8Conv2d, readInt8, int8Tuning, int8UsesDot4, type Int8Act } from '../ops/int8.js';
import { refInt8Conv2d } from '../ops/int8.ref.js';

export type Setting = Record<string, unknown>;

export interface TuneCandidate {
  setting: Setting;
  /** Fastest of the timed runs on the representative problem; -1 when not timed (it failed its check). */
  ms: number;
  verified: boolean;
  /** Largest |GPU - CPU| on the check problem; -1 when the candidate did not run (see error). */
  maxError: number;
  /** Why the candidate did not run (compile or validation error). */
  error?: string;
}

export interface TuneReport {
  adapterKey: string;
  cacheFile: string;
  source: 'cache' | 'search' | 'defaults';
  families: { name: string; choice: Setting; candidates: TuneCandidate[] }[];
  warnings: string[];
}

export interface TuneOptions {
  /** Search even when a valid cache exists. */
  retune?: boolean;
  /** Tiny problems, two candidates per family (tests). */
  quick?: boolean;
  /** false: never search; a missing or unusable cache leaves the defaults. */
  search?: boolean;
  /** Folder of the cache files (Node; default tuningCacheDir()). */
  cacheDir?: string;
}

/**
 * Test hook: returning true for a (family, setting) corrupts that candidate's output before its
 * check, as a kernel with a wrong result would. Never set outside tests.
 */
export const tunerTestHooks: { corrupt?: (family: string, setting: Setting) => boolean } = {};

// ---- knobs and their defaults -------------------------------------------------------------------

const TARGETS = { conv2dTuning, depthwiseTuning, matmulTiles, int8Tuning } as Record<string, Record<string, unknown>>;
// Snapshot at load, before anything tunes: resetTuning() goes back to these.
const DEFAULTS = structuredClone(TARGETS);

/** Restores every knob of the tuning objects to its default. */
export function resetTuning(): void {
  for (const [k, t] of Object.entries(TARGETS)) Object.assign(t, structuredClone(DEFAULTS[k]));
}

// ---- families -----------------------------------------------------------------------------------

/** One run of an op: the output to check or dispose. */
export type Output = Tensor | Int8Act;
export interface Workload {
  run(): Output;
  /** Largest |GPU - CPU| and whether every element is within tolerance (exact for integers). */
  check(out: Output, corrupt: boolean): Promise<{ maxError: number; ok: boolean }>;
  dispose(): void;
}

/** A set of knobs tuned together, with the problems that check and time them. */
export interface Family {
  name: string;
  /** The exported tuning object whose fields are the knobs. */
  target: string;
  /** Every value each knob may take (a cached choice outside this is corrupt). */
  space: Record<string, readonly unknown[]>;
  /** Settings to try, the default first; quick: two. */
  candidates(e: Engine, quick: boolean): Setting[];
  /** The check problem (small, odd sizes) and the timed one (a zoo layer; the check problem when quick). */
  problems(quick: boolean): { check: Workload; time: Workload | null };
}

const prod = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
function uniform(n: number, seed: number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => 2 * r.nextFloat() - 1);
}
function ints(n: number, seed: number, lo: number, hi: number): Int32Array {
  const r = new Rng(seed);
  return Int32Array.from({ length: n }, () => lo + r.nextInt(hi - lo + 1));
}
function disposeOut(o: Output): void {
  if (o instanceof Tensor) o.dispose();
  else o.data.dispose();
}

/** Float comparison as the tests do it: atol for a sum of `terms` products in [-1, 1], rtol 1e-4. */
async function checkF32(out: Output, ref: ArrayLike<number>, terms: number, corrupt: boolean): Promise<{ maxError: number; ok: boolean }> {
  const got = Float32Array.from((await (out as Tensor).read()) as Float32Array);
  if (corrupt) got[0] += 1;
  const atol = 1e-4 * Math.max(1, Math.sqrt(terms) / 4);
  let maxError = 0;
  let ok = got.length === ref.length;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i] - ref[i]);
    if (!(d <= atol + 1e-4 * Math.abs(ref[i]))) ok = false;
    maxError = Math.max(maxError, Number.isNaN(d) ? Infinity : d);
  }
  return { maxError, ok };
}

function checkExact(got: Int32Array, ref: Int32Array, corrupt: boolean): { maxError: number; ok: boolean } {
  if (corrupt) got[0] ^= 1;
  let maxError = got.length === ref.length ? 0 : Infinity;
  for (let i = 0; i < ref.length; i++) maxError = Math.max(maxError, Math.abs(got[i] - ref[i]));
  return { maxError, ok: maxError === 0 };
}

/** f32 conv forward (wgsl/conv2d.wgsl fwd or wgsl/depthwise.wgsl dw_fwd): x, w shapes and options. */
function convForward(xs: number[], ws: number[], opts: Conv2dOptions, withRef: boolean): Workload {
  const xd = uniform(prod(xs), 11);
  const wd = uniform(prod(ws), 12);
  const bd = uniform(ws[0], 13);
  const ref = withRef ? refConv2d(xd, xs, wd, ws, bd, opts) : null;
  const x = Tensor.from(xd, xs);
  const w = Tensor.from(wd, ws);
  const b = Tensor.from(bd, [ws[0]]);
  return {
    run: () => conv2dForward(x, w, b, opts),
    check: (out, corrupt) => checkF32(out, ref!, ws[1] * ws[2] * ws[3], corrupt),
    dispose: () => [x, w, b].forEach((t) => t.dispose()),
  };
}

/** f32 conv weight gradient (bww / bww_win). */
function convWeightGrad(xs: number[], ws: number[], opts: Conv2dOptions, withRef: boolean): Workload {
  const xd = uniform(prod(xs), 21);
  const x = Tensor.from(xd, xs);
  const gys = conv2dOutputShape(xs, ws, opts);
  const [N, , OH, OW] = gys;
  const gyd = uniform(prod(gys), 22);
  const gy = Tensor.from(gyd, gys);
  const ref = withRef ? refConv2dBackwardWeight(xd, xs, gyd, ws, opts) : null;
  return {
    run: () => conv2dBackwardWeight(x, gy, ws, opts),
    check: (out, corrupt) => checkF32(out, ref!, N * OH * OW, corrupt),
    dispose: () => [x, gy].forEach((t) => t.dispose()),
  };
}

function matmulLoad(M: number, N: number, K: number, withRef: boolean): Workload {
  const ad = uniform(M * K, 31);
  const bd = uniform(K * N, 32);
  const ref = withRef ? refMatmul(ad, bd, M, N, K) : null;
  const a = Tensor.from(ad, [M, K]);
  const b = Tensor.from(bd, [K, N]);
  return {
    run: () => matmul(a, b),
    check: (out, corrupt) => checkF32(out, ref!, K, corrupt),
    dispose: () => [a, b].forEach((t) => t.dispose()),
  };
}

/** The exported int8 layer: unsigned codes in, bias, ReLU, shift 10, packed unsigned codes out. */
function int8ConvLoad(xs: number[], ws: number[], opts: Conv2dOptions, withRef: boolean): Workload {
  const groups = opts.groups ?? 1;
  const xc = ints(prod(xs), 41, 0, 255);
  const wc = ints(prod(ws), 42, -127, 127);
  const bc = ints(ws[0], 43, -20000, 20000);
  const ep = { relu: true, requant: { shift: 10, signed: false } };
  const ref = withRef ? refInt8Conv2d(xc, xs, wc, ws, bc, { ...opts, ...ep }) : null;
  const x = int8Activation(xc, xs, false);
  const w = int8Weights(wc, ws, groups);
  const b = Tensor.from(bc, [ws[0]], 'i32');
  return {
    run: () => int8Conv2d(x, w, b, { ...opts, ...ep }),
    check: async (out, corrupt) => checkExact(await readInt8(out as Int8Act), ref!, corrupt),
    dispose: () => [x.data, w.data, w.sums, b].forEach((t) => t.dispose()),
  };
}

const hasSubgroups = (e: Engine): boolean => e.gpu.hasSubgroups;

/** The default setting of a family's knobs (from the snapshot). */
function defaultsOf(f: Family): Setting {
  const d = DEFAULTS[f.target];
  return Object.fromEntries(Object.keys(f.space).map((k) => [k, d[k]]));
}
/** Default first, then each variant (a partial setting over the default), duplicates dropped. */
function variants(f: Family, list: Setting[]): Setting[] {
  const seen = new Set<string>();
  const out: Setting[] = [];
  for (const v of [{}, ...list]) {
    const s = { ...defaultsOf(f), ...v };
    const k = JSON.stringify(s);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(s);
  }
  return out;
}

// Sizes of the check problems miss every tile (odd channel counts and widths) yet keep the
// tuned tile intact (channels >= the largest tile, width >= 8), so check and timing share one
// pipeline and each candidate compiles once. Timed problems are layers of the model zoo.
// Tiles stay at most 128 accumulators (f32 conv) and 192 (weight gradient): past that the
// loops stop unrolling on lavapipe and the tile spills (see conv2dTuning).
export const FAMILIES: readonly Family[] = [
  {
    name: 'conv2d.fwd',
    target: 'conv2dTuning',
    space: { OCB: [8, 16, 32], PW: [1, 2, 4, 8], WG: [32, 64, 128, 256], subgroups: [true, false], SMEM: [false, true] },
    candidates(e, quick) {
      if (quick) return variants(this, [{ OCB: 16, PW: 4 }]);
      // SMEM: the shared-memory implicit GEMM real GPUs prefer (issue 16); timed like the rest.
      return variants(this, [{ OCB: 16, PW: 8 }, { OCB: 32, PW: 2 }, { OCB: 16, PW: 4 }, { OCB: 8, PW: 8 }, { WG: 128 }, { WG: 32 }, ...(hasSubgroups(e) ? [{ subgroups: false }] : []), { SMEM: true }]);
    },
    problems: (quick) => ({
      check: convForward([1, 5, 7, 11], [37, 5, 3, 3], { padding: 1 }, true),
      time: quick ? null : convForward([4, 64, 32, 32], [64, 64, 3, 3], { padding: 1 }, false),
    }),
  },
  {
    name: 'conv2d.wgrad',
    target: 'conv2dTuning',
    space: { winOCL: [1, 2, 4, 8], winCB: [8, 16, 32], wgradSMEM: [false, true] },
    candidates(e, quick) {
      if (quick) return variants(this, [{ winOCL: 2, winCB: 16 }]);
      // 2 x 32 and 8 x 8 (also 192 accumulators) spilled on lavapipe: 25x and 14x slower.
      // wgradSMEM: the shared-memory tiled GEMM real GPUs prefer (issue 16).
      return variants(this, [{ winOCL: 2, winCB: 16 }, { winOCL: 4, winCB: 8 }, { winOCL: 2, winCB: 8 }, { winOCL: 1, winCB: 32 }, { wgradSMEM: true }]);
    },
    problems: (quick) => ({
      check: convWeightGrad([1, 37, 5, 9], [67, 37, 3, 3], { padding: 1 }, true),
      time: quick ? null : convWeightGrad([4, 64, 32, 32], [64, 64, 3, 3], { padding: 1 }, false),
    }),
  },
  {
    name: 'depthwise.fwd',
    target: 'depthwiseTuning',
    space: { R: [1, 2, 4, 8], P: [1, 2, 4, 8], SMEM: [false, true] },
    candidates(e, quick) {
      if (quick) return variants(this, [{ R: 2, P: 4 }]);
      // SMEM: the shared-memory halo tile real GPUs prefer (issue 16).
      return variants(this, [{ R: 2, P: 8 }, { R: 4, P: 4 }, { R: 2, P: 4 }, { R: 1, P: 8 }, { SMEM: true }]);
    },
    problems: (quick) => ({
      check: convForward([1, 5, 9, 13], [5, 1, 3, 3], { padding: 1, groups: 5 }, true),
      time: quick ? null : convForward([8, 96, 56, 56], [96, 1, 3, 3], { padding: 1, groups: 96 }, false),
    }),
  },
  {
    name: 'matmul',
    target: 'matmulTiles',
    space: { TM: [4, 8, 16], TN: [4, 8], WGX: [8, 16, 32, 64], B4: [true, false], SMEM: [false, true] },
    candidates(e, quick) {
      if (quick) return variants(this, [{ TM: 8, TN: 4 }]);
      // SMEM: the shared-memory tiled kernel real GPUs prefer (issue 16); timed like the rest.
      return variants(this, [{ TM: 8, TN: 8 }, { TM: 16, TN: 4 }, { TM: 8, TN: 4 }, { WGX: 8 }, { WGX: 32 }, { B4: false }, { SMEM: true }]);
    },
    problems: (quick) => ({ check: matmulLoad(37, 44, 29, true), time: quick ? null : matmulLoad(256, 512, 512, false) }),
  },
  {
    name: 'int8.conv',
    target: 'int8Tuning',
    space: { OCB: [8, 16, 32], PW: [1, 2, 4, 8], WG: [32, 64, 128, 256], dot4: [true, false, 'auto'], subgroups: [true, false] },
    candidates(e, quick) {
      if (quick) return variants(this, [{ OCB: 16, PW: 4 }]);
      // The other dot path (dot4I8Packed or unpacked) where the adapter has both.
      const other = e.gpu.hasDot4I8 ? [{ dot4: !int8UsesDot4(undefined, e) }] : [];
      return variants(this, [{ OCB: 16, PW: 4 }, { OCB: 16, PW: 8 }, { OCB: 8, PW: 8 }, { OCB: 32, PW: 2 }, { WG: 128 }, ...other, ...(hasSubgroups(e) ? [{ subgroups: false }] : [])]);
    },
    problems: (quick) => ({
      check: int8ConvLoad([1, 5, 7, 11], [37, 5, 3, 3], { padding: 1 }, true),
      time: quick ? null : int8ConvLoad([8, 64, 32, 32], [64, 64, 3, 3], { padding: 1 }, false),
    }),
  },
  {
    // R x P = 4 x 8 compiled for 25 s on lavapipe: not a candidate.
    name: 'int8.depthwise',
    target: 'int8Tuning',
    space: { R: [1, 2, 4], P: [1, 2, 4, 8] },
    candidates(e, quick) {
      if (quick) return variants(this, [{ R: 1, P: 8 }]);
      return variants(this, [{ R: 1, P: 8 }, { R: 2, P: 4 }, { R: 1, P: 4 }]);
    },
    problems: (quick) => ({
      check: int8ConvLoad([1, 12, 9, 13], [12, 1, 3, 3], { padding: 1, groups: 12 }, true),
      time: quick ? null : int8ConvLoad([8, 96, 56, 56], [96, 1, 3, 3], { padding: 1, groups: 96 }, false),
    }),
  },
];

/** Each family's default setting, by family name. */
export function defaultChoices(): Record<string, Setting> {
  return Object.fromEntries(FAMILIES.map((f) => [f.name, defaultsOf(f)]));
}

function apply(f: Family, s: Setting): void {
  Object.assign(TARGETS[f.target], s);
}

// ---- the search ---------------------------------------------------------------------------------

const oneLine = (e: unknown): string => String((e as Error)?.message ?? e).split('\n')[0];

type FamilyReport = TuneReport['families'][number];

/** A setting replaces the default only when it takes at most this share of the default's time. */
const MARGIN = 0.9;

/** Fastest of `rounds` alternating runs of each candidate, on the timed problem. */
async function headToHead(e: Engine, f: Family, w: { run(): unknown }, cs: TuneCandidate[], rounds: number): Promise<number[]> {
  const best = cs.map(() => Infinity);
  for (let r = 0; r < rounds; r++)
    for (let i = 0; i < cs.length; i++) {
      apply(f, cs[i].setting);
      const t0 = performance.now();
      const out = w.run();
      await e.sync();
      best[i] = Math.min(best[i], performance.now() - t0);
      disposeOut(out as never);
    }
  return best;
}

/**
 * Runs one family's candidates and applies the choice (the defaults when none passed: ok false).
 * Each candidate is checked, then run once on the timed problem (compiling what the check did
 * not); then rounds time every passing candidate once each, so that a burst of load from other
 * processes hits several candidates instead of all runs of one. A candidate's time is its
 * fastest run; after two rounds, those 4x slower than the best (tiles that spill) stop.
 */
async function searchFamily(e: Engine, f: Family, quick: boolean, warnings: string[]): Promise<{ entry: FamilyReport; ok: boolean }> {
  const { check, time } = f.problems(quick);
  const w = time ?? check;
  const rounds = quick ? 2 : 5;
  const candidates: TuneCandidate[] = [];
  let rematch: number[] | null = null;
  try {
    for (const setting of f.candidates(e, quick)) {
      apply(f, setting);
      const c: TuneCandidate = { setting, ms: -1, verified: false, maxError: -1 };
      candidates.push(c);
      try {
        const out = check.run();
        const r = await check.check(out, !!tunerTestHooks.corrupt?.(f.name, setting));
        disposeOut(out);
        c.maxError = r.maxError;
        c.verified = r.ok;
        if (r.ok && time) disposeOut(time.run());
        await e.sync();
      } catch (err) {
        if (err instanceof F8Error && err.code === 'DEVICE_LOST') throw err;
        c.verified = false;
        c.error = oneLine(err);
        // Let late compile errors of this candidate surface here, not in the next one.
        await e.compileCheck().catch(() => undefined);
      }
    }
    let live = candidates.filter((c) => c.verified);
    for (let round = 0; round < rounds && live.length; round++) {
      for (const c of live) {
        apply(f, c.setting);
        const t0 = performance.now();
        const out = w.run();
        await e.sync();
        const ms = performance.now() - t0;
        disposeOut(out);
        c.ms = c.ms < 0 ? ms : Math.min(c.ms, ms);
      }
      const lead = Math.min(...live.map((c) => c.ms));
      if (round === 1) live = live.filter((c) => c.ms <= 4 * lead);
    }
    // The rematch of the fastest against the default, while the timed problem is alive.
    const lead = live.reduce<TuneCandidate | null>((a, b) => (a === null || b.ms < a.ms ? b : a), null);
    if (lead && candidates[0].verified && lead !== candidates[0] && lead.ms <= MARGIN * candidates[0].ms) {
      rematch = await headToHead(e, f, w, [candidates[0], lead], quick ? 1 : 3);
    }
  } finally {
    check.dispose();
    time?.dispose();
  }
  const ok = candidates.filter((c) => c.verified && c.ms >= 0);
  if (!ok.length) {
    apply(f, defaultsOf(f));
    warnings.push(`tuning: no candidate of ${f.name} passed its check against the CPU reference; it keeps its defaults`);
    return { entry: { name: f.name, choice: defaultsOf(f), candidates }, ok: false };
  }
  // Timings on a shared machine are noisy, and the choice serves every shape of the family, not
  // only the timed one: another setting replaces the default (the first candidate) only when it
  // is at least 10% faster, and again in a head-to-head rematch of alternating runs.
  const [first] = candidates;
  let best = ok.reduce((a, b) => (b.ms < a.ms ? b : a));
  if (first.verified && first.ms >= 0 && best !== first) {
    let keep = best.ms <= MARGIN * first.ms;
    if (keep) keep = rematch !== null && rematch[1] <= MARGIN * rematch[0];
    if (!keep) best = first;
  }
  apply(f, best.setting);
  return { entry: { name: f.name, choice: best.setting, candidates }, ok: true };
}

// ---- the cache file -----------------------------------------------------------------------------

export const TUNING_FORMAT = 'f8net-tuning';

/** The JSON of a cache file. */
export interface TuningCache {
  format: typeof TUNING_FORMAT;
  adapterKey: string;
  f8netVersion: string;
  wgslHash: string;
  /** Made by a quick search (tests): stale for a normal run. */
  quick: boolean;
  written: string;
  families: TuneReport['families'];
}

/** What a cache must match to be used. */
export interface CacheExpectation {
  adapterKey: string;
  f8netVersion: string;
  wgslHash: string;
  quick: boolean;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

/** Why `s` is not a setting of `f` (null when it is). */
function badSetting(f: Family, s: unknown): string | null {
  if (!isObj(s)) return `a setting of ${f.name} is ${show(s)}, not an object`;
  for (const [k, vals] of Object.entries(f.space)) if (!vals.includes(s[k])) return `${f.name} ${k} = ${show(s[k])} is not one of ${vals.map(show).join(', ')}`;
  const extra = Object.keys(s).find((k) => !(k in f.space));
  return extra ? `${f.name} has an unknown knob '${extra}'` : null;
}

/** Why the families of a cache file are malformed (null when they are fine). */
function badFamilies(v: unknown): string | null {
  if (!Array.isArray(v)) return `'families' is ${show(v)}, not a list`;
  for (const f of FAMILIES) {
    const entry = v.find((x) => isObj(x) && x.name === f.name) as Record<string, unknown> | undefined;
    if (!entry) return `family ${f.name} is missing`;
    const why = badSetting(f, entry.choice);
    if (why) return why;
    if (!Array.isArray(entry.candidates)) return `${f.name} candidates is not a list`;
    for (const c of entry.candidates) {
      if (!isObj(c) || typeof c.ms !== 'number' || typeof c.verified !== 'boolean' || typeof c.maxError !== 'number') return `${f.name} has a malformed candidate ${show(c)}`;
      const w = badSetting(f, c.setting);
      if (w) return w;
    }
    const chosen = (entry.candidates as TuneCandidate[]).find((c) => JSON.stringify(c.setting) === JSON.stringify(entry.choice));
    if (!chosen?.verified) return `${f.name} chose ${show(entry.choice)}, which is not a candidate that passed its check`;
  }
  return null;
}

/**
 * Validates the text of a cache (`file` names it in warnings): `warning` when it is unusable
 * (corrupt or stale), the text naming the file and why; else the cache.
 */
export function parseTuningCache(text: string, file: string, want: CacheExpectation): { cache: TuningCache } | { warning: string } {
  const corrupt = (why: string) => ({ warning: `${file}: tuning cache ignored (corrupt: ${why})` });
  const stale = (why: string) => ({ warning: `${file}: tuning cache ignored (stale: ${why})` });
  let d: unknown;
  try {
    d = JSON.parse(text);
  } catch (err) {
    return corrupt(`not valid JSON: ${oneLine(err)}`);
  }
  if (!isObj(d) || d.format !== TUNING_FORMAT) return corrupt(`not an ${TUNING_FORMAT} file`);
  for (const k of ['adapterKey', 'f8netVersion', 'wgslHash'] as const) if (typeof d[k] !== 'string') return corrupt(`'${k}' is ${show(d[k])}, not a string`);
  if (typeof d.quick !== 'boolean') return corrupt(`'quick' is ${show(d.quick)}, not true or false`);
  if (d.adapterKey !== want.adapterKey) return stale(`written for adapter '${d.adapterKey}', this is '${want.adapterKey}'`);
  if (d.f8netVersion !== want.f8netVersion) return stale(`written by f8net ${d.f8netVersion}, this is ${want.f8netVersion}`);
  if (d.wgslHash !== want.wgslHash) return stale('the kernels in wgsl/ changed since it was written');
  if (d.quick && !want.quick) return stale('made by a quick search (f8net tune --quick)');
  const why = badFamilies(d.families);
  if (why) return corrupt(why);
  return { cache: d as unknown as TuningCache };
}

// ---- entry point --------------------------------------------------------------------------------

/**
 * Where a platform keeps one adapter's cache: `read` gives the text, `missing` when there is
 * none, or `warning` when it cannot be read; `write` stores the text or throws.
 */
export interface TuningStore {
  /** Names the cache in warnings (Node: the file). */
  name: string;
  want: CacheExpectation;
  read(): { cache: TuningCache } | { warning: string } | { missing: true };
  write(cache: TuningCache): void;
}

/**
 * Loads this adapter's tuning from the store and applies it; when the cache is missing, stale or
 * corrupt (a warning names the file and why) or `retune` is set, searches (unless search is
 * false: the defaults stay), writes the cache and applies the choice. Every knob starts from
 * its default, so the result does not depend on earlier calls.
 * @example const r = await tuneWithStore(Engine.get(), store, { search: false }); // cache or defaults, never a search
 */
export async function tuneWithStore(e: Engine, store: TuningStore, opts: TuneOptions = {}): Promise<TuneReport> {
  const quick = !!opts.quick;
  const { want, name: file } = store;
  const report: TuneReport = { adapterKey: want.adapterKey, cacheFile: file, source: 'defaults', families: [], warnings: [] };
  resetTuning();
  if (!opts.retune) {
    const r = store.read();
    if ('cache' in r) {
      for (const fam of r.cache.families) {
        const f = FAMILIES.find((x) => x.name === fam.name);
        if (f) apply(f, fam.choice);
      }
      return { ...report, source: 'cache', families: r.cache.families };
    }
    if ('warning' in r) report.warnings.push(r.warning);
  }
  if (opts.search === false) {
    report.families = FAMILIES.map((f) => ({ name: f.name, choice: defaultsOf(f), candidates: [] }));
    return report;
  }
  const previous = Engine.tryGet();
  Engine.use(e);
  let complete = true;
  try {
    for (const f of FAMILIES) {
      const { entry, ok } = await searchFamily(e, f, quick, report.warnings);
      report.families.push(entry);
      complete &&= ok;
    }
  } catch (err) {
    resetTuning();
    throw err;
  } finally {
    if (previous && previous !== e) Engine.use(previous);
  }
  report.source = 'search';
  if (!complete) {
    report.warnings.push(`${file}: not written (a family had no candidate that passed its check); the next run searches again`);
    return report;
  }
  const cache: TuningCache = { format: TUNING_FORMAT, ...want, written: new Date().toISOString(), families: report.families };
  try {
    store.write(cache);
  } catch (err) {
    report.warnings.push(`${oneLine(err)}; the tuning applies to this run only`);
  }
  return report;
}
