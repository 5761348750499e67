/** Bench result files on disk (`f8net bench --json`); their checks are src/bench/diff.ts. */
import { readFileSync } from 'node:fs';
import { F8Error } from '../runtime/errors.js';
import { parseBenchJson } from '../bench/diff.js';
import type { BenchResult } from '../bench/suite.js';

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
