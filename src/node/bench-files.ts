/** Bench result files on disk (`f8net bench --json`, `--png`); their checks are src/bench/diff.ts. */
import { readFileSync } from 'node:fs';
import { F8Error } from '../runtime/errors.js';
import { parseBenchJson } from '../bench/diff.js';
import { benchJsonText, rooflineSvg } from '../bench/report.js';
import type { BenchResult } from '../bench/suite.js';
import { writeFileAtomic } from './files.js';
import { svgToPng } from './png.js';

/** Writes the result as JSON through a temporary file and a rename. */
export function writeJsonAtomic(file: string, res: unknown): void {
  writeFileAtomic(file, [new TextEncoder().encode(benchJsonText(res))]);
}

/** The roofline-share bar chart as a PNG file. */
export async function writeRooflinePng(res: BenchResult, file: string): Promise<void> {
  await svgToPng(rooflineSvg(res), file);
}

/** Reads and checks a result file written by `f8net bench --json`. */
export function readBenchJson(file: string): BenchResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new F8Error('IO', `${file}: cannot read (${(e as Error).message.split('\n')[0]})`);
  }
  return parseBenchJson(text, file);
}
