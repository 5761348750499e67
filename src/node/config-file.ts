/** Config files on disk; parsing and checks are src/train/config.ts. */
import { readFileSync } from 'node:fs';
import { F8Error } from '../runtime/errors.js';
import { parseConfigText, resolveConfig, type TrainConfig } from '../train/config.js';

/** Loads a YAML config file (or the built-in default when file is null) with overrides. */
export function loadConfig(file: string | null, sets: string[] = []): TrainConfig {
  if (!file) return resolveConfig({}, sets, 'built-in default');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new F8Error('IO', `${file}: cannot read config: ${(e as Error).message}`);
  }
  return parseConfigText(text, file, sets);
}
