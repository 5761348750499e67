/**
 * Fractional lengths on the GPU (F8NET.md §2; wgsl/fraclen.wgsl): from a statistic with the
 * paper's formula, by grid search, and the running value kept for activations. CPU reference:
 * src/quant/fraclen.ts. Every result is an i32 (or f32 running) tensor that the next kernel
 * (fakeQuant, quantizeInt) reads from its buffer: nothing is read back inside a step.
 *
 * Reductions are deterministic (fixed chunking, partials folded in index order, no atomics):
 * one pass over the data, then ceil(log_64(partials)) small dispatches.
 *
 * @example
 *   const fl = fraclenFromMetric(x, { wl: 8, signed: false, metric: 'std', axis: 1 }); // i32 [C]
 *   updateRunningFraclen(run, fl, 0.1);                                                // run: f32 [C]
 *   const flEval = evalFraclen(run, 8, false);                                          // i32 [C]
 */
import { Engine } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';
import { Tensor } from '../tensor.js';
import { FRACLEN_C, type Metric } from '../quant/fraclen.js';
import { checkFormat } from './fakequant.js';
import { checkF32, channelDims } from './reduce.js';

export { fixScalingGpu } from './fakequant.js';

const FILE = 'fraclen.wgsl';
const WG = 64;
/** Partial-reduction threads to aim for (C * P): enough for a GPU, cheap on lavapipe. */
const TARGET_THREADS = 4096;
/** Fewest units a chunk reduces, so that small tensors do not spawn idle threads. */
const MIN_CHUNK = 64;
/** Partials one merge thread folds. */
const FAN_IN = 64;

/** How a reduction cuts the tensor (see the header of wgsl/fraclen.wgsl). */
interface Geometry {
  C: number;
  innerU: number;
  M: number;
  L: number;
  P: number;
  n: number;
  vec4: boolean;
}

function geometry(x: Tensor, axis: number | undefined, what: string): Geometry {
  const n = x.size;
  let C = 1;
  let innerU: number;
  let M: number;
  let vec4 = true;
  if (axis === undefined) {
    checkF32(what, 'x', x);
    innerU = M = Math.ceil(n / 4);
  } else {
    const d = channelDims(what, x, axis);
    C = d.C;
    vec4 = d.inner % 4 === 0;
    innerU = vec4 ? d.inner / 4 : d.inner;
    M = d.outer * innerU;
  }
  const L = Math.max(MIN_CHUNK, Math.ceil((M * C) / TARGET_THREADS));
  const P = Math.ceil(M / L);
  if (P * C > 65535 * 65535) throw new F8Error('UNSUPPORTED', `${what}: ${C} channels are too many`);
  return { C, innerU, M, L, P, n, vec4 };
}

type Entries = { partial: string; merge: string; final: string; slots: number };

/**
 * Runs partial -> merge* -> final. `slots` is the number of f32 per partial; the final kernel
 * writes into `outs`.
 */
function reduce(x: Tensor, g: Geometry, defines: Record<string, number | boolean>, params: Record<string, number>, e: Entries, outs: Record<string, Tensor>): void {
  const engine = Engine.get();
  const isStat = e.partial === 'stat_partial';
  const inName = isStat ? 'part' : 'gpart';
  const outName = isStat ? 'pout' : 'gout';
  const base = { ...params, C: g.C, innerU: g.innerU, M: g.M, L: g.L, n: g.n, F: FAN_IN };
  let P = g.P;
  let part = Tensor.empty([Math.max(1, P * g.C * e.slots)]);
  engine.dispatch(engine.kernel(FILE, e.partial, defines), { x, [outName]: part }, { ...base, P, P2: 0 }, engine.grid1d(P * g.C, WG));
  while (P > FAN_IN) {
    const P2 = Math.ceil(P / FAN_IN);
    const next = Tensor.empty([P2 * g.C * e.slots]);
    engine.dispatch(engine.kernel(FILE, e.merge, defines), { [inName]: part, [outName]: next }, { ...base, P, P2 }, engine.grid1d(P2 * g.C, WG));
    part.dispose();
    part = next;
    P = P2;
  }
  engine.dispatch(engine.kernel(FILE, e.final, defines), { [inName]: part, ...outs }, { ...base, P, P2: 0 }, engine.grid1d(g.C, WG));
  part.dispose();
}

export type MetricOpts = { wl: number; signed: boolean; metric: Metric; axis?: number };

/**
 * The fractional length from a statistic (§2) and the statistic itself: m = sample std (Bessel),
 * mean |x| or sqrt(mean x^2), per layer or per channel along `axis`, computed in f32 on the GPU
 * (it may differ from the float64 reference in the last bits); fl = clamp(floor(log2(c / m)),
 * 0, wl - signed) by the exact log2-free rule. `stat` is f32 and `fl` i32, both [1] or [C].
 * @example const { fl, stat } = fraclenAndStat(w, { wl: 8, signed: true, metric: 'std', axis: 0 });
 */
export function fraclenAndStat(x: Tensor, opts: MetricOpts): { fl: Tensor; stat: Tensor } {
  const what = 'fraclenFromMetric';
  const { flmax } = checkFormat(opts.wl, opts.signed, what);
  const c = FRACLEN_C[opts.signed ? 'signed' : 'unsigned'][opts.metric];
  if (c === undefined) throw new F8Error('BAD_CONFIG', `${what}: metric '${opts.metric}': expected std, mae or rms`);
  const g = geometry(x, opts.axis, what);
  const shape = [g.C];
  const fl = Tensor.empty(shape, 'i32');
  const stat = Tensor.empty(shape);
  const defines = { WG, VEC4: g.vec4, IS_STD: opts.metric === 'std', IS_MAE: opts.metric === 'mae', NK: 1 };
  reduce(x, g, defines, { flmax, c, lo: 0, hi: 0 }, { partial: 'stat_partial', merge: 'stat_merge', final: 'stat_final', slots: 4 }, { stat, flo: fl });
  return { fl, stat };
}

/**
 * fl from a statistic of x (§2), on the GPU: i32 [1] per layer, or i32 [C] per channel along `axis`.
 * @example const fl = fraclenFromMetric(w, { wl: 8, signed: true, metric: 'std' }); // 5 for std(w) = 1
 */
export function fraclenFromMetric(x: Tensor, opts: MetricOpts): Tensor {
  const { fl, stat } = fraclenAndStat(x, opts);
  stat.dispose();
  return fl;
}

/**
 * Grid search (§2) with the RMS error of every candidate: `errs` is f32 [C, wl - signed + 1]
 * (errs[c][k] for fl = k), `fl` i32 [C] ([1] per layer).
 * @example const { fl, errs } = gridSearchWithErrors(x, { wl: 8, signed: true });
 */
export function gridSearchWithErrors(x: Tensor, opts: { wl: number; signed: boolean; axis?: number }): { fl: Tensor; errs: Tensor } {
  const what = 'gridSearchFraclen';
  const { lo, hi, flmax } = checkFormat(opts.wl, opts.signed, what);
  const g = geometry(x, opts.axis, what);
  const NK = flmax + 1;
  const fl = Tensor.empty([g.C], 'i32');
  const errs = Tensor.empty([g.C, NK]);
  const defines = { WG, VEC4: g.vec4, IS_STD: false, IS_MAE: false, NK };
  reduce(x, g, defines, { flmax, c: 0, lo, hi }, { partial: 'grid_partial', merge: 'grid_merge', final: 'grid_final', slots: 2 * NK + 2 }, { flo: fl, errs });
  return { fl, errs };
}

/**
 * The fl of least RMS quantisation error over [0, wl - signed], computed on the GPU in one pass
 * over x; ties go to the largest fl (an all-underflow tensor gets the finest format); any
 * non-finite value gives 0. i32 [1] per layer or [C] per channel along `axis`.
 * @example gridSearchFraclen(Tensor.from([0.5, -0.25], [2]), { wl: 8, signed: true }) // [7]
 */
export function gridSearchFraclen(x: Tensor, opts: { wl: number; signed: boolean; axis?: number }): Tensor {
  const { fl, errs } = gridSearchWithErrors(x, opts);
  errs.dispose();
  return fl;
}

const RUN_DEFINES = { WG, VEC4: false, IS_STD: false, IS_MAE: false, NK: 1 };

/**
 * Running fl of an activation (§2), in place: run = momentum * batch + (1 - momentum) * run,
 * in f32 (run f32, batch i32, both [1] or [C]).
 * @example updateRunningFraclen(run, fraclenFromMetric(x, opts), 0.1);
 */
export function updateRunningFraclen(run: Tensor, batch: Tensor, momentum: number): void {
  if (run.dtype !== 'f32' || batch.dtype !== 'i32') throw new F8Error('UNSUPPORTED', `updateRunningFraclen: run f32 and batch i32 expected, got ${run.dtype} and ${batch.dtype}`);
  if (run.size !== batch.size) throw new F8Error('SHAPE_MISMATCH', `updateRunningFraclen: run has ${run.size} elements, batch ${batch.size}`);
  if (!(momentum >= 0 && momentum <= 1)) throw new F8Error('BAD_CONFIG', `updateRunningFraclen: momentum ${momentum} is not in [0, 1]`);
  const e = Engine.get();
  e.dispatch(e.kernel(FILE, 'running_update', RUN_DEFINES), { run, batch }, { n: run.size, flmax: 0, momentum, keep: 1 - momentum }, [Math.ceil(run.size / 64), 1, 1]);
}

/**
 * fl at evaluation and export (§2): clamp(roundHalfEven(run), 0, wl - signed), i32 (4.5 -> 4,
 * 5.5 -> 6; NaN -> 0).
 * @example evalFraclen(run, 8, true) // i32, same shape as run
 */
export function evalFraclen(run: Tensor, wl: number, signed: boolean): Tensor {
  const { flmax } = checkFormat(wl, signed, 'evalFraclen');
  if (run.dtype !== 'f32') throw new F8Error('UNSUPPORTED', `evalFraclen: run must be f32, got ${run.dtype}`);
  const e = Engine.get();
  const out = Tensor.empty(run.shape, 'i32');
  e.dispatch(e.kernel(FILE, 'eval_fraclen', RUN_DEFINES), { runIn: run, flEval: out }, { n: run.size, flmax, momentum: 0, keep: 0 }, [Math.ceil(run.size / 64), 1, 1]);
  return out;
}
