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
import type { PeakKind } from './roofline.js';
import { F8NET_VERSION } from '../runtime/version.js';
import { benchPlatform } from './platform.js';
import { resetTuning } from '../runtime/tuner.js';

export type Peer = 'tfjs' | 'ort' | 'torch';
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
  /** Peak bytes of GPU buffers in use during one step (training rows; last variant measured). */
  peakBytes?: number;
  results: Partial<Record<Variant, Measured>>;
  peers: Partial<Record<Peer, PeerResult>>;
  error?: string;
}

export interface TargetResult {
  name: string;
  /** The measured ratio (geometric mean over the rows it covers). */
  value: number;
  goal: string;
  /** null: reported beside the goals, no goal of its own. */
  met: boolean | null;
  rows: string[];
  /** How `value` reads: a ratio, or a share of the roofline. */
  unit: 'x' | '%';
  /** Smallest and largest of the rows' values, where there are several. */
  range?: [number, number];
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
  /** Peers asked for but not run, with the one-line reason (PyTorch without python or torch). */
  skipped?: Partial<Record<Peer, string>>;
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
  const platform = benchPlatform();
  if (compare.length && !platform) throw new F8Error('UNSUPPORTED', `bench --compare ${compare.join(',')}: the peers run in Node only (tfjs on Dawn, onnxruntime-node, a python subprocess)`);
  const tf = compare.includes('tfjs') ? await platform!.peers.tfjs(e) : null;
  const ort = compare.includes('ort') ? await platform!.peers.ort() : null;
  // PyTorch is optional: without python or torch the peer is skipped with one line, not an error.
  const skipped: Partial<Record<Peer, string>> = {};
  const torchFound = compare.includes('torch') ? platform!.peers.torch() : null;
  const torch = torchFound?.torch ?? null;
  if (torchFound && !torch) {
    skipped.torch = torchFound.reason;
    log(`--compare torch skipped: ${torchFound.reason}`);
  }
  if (tuning !== 'default' && !platform) throw new F8Error('UNSUPPORTED', `bench tuning '${tuning}' needs the tuning cache of the Node platform; in a page bench with tuning: 'default'`);
  const packageVersion = (name: string) => platform?.packageVersion(name) ?? 'browser bundle';

  log(`roofline probes (${method})`);
  resetTuning(e);
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
    if (v === 'default') resetTuning(e);
    else {
      log(opts.retune ? 'tuning (search)' : 'tuning (cache or search)');
      tuneReport = await platform!.ensureTuning(e, { retune: opts.retune, quick, search: opts.search, cacheDir: opts.tuningCacheDir });
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
        if (ok && inst.peakBytes) r.peakBytes = await inst.peakBytes();
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
  for (const [peer, lib] of [['tfjs', tf], ['ort', ort], ['torch', torch]] as const) {
    if (!lib) continue;
    for (let i = 0; i < specs.length; i++) {
      const s = specs[i];
      const r = results[i];
      const ours = r.results[primary];
      let inst: RowInstance | null = null;
      let p: PeerInstance | null = null;
      try {
        inst = await s.setup();
        const make = inst[peer];
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
  if (tuning === 'default') resetTuning(e);

  return {
    format: BENCH_FORMAT,
    version: 1,
    date: new Date().toISOString(),
    adapter: e.gpu.describe(),
    versions: {
      f8net: F8NET_VERSION,
      webgpu: packageVersion('webgpu'),
      node: platform?.runtimeVersion ?? 'none (browser)',
      tinybench: packageVersion('tinybench'),
      ...(tf ? { '@tensorflow/tfjs-core': packageVersion('@tensorflow/tfjs-core'), '@tensorflow/tfjs-backend-webgpu': packageVersion('@tensorflow/tfjs-backend-webgpu') } : {}),
      ...(ort ? { 'onnxruntime-node': packageVersion('onnxruntime-node') } : {}),
      ...(torch ? { torch: `${torch.version} (CPU, ${torch.threads} thread(s), ${torch.python})` } : {}),
    },
    config: { quick, filter: opts.filter ?? null, compare, tuning, retune: !!opts.retune, timing: method, loop, modelLoop },
    peaks,
    ...(tuneReport
      ? { tuning: { source: tuneReport.source, cacheFile: tuneReport.cacheFile, families: tuneReport.families.map((f) => ({ name: f.name, choice: f.choice })), warnings: tuneReport.warnings } }
      : {}),
    rows: results,
    targets: targets(results, primary, peaks),
    ...(Object.keys(skipped).length ? { skipped } : {}),
  };
}

const geomean = (a: number[]): number => Math.exp(a.reduce((s, v) => s + Math.log(v), 0) / a.length);

/**
 * The issue's targets, from the rows present (a target without rows is left out): the older goals
 * (peers and the int8 / fixed-point ratios of issues 6 and 9) and those of issue 16 (the
 * fixed-point step, integer inference against onnxruntime, shares of the roofline, memory) and,
 * with --compare torch, PyTorch's training step beside ours, which has no goal: on a machine
 * without a GPU PyTorch wins (docs/BENCH.md says why).
 */
export function targets(rows: RowResult[], v: Variant, peaks?: Peaks): TargetResult[] {
  const out: TargetResult[] = [];
  const time = (r: RowResult | undefined) => r?.results[v]?.time.medianMs;
  const share = (r: RowResult) => r.results[v]?.rooflineShare ?? NaN;
  const add = (name: string, goal: string, pairs: [string, number][], ok: ((x: number) => boolean) | null, unit: TargetResult['unit'] = 'x') => {
    const vals = pairs.filter(([, x]) => Number.isFinite(x) && x > 0);
    if (!vals.length) return;
    const xs = vals.map(([, x]) => x);
    const value = geomean(xs);
    out.push({ name, value, goal, met: ok ? ok(value) : null, rows: vals.map(([id]) => id), unit, ...(xs.length > 1 ? { range: [Math.min(...xs), Math.max(...xs)] as [number, number] } : {}) });
  };
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const pass of ['fwd', 'bwd_input', 'bwd_weight']) {
    const rs = rows.filter((r) => r.id.startsWith(`conv2d.${pass}/resnet`) && r.peers.tfjs?.verified);
    add(`conv2d ${pass} vs tfjs-webgpu (ResNet layers)`, '>= 2x', rs.map((r) => [r.id, r.peers.tfjs!.ratio]), (x) => x >= 2);
  }
  const mm = rows.filter((r) => r.id.startsWith('matmul.') && r.peers.tfjs?.verified);
  add('matmul vs tfjs-webgpu', '>= 2x', mm.map((r) => [r.id, r.peers.tfjs!.ratio]), (x) => x >= 2);
  const int8VsF32 = (prefix: string, dense: boolean): [string, number][] =>
    rows
      .filter((r) => r.id.startsWith(prefix) && (!dense || !r.id.includes('dw')))
      .filter((r) => !dense || byId.get(`conv2d.fwd/${r.id.slice(prefix.length)}`))
      .map((r) => [r.id, (time(byId.get(`conv2d.fwd/${r.id.slice(prefix.length)}`)) ?? NaN) / (time(r) ?? NaN)]);
  add('int8 conv vs our f32 conv forward', '>= 3x', int8VsF32('int8.conv/', false), (x) => x >= 3);
  add('int8 conv through dot4I8Packed vs our f32 conv forward', '>= 2.5x (issue 6)', int8VsF32('int8.conv.dot4/', false), (x) => x >= 2.5);
  add('int8 conv vs our f32 conv, dense zoo layers (issue 16)', '>= 2.5x', int8VsF32('int8.conv/', true), (x) => x >= 2.5);
  const stepRatio = (m: string) => (time(byId.get(`model.train.fixed/${m}`)) ?? NaN) / (time(byId.get(`model.train.float/${m}`)) ?? NaN);
  for (const [m, goal, max] of [['cnn', '<= 1.25x', 1.25], ['resnet20', '<= 1.25x', 1.25], ['mobilenet_v2', '<= 1.35x', 1.35]] as const) {
    add(`fixed-point training step / float step (${m})`, `${goal} (issue 16; 1.4x issue 9)`, [[`model.train.fixed/${m}`, stepRatio(m)]], (x) => x <= max);
  }
  const ii = byId.get('model.infer.int/resnet20');
  add('ResNet-20 integer / float inference images/s', '>= 4x', [[ii?.id ?? '', (time(byId.get('model.infer.float/resnet20')) ?? NaN) / (time(ii) ?? NaN)]], (x) => x >= 4);
  if (ii?.peers.ort?.verified) add('ResNet-20 integer inference images/s vs onnxruntime-node (int_op_only ONNX, CPU)', '>= 1.0x', [[ii.id, ii.peers.ort.ratio]], (x) => x >= 1);
  const unf = byId.get('model.infer.int/resnet20.unfused');
  add('ResNet-20 integer inference, residual fusions on / off (images/s)', 'none (A/B of issue 16 point 2)', [[unf?.id ?? '', (time(unf) ?? NaN) / (time(ii) ?? NaN)]], null);
  const shares = (re: RegExp): [string, number][] => rows.filter((r) => re.test(r.id)).map((r) => [r.id, share(r)]);
  add('f32 conv forward, share of the f32 roofline (ResNet layers)', '>= 45%', shares(/^conv2d\.fwd\/resnet/), (x) => x >= 0.45, '%');
  add('conv weight gradient, share of the roofline', '>= 35%', shares(/^conv2d\.bwd_weight\//), (x) => x >= 0.35, '%');
  add('depthwise conv, share of the roofline', '>= 35%', shares(/^depthwise\./), (x) => x >= 0.35, '%');
  add('matmul, share of the roofline', '>= 35%', shares(/^matmul\./), (x) => x >= 0.35, '%');
  for (const mode of ['float', 'fixed'] as const) {
    add(`whole-model training (${mode}), share of the f32 roofline (cnn, resnet20)`, mode === 'float' ? '>= 30%' : '>= 20%', shares(new RegExp(`^model\\.train\\.${mode}/(cnn|resnet20)$`)), (x) => x >= (mode === 'float' ? 0.3 : 0.2), '%');
  }
  for (const m of ['resnet20', 'mobilenet_v2']) {
    const fx = byId.get(`model.train.fixed/${m}`)?.peakBytes;
    const fl = byId.get(`model.train.float/${m}`)?.peakBytes;
    const mib = (b: number | undefined) => ((b ?? NaN) / 2 ** 20).toFixed(0);
    add(`peak GPU memory in use, fixed-point / float step (${m}; ${mib(fx)} / ${mib(fl)} MiB)`, '<= 1.4x', [[`model.train.fixed/${m}`, (fx ?? NaN) / (fl ?? NaN)]], (x) => x <= 1.4);
  }
  for (const r of rows.filter((x) => x.id.startsWith('model.train.') && x.peers.torch?.verified)) {
    add(`${r.id} vs PyTorch CPU training step (f8net / PyTorch images/s)`, 'none (context: docs/BENCH.md, PyTorch on the CPU)', [[r.id, r.peers.torch!.ratio]], null);
  }
  if (peaks && rows.some((r) => r.peers.torch?.verified)) {
    // f8net's ceiling on this adapter is the measured f32 roofline; PyTorch's share of it says how far apart the two ceilings are.
    const t = rows.find((r) => r.id === 'model.train.float/cnn' && r.peers.torch?.verified);
    if (t?.peers.torch?.wall) add('PyTorch small-CNN float step GFLOP/s / our measured f32 roofline', 'none (context)', [[t.id, t.flop / t.peers.torch.wall.medianMs / 1e6 / peaks.f32Gflops]], null);
  }
  return out;
}
