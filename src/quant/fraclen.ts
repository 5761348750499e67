/**
 * Choosing fractional lengths (F8NET.md §2), CPU reference: statistics, the semi-empirical
 * formula, grid search, and the running value kept for activations.
 *
 * Statistics are computed in float64 here; a GPU reduction in f32 (other summation order) may
 * differ in the last bits, which moves fl only when c / m sits right at a power of two.
 * Non-finite conventions, shared by every function here: a NaN statistic (NaN in the data, or a
 * sample std of fewer than 2 values) gives fl = 0; m = 0 gives the largest fl (log2(c/0) = +Inf);
 * m = +Inf gives 0.
 */
import { F8Error } from '../runtime/errors.js';
import { checkLayout, flRange, quantize, roundHalfEven, type ChannelLayout } from './fixed-format.js';

export type Metric = 'std' | 'mae' | 'rms';

/** The constant c of fl = floor(log2(c / m)) (§2 table). */
export const FRACLEN_C: Readonly<Record<'signed' | 'unsigned', Readonly<Record<Metric, number>>>> = {
  signed: { std: 40, mae: 30, rms: 40 },
  unsigned: { std: 70, mae: 30, rms: 50 },
};

/**
 * fl = clamp(floor(log2(c / m)), 0, wl - signed) for a statistic m (§2).
 * Evaluated exactly as the number of k in [1, wl - signed] with m * 2^k <= c (power-of-two
 * scaling, no rounding); a GPU kernel should do the same (or use frexp) rather than log2, whose
 * WGSL precision is not enough at exact powers of two. m = 0 -> max fl; NaN, m < 0, +Inf -> 0.
 * A known, kept difference from the paper's code: it computes floor(log2(c / m)) in f32
 * (torch.log2 of an f32 quotient), so a statistic m within about 2 ulps above c / 2^k, where the
 * f32 quotient rounds up to 2^k, gets the larger length k there and k - 1 here. The exact rule
 * m * 2^k <= c gives one answer on every adapter; an f32 log2 on GPUs does not (WGSL allows
 * 3 ulps of error, so the step would move between drivers). The goldens of
 * tools/seed_goldens.py keep their statistics away from these steps.
 * @example fraclenFromStat(1, { wl: 8, signed: true, metric: 'std' }) === 5  // log2(40) = 5.32
 */
export function fraclenFromStat(stat: number, opts: { wl: number; signed: boolean; metric: Metric }): number {
  const [, max] = flRange(opts.wl, opts.signed);
  const c = FRACLEN_C[opts.signed ? 'signed' : 'unsigned'][opts.metric];
  if (!(stat >= 0)) return 0;
  let fl = 0;
  for (let k = 1; k <= max; k++) if (stat * 2 ** k <= c) fl = k;
  return fl;
}

function reduceStat(x: ArrayLike<number>, metric: Metric, channelOfIndex: ((i: number) => number) | null, channels: number): Float64Array {
  const n = new Float64Array(channels);
  const s = new Float64Array(channels);
  const chan = channelOfIndex ?? (() => 0);
  if (metric === 'std') {
    for (let i = 0; i < x.length; i++) {
      const c = chan(i);
      n[c]++;
      s[c] += x[i];
    }
    const mean = s.map((v, c) => v / n[c]);
    const ss = new Float64Array(channels);
    for (let i = 0; i < x.length; i++) {
      const c = chan(i);
      const d = x[i] - mean[c];
      ss[c] += d * d;
    }
    // Bessel; n = 1 gives NaN as torch does, and so does an empty channel (sqrt(0 / -1) would be -0).
    return ss.map((v, c) => (n[c] < 2 ? NaN : Math.sqrt(v / (n[c] - 1))));
  }
  for (let i = 0; i < x.length; i++) {
    const c = chan(i);
    n[c]++;
    s[c] += metric === 'mae' ? Math.abs(x[i]) : x[i] * x[i];
  }
  return s.map((v, c) => (metric === 'mae' ? v / n[c] : Math.sqrt(v / n[c])));
}

/**
 * A statistic of a tensor in float64: `std` (sample std, Bessel-corrected), `mae` (mean |x|),
 * `rms` (sqrt of mean x^2); over the whole tensor, or one per channel with a layout.
 * @example tensorStat(Float32Array.of(1, -1, 1, -1), 'rms') === 1
 * @example tensorStat(w, 'std', { channels: 16, inner: 3 * 3 * 3 }) -> Float64Array(16)
 */
export function tensorStat(x: ArrayLike<number>, metric: Metric): number;
export function tensorStat(x: ArrayLike<number>, metric: Metric, perChannel: ChannelLayout): Float64Array;
export function tensorStat(x: ArrayLike<number>, metric: Metric, perChannel?: ChannelLayout): number | Float64Array {
  if (!perChannel) return reduceStat(x, metric, null, 1)[0];
  checkLayout(x.length, perChannel, 'tensorStat');
  const { channels, inner } = perChannel;
  return reduceStat(x, metric, (i) => ((i / inner) | 0) % channels, channels);
}

export type FraclenOpts = { wl: number; signed: boolean; metric: Metric };

/**
 * fl of a tensor from its statistic: fraclenFromStat(tensorStat(x)), per tensor or per channel.
 * @example fraclenFromTensor(w, { wl: 8, signed: true, metric: 'std' }) -> 6 for std(w) = 0.5
 */
export function fraclenFromTensor(x: ArrayLike<number>, opts: FraclenOpts): number;
export function fraclenFromTensor(x: ArrayLike<number>, opts: FraclenOpts & { perChannel: ChannelLayout }): Int32Array;
export function fraclenFromTensor(x: ArrayLike<number>, opts: FraclenOpts & { perChannel?: ChannelLayout }): number | Int32Array {
  if (!opts.perChannel) return fraclenFromStat(tensorStat(x, opts.metric), opts);
  return Int32Array.from(tensorStat(x, opts.metric, opts.perChannel), (m) => fraclenFromStat(m, opts));
}

/** Result of {@link gridSearchFraclen}; `errs[k]` is the RMS error at fl = k (per channel: errs[channel][k]). */
export type GridResult<F, E> = { fl: F; errs: E };

/**
 * Grid search (§2): for every fl in [0, wl - signed], err = sqrt(mean((x - fq(x, fl))^2)) in
 * float64; the least error wins, ties go to the largest fl (an all-underflow tensor gets the
 * finest format). Non-finite errors (NaN or ±Inf in the data) are never chosen; when none is
 * finite the result is 0, as for a NaN statistic.
 * @example gridSearchFraclen(Float32Array.of(0.5, -0.25), { wl: 8, signed: true }).fl === 7
 */
export function gridSearchFraclen(x: Float32Array, opts: { wl: number; signed: boolean }): GridResult<number, number[]>;
export function gridSearchFraclen(
  x: Float32Array,
  opts: { wl: number; signed: boolean; perChannel: ChannelLayout },
): GridResult<Int32Array, number[][]>;
export function gridSearchFraclen(
  x: Float32Array,
  opts: { wl: number; signed: boolean; perChannel?: ChannelLayout },
): GridResult<number | Int32Array, number[] | number[][]> {
  const { wl, signed, perChannel } = opts;
  const [min, max] = flRange(wl, signed);
  if (perChannel) checkLayout(x.length, perChannel, 'gridSearchFraclen');
  const channels = perChannel?.channels ?? 1;
  const inner = perChannel?.inner ?? 1;
  const errs: number[][] = Array.from({ length: channels }, () => []);
  for (let fl = min; fl <= max; fl++) {
    const { value } = quantize(x, fl, { wl, signed });
    const s = new Float64Array(channels);
    const n = new Float64Array(channels);
    for (let i = 0; i < x.length; i++) {
      const c = ((i / inner) | 0) % channels;
      const d = x[i] - value[i];
      s[c] += d * d;
      n[c]++;
    }
    for (let c = 0; c < channels; c++) errs[c].push(Math.sqrt(s[c] / n[c]));
  }
  const best = errs.map((e) => {
    let fl = 0;
    let least = Infinity;
    e.forEach((v, k) => {
      if (Number.isFinite(v) && v <= least) [least, fl] = [v, min + k];
    });
    return fl;
  });
  return perChannel ? { fl: Int32Array.from(best), errs } : { fl: best[0], errs: errs[0] };
}

/**
 * Running fl of an activation (§2): momentum * batch + (1 - momentum) * prev, in float64
 * (an f32 GPU value may differ in the last bit; that matters only at an exact .5 in evalFraclen).
 * Works per layer (numbers) or per channel (arrays of equal length).
 * @example runningFraclen(6, 4) -> 5.8 (5.800000000000001 in float64)
 */
export function runningFraclen(prev: number, batch: number, momentum?: number): number;
export function runningFraclen(prev: ArrayLike<number>, batch: ArrayLike<number>, momentum?: number): Float64Array;
export function runningFraclen(prev: number | ArrayLike<number>, batch: number | ArrayLike<number>, momentum = 0.1): number | Float64Array {
  const mix = (p: number, b: number) => momentum * b + (1 - momentum) * p;
  if (typeof prev === 'number' && typeof batch === 'number') return mix(prev, batch);
  if (typeof prev === 'number' || typeof batch === 'number' || prev.length !== batch.length) {
    throw new F8Error('SHAPE_MISMATCH', 'runningFraclen: prev and batch must both be numbers or arrays of one length');
  }
  return Float64Array.from(prev, (p, i) => mix(p, batch[i]));
}

/**
 * fl used at evaluation and export (§2): clamp(round(fl_run), 0, wl - signed), rounding half
 * to even like torch.round (so 5.5 -> 6 but 4.5 -> 4). NaN -> 0.
 * @example evalFraclen(5.8, 8, true) === 6; evalFraclen(9.2, 8, true) === 7
 */
export function evalFraclen(run: number, wl: number, signed: boolean): number {
  const [min, max] = flRange(wl, signed);
  const r = roundHalfEven(run);
  return r !== r ? 0 : Math.min(max, Math.max(min, r)) + 0;
}
