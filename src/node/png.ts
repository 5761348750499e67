/**
 * SVG to PNG through sharp, written atomically (src/node/files.ts writeFileAtomic), so a reader
 * never sees a half-written PNG. The charts themselves are portable strings (src/report/).
 * @example await svgToPng(lineChartSvg(spec), 'runs/loss.png')
 */
import sharp from 'sharp';
import { F8Error } from '../runtime/errors.js';
import { writeFileAtomic } from './files.js';

/** Rasterises an SVG string to a PNG file. */
export async function svgToPng(svg: string, file: string): Promise<void> {
  try {
    writeFileAtomic(file, [await sharp(Buffer.from(svg)).png().toBuffer()]);
  } catch (e) {
    throw new F8Error('IO', `${file}: could not write the PNG (${e instanceof Error ? e.message : String(e)})`);
  }
}
