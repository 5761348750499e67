/**
 * Whole-file writes that never leave a half-written file: the bytes go to a temporary file in
 * the same folder, are fsynced, then renamed over the target. Every writer of f8net's files
 * (checkpoints, models, caches, reports, charts) comes here.
 */
import { openSync, writeSync, fsyncSync, closeSync, renameSync, unlinkSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { F8Error } from '../runtime/errors.js';

/** Writes `data` to `file` atomically: temporary file in the same folder, fsync, rename. */
export function writeFileAtomic(file: string, chunks: Uint8Array[]): void {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'w');
    for (const c of chunks) {
      let off = 0;
      while (off < c.byteLength) off += writeSync(fd, c, off);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, file);
  } catch (e) {
    if (fd !== null) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* nothing to clean */
    }
    throw new F8Error('IO', `${file}: cannot write: ${(e as Error).message}`);
  }
}
