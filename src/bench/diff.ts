/**
 * `f8net bench diff A.json B.json`: two result files (another adapter, another version) row by
 * row, matched by id. For each row: A's and B's median time (the tuned measurement where there
 * is one) and B / A; rows present in one file only are listed as such. The ratio compares like
 * with like only where both used the same timing method; the table says which each used.
 *
 * @example
 *   const d = diffResults(readBenchJson('a.json'), readBenchJson('b.json'));
 *   process.stdout.write(diffTable(d));
 */
import { F8Error } from '../runtime/errors.js';
import { BENCH_FORMAT, type BenchResult, type RowResult } from './suite.js';
import { primaryOf } from './report.js';
import { markdownTable } from '../report/table.js';

export interface DiffRow {
  id: string;
  a?: { ms: number; method: string; figure: number; unit: string };
  b?: { ms: number; method: string; figure: number; unit: string };
  /** B median / A median (above 1: B is slower); NaN when a side is missing. */
  ratio: number;
  status: 'both' | 'only A' | 'only B';
}

export interface BenchDiff {
  a: { adapter: string; version: string; date: string };
  b: { adapter: string; version: string; date: string };
  rows: DiffRow[];
  /** Geometric mean of the ratios of the rows in both files. */
  geomean: number;
}

/** Checks the text of a result file written by `f8net bench --json` (reading it: src/node/bench-files.ts). */
export function parseBenchJson(text: string, file: string): BenchResult {
  let j: BenchResult;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new F8Error('BAD_INPUT', `${file}: not JSON (${(e as Error).message})`);
  }
  if (!j || j.format !== BENCH_FORMAT || !Array.isArray(j.rows)) throw new F8Error('BAD_INPUT', `${file}: not an f8net bench result (expected format '${BENCH_FORMAT}' and a rows array)`);
  return j;
}

function side(r: RowResult | undefined): DiffRow['a'] {
  const m = r && primaryOf(r);
  return m && Number.isFinite(m.time.medianMs) ? { ms: m.time.medianMs, method: m.method, figure: m.figure, unit: r!.unit } : undefined;
}

export function diffResults(A: BenchResult, B: BenchResult): BenchDiff {
  const bById = new Map(B.rows.map((r) => [r.id, r]));
  const aIds = new Set(A.rows.map((r) => r.id));
  const rows: DiffRow[] = [];
  for (const ra of A.rows) {
    const rb = bById.get(ra.id);
    const a = side(ra);
    const b = side(rb);
    rows.push({ id: ra.id, a, b, ratio: a && b ? b.ms / a.ms : NaN, status: rb ? 'both' : 'only A' });
  }
  for (const rb of B.rows) if (!aIds.has(rb.id)) rows.push({ id: rb.id, b: side(rb), ratio: NaN, status: 'only B' });
  const rs = rows.map((r) => r.ratio).filter((x) => Number.isFinite(x) && x > 0);
  const who = (r: BenchResult) => ({ adapter: r.adapter?.description || r.adapter?.vendor || '?', version: r.versions?.f8net ?? '?', date: r.date ?? '?' });
  return { a: who(A), b: who(B), rows, geomean: rs.length ? Math.exp(rs.reduce((s, x) => s + Math.log(x), 0) / rs.length) : NaN };
}

export function diffTable(d: BenchDiff): string {
  const ms = (v?: number) => (v === undefined ? '-' : v < 1 ? v.toFixed(3) : v.toFixed(2));
  const lines = [
    `A: ${d.a.adapter}, f8net ${d.a.version}, ${d.a.date}`,
    `B: ${d.b.adapter}, f8net ${d.b.version}, ${d.b.date}`,
    '',
    markdownTable(
      ['row', 'A ms', 'A timing', 'B ms', 'B timing', 'B / A'],
      ['l', 'r', 'l', 'r', 'l', 'r'],
      d.rows.map((r) => [r.id, ms(r.a?.ms), r.a?.method ?? '-', ms(r.b?.ms), r.b?.method ?? '-', r.status !== 'both' ? r.status : Number.isFinite(r.ratio) ? `${r.ratio.toFixed(2)}x` : 'not measured']),
    ),
  ];
  lines.push('', `geometric mean of B / A over ${d.rows.filter((r) => Number.isFinite(r.ratio)).length} rows: ${Number.isFinite(d.geomean) ? `${d.geomean.toFixed(2)}x` : '-'} (below 1: B is faster)`);
  return `${lines.join('\n')}\n`;
}
