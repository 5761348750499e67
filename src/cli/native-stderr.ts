/**
 * Keeps Dawn's native warnings off the user's terminal. On some adapters (lavapipe) Dawn prints
 * "Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced ..." and the same for
 * storage buffers when it enumerates adapters. They come from C++ (fprintf to file descriptor 2),
 * where no JavaScript hook reaches: process.stderr.write is not involved, and Node cannot dup2.
 *
 * So the command runs in a child process whose descriptor 2 is a pipe that this parent filters
 * line by line. When the parent's stderr is a terminal, the child's JavaScript writes to
 * process.stderr go to descriptor 3 instead, that terminal, so it stays a terminal (progress
 * bar, colours) and only native output passes the filter. Anything else
 * native code prints still comes through. `--verbose` (or F8NET_NATIVE_STDERR=1) runs in one
 * process with everything shown.
 *
 * The child has its own process group, so a Ctrl-C reaches it once, forwarded by the parent,
 * not twice (once from the terminal, once forwarded); its exit status becomes the parent's.
 */
import { spawn } from 'node:child_process';
import { isatty, WriteStream } from 'node:tty';

const CHILD_ENV = 'F8NET_STDERR_CHILD';

/** The lines that are noise to a user: Dawn's limit clamps, reported as warnings. */
export const NATIVE_NOISE = /^Warning: maxDynamic\w+ artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.\s*$/;

/** Whether this process should run the command itself (child, --verbose, or opted out). */
export function runsInProcess(argv: string[], env: NodeJS.ProcessEnv = process.env): boolean {
  return env[CHILD_ENV] === '1' || env.F8NET_NATIVE_STDERR === '1' || argv.includes('--verbose');
}

/**
 * In the child, when the parent's stderr is a terminal: JavaScript's stderr becomes descriptor 3
 * (that terminal), so progress bars still see a TTY. Otherwise everything goes through the
 * filtered pipe, and nothing needs replacing.
 */
export function adoptParentStderr(): void {
  if (process.env[CHILD_ENV] !== '1' || !isatty(3)) return;
  const stream = new WriteStream(3);
  Object.defineProperty(process, 'stderr', { configurable: true, enumerable: true, get: () => stream });
}

/** In the parent: runs this same command in a child with its native stderr filtered; resolves to its exit code. */
export function runFiltered(): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    // Descriptor 3 only for a terminal: a pipe or file needs no TTY kept.
    stdio: process.stderr.isTTY ? ['inherit', 'inherit', 'pipe', 2] : ['inherit', 'inherit', 'pipe'],
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
