/**
 * PyTorch (CPU) as a peer for the whole-model training rows: tools/torch_peer.py builds the same
 * network (float, or fixed point through a plain fake-quant layer written from F8NET.md) and runs
 * one training step per line it reads, so the bench's wall-clock loop times a PyTorch step the way
 * it times ours (the pipe round trip is well under a millisecond against steps of tens).
 *
 * Python is optional everywhere: findTorch() tries F8NET_PYTHON, `python3` on the PATH and
 * /usr/bin/python3 (Debian's python3-torch is installed there, a pyenv shim may come first) and
 * returns null with the reason when none imports torch; the suite then prints that one line and
 * skips the peer.
 *
 * @example
 *   const t = findTorch();
 *   if (t.torch) { const p = await torchTrainPeer(t.torch, { model: 'cnn', ... }, 23824); await p.step(); p.dispose(); }
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { F8Error } from '../runtime/errors.js';
import type { Check, PeerInstance, TorchNet, TorchPeer } from '../bench/types.js';

export interface TorchEnv {
  python: string;
  script: string;
  version: string;
}

/** tools/torch_peer.py, looked for upward from this file (source tree, dist/, or a bundle beside tools/). */
function peerScript(): string | null {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, d = dirname(d)) {
    const f = join(d, 'tools', 'torch_peer.py');
    if (existsSync(f)) return f;
  }
  return null;
}

/** A python that imports torch, or the one-line reason there is none. */
export function findTorch(candidates: (string | undefined)[] = [process.env.F8NET_PYTHON, 'python3', '/usr/bin/python3']): { torch: TorchEnv | null; reason: string } {
  const script = peerScript();
  if (!script) return { torch: null, reason: 'tools/torch_peer.py not found beside the library' };
  const tried: string[] = [];
  for (const py of candidates) {
    if (!py || tried.includes(py)) continue;
    tried.push(py);
    const r = spawnSync(py, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0) return { torch: { python: py, script, version: r.stdout.trim() }, reason: '' };
  }
  return { torch: null, reason: `no python with torch (tried ${tried.join(', ')}; set F8NET_PYTHON)` };
}

/**
 * PyTorch's intra-op threads: F8NET_TORCH_THREADS, default 1. On the shared 2-core machine, under
 * load, two OpenMP threads made the small-CNN step 5 to 25 times slower than one (barrier spinning
 * against the other processes), while one thread stayed within 40% of its quiet time; set it to
 * the core count on a quiet machine.
 */
export function torchThreads(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.F8NET_TORCH_THREADS;
  if (v === undefined || v === '') return 1;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new F8Error('BAD_INPUT', `F8NET_TORCH_THREADS=${v}: expected a whole number >= 1`);
  return n;
}

export type { TorchNet };

/** The peer the bench rows call (src/bench/types.ts TorchPeer). */
export function torchPeer(t: TorchEnv): TorchPeer {
  return { python: t.python, version: t.version, threads: torchThreads(), train: (net, w) => torchTrainPeer(t, net, w) };
}

/**
 * A running PyTorch training loop for `net`. The check compares the number of conv/linear weights
 * with ours (`ourWeights`: the same architecture, exactly) and needs a finite loss; the PyTorch
 * step cannot be compared value for value because the two frameworks initialise differently.
 */
export async function torchTrainPeer(t: TorchEnv, net: TorchNet, ourWeights: number): Promise<PeerInstance> {
  const args = [t.script, '--model', net.model, '--mode', net.mode, '--channels', `${net.channels}`, '--image', `${net.image}`, '--classes', `${net.classes}`, '--batch', `${net.batch}`];
  if (net.width) args.push('--width', `${net.width}`);
  const threads = torchThreads();
  args.push('--threads', `${threads}`);
  const child: ChildProcessWithoutNullStreams = spawn(t.python, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => void (stderr = (stderr + b.toString()).slice(-2000)));
  // A python that dies (or never starts) must fail this peer, not crash the bench with an
  // unhandled 'error' event (EPIPE on stdin, ENOENT on spawn): the read below reports it.
  child.on('error', (err) => void (stderr += `\n${err.message}`));
  child.stdin.on('error', () => undefined);
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const r = await lines.next();
    if (r.done) throw new F8Error('IO', `torch peer exited: ${stderr.trim().split('\n').pop() ?? 'no output'}`);
    return r.value;
  };
  const ready = JSON.parse(await next()) as { ready: boolean; weights: number; loss: number };
  let lastLoss = ready.loss;
  return {
    what: `PyTorch ${t.version} CPU, ${threads} thread${threads > 1 ? 's' : ''}`,
    async step() {
      child.stdin.write('step\n');
      const l = await next();
      if (!l.startsWith('ok ')) throw new F8Error('IO', `torch peer: ${l}`);
      lastLoss = Number(l.slice(3));
    },
    async verify(): Promise<Check> {
      const lossOk = Number.isFinite(lastLoss);
      return { maxError: Math.abs(ready.weights - ourWeights) + (lossOk ? 0 : Infinity), tolerance: 0, note: 'same conv/linear weight count, finite loss' };
    },
    dispose() {
      child.stdin.end('quit\n');
      setTimeout(() => child.kill(), 5000).unref();
    },
  };
}
