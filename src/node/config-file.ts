/** Config files on disk; parsing and checks are src/train/config.ts. */
import { parseConfigText, resolveConfig, MAX_CONFIG_BYTES, type TrainConfig } from '../train/config.js';
import { readUntrustedText } from './untrusted.js';

/** Loads a YAML config file (or the built-in default when file is null) with overrides. */
export function loadConfig(file: string | null, sets: string[] = []): TrainConfig {
  if (!file) return resolveConfig({}, sets, 'built-in default');
  // A regular file of at most 1 MiB: a named pipe or /dev/zero is refused, not read.
  return parseConfigText(readUntrustedText(file, { what: 'a YAML config', maxBytes: MAX_CONFIG_BYTES }), file, sets);
}
