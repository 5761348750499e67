/**
 * The fractional lengths and clipping levels of a saved model, read from its state dict alone
 * (no GPU, no model definition): what `f8net fraclen show` prints and plots.
 *
 * An F8Net layer is recognised by its `<layer>.input_fraclen_run` tensor (src/nn/qlayers.ts);
 * beside it `<layer>.weight_fraclen` (i32, [1] per layer or [O] per channel) and `<layer>.alpha`
 * (the PACT clipping level; a layer sharing a master's alpha keeps its own, unused, copy).
 * Layers come in the order their first tensor appears in the state dict (the module order).
 *
 * The input length in evaluation is clamp(roundHalfEven(run), 0, wl - signed) (F8NET.md §2).
 * Signedness is not stored, so `inputEval` clamps to [0, wl] (unsigned) and a rounded value of
 * wl is flagged: a signed input uses wl - 1 there.
 *
 * @example
 *   const rows = fraclenRows(loadCheckpoint(file).model, { inputWl: 8, source: file });
 *   console.log(formatFraclenTable(rows, 8));
 *   await svgToPng(fraclenChartSvg(rows, { title: file }), 'fl.png');
 */
import { F8Error } from '../runtime/errors.js';
import type { StateDict } from '../nn/module.js';
import { roundHalfEven } from '../quant/fixed-format.js';
import { lineChartSvg, stackCharts, type Series } from './svg-chart.js';
import { textTable } from './table.js';

export interface FraclenShowRow {
  index: number;
  /** Module path, e.g. `conv1` or `layer1.0.conv1`. */
  layer: string;
  /** The running input length(s) (one value per layer). */
  inputRun: number[];
  /** clamp(roundHalfEven(run), 0, wl): the evaluation length of an unsigned input. */
  inputEval: number[];
  /** True where the rounded value is wl, so that a signed input would use wl - 1. */
  signedWouldClamp: boolean;
  /** The weight length(s) of the last forward pass ([] when absent). */
  weightFraclen: number[];
  /** The layer's alpha, or null when absent. */
  alpha: number | null;
}

const RUN = '.input_fraclen_run';

/**
 * One row per F8Net layer of a state dict. `inputWl`: the input word length (8 by default);
 * `source` names the file in errors. Throws BAD_INPUT when no F8Net layer is found.
 */
export function fraclenRows(sd: StateDict, opts: { inputWl?: number; source?: string } = {}): FraclenShowRow[] {
  const wl = opts.inputWl ?? 8;
  const layers = [...sd.keys()].filter((k) => k.endsWith(RUN)).map((k) => k.slice(0, -RUN.length));
  if (!layers.length) {
    throw new F8Error('BAD_INPUT', `${opts.source ?? 'state dict'}: no F8Net layers (no tensor named <layer>${RUN} among ${sd.size} tensors)`);
  }
  // Module order: where a layer's first tensor (its first parameter) appears.
  const keys = [...sd.keys()];
  const first = (l: string) => keys.findIndex((k) => k.startsWith(`${l}.`) && !k.slice(l.length + 1).includes('.'));
  layers.sort((a, b) => first(a) - first(b));
  return layers.map((layer, index) => {
    const vals = (name: string) => {
      const e = sd.get(`${layer}.${name}`);
      return e ? Array.from(e.data as ArrayLike<number>, Number) : [];
    };
    const inputRun = vals('input_fraclen_run');
    const rounded = inputRun.map((r) => roundHalfEven(r));
    const inputEval = rounded.map((r) => (Number.isNaN(r) ? 0 : Math.min(Math.max(r, 0), wl)));
    const alpha = vals('alpha');
    return {
      index,
      layer,
      inputRun,
      inputEval,
      signedWouldClamp: inputEval.some((v) => v === wl),
      weightFraclen: vals('weight_fraclen'),
      alpha: alpha.length ? alpha[0] : null,
    };
  });
}

const range = (v: number[]): string => {
  if (!v.length) return '-';
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  return lo === hi ? String(lo) : `${lo}..${hi}`;
};

/** The rows as an aligned text table, with a note on signed inputs. */
export function formatFraclenTable(rows: FraclenShowRow[], inputWl = 8): string {
  const cells = rows.map((r) => [
    String(r.index),
    r.layer,
    r.inputRun.map((v) => v.toFixed(3)).join(','),
    `${range(r.inputEval)}${r.signedWouldClamp ? '*' : ''}`,
    range(r.weightFraclen),
    r.weightFraclen.length > 1 ? String(r.weightFraclen.length) : '1',
    r.alpha === null ? '-' : r.alpha.toFixed(4),
  ]);
  const out = [textTable(['#', 'layer', 'fl_in run', 'fl_in eval', 'fl_w', 'fl_w count', 'alpha'], cells, { left: [1] })];
  out.push(`fl_in eval = clamp(roundHalfEven(run), 0, ${inputWl}) for an unsigned input${rows.some((r) => r.signedWouldClamp) ? `; * a signed input uses ${inputWl - 1} there` : ` (a signed input clamps at ${inputWl - 1})`}`);
  return out.join('\n');
}

/**
 * Two charts over the layers, named on the x axis: the fractional lengths (input, eval and
 * running; weight, or its range per channel) and below them the clipping level alpha.
 */
export function fraclenChartSvg(rows: FraclenShowRow[], opts: { title?: string } = {}): string {
  const pts = (f: (r: FraclenShowRow) => number | null | undefined): [number, number][] => rows.map((r) => [r.index, f(r) ?? NaN]);
  const perChannel = rows.some((r) => r.weightFraclen.length > 1);
  const series: Series[] = [
    { name: 'input fl (eval)', points: pts((r) => r.inputEval[0]), marker: 'circle', markerSize: 6 },
    { name: 'input fl (running)', points: pts((r) => r.inputRun[0]), dash: '5 4', marker: 'cross' },
  ];
  const wmin = (r: FraclenShowRow) => (r.weightFraclen.length ? Math.min(...r.weightFraclen) : undefined);
  const wmax = (r: FraclenShowRow) => (r.weightFraclen.length ? Math.max(...r.weightFraclen) : undefined);
  if (perChannel) {
    series.push({ name: 'weight fl (max)', points: pts(wmax), marker: 'circle', markerSize: 4 });
    series.push({ name: 'weight fl (min)', points: pts(wmin), marker: 'circle', markerSize: 4, dash: '2 3' });
  } else series.push({ name: 'weight fl', points: pts(wmax), marker: 'circle', markerSize: 4 });
  const names = rows.map((r) => r.layer);
  // One legend width for both charts, so each layer sits at the same x in both.
  const legendWidth = 24 + 7 * Math.max(...series.map((s) => s.name.length)) + 16;
  const x = { label: 'layer', min: -0.5, max: rows.length - 0.5, categories: names };
  const lengths = lineChartSvg({
    id: 'fl',
    title: opts.title ?? 'fractional lengths and clipping levels per layer',
    width: 900,
    height: 320,
    x: { ...x, label: '', tickLabels: false },
    legendWidth,
    y: { label: 'fractional length', min: -0.5, max: Math.max(8.5, ...rows.flatMap((r) => [...r.inputRun, ...r.weightFraclen]).filter(Number.isFinite).map((v) => v + 0.5)) },
    series,
  });
  const alpha = lineChartSvg({
    id: 'alpha',
    width: 900,
    height: 240 + Math.ceil(6.5 * Math.max(0, ...names.map((n) => n.length)) * Math.sin(Math.PI / 3)),
    x,
    y: { label: 'alpha', min: 0 },
    series: [
      { name: 'alpha', points: pts((r) => r.alpha), marker: 'circle', markerSize: 4, color: '#d62728' },
    ],
    legendWidth,
  });
  return stackCharts([lengths, alpha]);
}
