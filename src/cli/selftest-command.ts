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
import { selectCases, runKernelCase, summarizeCases, selftestLines, type CaseResult } from '../cases/index.js';
import { withEngine } from './main.js';

function filterOf(text: string | undefined): RegExp | undefined {
  if (text === undefined) return undefined;
  try {
    return new RegExp(text);
  } catch (err) {
    throw new F8Error('BAD_INPUT', `--filter '${text}': not a regular expression (${(err as Error).message})`);
  }
}

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
        for (const l of selftestLines(families)) process.stdout.write(`${l}\n`);
      }
      const failed = results.filter((r) => !r.ok).length;
      if (failed) throw new F8Error('GPU_VALIDATION', `selftest: ${failed} of ${results.length} kernel cases differ from their CPU reference on this adapter`);
    });
}
