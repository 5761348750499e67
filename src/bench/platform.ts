/**
 * What the bench harness needs from its platform: the per-adapter tuning cache (a file in the
 * user's cache folder) and the installed versions of the packages it names in its results. Node
 * sets both (src/node/register.ts); a page has neither: it benches the default kernels and says
 * 'browser bundle' for the versions.
 */
import type { Engine } from '../runtime/engine.js';
import type { TuneOptions, TuneReport } from '../runtime/tuner.js';
import type { Tf } from './tfjs-peer.js';
import type { Ort } from './ort-peer.js';
import type { TorchPeer } from './types.js';

export interface BenchPlatform {
  /** Loads the cached tuning of this adapter, or searches and caches it. */
  ensureTuning(e: Engine, opts: TuneOptions & { cacheDir?: string }): Promise<TuneReport>;
  /** The installed version of an npm package. */
  packageVersion(name: string): string;
  /** Node's version (process.version). */
  runtimeVersion: string;
  /** The comparison peers (--compare): tfjs on the engine's device, onnxruntime-node, PyTorch in a python subprocess. */
  peers: {
    tfjs(e: Engine): Promise<Tf>;
    ort(): Promise<Ort>;
    /** A python with torch, or the one-line reason there is none. */
    torch(): { torch: TorchPeer | null; reason: string };
  };
}

let platform: BenchPlatform | null = null;

export function setBenchPlatform(p: BenchPlatform): void {
  platform = p;
}

export function benchPlatform(): BenchPlatform | null {
  return platform;
}
