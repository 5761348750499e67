/**
 * `f8net tune`: the per-adapter kernel search (src/runtime/tuner.ts), and the hook that applies
 * the cached tuning whenever a command opens the GPU.
 *
 * @example
 *   f8net tune            # cached choice, or a search (~30 s on lavapipe) written to the cache
 *   f8net tune --retune   # search again
 *   F8NET_TUNE=0 f8net train ...   # tuning off: default kernels, no cache read or written
 */
import type { Command } from 'commander';
import type { Engine } from '../runtime/engine.js';
import { type TuneReport } from '../runtime/tuner.js';
import { ensureTuning } from '../node/tuning-cache.js';
import { withEngine } from './main.js';

/** Commands that may search on first use (the others only apply a cache that is there). */
// bench tunes as its --tuning option says, so it does not search when it opens the GPU.
const SEARCHING_COMMANDS = new Set(['train']);

const warn = (r: TuneReport): void => {
  for (const w of r.warnings) process.stderr.write(`f8net: warning: ${w}\n`);
};

/**
 * Called by withEngine once the GPU is open: applies this adapter's cached tuning; for train,
 * searches first when the cache is missing or unusable (bench searches as its --tuning says). F8NET_TUNE=0 turns tuning
 * off (the kernels keep their defaults). `f8net tune` runs its own search.
 */
export async function tuneOnOpen(cmd: Command, e: Engine): Promise<void> {
  if (process.env.F8NET_TUNE === '0' || cmd.name() === 'tune') return;
  const search = SEARCHING_COMMANDS.has(cmd.name());
  const r = await ensureTuning(e, { search: false });
  warn(r);
  if (r.source === 'cache' || !search) return;
  process.stderr.write('f8net: tuning the kernels for this adapter (first run only; about a minute; F8NET_TUNE=0 skips it)\n');
  warn(await ensureTuning(e, { retune: true }));
}

const fmtSetting = (s: Record<string, unknown>): string =>
  Object.entries(s)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

/** The report as a table: each family's choice, then every candidate with its time or failure. */
export function formatTuneReport(r: TuneReport, seconds: number): string {
  const from = { cache: 'read from the cache', search: `searched in ${seconds.toFixed(1)} s`, defaults: 'defaults (no search)' }[r.source];
  const lines = [`adapter  ${r.adapterKey}`, `cache    ${r.cacheFile}`, `tuning   ${from}`];
  for (const f of r.families) {
    lines.push('', `${f.name}: ${fmtSetting(f.choice)}`);
    const chosen = JSON.stringify(f.choice);
    for (const c of f.candidates) {
      const mark = JSON.stringify(c.setting) === chosen ? '*' : ' ';
      const what = c.error ? `failed to run: ${c.error}` : !c.verified ? `WRONG (max error ${c.maxError.toExponential(2)}), not timed` : `${c.ms.toFixed(2).padStart(9)} ms`;
      lines.push(`  ${mark} ${fmtSetting(c.setting).padEnd(48)} ${what}`);
    }
  }
  return lines.join('\n');
}

export function registerTuneCommand(program: Command): void {
  program
    .command('tune')
    .description("pick the fastest kernel variants for this adapter (checked against the CPU reference) and cache them in the user's cache folder")
    .option('--retune', 'search again even when a valid cache exists')
    .option('--quick', 'tiny problems and two candidates per family (tests)')
    .option('--json', 'print the report as JSON')
    .action(async (o: { retune?: boolean; quick?: boolean; json?: boolean }, cmd: Command) => {
      await withEngine(cmd, async (e) => {
        const t0 = performance.now();
        const r = await ensureTuning(e, { retune: o.retune, quick: o.quick });
        warn(r);
        process.stdout.write(o.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatTuneReport(r, (performance.now() - t0) / 1000)}\n`);
      });
    });
}
