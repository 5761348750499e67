/**
 * The paper's error analysis (F8NET.md §2, F8Net section 3), on the CPU reference: for
 * Gaussian (signed) and rectified-Gaussian (unsigned) data over a log range of sigma, the
 * relative RMS quantisation error of every fl, the optimal fl (ties -> largest), and the fl the
 * std formula picks. Outputs: rows, TSV, a summary of where each fl is optimal (the SVG plot
 * of the rows is src/report/sweep-chart.ts).
 *
 * Choices, as in the paper's script unless said:
 * - sigma is that of the Gaussian before rectification; errors are divided by it.
 * - formula_fl comes from the sample std of the data before rectification: the training code
 *   measures a layer's input before its ReLU, which is the unsigned quantiser's clamp at 0.
 * - One standard-normal draw is scaled by every sigma (the paper draws afresh per sigma): the
 *   curves are smooth and each fl boundary is a single crossing rather than a noisy band.
 *   `fresh: true` draws afresh as the paper does; the boundaries then flicker over a band whose
 *   lower edge is where the paper read its constants (first sigma at which fl - 1 wins).
 */
import { Rng } from '../runtime/rng.js';
import { F8Error } from '../runtime/errors.js';
import { flRange, fraclenFromStat, gridSearchFraclen, tensorStat } from './fixed.js';

export type SweepOpts = { signed: boolean; wl?: number; sigmaMin?: number; sigmaMax?: number; points?: number; samples?: number; seed?: number; fresh?: boolean };

/** One sigma of a sweep; `errs[k]` is the RMS error at fl = k divided by sigma. */
export type SweepRow = { sigma: number; optFl: number; optErr: number; formulaFl: number; errs: number[] };

/**
 * Runs the sweep. Defaults: wl 8, sigma 1e-3..1e3 (log-spaced, both ends included), 1000 points,
 * 10000 samples, seed 0, one draw for all sigmas.
 * @example fraclenSweep({ signed: true, points: 20, samples: 2000, seed: 1 })[0].optFl === 7
 */
export function fraclenSweep(opts: SweepOpts): SweepRow[] {
  const { signed, wl = 8, sigmaMin = 1e-3, sigmaMax = 1e3, points = 1000, samples = 10000, seed = 0, fresh = false } = opts;
  if (!(sigmaMin > 0 && sigmaMax >= sigmaMin) || !Number.isInteger(points) || points < 1 || !Number.isInteger(samples) || samples < 2) {
    throw new F8Error('BAD_CONFIG', `fraclenSweep: need 0 < sigmaMin <= sigmaMax, integer points >= 1 and samples >= 2 (got ${sigmaMin}, ${sigmaMax}, ${points}, ${samples})`);
  }
  const rng = new Rng(seed);
  const z = Float64Array.from({ length: samples }, () => rng.normal());
  const x = new Float32Array(samples);
  const pre = new Float32Array(samples);
  const rows: SweepRow[] = [];
  for (let i = 0; i < points; i++) {
    if (fresh && i > 0) z.forEach((_, j) => (z[j] = rng.normal()));
    const sigma = i === 0 ? sigmaMin : i === points - 1 ? sigmaMax : sigmaMin * (sigmaMax / sigmaMin) ** (i / (points - 1));
    for (let j = 0; j < samples; j++) {
      pre[j] = sigma * z[j];
      x[j] = signed ? pre[j] : Math.max(0, pre[j]);
    }
    const { fl, errs } = gridSearchFraclen(x, { wl, signed });
    const rel = errs.map((e) => e / sigma);
    const formulaFl = fraclenFromStat(tensorStat(pre, 'std'), { wl, signed, metric: 'std' });
    rows.push({ sigma, optFl: fl, optErr: rel[fl], formulaFl, errs: rel });
  }
  return rows;
}

/**
 * Tab-separated table, one line per sigma:
 * `sigma  opt_fl  opt_err  formula_fl  err_fl0 .. err_fl{wl - signed}`.
 * @example writeFileSync('signed.tsv', sweepToTsv(rows, 8, true))
 */
export function sweepToTsv(rows: SweepRow[], wl: number, signed: boolean): string {
  const [min, max] = flRange(wl, signed);
  const n = max - min + 1;
  const head = ['sigma', 'opt_fl', 'opt_err', 'formula_fl', ...Array.from({ length: n }, (_, k) => `err_fl${min + k}`)];
  const lines = rows.map((r) => {
    if (r.errs.length !== n) throw new F8Error('SHAPE_MISMATCH', `sweepToTsv: a row has ${r.errs.length} errors, wl=${wl} signed=${signed} needs ${n}`);
    return [r.sigma, r.optFl, r.optErr, r.formulaFl, ...r.errs].join('\t');
  });
  return [head.join('\t'), ...lines].join('\n') + '\n';
}

/** Where each fl is optimal (one entry per contiguous run of sigma) and where the std formula disagrees. */
export type SweepSummary = {
  optimal: { fl: number; sigmaFrom: number; sigmaTo: number }[];
  disagree: { sigmaFrom: number; sigmaTo: number; optFl: number; formulaFl: number; maxExcess: number }[];
};

/**
 * Runs of equal optimal fl along sigma, and runs where formula_fl != opt_fl with the largest
 * relative excess error errs[formula] / errs[opt] - 1 in each.
 * @example sweepSummary(rows).optimal -> [{ fl: 7, sigmaFrom: 0.001, sigmaTo: 0.29 }, ...]
 */
export function sweepSummary(rows: SweepRow[]): SweepSummary {
  const optimal: SweepSummary['optimal'] = [];
  const disagree: SweepSummary['disagree'] = [];
  for (const r of rows) {
    const o = optimal.at(-1);
    if (o && o.fl === r.optFl) o.sigmaTo = r.sigma;
    else optimal.push({ fl: r.optFl, sigmaFrom: r.sigma, sigmaTo: r.sigma });
  }
  let prev: SweepRow | undefined;
  for (const r of rows) {
    if (r.formulaFl !== r.optFl) {
      const excess = r.errs[r.formulaFl] / r.optErr - 1;
      const d = disagree.at(-1);
      if (d && prev && prev.formulaFl !== prev.optFl && d.optFl === r.optFl && d.formulaFl === r.formulaFl) {
        d.sigmaTo = r.sigma;
        d.maxExcess = Math.max(d.maxExcess, excess);
      } else {
        disagree.push({ sigmaFrom: r.sigma, sigmaTo: r.sigma, optFl: r.optFl, formulaFl: r.formulaFl, maxExcess: excess });
      }
    }
    prev = r;
  }
  return { optimal, disagree };
}

/** Human-readable summary, one line per run. */
export function formatSweepSummary(s: SweepSummary): string {
  const g = (v: number) => v.toPrecision(4);
  const lines = s.optimal.map((o) => `fl ${o.fl} optimal for sigma ${g(o.sigmaFrom)} .. ${g(o.sigmaTo)}`);
  if (!s.disagree.length) lines.push('std formula agrees with the optimum everywhere');
  for (const d of s.disagree) {
    lines.push(`formula fl ${d.formulaFl} != optimal ${d.optFl} for sigma ${g(d.sigmaFrom)} .. ${g(d.sigmaTo)} (error up to +${(100 * d.maxExcess).toFixed(2)}%)`);
  }
  return lines.join('\n');
}
