/**
 * Writing an export folder as a whole: every file goes into a temporary sibling folder
 * (`.<name>.<pid>.tmp`, fsynced), which then replaces the folder by two renames (the old one
 * moves aside to `.<name>.<pid>.old` and is removed). So the folder holds one complete export or
 * the previous one: no file of an earlier export survives beside a new model.json, and a failure
 * (disk full, a kill) leaves the previous export untouched. A kill between the two renames
 * leaves the previous export in the `.old` folder; the next write puts it back first.
 *
 * A folder that is not an f8net export (no f8net model.json, or other files beside it) is
 * refused unless `force`, so that user files are never replaced.
 *
 * @example
 *   writeExportFolder('runs/cnn-int', [{ name: 'model.json', data }, { name: 'weights.bin', data: bin }]);
 */
import { closeSync, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { F8Error } from '../runtime/errors.js';
import { INT_MODEL_FORMAT } from '../export/graph.js';
import { MAX_JSON_BYTES, MODEL_JSON, WEIGHTS_BIN } from '../export/format.js';
import { pidAlive } from './run-dir.js';

/** Files an f8net export folder may hold. */
export const EXPORT_FILES: readonly string[] = [MODEL_JSON, WEIGHTS_BIN, 'integize.onnx', 'int_op_only.onnx', 'qdq.onnx'];

export interface ExportFile {
  name: string;
  data: Uint8Array;
}

/** Whether `dir/model.json` is an f8net integer model (read only when a small regular file). */
function isOurModelJson(dir: string): boolean {
  const f = join(dir, MODEL_JSON);
  try {
    const st = lstatSync(f);
    if (!st.isFile() || st.size > MAX_JSON_BYTES) return false;
    return (JSON.parse(readFileSync(f, 'utf8')) as { format?: unknown }).format === INT_MODEL_FORMAT;
  } catch {
    return false;
  }
}

/** Why `dir` may not be replaced without force, or null when it may (absent, empty, or an f8net export). */
export function exportFolderProblem(dir: string): string | null {
  if (!existsSync(dir)) return null;
  if (!statSync(dir).isDirectory()) return 'exists and is not a folder';
  const names = readdirSync(dir);
  if (names.length === 0) return null;
  if (!isOurModelJson(dir)) return `is a non-empty folder that is not an f8net export (no f8net ${MODEL_JSON}; it holds ${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''})`;
  const other = names.filter((n) => !EXPORT_FILES.includes(n));
  if (other.length) return `holds files that are not part of an f8net export (${other.slice(0, 3).join(', ')}${other.length > 3 ? ', ...' : ''}), which replacing it would delete`;
  return null;
}

/** Removes temporaries of dead processes beside `dir`, and puts back a previous export a kill left aside. */
function recover(dir: string): void {
  const parent = dirname(dir);
  const base = basename(dir);
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  for (const n of names) {
    const m = new RegExp(`^\\.${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)\\.(tmp|old)$`).exec(n);
    if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    const p = join(parent, n);
    if (m[2] === 'old' && !existsSync(dir)) renameSync(p, dir);
    else rmSync(p, { recursive: true, force: true });
  }
}

function writeFileSynced(file: string, data: Uint8Array): void {
  const fd = openSync(file, 'wx');
  try {
    let off = 0;
    while (off < data.byteLength) off += writeSync(fd, data, off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces the folder `dir` by one holding exactly `files`. Returns whether an earlier export
 * was replaced. Refuses (BAD_INPUT) a folder that exportFolderProblem() objects to, unless force.
 */
export function writeExportFolder(dir: string, files: ExportFile[], opts: { force?: boolean; what?: string } = {}): { replaced: boolean } {
  const what = opts.what ?? '--out';
  if (dir.includes('\0')) throw new F8Error('BAD_INPUT', `${what} ${JSON.stringify(dir)}: contains a NUL byte; expected a folder path`);
  const abs = resolve(dir);
  recover(abs);
  const problem = exportFolderProblem(abs);
  if (problem && (!opts.force || problem === 'exists and is not a folder')) {
    throw new F8Error('BAD_INPUT', `${what} ${dir}: ${problem}; choose another folder${problem === 'exists and is not a folder' ? '' : ', or pass --force to replace it'}`);
  }
  const parent = dirname(abs);
  const tmp = join(parent, `.${basename(abs)}.${process.pid}.tmp`);
  const old = join(parent, `.${basename(abs)}.${process.pid}.old`);
  const existed = existsSync(abs);
  const hadFiles = existed && readdirSync(abs).length > 0;
  let current = tmp;
  try {
    mkdirSync(parent, { recursive: true });
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
    for (const f of files) {
      current = join(dir, f.name);
      writeFileSynced(join(tmp, f.name), f.data);
    }
    current = dir;
    if (existed) {
      renameSync(abs, old);
      try {
        renameSync(tmp, abs);
      } catch (e) {
        renameSync(old, abs);
        throw e;
      }
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, abs);
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw new F8Error('IO', `${current}: cannot write the export: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return { replaced: hadFiles };
}
