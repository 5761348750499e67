/**
 * `f8net selftest`: every kernel case (src/cases/) on this adapter, with its tuning applied,
 * against the CPU references. One line per family; exit 1 when any case differs.
 * @example
 *   f8net selftest                 # all families
 *   f8net selftest --filter int8   # cases whose 'family: name' matches the expression
 *   f8net selftest --json          # one object per case
 */
import type { Command } from 'commander';
import { F8Error } from '../runtime/errors.js';
import { selectCases, runKernelCase, summarizeCases, type CaseResult } from '../cases/index.js';
import { withEngine } from './main.js';

function filterOf(text: string | undefined): RegExp | undefined {
  if (text === undefined) return undefined;
  try {
    return new RegExp(text);
  } catch (err) {
    throw new F8Error('BAD_INPUT', `--filter '${text}': not a regular expression (${(err as Error).message})`);
  }
}

const fmtErr = (v: number): string => (v === 0 ? '0' : Number.isFinite(v) ? v.toExponential(2) : String(v));

export function registerSelftestCommand(program: Command): void {
  program
    .command('selftest')
    .description('run every kernel on this adapter against its CPU reference; exit 1 on any mismatch')
    .option('--json', 'print one JSON object per case')
    .option('--filter <regexp>', "only the cases whose 'family: name' matches")
    .action(async (opts: { json?: boolean; filter?: string }, cmd: Command) => {
      const cases = selectCases(filterOf(opts.filter));
      if (!cases.length) throw new F8Error('BAD_INPUT', `--filter '${opts.filter}': matches no kernel case (run f8net selftest without it to see the families)`);
      const results: CaseResult[] = [];
      await withEngine(cmd, async (e) => {
        for (const c of cases) results.push(await runKernelCase(c, e));
      });
      const families = summarizeCases(results);
      if (opts.json) {
        const json = results.map((r) => ({ ...r, maxError: Number.isFinite(r.maxError) ? r.maxError : String(r.maxError) }));
        process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
      } else {
        const w = Math.max(...families.map((f) => f.family.length));
        for (const f of families) {
          const how = f.exact ? (f.failed ? `not bit-exact (max error ${fmtErr(f.maxError)})` : 'bit-exact') : `max error ${fmtErr(f.maxError)} (${f.tolerance})`;
          process.stdout.write(`${f.failed ? 'FAIL' : 'ok  '} ${f.family.padEnd(w)}  ${String(f.cases).padStart(2)} case${f.cases === 1 ? ' ' : 's'}  ${how}\n`);
          for (const d of f.details) process.stdout.write(`       ${d}\n`);
        }
      }
      const failed = results.filter((r) => !r.ok).length;
      if (failed) throw new F8Error('GPU_VALIDATION', `selftest: ${failed} of ${results.length} kernel cases differ from their CPU reference on this adapter`);
    });
}
