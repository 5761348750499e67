// The fractional-length sweep (the paper's error analysis) and its TSV/SVG/PNG outputs.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { lineChartSvg } from '../../src/report/svg-chart.js';
import { fraclenSweep, sweepSummary, sweepToTsv } from '../../src/quant/sweep.js';
import { sweepPlotSvg } from '../../src/report/sweep-chart.js';
import { svgToPng } from '../../src/node/png.js';

const dir = mkdtempSync(join(tmpdir(), 'f8net-sweep-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each([true, false])('fraclenSweep signed=%s', (signed) => {
  const rows = fraclenSweep({ signed, points: 20, samples: 2000, seed: 7 });
  const maxFl = signed ? 7 : 8;

  it('spans sigma 1e-3..1e3 log-spaced with both ends', () => {
    expect(rows).toHaveLength(20);
    expect(rows[0].sigma).toBe(1e-3);
    expect(rows[19].sigma).toBe(1e3);
    const ratio = rows[1].sigma / rows[0].sigma;
    for (let i = 1; i < 20; i++) expect(rows[i].sigma / rows[i - 1].sigma).toBeCloseTo(ratio, 10);
  });

  it('finds the optimum (largest fl on ties) and it falls as sigma grows', () => {
    for (const r of rows) {
      expect(r.errs).toHaveLength(maxFl + 1);
      expect(r.optErr).toBe(Math.min(...r.errs));
      expect(r.errs.lastIndexOf(r.optErr)).toBe(r.optFl);
    }
    for (let i = 1; i < rows.length; i++) expect(rows[i].optFl).toBeLessThanOrEqual(rows[i - 1].optFl);
    expect(rows[0].optFl).toBe(maxFl); // everything underflows: a tie, resolved to the finest format
    expect(rows[19].optFl).toBe(0);
  });

  it('agrees with the std formula at most sigmas', () => {
    const agree = rows.filter((r) => r.formulaFl === r.optFl).length;
    expect(agree).toBeGreaterThanOrEqual(17);
    const { optimal, disagree } = sweepSummary(rows);
    expect(optimal[0]).toMatchObject({ fl: maxFl, sigmaFrom: 1e-3 });
    expect(optimal.at(-1)).toMatchObject({ fl: 0, sigmaTo: 1e3 });
    expect(disagree.reduce((n, d) => n + rows.filter((r) => r.sigma >= d.sigmaFrom && r.sigma <= d.sigmaTo).length, 0)).toBe(20 - agree);
  });

  it('writes a TSV with the documented header and one column per fl', () => {
    const lines = sweepToTsv(rows, 8, signed).trimEnd().split('\n');
    const fls = Array.from({ length: maxFl + 1 }, (_, k) => `err_fl${k}`);
    expect(lines[0].split('\t')).toEqual(['sigma', 'opt_fl', 'opt_err', 'formula_fl', ...fls]);
    expect(lines).toHaveLength(21);
    for (const l of lines.slice(1)) expect(l.split('\t').map(Number).every(Number.isFinite) && l.split('\t').length === 4 + maxFl + 1).toBe(true);
    expect(() => sweepToTsv(rows, 8, !signed)).toThrow(/errors/);
  });

  it('plots an SVG with one line per fl and renders it to a PNG of the right size', async () => {
    const svg = sweepPlotSvg(rows, { wl: 8, signed, width: 640, height: 400 });
    expect(svg.match(/<polyline /g)?.length).toBeGreaterThanOrEqual(maxFl + 1);
    for (let fl = 0; fl <= maxFl; fl++) expect(svg).toContain(`>FL=${fl}</text>`);
    const file = join(dir, `sweep-${signed}.png`);
    await svgToPng(svg, file);
    const meta = await sharp(file).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 640, 400]);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('lineChartSvg', () => {
  it('breaks lines at points a log axis cannot show and escapes text', () => {
    const svg = lineChartSvg({
      title: 'a < b & c',
      x: { label: 'x' },
      y: { label: 'y', log: true },
      series: [{ name: 's', points: [[0, 1], [1, 10], [2, 0], [3, 100], [4, 1000]] }],
    });
    expect(svg).toContain('a &lt; b &amp; c');
    expect(svg.match(/<polyline /g)).toHaveLength(2);
  });
  it('reports a PNG it cannot write as an IO error', async () => {
    await expect(svgToPng('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>', join(dir, 'no/such/dir.png'))).rejects.toMatchObject({ code: 'IO' });
  });
});
