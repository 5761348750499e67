/**
 * The timing loop of `f8net bench`: tinybench runs the iterations; each iteration records the
 * row's dispatches and waits for the GPU (Engine.sync). Where the adapter has 'timestamp-query'
 * the iteration's sample is the GPU time of its compute passes (Engine.beginGpuTiming /
 * endGpuTiming, handed to tinybench as `overriddenDuration`); elsewhere it is the wall-clock time
 * up to the end of the sync. The wall-clock time is recorded in both cases.
 *
 * @example
 *   const m = await measure(e, () => conv2dForward(x, w, null), { time: 500, iterations: 5, warmup: 1 }, 'timestamp');
 *   m.time.medianMs; m.method; // 'timestamp'
 */
import { Bench } from 'tinybench';
import type { Engine } from '../runtime/engine.js';

export type TimingMethod = 'timestamp' | 'wall';

/** Median, min and max of the timed iterations, in ms. */
export interface Stats {
  medianMs: number;
  minMs: number;
  maxMs: number;
  samples: number;
}

export interface Measurement {
  /** How `time` was taken: GPU timestamps around every compute pass, or wall clock after a full sync. */
  method: TimingMethod;
  time: Stats;
  /** Wall clock of the same iterations (record + submit + wait); equals `time` for 'wall'. */
  wall: Stats;
  /** Why the method differs from the one asked for. */
  note?: string;
}

/** tinybench budget: at least `time` ms and `iterations` timed iterations, after `warmup` untimed ones. */
export interface LoopOptions {
  time: number;
  iterations: number;
  warmup: number;
}

export function statsOf(samples: readonly number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const n = s.length;
  const med = n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  return { medianMs: med, minMs: n ? s[0] : NaN, maxMs: n ? s[n - 1] : NaN, samples: n };
}

/** Whether tinybench is in its timed phase (not warm-up); kept by runLoop for the iteration. */
interface LoopState {
  timed: boolean;
}

/**
 * tinybench with the loop's budget over the async iteration `make` returns (it may return an
 * overridden duration); tinybench's statistics of its samples, undefined when it has none.
 */
async function runLoop(name: string, loop: LoopOptions, make: (state: LoopState) => () => Promise<unknown>): Promise<Stats | undefined> {
  const state: LoopState = { timed: false };
  const bench = new Bench({ time: loop.time, iterations: loop.iterations, warmupIterations: loop.warmup, warmupTime: 0, warmup: loop.warmup > 0, throws: true });
  bench.add(name, make(state), {
    beforeAll(mode) {
      state.timed = mode === 'run';
    },
  });
  await bench.run();
  const res = bench.tasks[0].result as { error?: unknown; latency?: { p50: number; min: number; max: number; samplesCount: number } };
  if (res.error) throw res.error;
  const l = res.latency;
  return l ? { medianMs: l.p50, minMs: l.min, maxMs: l.max, samples: l.samplesCount } : undefined;
}

/**
 * Runs the loop: `step` records work (it may also await, e.g. a model step with read-backs);
 * the loop syncs the engine after it. `method` 'timestamp' needs Engine.canTimeGpu.
 */
export async function measure(e: Engine, step: () => unknown, loop: LoopOptions, method: TimingMethod): Promise<Measurement> {
  const walls: number[] = [];
  const gpus: number[] = [];
  const lat = await runLoop('row', loop, (state) => async () => {
    const t0 = performance.now();
    if (method === 'timestamp') e.beginGpuTiming();
    try {
      await step();
      await e.sync();
    } catch (err) {
      if (method === 'timestamp') await e.endGpuTiming().catch(() => undefined);
      throw err;
    }
    const wall = performance.now() - t0;
    if (state.timed) walls.push(wall);
    if (method !== 'timestamp') return undefined;
    const { ns } = await e.endGpuTiming();
    if (state.timed) gpus.push(ns / 1e6);
    return { overriddenDuration: ns / 1e6, overriddenIterationCost: wall };
  });
  const wall = statsOf(walls);
  // tinybench's statistics of the samples it was given (GPU time or wall clock).
  const time = lat ?? statsOf(method === 'timestamp' ? gpus : walls);
  // Dawn quantises timestamps (tens of microseconds here): a pass shorter than a step can read
  // 0 ns, and such a row is timed by the wall clock instead.
  if (method === 'timestamp' && !(time.minMs > 0)) return { method: 'wall', time: wall, wall, note: 'GPU time below the timestamp resolution' };
  return { method, time, wall };
}

/** The same loop for a peer library that waits for its own work: wall clock only. */
export async function measureWall(step: () => Promise<void>, loop: LoopOptions): Promise<Stats> {
  const walls: number[] = [];
  const lat = await runLoop('peer', loop, (state) => async () => {
    const t0 = performance.now();
    await step();
    if (state.timed) walls.push(performance.now() - t0);
  });
  return lat ?? statsOf(walls);
}
