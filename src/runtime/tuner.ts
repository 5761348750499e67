/**
 * The generic kernel search. A tuned family declares its knobs (defineKnobs, src/runtime/tuning.ts)
 * and its search space beside its op (src/ops/<op>.tune.ts); its check and timed problems are
 * kernel cases (src/cases/: shapes, seeded inputs, CPU reference, tolerance), bound to the space
 * in src/cases/ and listed in TUNE_FAMILIES there. This module knows none of them: it takes the
 * families it is given, tries a few settings of each on the engine (each checked against the
 * CPU reference with the case's tolerance, bit-exact for the integer kernels, then timed on a
 * representative layer of the model zoo) and keeps the fastest that passed in `e.tuning`, the
 * engine's own set (one per adapter). The choice is cached per adapter and driver (Node: a file
 * in the user's cache folder, src/node/tuning-cache.ts; this module sees the cache only as text
 * through a TuningStore) with the f8net version and a hash of wgsl/, so a kernel change or an
 * upgrade makes it stale; a stale or corrupt cache is ignored with a warning naming it and why.
 *
 * @example
 *   const e = await Engine.open();
 *   const r = await ensureTuning(e);            // src/node/tuning-cache.ts: cache hit applies it; else searches (~1 min on lavapipe)
 *   for (const w of r.warnings) console.warn(w);
 *   await ensureTuning(e, { retune: true });     // searches again and rewrites the cache
 */
import { Engine } from './engine.js';
import { F8Error } from './errors.js';
import { compare, isExact, type Tolerance } from './compare.js';
import type { Knobs } from './tuning.js';

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

/** Restores every knob of the engine's tuning to its default (no engine open: nothing to do). */
export function resetTuning(e: Engine | null = Engine.tryGet()): void {
  e?.tuning.reset();
}

// ---- families -----------------------------------------------------------------------------------

/** A knob set's search space, declared beside its op (src/ops/<op>.tune.ts). */
export interface TuneSpace {
  name: string;
  /** The op's knobs (defineKnobs) that this family sets. */
  knobs: Knobs;
  /** Every value each knob may take (a cached choice outside this is corrupt). */
  space: Record<string, readonly unknown[]>;
  /** Settings to try besides the default, each a partial setting over it; quick: one. */
  candidates(e: Engine, quick: boolean): Setting[];
}

/**
 * A problem the search runs: a kernel case (src/cases/) fits. `prepare` uploads the inputs once
 * and returns a function that dispatches the kernel without reading back (timing).
 */
export interface TuneCase<I = unknown> {
  tolerance: Tolerance;
  inputs(): I;
  reference(i: I): ArrayLike<number>[];
  gpu(i: I): Promise<ArrayLike<number>[]>;
  prepare(i: I): () => unknown;
}

/** A search space with the problems that check it (small, odd sizes) and time it (a zoo layer). */
export interface TuneFamily extends TuneSpace {
  check: TuneCase;
  time: TuneCase;
}

/** The default setting of a family's knobs. */
function defaultsOf(f: TuneSpace): Setting {
  const d = f.knobs.defaults as Setting;
  return Object.fromEntries(Object.keys(f.space).map((k) => [k, d[k]]));
}
/** Default first, then each variant (a partial setting over the default), duplicates dropped. */
function variants(f: TuneSpace, list: Setting[]): Setting[] {
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

/** Each family's default setting, by family name. */
export function defaultChoices(families: readonly TuneSpace[]): Record<string, Setting> {
  return Object.fromEntries(families.map((f) => [f.name, defaultsOf(f)]));
}

function apply(e: Engine, f: TuneSpace, s: Setting): void {
  Object.assign(e.tuning.get(f.knobs), s);
}

// ---- the search ---------------------------------------------------------------------------------

const oneLine = (e: unknown): string => String((e as Error)?.message ?? e).split('\n')[0];

type FamilyReport = TuneReport['families'][number];

/** A setting replaces the default only when it takes at most this share of the default's time. */
const MARGIN = 0.9;

/** One timed run: dispatch, wait for the GPU, free what it made. */
async function timeRun(e: Engine, run: () => unknown): Promise<number> {
  return e.tidyAsync(async () => {
    const t0 = performance.now();
    run();
    await e.sync();
    return performance.now() - t0;
  });
}

/** The check case on the current setting against its reference (computed once per family). */
async function checkRun(e: Engine, c: TuneCase, inputs: unknown, ref: ArrayLike<number>[], corrupt: boolean): Promise<{ maxError: number; ok: boolean }> {
  const got = await e.tidyAsync(async () => (await c.gpu(inputs)).map((a) => Array.from(a)));
  if (corrupt && got[0]?.length) got[0][0] = isExact(c.tolerance) ? got[0][0] ^ 1 : got[0][0] + 1;
  let maxError = got.length === ref.length ? 0 : Infinity;
  let ok = got.length === ref.length;
  for (let k = 0; k < Math.min(got.length, ref.length); k++) {
    const r = compare(got[k], ref[k], c.tolerance);
    maxError = Math.max(maxError, r.maxError);
    ok &&= r.ok;
  }
  return { maxError, ok };
}

/** Fastest of `rounds` alternating runs of each candidate, on the timed problem. */
async function headToHead(e: Engine, f: TuneSpace, run: () => unknown, cs: TuneCandidate[], rounds: number): Promise<number[]> {
  const best = cs.map(() => Infinity);
  for (let r = 0; r < rounds; r++)
    for (let i = 0; i < cs.length; i++) {
      apply(e, f, cs[i].setting);
      best[i] = Math.min(best[i], await timeRun(e, run));
    }
  return best;
}

/**
 * Runs one family's candidates and applies the choice (the defaults when none passed: ok false).
 * Each candidate is checked, then run once on the timed problem (compiling what the check did
 * not); then rounds time every passing candidate once each, so that a burst of load from other
 * processes hits several candidates instead of all runs of one. A candidate's time is its
 * fastest run; after two rounds, those 4x slower than the best (tiles that spill) stop. Quick:
 * the check problem is also the timed one.
 */
async function searchFamily(e: Engine, f: TuneFamily, quick: boolean, warnings: string[]): Promise<{ entry: FamilyReport; ok: boolean }> {
  const rounds = quick ? 2 : 5;
  const candidates: TuneCandidate[] = [];
  let rematch: number[] | null = null;
  // The family's scope frees the uploaded inputs of both problems at its end.
  await e.tidyAsync(async () => {
    const checkInputs = f.check.inputs();
    const ref = f.check.reference(checkInputs);
    const run = quick ? f.check.prepare(checkInputs) : f.time.prepare(f.time.inputs());
    for (const setting of variants(f, f.candidates(e, quick))) {
      apply(e, f, setting);
      const c: TuneCandidate = { setting, ms: -1, verified: false, maxError: -1 };
      candidates.push(c);
      try {
        const r = await checkRun(e, f.check, checkInputs, ref, !!tunerTestHooks.corrupt?.(f.name, setting));
        c.maxError = r.maxError;
        c.verified = r.ok;
        if (r.ok && !quick) e.tidy(() => void run());
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
        apply(e, f, c.setting);
        const ms = await timeRun(e, run);
        c.ms = c.ms < 0 ? ms : Math.min(c.ms, ms);
      }
      const lead = Math.min(...live.map((c) => c.ms));
      if (round === 1) live = live.filter((c) => c.ms <= 4 * lead);
    }
    // The rematch of the fastest against the default, while the timed problem is alive.
    const lead = live.reduce<TuneCandidate | null>((a, b) => (a === null || b.ms < a.ms ? b : a), null);
    if (lead && candidates[0].verified && lead !== candidates[0] && lead.ms <= MARGIN * candidates[0].ms) {
      rematch = await headToHead(e, f, run, [candidates[0], lead], quick ? 1 : 3);
    }
  });
  const ok = candidates.filter((c) => c.verified && c.ms >= 0);
  if (!ok.length) {
    apply(e, f, defaultsOf(f));
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
    if (keep) keep = rematch !== null && rematch[1] <= MARGIN * (rematch as number[])[0];
    if (!keep) best = first;
  }
  apply(e, f, best.setting);
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
function badSetting(f: TuneSpace, s: unknown): string | null {
  if (!isObj(s)) return `a setting of ${f.name} is ${show(s)}, not an object`;
  for (const [k, vals] of Object.entries(f.space)) if (!vals.includes(s[k])) return `${f.name} ${k} = ${show(s[k])} is not one of ${vals.map(show).join(', ')}`;
  const extra = Object.keys(s).find((k) => !(k in f.space));
  return extra ? `${f.name} has an unknown knob '${extra}'` : null;
}

/** Why the families of a cache file are malformed (null when they are fine). */
function badFamilies(v: unknown, families: readonly TuneSpace[]): string | null {
  if (!Array.isArray(v)) return `'families' is ${show(v)}, not a list`;
  for (const f of families) {
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
 * Validates the text of a cache (`file` names it in warnings) against the families it must
 * hold: `warning` when it is unusable (corrupt or stale), the text naming the file and why;
 * else the cache.
 */
export function parseTuningCache(text: string, file: string, want: CacheExpectation, families: readonly TuneSpace[]): { cache: TuningCache } | { warning: string } {
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
  const why = badFamilies(d.families, families);
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
 * Loads this adapter's tuning of `families` from the store and applies it to `e.tuning`; when the cache is missing, stale or
 * corrupt (a warning names the file and why) or `retune` is set, searches (unless search is
 * false: the defaults stay), writes the cache and applies the choice. Every knob starts from
 * its default, so the result does not depend on earlier calls.
 * @example const r = await tuneWithStore(Engine.get(), store, TUNE_FAMILIES, { search: false }); // cache or defaults, never a search
 */
export async function tuneWithStore(e: Engine, store: TuningStore, families: readonly TuneFamily[], opts: TuneOptions = {}): Promise<TuneReport> {
  const quick = !!opts.quick;
  const { want, name: file } = store;
  const report: TuneReport = { adapterKey: want.adapterKey, cacheFile: file, source: 'defaults', families: [], warnings: [] };
  e.tuning.reset();
  if (!opts.retune) {
    const r = store.read();
    if ('cache' in r) {
      for (const fam of r.cache.families) {
        const f = families.find((x) => x.name === fam.name);
        if (f) apply(e, f, fam.choice);
      }
      return { ...report, source: 'cache', families: r.cache.families };
    }
    if ('warning' in r) report.warnings.push(r.warning);
  }
  if (opts.search === false) {
    report.families = families.map((f) => ({ name: f.name, choice: defaultsOf(f), candidates: [] }));
    return report;
  }
  const previous = Engine.tryGet();
  Engine.use(e);
  let complete = true;
  try {
    for (const f of families) {
      const { entry, ok } = await searchFamily(e, f, quick, report.warnings);
      report.families.push(entry);
      complete &&= ok;
    }
  } catch (err) {
    e.tuning.reset();
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
