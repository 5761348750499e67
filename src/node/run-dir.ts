/**
 * Run folders (log_dir) on the Node side of training: a new run never writes into a folder that
 * holds another run (it takes the next free name, `-2`, `-3`, ...), a lock file names the process
 * that owns a folder (a second run into it is refused; the lock of a dead process is stale and
 * taken over), temporaries that dead processes left behind are removed, and on resume the logs
 * are cut back to the checkpoint's step so that they continue without duplicates. Also the guard
 * of checkpoint outputs (import --out): never an input, never a file that is not a checkpoint.
 *
 * @example
 *   const dir = claimRunDir('runs/cnn-mnist-float', { existOk: false }); // runs/cnn-mnist-float-2 if taken
 *   ...
 *   releaseRunDir(dir);
 */
import { closeSync, existsSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from './files.js';
import { CHECKPOINT_FORMAT } from '../train/checkpoint.js';
import { F8Error } from '../runtime/errors.js';

export const LOCK_FILE = '.f8net.lock';

/** Whether a process with this id exists on this machine (EPERM: it exists, owned by another user). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Refuses a log_dir that cannot be a folder (NUL byte, an existing file, a device) in one line. */
export function checkDirPath(dir: string, what = 'log_dir'): void {
  if (dir.includes('\0')) throw new F8Error('BAD_CONFIG', `${what} ${JSON.stringify(dir)}: contains a NUL byte; expected a folder path`);
  if (dir === '') throw new F8Error('BAD_CONFIG', `${what}: empty; expected a folder path`);
  let st;
  try {
    st = statSync(dir);
  } catch {
    return; // does not exist yet: created later (errors then name it too)
  }
  if (!st.isDirectory()) throw new F8Error('BAD_CONFIG', `${what} ${dir}: exists and is not a folder (${st.isFile() ? 'a file' : 'a device or other special file'}); expected a folder for the run's logs and checkpoints`);
}

function mkdirOrFail(dir: string, what: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    // A path that cannot be a folder is the user's input; a full or read-only disk is not.
    const bad = ['ENOTDIR', 'EEXIST', 'ENAMETOOLONG', 'EINVAL', 'ELOOP'].includes(code);
    throw new F8Error(bad ? 'BAD_CONFIG' : 'IO', `${what} ${dir}: cannot create the folder (${code}); expected a folder path${bad ? ' whose parents are folders' : ''}`);
  }
  checkDirPath(dir, what);
}

interface LockInfo {
  pid: number;
  host: string;
}

function readLock(dir: string): LockInfo | null {
  try {
    const v = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'));
    return { pid: Number(v.pid), host: String(v.host) };
  } catch {
    return null;
  }
}

/**
 * Takes the lock of `dir` for this process: an exclusive create of the lock file; a lock held by a
 * dead process of this machine (or unreadable) is stale and replaced. Returns null when a live
 * process holds it, else whether a stale lock was taken over (its pid).
 */
function tryLock(dir: string): { ok: true; stale: number | null } | { ok: false; holder: LockInfo } {
  const file = join(dir, LOCK_FILE);
  const body = `${JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString() })}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    // The lock appears with its content: a hard link of a written temporary (an exclusive create
    // then a write would show an empty file, which another run would read as a stale lock and take).
    const fresh = join(dir, `${LOCK_FILE}.new.${process.pid}.tmp`);
    try {
      writeFileSync(fresh, body);
      try {
        linkSync(fresh, file);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') throw e;
        // A file system without hard links: an exclusive create, then the content.
        const fd = openSync(file, 'wx');
        writeSync(fd, body);
        closeSync(fd);
      }
      held.add(dir);
      return { ok: true, stale: null };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new F8Error('IO', `${file}: cannot create the run lock: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    } finally {
      try {
        unlinkSync(fresh);
      } catch {
        /* not written */
      }
    }
    const info = readLock(dir);
    if (info && info.pid === process.pid && info.host === hostname()) return { ok: false, holder: info };
    if (info && (info.host !== hostname() || pidAlive(info.pid))) return { ok: false, holder: info };
    // Stale: replace it by a rename over it, so that two runs taking it over do not both win.
    const tmp = join(dir, `${LOCK_FILE}.${process.pid}.tmp`);
    writeFileSync(tmp, body);
    const again = readLock(dir);
    if (again && (again.pid !== info?.pid || again.host !== info?.host)) {
      unlinkSync(tmp);
      continue;
    }
    renameSync(tmp, file);
    const now = readLock(dir);
    if (now?.pid === process.pid) {
      held.add(dir);
      return { ok: true, stale: info?.pid ?? 0 };
    }
  }
  const info = readLock(dir);
  return { ok: false, holder: info ?? { pid: 0, host: '?' } };
}

const held = new Set<string>();
let exitHook = false;

/** Releases the lock of `dir` if this process holds it. */
export function releaseRunDir(dir: string): void {
  if (!held.delete(dir)) return;
  const info = readLock(dir);
  if (info?.pid === process.pid) {
    try {
      unlinkSync(join(dir, LOCK_FILE));
    } catch {
      /* already gone */
    }
  }
}

function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  // process.exit() (a second Ctrl-C) skips finally blocks; the locks go with the process anyway.
  process.on('exit', () => {
    for (const d of [...held]) releaseRunDir(d);
  });
}

/** Files that show a folder holds a run (logs, checkpoints, a lock). */
const RUN_FILES = ['log.jsonl', 'metrics.csv', 'last.safetensors', 'best.safetensors', 'curves.png', LOCK_FILE];

function isEmptyDir(dir: string): boolean {
  try {
    return readdirSync(dir).length === 0;
  } catch {
    return true;
  }
}

export interface ClaimedDir {
  dir: string;
  /** The folder asked for, when it was taken and the run went to the next free name. */
  taken: string | null;
  /** Pid of a dead process whose lock was taken over. */
  staleLock: number | null;
}

/**
 * The folder of a new run: `dir` when it does not exist or is empty (or, with existOk, holds an
 * earlier run that no live process owns), else the first free `dir-2`, `dir-3`, ... Locks it.
 */
export function claimRunDir(dir: string, opts: { existOk: boolean }): ClaimedDir {
  checkDirPath(dir);
  installExitHook();
  const base = dir.replace(/[\\/]+$/, '') || dir;
  for (let k = 1; k < 10_000; k++) {
    const cand = k === 1 ? base : `${base}-${k}`;
    if (k > 1) checkDirPath(cand);
    if (existsSync(cand) && !isEmptyDir(cand) && !opts.existOk) continue;
    mkdirOrFail(cand, 'log_dir');
    const l = tryLock(cand);
    if (!l.ok) {
      if (opts.existOk) throw lockedError(cand, l.holder);
      continue;
    }
    if (!opts.existOk && readdirSync(cand).some((f) => f !== LOCK_FILE && RUN_FILES.includes(f))) {
      // Another run wrote here between our look and our lock.
      releaseRunDir(cand);
      continue;
    }
    return { dir: cand, taken: k === 1 ? null : base, staleLock: l.stale };
  }
  throw new F8Error('IO', `log_dir ${base}: no free name among ${base}-2 .. ${base}-9999`);
}

/** Locks the folder of a resumed run (it must not be in use by a live process). */
export function lockRunDir(dir: string): { staleLock: number | null } {
  checkDirPath(dir);
  installExitHook();
  mkdirOrFail(dir, 'log_dir');
  const l = tryLock(dir);
  if (!l.ok) throw lockedError(dir, l.holder);
  return { staleLock: l.stale };
}

function lockedError(dir: string, h: LockInfo): F8Error {
  return new F8Error(
    'BAD_INPUT',
    `log_dir ${dir}: in use by another run (process ${h.pid} on ${h.host}, lock ${join(dir, LOCK_FILE)}); wait for it to end, or choose another log_dir`,
  );
}

/** Temporaries `.<name>.<pid>.tmp` (files written atomically) whose process is dead: removed; returns their names. */
export function removeStaleTemps(dir: string): string[] {
  const gone: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return gone;
  }
  for (const n of names) {
    const m = /^\..+\.(\d+)\.tmp$/.exec(n);
    if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    try {
      if (statSync(join(dir, n)).isFile()) {
        unlinkSync(join(dir, n));
        gone.push(n);
      }
    } catch {
      /* raced with another cleaner */
    }
  }
  return gone;
}

/**
 * Cuts log.jsonl and metrics.csv back to a checkpoint's position (complete epochs `epoch`,
 * global step `step`), so that a resumed run appends to logs that end where its state does.
 * Each file is rewritten atomically.
 */
export function trimLogs(dir: string, at: { epoch: number; step: number; stepsPerEpoch: number }): { jsonl: number; csv: number } {
  const cut = { jsonl: 0, csv: 0 };
  const jf = join(dir, 'log.jsonl');
  if (existsSync(jf)) {
    const lines = readFileSync(jf, 'utf8').split('\n').filter((l) => l !== '');
    const keep = lines.filter((l) => {
      let r: { type?: string; epoch?: number; step?: number; global_step?: number };
      try {
        r = JSON.parse(l);
      } catch {
        return false; // a line cut by a crash
      }
      if (r.type === 'step') {
        const g = r.global_step ?? ((r.epoch ?? 1) - 1) * at.stepsPerEpoch + (r.step ?? 0);
        return g <= at.step;
      }
      if (r.type === 'epoch') return (r.epoch ?? 0) <= at.epoch;
      if (r.type === 'interrupted' || r.type === 'formats') return false;
      return true;
    });
    cut.jsonl = lines.length - keep.length;
    if (cut.jsonl) writeText(jf, keep.map((l) => `${l}\n`).join(''));
  }
  const cf = join(dir, 'metrics.csv');
  if (existsSync(cf)) {
    const lines = readFileSync(cf, 'utf8').split('\n').filter((l) => l !== '');
    const [head, ...rows] = lines;
    const seen = new Set<number>();
    const keep = rows.filter((r) => {
      const e = Number(r.split(',')[0]);
      if (!Number.isInteger(e) || e > at.epoch || seen.has(e)) return false;
      seen.add(e);
      return true;
    });
    cut.csv = rows.length - keep.length;
    if (cut.csv) writeText(cf, [head, ...keep].map((l) => `${l}\n`).join(''));
  }
  return cut;
}

function writeText(file: string, text: string): void {
  writeFileAtomic(file, [new TextEncoder().encode(text)]);
}

/** The `__metadata__` of an f8net checkpoint, read from its header only; null when `file` is not one. */
export function checkpointHeader(file: string): { step: number | null; epoch: number | null } | null {
  let fd: number | null = null;
  try {
    if (!statSync(file).isFile()) return null;
    fd = openSync(file, 'r');
    const len = Buffer.alloc(8);
    if (readSync(fd, len, 0, 8, 0) !== 8) return null;
    const n = Number(len.readBigUInt64LE(0));
    if (n < 2 || n > 100_000_000) return null;
    const head = Buffer.alloc(n);
    if (readSync(fd, head, 0, n, 8) !== n) return null;
    const md = (JSON.parse(head.toString('utf8')) as { __metadata__?: { format?: unknown; meta?: unknown } }).__metadata__;
    if (md?.format !== CHECKPOINT_FORMAT) return null;
    let meta: { step?: unknown; epoch?: unknown } = {};
    try {
      meta = JSON.parse(String(md.meta));
    } catch {
      /* a checkpoint with bad metadata: loadCheckpoint names the problem */
    }
    return { step: Number.isInteger(meta?.step) ? (meta.step as number) : null, epoch: Number.isInteger(meta?.epoch) ? (meta.epoch as number) : null };
  } catch {
    return null;
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** Whether `file` starts like an f8net checkpoint (reads only its safetensors header). */
export function isCheckpointFile(file: string): boolean {
  return checkpointHeader(file) !== null;
}

/**
 * Refuses (BAD_INPUT, naming `what`) an output checkpoint path that is one of `inputs` (the same
 * file, also through another name or a link), or an existing file that is not an f8net
 * checkpoint unless `force`. An earlier checkpoint there is replaced atomically.
 */
export function checkCheckpointOut(out: string, inputs: string[], opts: { force?: boolean; what?: string } = {}): void {
  const what = opts.what ?? '--out';
  if (out.includes('\0')) throw new F8Error('BAD_INPUT', `${what} ${JSON.stringify(out)}: contains a NUL byte`);
  let st;
  try {
    st = statSync(out);
  } catch {
    return; // a new file
  }
  for (const i of inputs) {
    try {
      const si = statSync(i);
      if (si.dev === st.dev && si.ino === st.ino) throw new F8Error('BAD_INPUT', `${what} ${out}: is the input ${i}; writing it would replace the weights being read; choose another --out`);
    } catch (e) {
      if (e instanceof F8Error) throw e;
    }
  }
  if (st.isDirectory()) throw new F8Error('BAD_INPUT', `${what} ${out}: is a folder; expected a checkpoint file name (.safetensors)`);
  if (!st.isFile()) throw new F8Error('BAD_INPUT', `${what} ${out}: is not a regular file; expected a checkpoint file name (.safetensors)`);
  if (!opts.force && !isCheckpointFile(out)) {
    throw new F8Error('BAD_INPUT', `${what} ${out}: exists and is not an f8net checkpoint; choose another --out, or pass --force to replace it`);
  }
}
