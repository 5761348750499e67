/**
 * The tuning cache of the Node platform: one JSON file per adapter and driver in the user's
 * cache folder, keyed by the adapter, the Dawn build, f8net's version and a hash of wgsl/.
 * The search and the cache's checks are src/runtime/tuner.ts, the families it tunes
 * src/cases/tune.ts (TUNE_FAMILIES); this file only finds, reads and writes the file
 * (readCacheText is the one read of it).
 *
 * @example
 *   const r = await ensureTuning(await Engine.open());   // cache hit: applies it; else searches
 *   for (const w of r.warnings) console.warn(w);
 */
import { readFileSync, readdirSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, dirname } from 'node:path';
import type { Engine } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';
import { Sha256, sha256Hex } from '../runtime/sha256.js';
import { F8NET_VERSION } from '../runtime/version.js';
import { parseTuningCache, tuneWithStore, type CacheExpectation, type TuneFamily, type TuneOptions, type TuneReport, type TuningCache } from '../runtime/tuner.js';
import { TUNE_FAMILIES } from '../cases/tune.js';
import { writeFileAtomic } from './files.js';
// The one read of a cache file: regular files inside the cache folder only, size-capped, depth-checked.
import { readCacheText } from './untrusted.js';
import { packageVersion } from './versions.js';
import { WGSL_DIR } from './wgsl-files.js';

export * from '../runtime/tuner.js';
export { TUNE_FAMILIES };

const oneLine = (e: unknown): string => String((e as Error)?.message ?? e).split('\n')[0];

/** $F8NET_CACHE_DIR, else $XDG_CACHE_HOME/f8net, else %LOCALAPPDATA%\f8net (Windows), else ~/.cache/f8net. */
export function tuningCacheDir(): string {
  const env = process.env;
  if (env.F8NET_CACHE_DIR) return env.F8NET_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'f8net');
  if (process.platform === 'win32' && env.LOCALAPPDATA) return join(env.LOCALAPPDATA, 'f8net');
  return join(homedir(), '.cache', 'f8net');
}

/** The version in f8net's package.json. */
export function f8netVersion(): string {
  return F8NET_VERSION;
}

/** sha256 (16 hex digits) of every file under `dir` (default wgsl/), names included: any kernel edit changes it. */
export function wgslSourceHash(dir = WGSL_DIR): string {
  const h = new Sha256();
  const walk = (rel: string): void => {
    for (const ent of readdirSync(join(dir, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const r = rel ? `${rel}/${ent.name}` : ent.name;
      if (ent.isDirectory()) walk(r);
      else h.update(`${r}\0`).update(readFileSync(join(dir, r))).update('\0');
    }
  };
  walk('');
  return h.hex().slice(0, 16);
}

/**
 * The adapter and driver a tuning belongs to: vendor/architecture/device/description (Dawn puts
 * the driver's name and version in the description), the backend and the Dawn build.
 */
export function adapterKey(e: Engine): string {
  const i = e.gpu.adapter.info;
  const dawn = packageVersion('webgpu');
  return `${i.vendor}/${i.architecture}/${i.device}/${i.description} (${e.gpu.backend}, dawn webgpu@${dawn === 'not installed' ? '?' : dawn})`;
}

/** The cache file of an adapter key: one per adapter and driver. */
export function tuningCacheFile(key: string, dir = tuningCacheDir()): string {
  return join(dir, `tuning-${sha256Hex(key).slice(0, 16)}.json`);
}

/**
 * Reads and validates a cache file. `missing`: no file; `warning`: unusable (corrupt or stale),
 * the text names the file and why; else the cache.
 */
export function readTuningCache(file: string, want: CacheExpectation, families: readonly TuneFamily[] = TUNE_FAMILIES): { cache: TuningCache } | { warning: string } | { missing: true } {
  const r = readCacheText(file);
  if ('missing' in r) return r;
  if ('error' in r) return { warning: `${file}: tuning cache ignored (cannot read it: ${r.error})` };
  return parseTuningCache(r.text, file, want, families);
}

/** Writes a cache file atomically (temporary file in the same folder, then rename). */
export function writeTuningCache(file: string, cache: TuningCache): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
  } catch (err) {
    throw new F8Error('IO', `${dirname(file)}: cannot create the tuning cache folder: ${oneLine(err)}`);
  }
  writeFileAtomic(file, [new TextEncoder().encode(`${JSON.stringify(cache, null, 1)}\n`)]);
}

/**
 * Loads this adapter's tuning (TUNE_FAMILIES) from its cache file and applies it to e.tuning; when the cache is missing,
 * stale or corrupt (a warning names the file and why) or `retune` is set, searches (unless
 * search is false: the defaults stay), writes the cache and applies the choice.
 * @example const r = await ensureTuning(Engine.get(), { search: false }); // cache or defaults, never a search
 */
export async function ensureTuning(e: Engine, opts: TuneOptions = {}): Promise<TuneReport> {
  const key = adapterKey(e);
  const file = tuningCacheFile(key, opts.cacheDir ?? tuningCacheDir());
  const want: CacheExpectation = { adapterKey: key, f8netVersion: f8netVersion(), wgslHash: wgslSourceHash(), quick: !!opts.quick };
  return tuneWithStore(e, { name: file, want, read: () => readTuningCache(file, want), write: (c) => writeTuningCache(file, c) }, TUNE_FAMILIES, opts);
}
