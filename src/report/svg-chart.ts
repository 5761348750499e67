/**
 * A small line-chart SVG builder (axes, linear or log scales, ticks, legend, title), used by the
 * fractional-length sweep, the fractional-length report, the bench figure and the
 * training-curve plots; portable (strings only: the PNG writer is src/node/png.ts).
 * Points that are not finite, or not positive on a log axis, break a line instead of bending it.
 */
import { F8Error } from '../runtime/errors.js';

/**
 * `categories`: a categorical x axis, category i at x = i, labelled with its name (rotated when
 * the names do not fit side by side); `tickLabels: false` draws the grid without labels (a chart
 * stacked above another that names them).
 */
export type Axis = { label: string; log?: boolean; min?: number; max?: number; categories?: readonly string[]; tickLabels?: boolean };

/** One data series: a polyline, markers, or both. Colours default to {@link PALETTE} by index. */
export type Series = {
  name: string;
  points: ReadonlyArray<readonly [number, number]>;
  color?: string;
  width?: number;
  dash?: string;
  line?: boolean;
  marker?: 'none' | 'circle' | 'cross';
  markerSize?: number;
  legend?: boolean;
};

/** `id` names the clip path, unique per chart when several share one document (stackCharts); `legendWidth` aligns stacked charts' plot areas. */
export type ChartSpec = { title?: string; width?: number; height?: number; x: Axis; y: Axis; series: Series[]; id?: string; legendWidth?: number };

/** Distinct colours for up to 10 series. */
export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
const fmt = (v: number) => Number(v.toPrecision(6)).toString();

type Scale = { toPx: (v: number) => number; ticks: number[]; label: (v: number) => string; valid: (v: number) => boolean };

function domain(axis: Axis, values: number[]): [number, number] {
  const ok = values.filter((v) => Number.isFinite(v) && (!axis.log || v > 0));
  let lo = ok.length ? Math.min(...ok) : axis.log ? 1 : 0;
  let hi = ok.length ? Math.max(...ok) : axis.log ? 10 : 1;
  if (!(hi > lo)) [lo, hi] = axis.log ? [lo / 2, lo * 2] : [lo - 1, hi + 1];
  // 3% padding so extreme points do not sit on the frame; explicit limits are kept as given.
  const pad = 0.03 * (axis.log ? Math.log10(hi / lo) : hi - lo);
  if (axis.min === undefined) lo = axis.log ? lo / 10 ** pad : lo - pad;
  if (axis.max === undefined) hi = axis.log ? hi * 10 ** pad : hi + pad;
  return [axis.min ?? lo, axis.max ?? hi];
}

function makeScale(axis: Axis, values: number[], px0: number, px1: number): Scale {
  const [lo, hi] = domain(axis, values);
  if (axis.log) {
    const [a, b] = [Math.log10(lo), Math.log10(hi)];
    const ticks: number[] = [];
    const span = b - a;
    const mult = span < 3 ? [1, 2, 5] : [1];
    const step = span < 3 ? 1 : Math.max(1, Math.ceil(span / 8));
    for (let k = Math.floor(a); k <= Math.ceil(b); k += step) {
      for (const m of mult) {
        const t = m * 10 ** k;
        if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.push(t);
      }
    }
    // A narrow range (one epoch: two nearby losses) can hold no 1-2-5 tick: then plain steps.
    if (ticks.length < 2) ticks.splice(0, ticks.length, ...linearTicks(lo, hi).filter((t) => t > 0));
    return {
      toPx: (v) => px0 + ((Math.log10(v) - a) / (b - a)) * (px1 - px0),
      ticks,
      label: (v) => (Math.abs(Math.log10(v)) >= 3 ? `1e${Math.round(Math.log10(v))}` : fmt(v)),
      valid: (v) => Number.isFinite(v) && v > 0,
    };
  }
  if (axis.categories) {
    const ticks = axis.categories.map((_, i) => i).filter((i) => i >= lo && i <= hi);
    return { toPx: (v) => px0 + ((v - lo) / (hi - lo)) * (px1 - px0), ticks, label: (v) => axis.categories![v] ?? fmt(v), valid: Number.isFinite };
  }
  return { toPx: (v) => px0 + ((v - lo) / (hi - lo)) * (px1 - px0), ticks: linearTicks(lo, hi), label: fmt, valid: Number.isFinite };
}

/** About six round steps (1, 2 or 5 times a power of ten) over [lo, hi]. */
function linearTicks(lo: number, hi: number): number[] {
  const raw = (hi - lo) / 6;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Math.abs(t) < step * 1e-9 ? 0 : Number(t.toPrecision(12)));
  return ticks;
}

function markerSvg(kind: 'circle' | 'cross', x: number, y: number, r: number, color: string): string {
  const f = (v: number) => v.toFixed(1);
  return kind === 'circle'
    ? `<circle cx="${f(x)}" cy="${f(y)}" r="${r}" fill="${color}"/>`
    : `<path d="M${f(x - r)},${f(y - r)}L${f(x + r)},${f(y + r)}M${f(x - r)},${f(y + r)}L${f(x + r)},${f(y - r)}" stroke="${color}" stroke-width="1.2"/>`;
}

/**
 * Renders a line chart as a standalone SVG string.
 * @example
 *   lineChartSvg({ title: 'loss', x: { label: 'step' }, y: { label: 'loss', log: true },
 *                  series: [{ name: 'train', points: [[0, 2.3], [100, 0.4]] }] })
 */
export function lineChartSvg(spec: ChartSpec): string {
  const W = spec.width ?? 800;
  const H = spec.height ?? 500;
  const shown = spec.series.filter((s) => s.legend !== false);
  const legendW = spec.legendWidth ?? (shown.length ? 24 + 7 * Math.max(...shown.map((s) => s.name.length)) + 16 : 10);
  // Category names that do not fit side by side are rotated, and the bottom margin grows to hold them.
  const cats = spec.x.categories && spec.x.tickLabels !== false ? spec.x.categories : null;
  const longest = cats ? Math.max(0, ...cats.map((c) => c.length)) : 0;
  const rotate = cats !== null && 7 * longest > (W - 72 - legendW) / Math.max(1, cats.length) - 4;
  const m = { l: 72, r: legendW, t: spec.title ? 40 : 16, b: rotate ? 40 + Math.ceil(6.5 * longest * Math.sin(Math.PI / 3)) : spec.x.tickLabels === false ? (spec.x.label ? 30 : 12) : 52 };
  const [x0, x1, y0, y1] = [m.l, W - m.r, H - m.b, m.t];
  const clip = spec.id ?? 'plot';
  const xs = makeScale(spec.x, spec.series.flatMap((s) => s.points.map((p) => p[0])), x0, x1);
  const ys = makeScale(spec.y, spec.series.flatMap((s) => s.points.map((p) => p[1])), y0, y1);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<defs><clipPath id="${clip}"><rect x="${x0}" y="${y1}" width="${x1 - x0}" height="${y0 - y1}"/></clipPath></defs>`,
  ];
  if (spec.title) out.push(`<text x="${(x0 + x1) / 2}" y="24" text-anchor="middle" font-size="15">${esc(spec.title)}</text>`);
  for (const t of xs.ticks) {
    const x = xs.toPx(t).toFixed(1);
    out.push(`<line x1="${x}" y1="${y1}" x2="${x}" y2="${y0}" stroke="#e5e5e5"/>`);
    if (spec.x.tickLabels === false) continue;
    if (rotate) out.push(`<text transform="translate(${x} ${y0 + 10}) rotate(-60)" text-anchor="end" dominant-baseline="middle">${esc(xs.label(t))}</text>`);
    else out.push(`<text x="${x}" y="${y0 + 16}" text-anchor="middle">${esc(xs.label(t))}</text>`);
  }
  for (const t of ys.ticks) {
    const y = ys.toPx(t).toFixed(1);
    out.push(`<line x1="${x0}" y1="${y}" x2="${x1}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${x0 - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${esc(ys.label(t))}</text>`);
  }
  out.push(`<rect x="${x0}" y="${y1}" width="${x1 - x0}" height="${y0 - y1}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${(x0 + x1) / 2}" y="${H - 12}" text-anchor="middle" font-size="13">${esc(spec.x.label)}</text>`);
  out.push(`<text transform="translate(16 ${(y0 + y1) / 2}) rotate(-90)" text-anchor="middle" font-size="13">${esc(spec.y.label)}</text>`);
  out.push(`<g clip-path="url(#${clip})">`);
  spec.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const px = s.points.map(([x, y]) => (xs.valid(x) && ys.valid(y) ? [xs.toPx(x), ys.toPx(y)] : null));
    if (s.line !== false) {
      let seg: string[] = [];
      const flush = () => {
        if (seg.length > 1) {
          out.push(`<polyline fill="none" stroke="${color}" stroke-width="${s.width ?? 1.5}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} points="${seg.join(' ')}"/>`);
        }
        seg = [];
      };
      for (const p of px) p ? seg.push(`${p[0].toFixed(1)},${p[1].toFixed(1)}`) : flush();
      flush();
    }
    const mk = s.marker;
    if (mk && mk !== 'none') for (const p of px) if (p) out.push(markerSvg(mk, p[0], p[1], s.markerSize ?? 2.5, color));
  });
  out.push('</g>');
  shown.forEach((s) => {
    const i = spec.series.indexOf(s);
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const k = shown.indexOf(s);
    const [lx, ly] = [x1 + 12, y1 + 8 + 18 * k];
    if (s.line !== false) {
      out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 18}" y2="${ly}" stroke="${color}" stroke-width="${s.width ?? 1.5}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    }
    if (s.marker && s.marker !== 'none') out.push(markerSvg(s.marker, lx + 9, ly, s.markerSize ?? 2.5, color));
    out.push(`<text x="${lx + 24}" y="${ly}" dominant-baseline="middle">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/**
 * Charts of one width stacked vertically into one SVG (each keeps its own axes; give each a
 * distinct `id`).
 * @example stackCharts([lineChartSvg({ ...a, id: 'a' }), lineChartSvg({ ...b, id: 'b' })])
 */
export function stackCharts(svgs: string[]): string {
  const size = (svg: string) => {
    const m = /^<svg [^>]*width="(\d+)" height="(\d+)"/.exec(svg);
    if (!m) throw new F8Error('BAD_INPUT', 'stackCharts: expected SVGs made by lineChartSvg');
    return [Number(m[1]), Number(m[2])];
  };
  const sizes = svgs.map(size);
  const W = Math.max(...sizes.map((s) => s[0]));
  const H = sizes.reduce((a, s) => a + s[1], 0);
  let y = 0;
  const parts = svgs.map((svg, i) => {
    const part = svg.replace(/^<svg /, `<svg x="0" y="${y}" `);
    y += sizes[i][1];
    return part;
  });
  return [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`, `<rect width="${W}" height="${H}" fill="white"/>`, ...parts, '</svg>'].join('\n');
}
