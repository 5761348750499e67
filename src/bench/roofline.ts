/**
 * The adapter's own roofline, measured on the spot with wgsl/roofline.wgsl: copy bandwidth
 * (GB/s), f32 FMA peak (GFLOP/s) and the integer multiply-add peak of the path the int8 kernels
 * take here (dot4I8Packed or unpacked i32, GOP/s). Each probe is timed like a row (see
 * ./timing.ts) and its best iteration counts: a ceiling is what the adapter can reach.
 *
 * A row's share of the roofline is t_ideal / t, with t_ideal = max(flop / peak, bytes / bandwidth):
 * 1 means the row runs at the ceiling that binds it. Rows whose data fits in the CPU caches of a
 * software adapter can exceed 1 against the copy bandwidth of buffers larger than the caches.
 *
 * @example
 *   const peaks = await measurePeaks(e, { quick: false, method: 'timestamp' });
 *   rooflineShare({ flop: 2e9, bytes: 1e8, peak: 'f32' }, peaks, 25); // 0..1
 */
import type { Engine } from '../runtime/engine.js';
import { Tensor } from '../tensor.js';
import { int8UsesDot4 } from '../ops/int8.js';
import { measure, type TimingMethod, type LoopOptions } from './timing.js';

export interface Peaks {
  /** f32 fused multiply-add peak, GFLOP/s (2 flops per FMA). */
  f32Gflops: number;
  /** Integer multiply-add peak of the int8 path, GOP/s (2 ops per multiply-add). */
  int8Gops: number;
  int8Path: 'dot4I8Packed' | 'unpacked i32';
  /** Copy bandwidth: bytes read + written per second, GB/s. */
  copyGBs: number;
  method: TimingMethod;
  /** What each probe ran: sizes and best times. */
  probes: { name: string; work: number; unit: string; bestMs: number }[];
}

const WG = 256;

/** Measures the three ceilings; quick uses smaller probes. */
export async function measurePeaks(e: Engine, opts: { quick: boolean; method: TimingMethod }): Promise<Peaks> {
  const dot4 = int8UsesDot4(undefined, e);
  const loop: LoopOptions = opts.quick ? { time: 0, iterations: 3, warmup: 1 } : { time: 300, iterations: 7, warmup: 2 };
  const probes: Peaks['probes'] = [];
  // F32 picks the f32 FMA step of the peak kernel, otherwise the int8 path's (DOT4 or not).
  const defines = { WG, DOT4: dot4, F32: true };
  // Copy: buffers larger than the CPU caches of a software adapter (quick: 4 MiB each).
  const n4 = opts.quick ? 1 << 18 : 1 << 21;
  const src = Tensor.from(new Float32Array(4 * n4).fill(1), [4 * n4]);
  const dst = Tensor.empty([4 * n4]);
  const idst = Tensor.empty([4 * n4], 'i32');
  try {
    const params = { n4, iters: 0, m: 0.999, c: 0.001 };
    const kCopy = e.kernel('roofline.wgsl', 'copy', defines);
    const copy = await measure(e, () => e.dispatch(kCopy, { src, dst }, params, e.grid1d(n4, WG)), loop, opts.method);
    const copyBytes = 32 * n4;
    probes.push({ name: 'copy', work: copyBytes, unit: 'bytes', bestMs: copy.time.minMs });
    // Arithmetic: enough threads to fill every core, enough steps to dwarf the launch.
    const threads = opts.quick ? 1 << 14 : 1 << 16;
    const iters = opts.quick ? 64 : 256;
    const ap = { n4: threads, iters, m: 3, c: 0.001 };
    const kFma = e.kernel('roofline.wgsl', 'peak', defines);
    const fma = await measure(e, () => e.dispatch(kFma, { dst }, { ...ap, m: 0.999 }, e.grid1d(threads, WG)), loop, opts.method);
    const flop = 64 * threads * iters;
    probes.push({ name: 'f32 fma', work: flop, unit: 'flop', bestMs: fma.time.minMs });
    const kInt = e.kernel('roofline.wgsl', 'peak', { ...defines, F32: false });
    const int = await measure(e, () => e.dispatch(kInt, { idst }, ap, e.grid1d(threads, WG)), loop, opts.method);
    probes.push({ name: dot4 ? 'dot4I8Packed' : 'i32 multiply-add', work: flop, unit: 'op', bestMs: int.time.minMs });
    return {
      f32Gflops: flop / fma.time.minMs / 1e6,
      int8Gops: flop / int.time.minMs / 1e6,
      int8Path: dot4 ? 'dot4I8Packed' : 'unpacked i32',
      copyGBs: copyBytes / copy.time.minMs / 1e6,
      method: opts.method,
      probes,
    };
  } finally {
    for (const t of [src, dst, idst]) t.dispose();
  }
}

/** Which arithmetic ceiling applies to a row: f32, the int8 path, or none (memory only). */
export type PeakKind = 'f32' | 'int8' | 'none';

/** t_ideal / t for a row doing `flop` operations and moving `bytes` in `ms`. */
export function rooflineShare(w: { flop: number; bytes: number; peak: PeakKind }, p: Peaks, ms: number): number {
  const peak = w.peak === 'f32' ? p.f32Gflops : w.peak === 'int8' ? p.int8Gops : Infinity;
  const tCompute = w.flop > 0 && Number.isFinite(peak) ? w.flop / (peak * 1e6) : 0;
  const tMemory = w.bytes > 0 ? w.bytes / (p.copyGBs * 1e6) : 0;
  return Math.max(tCompute, tMemory) / ms;
}
