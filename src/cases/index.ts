/**
 * The kernel-case registry and its runner. Portable: runs wherever an Engine is open (Node,
 * or a browser page through runKernelCases in the core entry).
 * @example
 *   await Engine.open();
 *   const results = await runKernelCases(/int8/);
 *   const bad = results.filter((r) => !r.ok);
 */
import { Engine } from '../runtime/engine.js';
import { compare, describeTolerance, isExact } from '../runtime/compare.js';
import { convCases } from './conv.js';
import { floatCases } from './float.js';
import { fixedCases } from './fixed.js';
import { int8Cases } from './int8.js';
import type { KernelCase, CaseResult } from './types.js';

export type { KernelCase, CaseResult, Tolerance } from './types.js';
export { kernelCase } from './types.js';
export { TUNE_FAMILIES } from './tune.js';

/** Every case, grouped by family in the order selftest prints them. */
export const KERNEL_CASES: readonly KernelCase[] = [...convCases, ...floatCases, ...fixedCases, ...int8Cases];

/** Cases whose 'family: name' matches `filter` (a RegExp, or a string read as one). */
export function selectCases(filter?: RegExp | string): KernelCase[] {
  const re = typeof filter === 'string' ? new RegExp(filter) : filter;
  return KERNEL_CASES.filter((c) => !re || re.test(`${c.family}: ${c.name}`));
}

/** Runs one case on the current engine: its GPU outputs against its CPU reference. */
export async function runKernelCase(c: KernelCase, e: Engine = Engine.get()): Promise<CaseResult> {
  const base = { family: c.family, name: c.name, tolerance: c.tolerance };
  try {
    const inputs = c.inputs();
    const ref = c.reference(inputs);
    const got = await e.tidyAsync(() => c.gpu(inputs));
    if (got.length !== ref.length) return { ...base, ok: false, maxError: Infinity, detail: `${got.length} outputs, the reference has ${ref.length}` };
    let maxError = 0;
    for (let k = 0; k < ref.length; k++) {
      const r = compare(got[k], ref[k], c.tolerance);
      maxError = Math.max(maxError, r.maxError);
      if (!r.ok) return { ...base, ok: false, maxError, detail: `output ${k}: ${r.mismatches} of ${ref[k].length} outside ${describeTolerance(c.tolerance)}: ${r.first.join('; ')}` };
    }
    return { ...base, ok: true, maxError };
  } catch (err) {
    return { ...base, ok: false, maxError: Infinity, detail: `threw: ${String((err as Error)?.message ?? err).split('\n')[0]}` };
  }
}

/** Runs the cases matching `filter` (all by default) one after another on the current engine. */
export async function runKernelCases(filter?: RegExp | string, e: Engine = Engine.get()): Promise<CaseResult[]> {
  const out: CaseResult[] = [];
  for (const c of selectCases(filter)) out.push(await runKernelCase(c, e));
  return out;
}

export interface FamilySummary {
  family: string;
  cases: number;
  failed: number;
  /** True when every case of the family is integer/fixed-point (bit-exact tolerance). */
  exact: boolean;
  maxError: number;
  /** The tolerance of the case with the largest error relative to it, in words. */
  tolerance: string;
  details: string[];
}

/** One summary per family, in registry order (selftest's lines). */
export function summarizeCases(results: readonly CaseResult[]): FamilySummary[] {
  const by = new Map<string, FamilySummary>();
  for (const r of results) {
    let s = by.get(r.family);
    if (!s) by.set(r.family, (s = { family: r.family, cases: 0, failed: 0, exact: true, maxError: 0, tolerance: describeTolerance(r.tolerance), details: [] }));
    s.cases++;
    if (!isExact(r.tolerance)) {
      if (s.exact || r.maxError > s.maxError) s.tolerance = describeTolerance(r.tolerance);
      s.exact = false;
    }
    s.maxError = Math.max(s.maxError, r.maxError);
    if (!r.ok) {
      s.failed++;
      s.details.push(`${r.name}: ${r.detail}`);
    }
  }
  return [...by.values()];
}

const fmtErr = (v: number): string => (v === 0 ? '0' : Number.isFinite(v) ? v.toExponential(2) : String(v));

/**
 * The selftest lines of the families (one per family, then one per failed case): what
 * `f8net selftest` prints and the browser page shows.
 * @example
 *   for (const l of selftestLines(summarizeCases(await runKernelCases()))) console.log(l);
 */
export function selftestLines(families: readonly FamilySummary[]): string[] {
  const w = Math.max(0, ...families.map((f) => f.family.length));
  const out: string[] = [];
  for (const f of families) {
    const how = f.exact ? (f.failed ? `not bit-exact (max error ${fmtErr(f.maxError)})` : 'bit-exact') : `max error ${fmtErr(f.maxError)} (${f.tolerance})`;
    out.push(`${f.failed ? 'FAIL' : 'ok  '} ${f.family.padEnd(w)}  ${String(f.cases).padStart(2)} case${f.cases === 1 ? ' ' : 's'}  ${how}`);
    for (const d of f.details) out.push(`       ${d}`);
  }
  return out;
}
