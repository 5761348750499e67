/**
 * int8 inference conv (src/ops/int8.ts, wgsl/int8_conv.wgsl) against our f32 conv2d forward
 * (src/ops/conv2d.ts conv2dForward) on the same layer and adapter.
 *
 *   npx tsx bench/int8.bench.ts        (BENCH_TIME=ms per task, BENCH_ITERS=min iterations,
 *                                      BENCH_TILES=32x4,16x8 to sweep the int8 conv tile OCBxPW)
 *
 * Cases: a ResNet-18-like 3x3 conv (batch 8, 64 -> 64, 32x32, pad 1), a ResNet-20 layer (batch 8,
 * 16 -> 16, 32x32, pad 1) and a MobileNet-like depthwise 3x3 (batch 8, 96, 56x56). The int8 layer
 * is the exported one: unsigned codes in, bias, ReLU, shift, packed unsigned codes out; timed
 * through dot4I8Packed (where the adapter has it) and through the unpacked fallback. Every
 * result is first checked (int8 bit-exact against src/ops/int8.ref.ts; f32 against the same
 * integer accumulators, exact in f32 below 2^24), then timed with tinybench, each iteration
 * ending in a full GPU sync. GOPS counts 2 * N * O * OH * OW * (C/groups) * KH * KW; speedup is
 * f32 ms / int8 ms on the median (p50) and on the fastest iteration (min), and on the CPU time
 * of the driver's worker threads (lavapipe runs the kernels there; every thread but the main
 * one, read from /proc/self/task/*\/schedstat, Linux only): on a shared 2-core machine the wall
 * clock also counts other processes and the main thread's polling in queue.onSubmittedWorkDone.
 *
 * Napkin math for lavapipe (2 CPU cores, 8-lane subgroups): the f32 kernel is load-bound (a
 * storage load is lane by lane, ~5 FMAs); a packed word carries 4 channels, so the int8 kernel
 * does 4x the multiply-adds per x load and per shuffled weight, and dot4I8Packed costs about one
 * f32 FMA's time: the ceiling is ~4x, the shuffles and the dot's unpacking take part of it.
 */
import '../src/node/register.js';
import { readdirSync, readFileSync } from 'node:fs';
import { Bench } from 'tinybench';
import { Engine } from '../src/runtime/engine.js';
import { Tensor } from '../src/tensor.js';
import { conv2dForward, conv2dOutputShape } from '../src/ops/conv2d.js';
import { int8Activation, int8Weights, int8Conv2d, readInt8, int8Tuning, type Int8Act } from '../src/ops/int8.js';
import { refInt8Conv2d } from '../src/ops/int8.ref.js';
import { integers as ints } from './data.js';
import type { ConvCase } from '../src/bench/check.js';

const e = await Engine.open();
const TIME = Number(process.env.BENCH_TIME ?? 1500);
const ITERS = Number(process.env.BENCH_ITERS ?? 5);
const TILES = (process.env.BENCH_TILES ?? '').split(',').filter(Boolean).map((s) => s.split('x').map(Number) as [number, number]);

const prod = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** CPU ns of every thread but the main one (NaN where /proc is missing). */
function workerNs(): number {
  try {
    let t = 0;
    for (const tid of readdirSync('/proc/self/task')) {
      if (Number(tid) === process.pid) continue;
      try {
        t += Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // the thread exited
      }
    }
    return t;
  } catch {
    return NaN;
  }
}

const cases: ConvCase[] = [
  { name: 'conv 3x3 64->64 32x32 b8', x: [8, 64, 32, 32], w: [64, 64, 3, 3], opts: { padding: 1 } },
  { name: 'ResNet-20 3x3 16->16 32x32 b8', x: [8, 16, 32, 32], w: [16, 16, 3, 3], opts: { padding: 1 } },
  { name: 'depthwise 3x3 96 56x56 b8', x: [8, 96, 56, 56], w: [96, 1, 3, 3], opts: { padding: 1, groups: 96 } },
];

interface Row {
  case: string;
  impl: string;
  ms: number;
  min: number;
  /** least worker-thread CPU ms of an iteration */
  cpu: number;
  gops: number;
}
const rows: Row[] = [];
const SHIFT = 10;

for (const c of cases) {
  const [N, O, OH, OW] = conv2dOutputShape(c.x, c.w, c.opts);
  const [, CG, KH, KW] = c.w;
  const ops = 2 * N * O * OH * OW * CG * KH * KW;
  const xs = ints(prod(c.x), 1, 0, 255);
  const ws = ints(prod(c.w), 2, -127, 127);
  const bs = ints(O, 3, -20000, 20000);
  const acc = refInt8Conv2d(xs, c.x, ws, c.w, bs, c.opts);
  const ref = refInt8Conv2d(xs, c.x, ws, c.w, bs, { ...c.opts, relu: true, requant: { shift: SHIFT, signed: false } });

  const xf = Tensor.from(Float32Array.from(xs), c.x);
  const wf = Tensor.from(Float32Array.from(ws), c.w);
  const bf = Tensor.from(Float32Array.from(bs), [O]);
  const x8 = int8Activation(xs, c.x, false);
  const w8 = int8Weights(ws, c.w, c.opts.groups ?? 1);
  const b8 = Tensor.from(bs, [O], 'i32');
  const requant = { shift: SHIFT, signed: false };

  type Impl = { name: string; run: () => Tensor | Int8Act; setup?: () => void };
  const impls: Impl[] = [{ name: 'f32 conv2dForward', run: () => conv2dForward(xf, wf, bf, c.opts) }];
  const depthwise = w8.depthwise;
  const tiles: ([number, number] | null)[] = depthwise || !TILES.length ? [null] : TILES;
  const base = { OCB: int8Tuning().OCB, PW: int8Tuning().PW };
  for (const dot4 of e.gpu.hasDot4I8 && !depthwise ? [true, false] : [false]) {
    for (const t of tiles) {
      const tag = t ? ` ${t[0]}x${t[1]}` : '';
      const name = depthwise ? 'int8 depthwise (vec4)' : `int8 ${dot4 ? 'dot4I8Packed' : 'fallback'}${tag}`;
      const setup = () => Object.assign(int8Tuning(), t ? { OCB: t[0], PW: t[1] } : base);
      impls.push({ name, setup, run: () => int8Conv2d(x8, w8, b8, { ...c.opts, relu: true, requant, dot4 }) });
    }
  }

  const bench = new Bench({ name: c.name, time: TIME, iterations: ITERS, warmupIterations: 1, warmupTime: 0 });
  const cpu = new Map<string, number>();
  for (const impl of impls) {
    impl.setup?.();
    const out = impl.run();
    let ok: boolean;
    if (out instanceof Tensor) {
      const got = (await out.read()) as Float32Array;
      let scale = 1;
      let err = 0;
      for (let i = 0; i < acc.length; i++) {
        scale = Math.max(scale, Math.abs(acc[i]));
        err = Math.max(err, Math.abs(got[i] - acc[i]));
      }
      ok = err <= 1e-6 * scale;
      out.dispose();
    } else {
      const got = await readInt8(out);
      ok = got.length === ref.length && got.every((v, i) => v === ref[i]);
      out.data.dispose();
    }
    if (!ok) {
      console.error(`${c.name} ${impl.name}: WRONG RESULT against the CPU reference; not timed`);
      rows.push({ case: c.name, impl: impl.name, ms: NaN, min: NaN, cpu: NaN, gops: NaN });
      continue;
    }
    bench.add(impl.name, async () => {
      const c0 = workerNs();
      const r = impl.run();
      await e.sync();
      cpu.set(impl.name, Math.min(cpu.get(impl.name) ?? Infinity, (workerNs() - c0) / 1e6));
      if (r instanceof Tensor) r.dispose();
      else r.data.dispose();
    }, { beforeAll: impl.setup });
  }
  await bench.run();
  for (const t of bench.tasks) {
    const lat = (t.result as unknown as { latency: { p50: number; min: number } }).latency;
    rows.push({ case: c.name, impl: t.name, ms: lat.p50, min: lat.min, cpu: cpu.get(t.name) ?? NaN, gops: ops / lat.p50 / 1e6 });
  }
  Object.assign(int8Tuning(), base);
  for (const t of [xf, wf, bf, x8.data, w8.data, w8.sums, b8]) t.dispose();
  const r = rows.filter((x) => x.case === c.name);
  console.error(`${c.name}: ${r.map((x) => `${x.impl} ${x.ms.toFixed(1)} ms`).join(', ')}`);
}

const table = rows.map((r) => {
  const f32 = rows.find((x) => x.case === r.case && x.impl.startsWith('f32'))!;
  return {
    case: r.case,
    impl: r.impl,
    'ms p50 / min': Number.isNaN(r.ms) ? 'wrong result' : `${r.ms.toFixed(1)} / ${r.min.toFixed(1)}`,
    GOPS: +r.gops.toFixed(2),
    'vs f32 p50': `${(f32.ms / r.ms).toFixed(2)}x`,
    'vs f32 min': `${(f32.min / r.min).toFixed(2)}x`,
    'worker CPU ms': +r.cpu.toFixed(1),
    'vs f32 CPU': `${(f32.cpu / r.cpu).toFixed(2)}x`,
  };
});
console.log(`adapter: ${e.gpu.adapter.info.description || e.gpu.adapter.info.vendor}, dot4I8Packed: ${e.gpu.hasDot4I8}, subgroups: ${e.gpu.features.has('subgroups')}`);
console.table(table);
await e.close();
process.exit(0);
