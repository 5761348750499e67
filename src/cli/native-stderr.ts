/**
 * Keeps Dawn's native warnings off the user's terminal. On some adapters (lavapipe) Dawn prints
 * "Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced ..." and the same for
 * storage buffers when it enumerates adapters. They come from C++ (fprintf to file descriptor 2),
 * where no JavaScript hook reaches: process.stderr.write is not involved, and Node cannot dup2.
 *
 * So the command runs in a child process whose descriptor 2 is a pipe that this parent filters
 * line by line, while the child's JavaScript writes to process.stderr go to descriptor 3: the
 * parent's own stderr, so a terminal stays a terminal (progress bar, colours). Anything else
 * native code prints still comes through. `--verbose` (or F8NET_NATIVE_STDERR=1) runs in one
 * process with everything shown.
 *
 * The child has its own process group, so a Ctrl-C reaches it once, forwarded by the parent,
 * not twice (once from the terminal, once forwarded); its exit status becomes the parent's.
 */
import { spawn } from 'node:child_process';
import { writeSync, fstatSync } from 'node:fs';
import { isatty, WriteStream } from 'node:tty';
import { Writable } from 'node:stream';

const CHILD_ENV = 'F8NET_STDERR_CHILD';

/** The lines that are noise to a user: Dawn's limit clamps, reported as warnings. */
export const NATIVE_NOISE = /^Warning: maxDynamic\w+ artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.\s*$/;

/** Whether this process should run the command itself (child, --verbose, or opted out). */
export function runsInProcess(argv: string[], env: NodeJS.ProcessEnv = process.env): boolean {
  return env[CHILD_ENV] === '1' || env.F8NET_NATIVE_STDERR === '1' || argv.includes('--verbose');
}

/** In the child: JavaScript's stderr becomes descriptor 3 (the parent's stderr), synchronously. */
export function adoptParentStderr(): void {
  if (process.env[CHILD_ENV] !== '1') return;
  try {
    fstatSync(3);
  } catch {
    return;
  }
  let stream: NodeJS.WriteStream;
  if (isatty(3)) stream = new WriteStream(3);
  else {
    // Synchronous writes, so nothing is lost when the process exits at once (a second Ctrl-C).
    const w = new Writable({
      write(chunk: Buffer, _enc, cb) {
        try {
          writeSync(3, chunk);
          cb();
        } catch (e) {
          cb(e as Error);
        }
      },
    });
    stream = Object.assign(w, { isTTY: false, fd: 3 }) as unknown as NodeJS.WriteStream;
  }
  Object.defineProperty(process, 'stderr', { configurable: true, enumerable: true, get: () => stream });
}

/** In the parent: runs this same command in a child with its native stderr filtered; resolves to its exit code. */
export function runFiltered(): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'pipe', 2],
    env: { ...process.env, [CHILD_ENV]: '1' },
    detached: true,
  });
  let pending = '';
  const forward = (text: string) => {
    for (const line of text.split(/(?<=\n)/)) if (!NATIVE_NOISE.test(line)) process.stderr.write(line);
  };
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    pending += d;
    const cut = pending.lastIndexOf('\n') + 1;
    if (cut) {
      forward(pending.slice(0, cut));
      pending = pending.slice(cut);
    }
  });
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const relay = (s: NodeJS.Signals) => () => {
    if (child.exitCode === null) child.kill(s);
  };
  const handlers = signals.map((s) => [s, relay(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  return new Promise((resolve) => {
    child.on('error', (e) => {
      process.stderr.write(`f8net: internal error: cannot start the command process: ${e.message}\n`);
      resolve(1);
    });
    child.on('close', (code, signal) => {
      if (pending) forward(pending);
      for (const [s, h] of handlers) process.off(s, h);
      const num: Record<string, number> = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1, SIGKILL: 9 };
      resolve(code ?? 128 + (num[signal ?? ''] ?? 1));
    });
  });
}
