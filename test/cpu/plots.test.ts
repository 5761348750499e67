import { describe, it, expect } from 'vitest';
import { lineChartSvg } from '../../src/report/svg-chart.js';
import { rooflineSvg } from '../../src/bench/report.js';
import type { BenchResult } from '../../src/bench/suite.js';

/** The text labels of an SVG, in order. */
const texts = (svg: string) => [...svg.matchAll(/<text [^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);

describe('plots', () => {
  it('a log axis over a narrow range (one epoch of losses) still has tick labels', () => {
    const svg = lineChartSvg({ x: { label: 'epoch' }, y: { label: 'cross-entropy', log: true }, series: [{ name: 'train', points: [[1, 0.31]] }, { name: 'test', points: [[1, 0.27]] }] });
    const numbers = texts(svg).filter((t) => /^0\.\d+$/.test(t)).map(Number);
    expect(numbers.length).toBeGreaterThanOrEqual(2);
    for (const v of numbers) expect(v).toBeGreaterThan(0.25);
  });

  it('categorical x axis: names as tick labels, rotated when they do not fit side by side', () => {
    const names = Array.from({ length: 21 }, (_, i) => `layer${i}.0.downsample`);
    const svg = lineChartSvg({ x: { label: 'layer', categories: names, min: -0.5, max: 20.5 }, y: { label: 'fl' }, series: [{ name: 's', points: names.map((_, i) => [i, i]) }] });
    for (const n of names) expect(texts(svg)).toContain(n);
    expect(svg).toMatch(/rotate\(-60\)" text-anchor="end" dominant-baseline="middle">layer0\.0\.downsample</);
    const few = lineChartSvg({ x: { label: 'layer', categories: ['a', 'b'] }, y: { label: 'fl' }, series: [{ name: 's', points: [[0, 1], [1, 2]] }] });
    expect(few).not.toMatch(/rotate\(-60\)/);
  });

  it('bench roofline chart labels every bar with its share and measured value', () => {
    const rows = [
      { id: 'conv2d f32', unit: 'GFLOP/s', verified: true, results: { default: { rooflineShare: 0.42, figure: 12.3 } } },
      { id: 'int8 conv', unit: 'GOP/s', verified: true, results: { default: { rooflineShare: 0.07, figure: 4.1 } } },
    ];
    const svg = rooflineSvg({ config: { tuning: 'default' }, rows, peaks: { f32Gflops: 30, int8Gops: 60, copyGBs: 20 }, adapter: { description: 'test', vendor: 'v' } } as unknown as BenchResult);
    expect(texts(svg)).toContain('42% (12.3 GFLOP/s)');
    expect(texts(svg)).toContain('7.0% (4.10 GOP/s)');
  });
});
