/**
 * Training curves as a PNG: losses (train, test) and test top-1 against epochs, two panels
 * stacked vertically, drawn with the project's SVG chart builder (src/report/svg-chart.ts),
 * rendered by sharp and written atomically (writeFileAtomic).
 *
 * @example
 *   await writeTrainingPlot('runs/x/curves.png', history);
 */
import sharp from 'sharp';
import { lineChartSvg } from '../report/svg-chart.js';
import { F8Error } from '../runtime/errors.js';
import { writeFileAtomic } from './files.js';

export interface CurvePoint {
  epoch: number;
  train_loss: number;
  test_loss: number;
  top1: number;
  top5: number | null;
}

export async function writeTrainingPlot(file: string, history: CurvePoint[]): Promise<void> {
  const pts = (f: (r: CurvePoint) => number | null) =>
    history.filter((r) => f(r) !== null && Number.isFinite(f(r)!)).map((r) => [r.epoch, f(r)!] as const);
  const loss = lineChartSvg({
    title: 'loss',
    width: 800,
    height: 360,
    x: { label: 'epoch' },
    y: { label: 'cross-entropy', log: true },
    series: [
      { name: 'train', points: pts((r) => r.train_loss), marker: 'circle' },
      { name: 'test', points: pts((r) => r.test_loss), marker: 'circle' },
    ],
  });
  const acc = lineChartSvg({
    title: 'test accuracy',
    width: 800,
    height: 360,
    x: { label: 'epoch' },
    y: { label: 'accuracy (%)' },
    series: [
      { name: 'top-1', points: pts((r) => 100 * r.top1), marker: 'circle' },
      ...(history.some((r) => r.top5 !== null) ? [{ name: 'top-5', points: pts((r) => (r.top5 === null ? null : 100 * r.top5)), marker: 'circle' as const }] : []),
    ],
  });
  try {
    const [a, b] = await Promise.all([sharp(Buffer.from(loss)).png().toBuffer(), sharp(Buffer.from(acc)).png().toBuffer()]);
    const png = await sharp({ create: { width: 800, height: 720, channels: 3, background: '#ffffff' } })
      .composite([
        { input: a, top: 0, left: 0 },
        { input: b, top: 360, left: 0 },
      ])
      .png()
      .toBuffer();
    writeFileAtomic(file, [png]);
  } catch (e) {
    throw new F8Error('IO', `${file}: could not write the training plot (${(e as Error).message})`);
  }
}
