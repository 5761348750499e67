/**
 * `f8net bench`: the benchmark suite (src/bench/suite.ts) on the chosen adapter, and
 * `f8net bench diff A.json B.json`. The table goes to stdout, progress to stderr.
 */
import { Option, type Command } from 'commander';
import { withEngine } from './main.js';
import { runBench, type Peer, type TuningMode } from '../bench/suite.js';
import { markdownTable } from '../bench/report.js';
import { diffResults, diffTable } from '../bench/diff.js';
import { readBenchJson, writeJsonAtomic, writeRooflinePng } from '../node/bench-files.js';
import { F8Error } from '../runtime/errors.js';

interface BenchCliOptions {
  filter?: string;
  json?: string;
  png?: string;
  quick?: boolean;
  compare?: Peer[];
  tuning: TuningMode;
  retune?: boolean;
  iterations?: string;
  time?: string;
  quiet?: boolean;
}

function positiveInt(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new F8Error('BAD_INPUT', `${what} ${v}: expected a whole number >= 0`);
  return n;
}

function comparePeer(v: string, prev: Peer[] | undefined): Peer[] {
  if (v !== 'tfjs' && v !== 'ort' && v !== 'torch') throw new F8Error('BAD_INPUT', `--compare ${v}: expected tfjs, ort or torch`);
  return [...(prev ?? []), v];
}

export function registerBenchCommand(program: Command): void {
  const bench = program
    .command('bench')
    .description('benchmark every kernel family on the zoo layer shapes and whole models; each row is checked against its CPU reference first')
    .option('--filter <pattern>', 'only rows whose id or family matches this regular expression (case-insensitive)')
    .option('--json <file>', 'write every figure, the adapter, versions and configuration as JSON')
    .option('--png <file>', 'write a chart of the share of the roofline per row')
    .option('--quick', 'tiny shapes and few iterations (seconds; for tests and smoke runs)')
    .option('--compare <peer>', 'also run the same ops in a peer library: tfjs (tfjs-backend-webgpu on this adapter), ort (onnxruntime-node, CPU) or torch (PyTorch on the CPU through python3, training rows; skipped with one line without it); repeatable', comparePeer)
    .addOption(new Option('--tuning <mode>', 'kernel settings: default, tuned (per-adapter tuning, searched once and cached), or both').choices(['default', 'tuned', 'both']).default('tuned'))
    .option('--retune', 'search the kernel settings again instead of using the cached ones')
    .option('--iterations <n>', 'minimum timed iterations per row')
    .option('--time <ms>', 'minimum timed milliseconds per row')
    .option('--quiet', 'no progress lines on stderr')
    .action(async (opts: BenchCliOptions, cmd: Command) => {
      const loop = { iterations: positiveInt(opts.iterations, '--iterations'), time: positiveInt(opts.time, '--time') };
      await withEngine(cmd, async (e) => {
        const res = await runBench(e, {
          filter: opts.filter,
          quick: opts.quick,
          compare: opts.compare,
          tuning: opts.tuning,
          retune: opts.retune,
          loop: Object.fromEntries(Object.entries(loop).filter(([, v]) => v !== undefined)),
          log: opts.quiet ? undefined : (l) => process.stderr.write(`${l}\n`),
        });
        process.stdout.write(markdownTable(res));
        if (opts.json) writeJsonAtomic(opts.json, res);
        if (opts.png) await writeRooflinePng(res, opts.png);
        const bad = res.rows.filter((r) => !r.verified);
        if (bad.length) throw new F8Error('GPU_VALIDATION', `${bad.length} row(s) did not run or did not match their CPU reference: ${bad.map((r) => r.id).join(', ')}`);
      });
    });
  bench
    .command('diff')
    .description('compare two result files of f8net bench --json row by row (rows matched by id)')
    .argument('<a>', 'first result file (A)')
    .argument('<b>', 'second result file (B)')
    .action((a: string, b: string) => {
      process.stdout.write(diffTable(diffResults(readBenchJson(a), readBenchJson(b))));
    });
}
