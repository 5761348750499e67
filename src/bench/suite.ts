/**
 * The benchmark suite behind `f8net bench`: every kernel family on the zoo's layer shapes and
 * whole-model rows, each checked against its CPU reference, then timed (./timing.ts); figures
 * (GFLOP/s, GOP/s, GB/s or images/s) and the share of the roofline measured on the spot
 * (./roofline.ts); optional peers (tfjs-backend-webgpu on the same device, onnxruntime-node on
 * the CPU) timed by wall clock, compared by wall clock; kernel settings at their defaults, tuned
 * (src/runtime/tuner.ts), or both.
 *
 * @example
 *   const r = await runBench(Engine.get(), { quick: true, filter: 'conv2d' });
 *   console.log(markdownTable(r));
 */
import type { Engine } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';
import type { AdapterDescription } from '../runtime/gpu.js';
import type { TuneReport } from '../runtime/tuner.js';
import { measure, measureWall, type LoopOptions, type Measurement, type Stats, type TimingMethod } from './timing.js';
import { measurePeaks, rooflineShare, type Peaks } from './roofline.js';
import { zooConvs } from './shapes.js';
import { convRows, int8ConvRow } from './conv-rows.js';
import { matmulRows, int8LinearRows, activationRows, poolRows, sgdRows } from './op-rows.js';
import { modelRows } from './model-rows.js';
import type { RowSpec, RowInstance, Check, PeerInstance, Unit } from './types.js';
import { tfjsOnEngine } from './tfjs-peer.js';
import { loadOrt } from './ort-peer.js';
import type { PeakKind } from './roofline.js';
import { F8NET_VERSION } from '../runtime/version.js';
import { packageVersion } from '../node/versions.js';

export type Peer = 'tfjs' | 'ort';
export type TuningMode = 'default' | 'tuned' | 'both';
export type Variant = 'default' | 'tuned';

export interface BenchOptions {
  /** Regular expression (case-insensitive) matched against row ids and families. */
  filter?: string;
  quick?: boolean;
  compare?: Peer[];
  tuning?: TuningMode;
  retune?: boolean;
  /** Tuning: false = use the cache or the defaults, never search (tests). */
  search?: boolean;
  /** Tuning cache folder (tests). */
  tuningCacheDir?: string;
  /** Overrides of the timing loop of every row. */
  loop?: Partial<LoopOptions>;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface Measured extends Measurement {
  verified: boolean;
  maxError: number;
  tolerance: number;
  /** In the row's unit, from the median time. */
  figure: number;
  /** t_ideal / t_median (see roofline.ts). */
  rooflineShare: number;
}

export interface PeerResult {
  what: string;
  wall?: Stats;
  verified: boolean;
  maxError: number;
  tolerance: number;
  /** Peer wall-clock median / our wall-clock median: above 1 means f8net is faster. */
  ratio: number;
  error?: string;
}

export interface RowResult {
  id: string;
  family: string;
  shape: string;
  unit: Unit;
  flop: number;
  bytes: number;
  peak: PeakKind;
  images?: number;
  /** Every measured variant ran and matched its reference. */
  verified: boolean;
  maxError: number;
  tolerance: number;
  checkNote?: string;
  results: Partial<Record<Variant, Measured>>;
  peers: Partial<Record<Peer, PeerResult>>;
  error?: string;
}

export interface TargetResult {
  name: string;
  /** The measured ratio (geometric mean over the rows it covers). */
  value: number;
  goal: string;
  met: boolean;
  rows: string[];
}

export interface BenchResult {
  format: 'f8net-bench';
  version: 1;
  date: string;
  adapter: AdapterDescription;
  versions: Record<string, string>;
  config: { quick: boolean; filter: string | null; compare: Peer[]; tuning: TuningMode; retune: boolean; timing: TimingMethod; loop: LoopOptions; modelLoop: LoopOptions };
  peaks: Peaks;
  tuning?: { source: string; cacheFile: string; families: { name: string; choice: Record<string, unknown> }[]; warnings: string[] };
  rows: RowResult[];
  targets: TargetResult[];
}

export const BENCH_FORMAT = 'f8net-bench';

/**
 * Every row of the suite (quick: tiny shapes). With `dot4` (the adapter has dot4I8Packed) the
 * dense int8 convs also run forced through dot4I8Packed (rows int8.conv.dot4/...), beside the
 * path int8Tuning picks for the adapter.
 */
export function allRows(quick: boolean, dot4 = false): RowSpec[] {
  const convs = zooConvs(quick);
  return [
    ...convs.flatMap(convRows),
    ...matmulRows(quick),
    ...activationRows(quick),
    ...convs.map((c) => int8ConvRow(c)),
    ...(dot4 ? convs.filter((c) => !c.depthwise).map((c) => int8ConvRow(c, true)) : []),
    ...int8LinearRows(quick),
    ...poolRows(quick),
    ...sgdRows(quick),
    ...modelRows(quick),
  ];
}

/** Rows whose id or family matches `filter` (a case-insensitive regular expression). */
export function selectRows(rows: RowSpec[], filter?: string): RowSpec[] {
  if (!filter) return rows;
  let re: RegExp;
  try {
    re = new RegExp(filter, 'i');
  } catch (e) {
    throw new F8Error('BAD_INPUT', `--filter '${filter}' is not a regular expression: ${(e as Error).message}`);
  }
  return rows.filter((r) => re.test(r.id) || re.test(r.family));
}

const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0];
const passes = (c: Check): boolean => c.maxError <= c.tolerance;

export async function runBench(e: Engine, opts: BenchOptions = {}): Promise<BenchResult> {
  const quick = !!opts.quick;
  const log = opts.log ?? (() => undefined);
  const tuning = opts.tuning ?? 'tuned';
  const compare = [...new Set(opts.compare ?? [])];
  const specs = selectRows(allRows(quick, e.gpu.hasDot4I8), opts.filter);
  if (!specs.length) throw new F8Error('BAD_INPUT', `--filter '${opts.filter}' matches no row`);
  const method: TimingMethod = e.canTimeGpu ? 'timestamp' : 'wall';
  const loop: LoopOptions = { ...(quick ? { time: 0, iterations: 2, warmup: 1 } : { time: 200, iterations: 4, warmup: 1 }), ...opts.loop };
  const modelLoop: LoopOptions = { ...(quick ? { time: 0, iterations: 2, warmup: 1 } : { time: 0, iterations: 3, warmup: 1 }), ...opts.loop };

  // Peers load first: a missing package fails before minutes of measurements.
  const tf = compare.includes('tfjs') ? await tfjsOnEngine(e) : null;
  const ort = compare.includes('ort') ? await loadOrt() : null;
  const tuner = await import('../node/tuning-cache.js');

  log(`roofline probes (${method})`);
  tuner.resetTuning();
  const peaks = await measurePeaks(e, { quick, method });
  log(`  f32 ${peaks.f32Gflops.toFixed(1)} GFLOP/s, int8 (${peaks.int8Path}) ${peaks.int8Gops.toFixed(1)} GOP/s, copy ${peaks.copyGBs.toFixed(2)} GB/s`);

  const results: RowResult[] = specs.map((s) => ({
    id: s.id,
    family: s.family,
    shape: s.shape,
    unit: s.unit,
    flop: s.flop,
    bytes: s.bytes,
    peak: s.peak,
    ...(s.images ? { images: s.images } : {}),
    verified: true,
    maxError: 0,
    tolerance: 0,
    results: {},
    peers: {},
  }));
  const fail = (r: RowResult, why: string) => {
    r.verified = false;
    r.error ??= why;
  };

  const variants: Variant[] = tuning === 'both' ? ['default', 'tuned'] : [tuning];
  let tuneReport: TuneReport | undefined;
  for (const v of variants) {
    if (v === 'default') tuner.resetTuning();
    else {
      log(opts.retune ? 'tuning (search)' : 'tuning (cache or search)');
      tuneReport = await tuner.ensureTuning(e, { retune: opts.retune, quick, search: opts.search, cacheDir: opts.tuningCacheDir });
      for (const w of tuneReport.warnings) log(`  warning: ${w}`);
    }
    for (let i = 0; i < specs.length; i++) {
      const s = specs[i];
      const r = results[i];
      const rowMethod: TimingMethod = s.unit === 'images/s' ? 'wall' : method;
      let inst: RowInstance | null = null;
      try {
        inst = await s.setup();
        const c = await inst.verify();
        const ok = passes(c);
        if (!ok) fail(r, `result differs from the CPU reference: max error ${c.maxError} > ${c.tolerance}`);
        if (!ok || c.maxError / Math.max(c.tolerance, 1e-300) >= r.maxError / Math.max(r.tolerance, 1e-300)) {
          r.maxError = c.maxError;
          r.tolerance = c.tolerance;
          if (c.note) r.checkNote = c.note;
        }
        if (ok) {
          const m = await measure(e, inst.step, s.unit === 'images/s' ? modelLoop : loop, rowMethod);
          const figure = s.unit === 'images/s' ? (s.images! * 1000) / m.time.medianMs : s.unit === 'GB/s' ? s.bytes / m.time.medianMs / 1e6 : s.flop / m.time.medianMs / 1e6;
          r.results[v] = { ...m, verified: ok, maxError: c.maxError, tolerance: c.tolerance, figure, rooflineShare: rooflineShare(s, peaks, m.time.medianMs) };
          log(`${v.padEnd(7)} ${s.id}: ${m.time.medianMs.toFixed(3)} ms (${m.method}), ${figure.toFixed(2)} ${s.unit}`);
        } else log(`${v.padEnd(7)} ${s.id}: WRONG RESULT (max error ${c.maxError} > ${c.tolerance}); not timed`);
      } catch (err) {
        fail(r, errText(err));
        log(`${v.padEnd(7)} ${s.id}: FAILED: ${errText(err)}`);
        await e.sync().catch(() => undefined);
      } finally {
        inst?.dispose();
      }
    }
  }

  // Peers, once per row, against our primary (last) variant.
  const primary = variants[variants.length - 1];
  for (const [peer, lib] of [['tfjs', tf], ['ort', ort]] as const) {
    if (!lib) continue;
    for (let i = 0; i < specs.length; i++) {
      const s = specs[i];
      const r = results[i];
      const ours = r.results[primary];
      let inst: RowInstance | null = null;
      let p: PeerInstance | null = null;
      try {
        inst = await s.setup();
        const make = peer === 'tfjs' ? inst.tfjs : inst.ort;
        if (!make || !ours) continue;
        p = await (make as (l: unknown) => Promise<PeerInstance>)(lib);
        const c = await p.verify();
        const ok = passes(c);
        const wall = await measureWall(() => p!.step(), s.unit === 'images/s' ? modelLoop : loop);
        r.peers[peer] = { what: p.what, wall, verified: ok, maxError: c.maxError, tolerance: c.tolerance, ratio: wall.medianMs / ours.wall.medianMs };
        log(`${peer.padEnd(7)} ${s.id}: ${wall.medianMs.toFixed(3)} ms, x${(wall.medianMs / ours.wall.medianMs).toFixed(2)}${ok ? '' : ` (WRONG RESULT: max error ${c.maxError})`}`);
      } catch (err) {
        r.peers[peer] = { what: p?.what ?? peer, verified: false, maxError: NaN, tolerance: NaN, ratio: NaN, error: errText(err) };
        log(`${peer.padEnd(7)} ${s.id}: FAILED: ${errText(err)}`);
        await e.sync().catch(() => undefined);
      } finally {
        p?.dispose();
        inst?.dispose();
      }
    }
  }
  if (tuning === 'default') tuner.resetTuning();

  return {
    format: BENCH_FORMAT,
    version: 1,
    date: new Date().toISOString(),
    adapter: e.gpu.describe(),
    versions: {
      f8net: F8NET_VERSION,
      webgpu: packageVersion('webgpu'),
      node: process.version,
      tinybench: packageVersion('tinybench'),
      ...(tf ? { '@tensorflow/tfjs-core': packageVersion('@tensorflow/tfjs-core'), '@tensorflow/tfjs-backend-webgpu': packageVersion('@tensorflow/tfjs-backend-webgpu') } : {}),
      ...(ort ? { 'onnxruntime-node': packageVersion('onnxruntime-node') } : {}),
    },
    config: { quick, filter: opts.filter ?? null, compare, tuning, retune: !!opts.retune, timing: method, loop, modelLoop },
    peaks,
    ...(tuneReport
      ? { tuning: { source: tuneReport.source, cacheFile: tuneReport.cacheFile, families: tuneReport.families.map((f) => ({ name: f.name, choice: f.choice })), warnings: tuneReport.warnings } }
      : {}),
    rows: results,
    targets: targets(results, primary),
  };
}

const geomean = (a: number[]): number => Math.exp(a.reduce((s, v) => s + Math.log(v), 0) / a.length);

/** The issue's targets, from the rows present (a target without rows is left out). */
export function targets(rows: RowResult[], v: Variant): TargetResult[] {
  const out: TargetResult[] = [];
  const time = (r: RowResult | undefined) => r?.results[v]?.time.medianMs;
  const add = (name: string, goal: string, pairs: [string, number][], ok: (x: number) => boolean) => {
    const vals = pairs.filter(([, x]) => Number.isFinite(x) && x > 0);
    if (!vals.length) return;
    const value = geomean(vals.map(([, x]) => x));
    out.push({ name, value, goal, met: ok(value), rows: vals.map(([id]) => id) });
  };
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const pass of ['fwd', 'bwd_input', 'bwd_weight']) {
    const rs = rows.filter((r) => r.id.startsWith(`conv2d.${pass}/resnet`) && r.peers.tfjs?.verified);
    add(`conv2d ${pass} vs tfjs-webgpu (ResNet layers)`, '>= 2x', rs.map((r) => [r.id, r.peers.tfjs!.ratio]), (x) => x >= 2);
  }
  const mm = rows.filter((r) => r.id.startsWith('matmul.') && r.peers.tfjs?.verified);
  add('matmul vs tfjs-webgpu', '>= 2x', mm.map((r) => [r.id, r.peers.tfjs!.ratio]), (x) => x >= 2);
  for (const [prefix, goal, min] of [['int8.conv/', '>= 3x', 3], ['int8.conv.dot4/', '>= 2.5x (issue 6)', 2.5]] as const) {
    const i8 = rows.filter((r) => r.id.startsWith(prefix));
    const what = prefix === 'int8.conv/' ? 'int8 conv' : 'int8 conv through dot4I8Packed';
    add(`${what} vs our f32 conv forward`, goal, i8.map((r) => [r.id, (time(byId.get(`conv2d.fwd/${r.id.slice(prefix.length)}`)) ?? NaN) / (time(r) ?? NaN)]), (x) => x >= min);
  }
  for (const m of ['cnn', 'resnet20']) {
    const fx = byId.get(`model.train.fixed/${m}`);
    add(`fixed-point training step / float step (${m})`, '<= 1.4x', [[fx?.id ?? '', (time(fx) ?? NaN) / (time(byId.get(`model.train.float/${m}`)) ?? NaN)]], (x) => x <= 1.4);
  }
  const ii = byId.get('model.infer.int/resnet20');
  add('ResNet-20 integer / float inference images/s', '>= 4x', [[ii?.id ?? '', (time(byId.get('model.infer.float/resnet20')) ?? NaN) / (time(ii) ?? NaN)]], (x) => x >= 4);
  return out;
}
