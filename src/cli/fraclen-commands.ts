/**
 * `f8net fraclen sweep`: the paper's fractional-length error analysis (F8NET.md §2).
 * `f8net fraclen show`: the fractional lengths and clipping levels saved in a checkpoint (no GPU).
 */
import { Command, Option } from 'commander';
import { basename } from 'node:path';
import { F8Error } from '../runtime/errors.js';
import { fraclenSweep, sweepToTsv, sweepSummary, formatSweepSummary } from '../quant/sweep.js';
import { sweepPlotSvg } from '../report/sweep-chart.js';
import { fraclenRows, formatFraclenTable, fraclenChartSvg } from '../report/fraclens.js';
import { svgToPng } from '../node/png.js';
import { writeFileAtomic } from '../node/files.js';
import { loadCheckpoint } from '../node/checkpoint-files.js';

function num(name: string, kind: 'int' | 'float', min: number) {
  return (v: string): number => {
    const x = Number(v);
    if (!Number.isFinite(x) || (kind === 'int' && !Number.isInteger(x)) || x < min) {
      throw new F8Error('BAD_INPUT', `--${name} ${v}: expected ${kind === 'int' ? 'an integer' : 'a number'} >= ${min}`);
    }
    return x;
  };
}

export function registerFraclenCommands(program: Command): void {
  const fl = program.command('fraclen').description('fractional-length analysis');
  fl.command('sweep')
    .description('RMS quantisation error / sigma of every fractional length for Gaussian (signed) or rectified-Gaussian (unsigned) data')
    .addOption(new Option('--signed', 'Gaussian data, signed format').conflicts('unsigned'))
    .addOption(new Option('--unsigned', 'rectified-Gaussian data, unsigned format'))
    .option('--wl <bits>', 'word length', num('wl', 'int', 2), 8)
    .option('--sigma-min <s>', 'smallest sigma', num('sigma-min', 'float', 1e-30), 1e-3)
    .option('--sigma-max <s>', 'largest sigma', num('sigma-max', 'float', 1e-30), 1e3)
    .option('--points <n>', 'number of sigmas (log-spaced, ends included)', num('points', 'int', 2), 1000)
    .option('--samples <n>', 'samples per sigma', num('samples', 'int', 1), 10000)
    .option('--seed <n>', 'random seed', num('seed', 'int', 0), 0)
    .option('--out <file.tsv>', 'write the table here (default: standard output)')
    .option('--plot <file.png>', 'write the error-vs-sigma chart here')
    .action(async (o: { signed?: boolean; unsigned?: boolean; wl: number; sigmaMin: number; sigmaMax: number; points: number; samples: number; seed: number; out?: string; plot?: string }) => {
      if (!o.signed && !o.unsigned) throw new F8Error('BAD_INPUT', 'fraclen sweep: give --signed or --unsigned');
      if (o.wl > 16) throw new F8Error('BAD_INPUT', `--wl ${o.wl}: word lengths above 16 are not supported`);
      if (o.sigmaMax <= o.sigmaMin) throw new F8Error('BAD_INPUT', `--sigma-max ${o.sigmaMax} must exceed --sigma-min ${o.sigmaMin}`);
      const signed = !!o.signed;
      const rows = fraclenSweep({ signed, wl: o.wl, sigmaMin: o.sigmaMin, sigmaMax: o.sigmaMax, points: o.points, samples: o.samples, seed: o.seed });
      const tsv = sweepToTsv(rows, o.wl, signed);
      if (o.out) writeFileAtomic(o.out, [new TextEncoder().encode(tsv)]);
      else process.stdout.write(tsv);
      if (o.plot) await svgToPng(sweepPlotSvg(rows, { wl: o.wl, signed }), o.plot);
      process.stderr.write(`${formatSweepSummary(sweepSummary(rows))}\n`);
    });
  fl.command('show')
    .description('fractional lengths (input: running and rounded; weight) and alpha of every F8Net layer of a checkpoint; no GPU needed')
    .requiredOption('--checkpoint <file>', 'an f8net checkpoint (.safetensors)')
    .option('--plot <file.png>', 'write a chart of the lengths per layer here')
    .option('--json', 'print the rows as JSON instead of a table')
    .action(async (o: { checkpoint: string; plot?: string; json?: boolean }) => {
      const ck = loadCheckpoint(o.checkpoint);
      const fmt = ck.meta.config?.input_format;
      const inputWl = Array.isArray(fmt) && Number.isInteger(fmt[0]) ? (fmt[0] as number) : 8;
      const rows = fraclenRows(ck.model, { inputWl, source: o.checkpoint });
      if (o.json) {
        const out = { checkpoint: o.checkpoint, stage: ck.meta.stage, epoch: ck.meta.epoch, inputWl, layers: rows };
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      } else {
        process.stdout.write(`${o.checkpoint}: stage ${ck.meta.stage}, epoch ${ck.meta.epoch}\n${formatFraclenTable(rows, inputWl)}\n`);
      }
      if (o.plot) await svgToPng(fraclenChartSvg(rows, { title: `fractional lengths: ${basename(o.checkpoint)} (${ck.meta.stage}, epoch ${ck.meta.epoch})` }), o.plot);
    });
}
