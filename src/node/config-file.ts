/** Config files on disk; parsing and checks are src/train/config.ts. */
import { dirname, resolve, relative, isAbsolute } from 'node:path';
import { parseConfigText, resolveConfig, MAX_CONFIG_BYTES, type TrainConfig } from '../train/config.js';
import { setIncludeReader } from '../train/paper-config.js';
import { F8Error } from '../runtime/errors.js';
import { readUntrustedText } from './untrusted.js';

/** A file named by the paper's `!include`: relative to the including config, inside its folder. */
function readInclude(fromFile: string, name: string): { path: string; text: string } {
  const root = dirname(resolve(fromFile));
  const target = resolve(root, name);
  const rel = relative(root, target);
  if (rel.startsWith('..') || isAbsolute(rel)) throw new F8Error('BAD_CONFIG', `${fromFile}: !include ${name} is outside the config's folder ${root}`);
  return { path: target, text: readUntrustedText(target, { what: `a file included by ${fromFile}`, maxBytes: MAX_CONFIG_BYTES }) };
}
setIncludeReader(readInclude);

/** Loads a YAML config file (or the built-in default when file is null) with overrides. */
export function loadConfig(file: string | null, sets: string[] = []): TrainConfig {
  if (!file) return resolveConfig({}, sets, 'built-in default');
  // A regular file of at most 1 MiB: a named pipe or /dev/zero is refused, not read.
  return parseConfigText(readUntrustedText(file, { what: 'a YAML config', maxBytes: MAX_CONFIG_BYTES }), file, sets);
}
