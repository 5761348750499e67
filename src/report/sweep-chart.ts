/**
 * The fractional-length sweep's plot (src/quant/sweep.ts computes the rows).
 */
import { flRange } from '../quant/fixed.js';
import type { SweepRow } from '../quant/sweep.js';
import { lineChartSvg, PALETTE, type Series } from './svg-chart.js';

/**
 * The error curves as SVG: log sigma on x, log relative error on y, one line per fl, the optimum
 * as black dots, and red crosses where the std formula picks another fl.
 * @example await svgToPng(sweepPlotSvg(rows, { wl: 8, signed: true }), 'signed.png')
 */
export function sweepPlotSvg(rows: SweepRow[], opts: { wl: number; signed: boolean; title?: string; width?: number; height?: number }): string {
  const [min, max] = flRange(opts.wl, opts.signed);
  const series: Series[] = [];
  for (let fl = min; fl <= max; fl++) {
    series.push({ name: `FL=${fl}`, color: PALETTE[fl % PALETTE.length], points: rows.map((r) => [r.sigma, r.errs[fl - min]] as const) });
  }
  series.push({ name: 'optimum', color: '#000', line: false, marker: 'circle', markerSize: 1.6, points: rows.map((r) => [r.sigma, r.optErr] as const) });
  series.push({
    name: 'std formula (if not optimal)',
    color: '#d00',
    line: false,
    marker: 'cross',
    points: rows.filter((r) => r.formulaFl !== r.optFl).map((r) => [r.sigma, r.errs[r.formulaFl - min]] as const),
  });
  const kind = opts.signed ? 'Signed (Gaussian)' : 'Unsigned (rectified Gaussian)';
  return lineChartSvg({
    title: opts.title ?? `${opts.wl}-bit ${kind}: RMS quantisation error / sigma`,
    width: opts.width ?? 900,
    height: opts.height ?? 560,
    x: { label: 'sigma', log: true },
    y: { label: 'relative RMS error', log: true },
    series,
  });
}
