/**
 * Output of `f8net bench` as text: the markdown table for the terminal, the JSON text (what
 * `f8net bench diff` reads), and an SVG bar chart of each row's share of the roofline. Their
 * files (JSON written atomically, the chart as PNG) are src/node/bench-files.ts.
 *
 * @example
 *   process.stdout.write(markdownTable(result));
 *   const blob = new Blob([benchJsonText(result)], { type: 'application/json' });
 */
import { PALETTE } from '../report/svg-chart.js';
import { markdownTable as mdTable } from '../report/table.js';
import type { BenchResult, RowResult, Variant, Measured } from './suite.js';

const f = (v: number | undefined, d = 2): string => (v === undefined || !Number.isFinite(v) ? '-' : v >= 1000 ? v.toFixed(0) : v.toPrecision(Math.max(d + 1, 3)).replace(/\.?0+$/, (m) => (m.includes('.') ? '' : m)));
const ms = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '-' : v < 1 ? v.toFixed(3) : v < 100 ? v.toFixed(2) : v.toFixed(0));
const pct = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '-' : `${(100 * v).toFixed(v < 0.1 ? 1 : 0)}%`);
const esc = (s: string): string => s.replace(/\|/g, '\\|');

/** The measurement shown for a row: tuned where there is one, else default. */
export function primaryOf(r: RowResult): Measured | undefined {
  return r.results.tuned ?? r.results.default;
}

/** The markdown table, the peaks and the targets. */
export function markdownTable(res: BenchResult): string {
  const both = res.config.tuning === 'both';
  const peers = res.config.compare;
  const head = ['row', 'shape', 'timing', 'median ms', 'min ms', 'max ms', 'figure', 'roofline', 'check'];
  if (both) head.push('default ms', 'tuned speed-up');
  for (const p of peers) head.push(`${p} ms`, `${p} / f8net`);
  const rows: string[][] = [];
  for (const r of res.rows) {
    const m = primaryOf(r);
    const check = r.error && !m ? `FAILED: ${r.error}` : r.verified ? `ok (${r.maxError.toExponential(1)}${r.tolerance > 0 ? ` <= ${r.tolerance.toExponential(1)}` : ''})` : `WRONG: ${r.error ?? ''}`;
    const cells = [r.id, r.shape, m ? `${m.method}${m.note ? ' (short)' : ''}` : '-', ms(m?.time.medianMs), ms(m?.time.minMs), ms(m?.time.maxMs), m ? `${f(m.figure)} ${r.unit}` : '-', pct(m?.rooflineShare), check];
    if (both) {
      const d = r.results.default?.time.medianMs;
      const t = r.results.tuned?.time.medianMs;
      cells.push(ms(d), d && t ? `${(d / t).toFixed(2)}x` : '-');
    }
    for (const p of peers) {
      const pr = r.peers[p];
      if (!pr) cells.push('-', '-');
      else if (pr.error) cells.push('failed', esc(pr.error).slice(0, 60));
      else cells.push(ms(pr.wall?.medianMs), `${pr.ratio.toFixed(2)}x${pr.verified ? '' : ' (wrong result)'}`);
    }
    rows.push(cells.map((c) => esc(String(c))));
  }
  const table = mdTable(head, head.map((_h, i) => (i < 3 ? 'l' : 'r')), rows);
  const p = res.peaks;
  const out = [
    `f8net bench on ${res.adapter.description || res.adapter.vendor} (${res.adapter.backend}); f8net ${res.versions.f8net}, webgpu ${res.versions.webgpu}, node ${res.versions.node}`,
    `timing: ${res.config.timing === 'timestamp' ? 'GPU timestamps around every compute pass (kernel rows); whole-model rows and peers: wall clock' : 'wall clock after a full sync'}; tuning: ${res.config.tuning}${res.tuning ? ` (${res.tuning.source})` : ''}`,
    `roofline (measured now): f32 ${f(p.f32Gflops)} GFLOP/s, int8 ${p.int8Path} ${f(p.int8Gops)} GOP/s, copy ${f(p.copyGBs)} GB/s`,
    '',
    table,
  ];
  if (res.rows.some((r) => primaryOf(r)?.note)) out.push('', "timing 'wall (short)': the GPU time was below the resolution of the adapter's timestamps; the row is timed by the wall clock.");
  if (peers.length) out.push('', 'Peer ratios are wall-clock medians, peer / f8net: above 1 means f8net is faster.');
  for (const [p, why] of Object.entries(res.skipped ?? {})) out.push('', `--compare ${p} skipped: ${why}`);
  if (res.targets.length) {
    const val = (t: BenchResult['targets'][number], x: number) => (t.unit === '%' ? pct(x) : `${x.toFixed(2)}x`);
    const targets = res.targets.map((t) => {
      const range = t.range ? ` (${val(t, t.range[0])} to ${val(t, t.range[1])})` : '';
      return [esc(t.name), esc(t.goal), `${val(t, t.value)}${range}`, t.met === null ? '-' : t.met ? 'yes' : 'no'];
    });
    out.push('', mdTable(['target', 'goal', 'measured', 'met'], ['l', 'l', 'r', 'l'], targets));
  }
  return `${out.join('\n')}\n`;
}

/** The result as the JSON text of `f8net bench --json` (non-finite numbers as null). */
export function benchJsonText(res: unknown): string {
  return `${JSON.stringify(res, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
}

const xmlEsc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);

/** A horizontal bar chart of the roofline share of every row (one bar per measured variant). */
export function rooflineSvg(res: BenchResult): string {
  const variants: Variant[] = res.config.tuning === 'both' ? ['default', 'tuned'] : [res.config.tuning as Variant];
  const rows = res.rows;
  const barH = variants.length === 2 ? 7 : 12;
  const rowH = variants.length * barH + 6;
  const labelW = 7 * Math.min(70, Math.max(10, ...rows.map((r) => r.id.length))) + 16;
  const plotW = 520;
  const top = 56;
  // Room on the right for the value labels of the longest bars.
  const W = labelW + plotW + 150;
  const H = top + rows.length * rowH + 40;
  const maxShare = Math.max(1, ...rows.flatMap((r) => variants.map((v) => r.results[v]?.rooflineShare ?? 0)));
  const x = (s: number) => labelW + (Math.min(s, maxShare) / maxShare) * plotW;
  const p = res.peaks;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">Share of the roofline: ${xmlEsc(res.adapter.description || res.adapter.vendor)}</text>`,
    `<text x="${W / 2}" y="38" text-anchor="middle">f32 ${f(p.f32Gflops)} GFLOP/s, int8 ${f(p.int8Gops)} GOP/s, copy ${f(p.copyGBs)} GB/s (measured now)</text>`,
  ];
  for (let t = 0; t <= maxShare + 1e-9; t += maxShare > 2 ? 0.5 : 0.25) {
    out.push(`<line x1="${x(t)}" y1="${top - 4}" x2="${x(t)}" y2="${H - 34}" stroke="${t === 1 ? '#999' : '#e5e5e5'}"/>`);
    out.push(`<text x="${x(t)}" y="${H - 20}" text-anchor="middle">${Math.round(100 * t)}%</text>`);
  }
  rows.forEach((r, i) => {
    const y0 = top + i * rowH;
    out.push(`<text x="${labelW - 6}" y="${y0 + rowH / 2}" text-anchor="end" dominant-baseline="middle"${r.verified ? '' : ' fill="#d62728"'}>${xmlEsc(r.id.slice(0, 70))}</text>`);
    variants.forEach((v, k) => {
      const s = r.results[v]?.rooflineShare;
      if (s === undefined || !Number.isFinite(s)) return;
      out.push(`<rect x="${labelW}" y="${y0 + 3 + k * barH}" width="${(x(s) - labelW).toFixed(1)}" height="${barH - 1}" fill="${PALETTE[k]}"/>`);
      // The value at the end of its bar: the share, and what was measured.
      const m = r.results[v];
      const value = `${(100 * s).toFixed(s < 0.1 ? 1 : 0)}%${m && Number.isFinite(m.figure) ? ` (${f(m.figure)} ${r.unit})` : ''}`;
      out.push(`<text x="${(x(s) + 4).toFixed(1)}" y="${y0 + 3 + k * barH + (barH - 1) / 2}" dominant-baseline="middle" font-size="${barH < 10 ? 8 : 10}">${xmlEsc(value)}</text>`);
    });
  });
  if (variants.length === 2) {
    variants.forEach((v, k) => {
      out.push(`<rect x="${labelW + plotW - 120 + 60 * k}" y="44" width="10" height="8" fill="${PALETTE[k]}"/><text x="${labelW + plotW - 106 + 60 * k}" y="51">${v}</text>`);
    });
  }
  out.push('</svg>');
  return out.join('\n');
}
