/**
 * Opening files f8net did not write: the one place every reader goes through. A named pipe,
 * a device (/dev/zero), a socket or a folder in place of a file would block or grow without
 * end inside readFileSync, so the path is stat-ed first and anything but a regular file is
 * refused before it is opened; the open itself is non-blocking (a pipe swapped in after the
 * stat cannot hang it) and the descriptor is checked again with fstat. Reads stop at a size
 * cap, so a file that grows while read cannot run memory away either.
 *
 * Text formats get a nesting limit checked by a linear scan before any recursive parser runs,
 * so '[' * 100000 is a one-line error, not a stack overflow.
 *
 * @example
 *   const buf = readUntrusted('w.safetensors', { what: 'a safetensors file', maxBytes: 4 << 30 });
 *   const doc = parseJsonUntrusted(buf, 'model.json');
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, realpathSync, statSync, type Stats } from 'node:fs';
import { relative, isAbsolute, sep, dirname } from 'node:path';
import { F8Error } from '../runtime/errors.js';
import { jsonDepth, MAX_TEXT_DEPTH } from '../io/text-limits.js';

export { MAX_TEXT_DEPTH, jsonDepth, checkJsonDepth, clip, parseJsonUntrusted, yamlDepth, checkYamlDepth } from '../io/text-limits.js';

/** Default cap of one read: 2 GiB (the largest Buffer this reader allocates in one piece). */
export const MAX_UNTRUSTED_BYTES = 2 ** 31 - 1;

export interface UntrustedRead {
  /** What the file should be, for messages ("an IDX file", "a YAML config"). */
  what: string;
  /** Larger files are refused before reading. */
  maxBytes?: number;
  /** The file (after links) must lie inside this folder; a link out of it is refused. */
  within?: string;
}

function kindOf(s: Stats): string {
  if (s.isDirectory()) return 'a folder';
  if (s.isFIFO()) return 'a named pipe';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isSocket()) return 'a socket';
  return 'not a regular file';
}

const bad = (file: string, msg: string) => new F8Error('BAD_INPUT', `${file}: ${msg}`);

/**
 * Stats `file` (following links) and throws a one-line F8Error unless it is a regular file of at
 * most maxBytes (and, with `within`, its real path lies in that folder). Returns its stats.
 */
export function checkRegularFile(file: string, o: UntrustedRead): Stats {
  let st: Stats;
  try {
    st = statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new F8Error('IO', `${file}: cannot read: no such file, expected ${o.what}`);
    throw new F8Error('IO', `${file}: cannot read (${code ?? (e as Error).message}), expected ${o.what}`);
  }
  if (!st.isFile()) throw bad(file, `is ${kindOf(st)}, expected ${o.what} (a regular file)`);
  const max = o.maxBytes ?? MAX_UNTRUSTED_BYTES;
  if (st.size > max) throw bad(file, `${st.size} bytes exceed the ${max}-byte limit for ${o.what}`);
  if (o.within !== undefined) {
    let real: string;
    let root: string;
    try {
      real = realpathSync(file);
      root = realpathSync(o.within);
    } catch (e) {
      throw new F8Error('IO', `${file}: cannot resolve (${(e as Error).message}), expected ${o.what}`);
    }
    const rel = relative(root, real);
    if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) {
      throw bad(file, `links to ${real}, outside ${o.within}; expected ${o.what} inside that folder`);
    }
  }
  return st;
}

/** True when `path` itself (not a link target) is a link; for folder walks that skip links out. */
export function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * Reads an untrusted file whole: regular files only, at most maxBytes, never a blocking open.
 * Errors are one-line F8Errors naming the file and what was expected.
 */
export function readUntrusted(file: string, o: UntrustedRead): Buffer {
  checkRegularFile(file, o);
  const max = o.maxBytes ?? MAX_UNTRUSTED_BYTES;
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new F8Error('IO', `${file}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}), expected ${o.what}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw bad(file, `is ${kindOf(st)}, expected ${o.what} (a regular file)`);
    if (st.size > max) throw bad(file, `${st.size} bytes exceed the ${max}-byte limit for ${o.what}`);
    // One byte more than the size seen: a file that grew since is read to the cap, not forever.
    const want = Math.min(st.size + 1, max + 1);
    let buf = Buffer.allocUnsafe(want);
    let got = 0;
    for (;;) {
      if (got === buf.length) {
        if (buf.length > max) throw bad(file, `grew past the ${max}-byte limit for ${o.what} while being read`);
        const next = Buffer.allocUnsafe(Math.min(buf.length * 2, max + 1));
        buf.copy(next, 0, 0, got);
        buf = next;
      }
      const n = readSync(fd, buf, got, buf.length - got, null);
      if (n === 0) break;
      got += n;
    }
    return got === buf.length ? buf : buf.subarray(0, got);
  } catch (e) {
    if (e instanceof F8Error) throw e;
    throw new F8Error('IO', `${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}), expected ${o.what}`);
  } finally {
    closeSync(fd);
  }
}

/** readUntrusted as UTF-8 text (invalid bytes refused, so a binary file is named as such). */
export function readUntrustedText(file: string, o: UntrustedRead): string {
  const buf = readUntrusted(file, o);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    throw bad(file, `is not UTF-8 text, expected ${o.what}`);
  }
}

/** The largest tuning-cache file read (one adapter's choices take a few KB). */
export const MAX_CACHE_BYTES = 4 << 20;

/**
 * A cache file f8net wrote earlier, read as untrusted text: a regular file inside its own folder
 * (a link to /dev/zero or out of the folder, a named pipe, a huge file: `error`, never a hang
 * or a runaway read), nesting checked. `missing` when there is no such file.
 * @example const r = readCacheText(join(cacheDir, 'tuning.json'));
 */
export function readCacheText(file: string, maxBytes = MAX_CACHE_BYTES): { text: string } | { missing: true } | { error: string } {
  try {
    lstatSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { missing: true };
  }
  try {
    const text = readUntrustedText(file, { what: 'a tuning cache (JSON)', maxBytes, within: dirname(file) });
    if (jsonDepth(text, MAX_TEXT_DEPTH) > MAX_TEXT_DEPTH) return { error: `JSON nests more than ${MAX_TEXT_DEPTH} levels deep` };
    return { text };
  } catch (e) {
    // Drop the leading "<file>: ": the caller names the file.
    return { error: (e as Error).message.replace(`${file}: `, '') };
  }
}
