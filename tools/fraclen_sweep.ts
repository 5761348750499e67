/**
 * Reproduces the paper's fractional-length error analysis with the CPU reference and writes,
 * per signedness, a TSV table, an SVG and a PNG plot, and prints where each fl is optimal.
 *
 *   npx tsx tools/fraclen_sweep.ts [outDir=runs/fraclen-sweep] [points=1000] [samples=10000] [seed=0] [fresh]
 * `fresh` draws new samples for every sigma, as the paper's script does.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatSweepSummary, fraclenSweep, sweepSummary, sweepToTsv } from '../src/quant/sweep.js';
import { sweepPlotSvg } from '../src/report/sweep-chart.js';
import { svgToPng } from '../src/node/png.js';

const [outDir = 'runs/fraclen-sweep', points = '1000', samples = '10000', seed = '0', fresh] = process.argv.slice(2);
mkdirSync(outDir, { recursive: true });
for (const signed of [true, false]) {
  const name = signed ? 'signed' : 'unsigned';
  const rows = fraclenSweep({ signed, points: Number(points), samples: Number(samples), seed: Number(seed), fresh: fresh === 'fresh' });
  const svg = sweepPlotSvg(rows, { wl: 8, signed });
  writeFileSync(join(outDir, `${name}.tsv`), sweepToTsv(rows, 8, signed));
  writeFileSync(join(outDir, `${name}.svg`), svg);
  await svgToPng(svg, join(outDir, `${name}.png`));
  console.log(`# ${name}, wl 8, ${points} sigmas, ${samples} samples, seed ${seed}${fresh === 'fresh' ? ', fresh draws' : ''}\n${formatSweepSummary(sweepSummary(rows))}\n`);
}
