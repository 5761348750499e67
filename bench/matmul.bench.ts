/**
 * f8net matmul against tfjs-backend-webgpu's on the same GPUDevice (one process, one adapter).
 *
 *   npx tsx bench/matmul.bench.ts [rounds=2] [timeMs=1500]
 *
 * Every shape is first checked against the float64 CPU reference (ours and tfjs's), then timed
 * with tinybench; each iteration runs one product and waits until the queue is idle
 * (f8net: engine.sync(); tfjs: tfjsSync, i.e. submit + onSubmittedWorkDone; no read-back on
 * either side). Shapes cover square sizes and the products of an MLP layer's training step
 * (forward x w^T, weight gradient g^T x). On a shared machine the timings are noisy: the bench
 * runs `rounds` rounds and keeps each task's best median.
 *
 * Napkin math: a product does 2*M*N*K flops; GFLOP/s = 2*M*N*K / median time. Lavapipe on two
 * cores peaks near 2 cores x 16 fp32 FMA lanes x 2 x ~3 GHz ~= 190 GFLOP/s; the kernel is
 * bound by the gathers of B (one per TM=16 FMAs) and the uniform loads of A.
 */
import '../src/node/register.js';
import { Bench } from 'tinybench';
import { Engine } from '../src/runtime/engine.js';
import { Tensor } from '../src/tensor.js';
import { matmul, matmulTiles } from '../src/ops/matmul.js';
import { refMatmul } from '../src/ops/matmul.ref.js';
import { tfjsOnEngine, tfjsSync } from './tfjs-peer.js';
import { uniform as rnd, maxAbsDiff as maxErr } from './data.js';

const rounds = Number(process.argv[2] ?? 2);
const time = Number(process.argv[3] ?? 1500);

const e = await Engine.open();
const tf = await tfjsOnEngine(e);
const info = e.gpu.adapter.info;
console.log(`adapter: ${info.description || info.device || info.vendor} (${e.gpu.backend}); tiles ${JSON.stringify(matmulTiles())}`);



interface Shape {
  name: string;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
}

const shapes: Shape[] = [
  { name: '128^3', M: 128, N: 128, K: 128 },
  { name: '256^3', M: 256, N: 256, K: 256 },
  { name: '512^3', M: 512, N: 512, K: 512 },
  { name: 'fc fwd x w^T', M: 128, N: 256, K: 784, transB: true },
  { name: 'fc dW g^T x', M: 256, N: 784, K: 128, transA: true },
];

const rows: { shape: string; ours: number; tfjs: number; flops: number; errOurs: number; errTfjs: number }[] = [];
for (const s of shapes) {
  const { M, N, K } = s;
  const transA = !!s.transA;
  const transB = !!s.transB;
  const A = rnd(M * K, M + K);
  const B = rnd(K * N, N + 2 * K);
  const aShape = transA ? [K, M] : [M, K];
  const bShape = transB ? [N, K] : [K, N];
  const a = Tensor.from(A, aShape);
  const b = Tensor.from(B, bShape);
  const ta = tf.tensor2d(A, aShape as [number, number]);
  const tb = tf.tensor2d(B, bShape as [number, number]);

  // Check both against the reference before timing.
  const ref = refMatmul(A, B, M, N, K, transA, transB);
  const c = matmul(a, b, { transA, transB });
  const errOurs = maxErr(await c.read(), ref);
  c.dispose();
  const tc = tf.matMul(ta, tb, transA, transB);
  const errTfjs = maxErr(await tc.data(), ref);
  tc.dispose();
  if (!(errOurs < 1e-5 * K + 1e-5)) throw new Error(`${s.name}: f8net differs from the reference by ${errOurs}`);

  let ours = Infinity;
  let tfjs = Infinity;
  for (let r = 0; r < rounds; r++) {
    const bench = new Bench({ time, warmupTime: 200, iterations: 5 });
    bench.add('f8net', async () => {
      const out = matmul(a, b, { transA, transB });
      await e.sync();
      out.dispose();
    });
    bench.add('tfjs', async () => {
      const out = tf.matMul(ta, tb, transA, transB);
      await tfjsSync(tf, e);
      out.dispose();
    });
    await bench.run();
    for (const t of bench.tasks) {
      const res = t.result as { latency?: { p50: number } };
      const p50 = res.latency?.p50 ?? Infinity;
      if (t.name === 'f8net') ours = Math.min(ours, p50);
      else tfjs = Math.min(tfjs, p50);
    }
  }
  a.dispose();
  b.dispose();
  ta.dispose();
  tb.dispose();
  rows.push({ shape: `${s.name} (${M}x${N}x${K}${transA ? ' tA' : ''}${transB ? ' tB' : ''})`, ours, tfjs, flops: 2 * M * N * K, errOurs, errTfjs });
}

const gf = (flops: number, ms: number) => (flops / ms / 1e6).toFixed(2);
console.table(
  rows.map((r) => ({
    shape: r.shape,
    'f8net ms': r.ours.toFixed(2),
    'f8net GFLOP/s': gf(r.flops, r.ours),
    'tfjs ms': r.tfjs.toFixed(2),
    'tfjs GFLOP/s': gf(r.flops, r.tfjs),
    'speed-up': (r.tfjs / r.ours).toFixed(2),
    'max err (f8net / tfjs)': `${r.errOurs.toExponential(1)} / ${r.errTfjs.toExponential(1)}`,
  })),
);
await e.close();
