/**
 * Training-step time and peak GPU memory of the zoo networks, float and fixed point, and the
 * ResNet-20 float step in tfjs-webgpu on the same GPUDevice. Prints tables; asserts nothing.
 *
 *   npx tsx bench/models.bench.ts     (BENCH_ITERS=timed steps per case, default 3;
 *                                      MBV2_BATCH / MBV2_SIZE: MobileNetV2 batch and image size,
 *                                      default 8 and 224; BENCH_SKIP_TFJS=1 skips the peer)
 *
 * A step is forward + softmax cross-entropy + backward + SGD (momentum 0.9, Nesterov, weight
 * decay 4e-5), synced at the end (no read-back). Inputs are fixed random images, so the data
 * loader is not part of the time.
 *
 * Memory: the pool's bytes in use (src/runtime/pool.ts) at the step's peak, less what was in use
 * before the model was built: parameters, gradients, momentum buffers, F8Net state and every
 * activation kept for the backward pass. The pool's peak is a running maximum, so it is set back
 * to the bytes in use right before the measured step (the first steps have already allocated the
 * momentum buffers). Pool size classes round each buffer up by at most 25%.
 *
 * tfjs peer: the same ResNet-20 (CIFAR form, 1x1 projections) written with tf.conv2d and a
 * batch norm from tf.moments, NHWC, trained with tf.train.momentum (Nesterov) through
 * optimizer.minimize; BN running statistics and weight decay are left out (a few elementwise
 * kernels per layer, which only favours tfjs).
 */
import '../src/node/register.js';
import { Bench } from 'tinybench';
import { register } from 'node:module';
import { Engine } from '../src/runtime/engine.js';
import { Tensor } from '../src/tensor.js';
import { backward } from '../src/autograd/tape.js';
import { floatQuant, fixedQuant } from '../src/nn/qlayers.js';
import type { Module } from '../src/nn/module.js';
import { SGD } from '../src/optim/sgd.js';
import { Rng } from '../src/runtime/rng.js';
import { softmaxCrossEntropy } from '../src/ops/loss.js';
import { buildModel } from '../src/models/index.js';
import { tfjsOnEngine, tfjsSync, type Tf } from './tfjs-peer.js';
import { gaussian as randn } from './data.js';

const ITERS = Number(process.env.BENCH_ITERS ?? 3);
const MBV2_BATCH = Number(process.env.MBV2_BATCH ?? 8);
const MBV2_SIZE = Number(process.env.MBV2_SIZE ?? 224);

const e = await Engine.open();
console.log(`adapter: ${JSON.stringify(e.gpu.describe())}`);


interface Case {
  model: string;
  args: Record<string, unknown>;
  batch: number;
  size: number;
  classes: number;
}

interface Row {
  case: string;
  mode: string;
  'median ms': number;
  'min ms': number;
  'images/s': number;
  'peak MiB': number;
  'persistent MiB': number;
  dispatches: number;
}

const MiB = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
const median = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];

async function runCase(c: Case, fixed: boolean): Promise<Row> {
  const pool = e.pool;
  await e.sync();
  const base = pool.stats().inUseBytes;
  const data = { inChannels: 3, numClasses: c.classes, imageSize: c.size };
  const model: Module = buildModel(c.model, c.args, data, fixed ? fixedQuant() : floatQuant(), new Rng(1));
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 4e-5 });
  const shape = [c.batch, 3, c.size, c.size];
  const x = e.keep(Tensor.from(randn(shape.reduce((a, b) => a * b, 1), 7), shape));
  const y = e.keep(Tensor.from(Int32Array.from({ length: c.batch }, (_, i) => (i * 7) % c.classes), [c.batch], 'i32'));
  let steps = 0;
  const step = async () => {
    steps++;
    e.tidy(() => {
      backward(softmaxCrossEntropy(model.forward(x), y));
      opt.step();
    });
    opt.zeroGrad();
    await e.sync();
  };
  await step(); // pipelines, momentum buffers
  // Peak over the timed steps: reset the running maximum to what is in use now (see the header).
  pool.peakInUseBytes = pool.inUseBytes;
  const d0 = e.dispatchCount;
  const s0 = steps;
  const bench = new Bench({ iterations: ITERS, time: 0, warmupIterations: 0, warmupTime: 0 });
  bench.add('step', step);
  await bench.run();
  const dispatches = Math.round((e.dispatchCount - d0) / (steps - s0));
  const peak = pool.stats().peakInUseBytes - base;
  const persistent = pool.stats().inUseBytes - base;
  const lat = (bench.tasks[0].result as { latency?: { p50: number; min: number } }).latency!;
  model.dispose();
  opt.dispose();
  x.dispose();
  y.dispose();
  pool.trim();
  return {
    case: `${c.model}${c.args.width_mult ? ` x${c.args.width_mult}` : ''} b${c.batch} ${c.size}x${c.size}`,
    mode: fixed ? 'fixed' : 'float',
    'median ms': Math.round(lat.p50),
    'min ms': Math.round(lat.min),
    'images/s': Math.round((c.batch * 1000) / lat.p50),
    'peak MiB': MiB(peak),
    'persistent MiB': MiB(persistent),
    dispatches,
  };
}

// ---- tfjs peer: ResNet-20 float ---------------------------------------------------------------

/**
 * tfjs-core registers the gradients of its ops only through dist/register_all_gradients.js (the
 * tfjs umbrella package bundles it in). That file is ESM with extensionless relative imports,
 * which Node's resolver refuses; a resolve hook limited to tfjs-core's dist/ adds '.js' or
 * '/index.js'. The modules it loads are a second copy of tfjs-core's sources, but the gradient
 * registry and the engine live on tfjs's global namespace, so the gradients land where
 * tfjsOnEngine's copy looks for them.
 */
async function registerTfjsGradients(): Promise<void> {
  const hook = `export async function resolve(spec, ctx, next) {
    if (!ctx.parentURL || !ctx.parentURL.includes('/@tensorflow/tfjs-core/dist/') || !spec.startsWith('.')) return next(spec, ctx);
    for (const s of [spec, spec + '.js', spec + '/index.js']) { try { return await next(s, ctx); } catch {} }
    return next(spec, ctx);
  }`;
  register(`data:text/javascript,${encodeURIComponent(hook)}`);
  await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
}

async function tfjsResNet20(batch: number, size: number, classes: number): Promise<{ median: number; min: number }> {
  const tf: Tf = await tfjsOnEngine(e);
  await registerTfjsGradients();
  let seed = 11;
  const vars: ReturnType<Tf['variable']>[] = [];
  const convW = (k: number, cin: number, cout: number) => {
    const std = Math.sqrt(2 / (cout * k * k));
    const v = tf.variable(tf.tensor4d(randn(k * k * cin * cout, seed++).map((a) => a * std), [k, k, cin, cout]));
    vars.push(v);
    return v;
  };
  const bnParams = (c: number) => {
    const g = tf.variable(tf.ones([c]));
    const b = tf.variable(tf.zeros([c]));
    vars.push(g, b);
    return { g, b };
  };
  type Conv = { w: ReturnType<Tf['variable']>; g: ReturnType<Tf['variable']>; b: ReturnType<Tf['variable']>; stride: number; pad: number };
  const conv = (k: number, cin: number, cout: number, stride: number): Conv => ({ w: convW(k, cin, cout), ...bnParams(cout), stride, pad: (k - 1) / 2 });
  const convBn = (x: ReturnType<Tf['tensor4d']>, c: Conv) => {
    const y = tf.conv2d(x, c.w as never, c.stride, [[0, 0], [c.pad, c.pad], [c.pad, c.pad], [0, 0]]);
    const { mean, variance } = tf.moments(y, [0, 1, 2]);
    return tf.add(tf.mul(tf.div(tf.sub(y, mean), tf.sqrt(tf.add(variance, 1e-5))), c.g), c.b) as ReturnType<Tf['tensor4d']>;
  };
  const stem = conv(3, 3, 16, 1);
  const blocks: { c1: Conv; c2: Conv; ds: Conv | null }[] = [];
  let inp = 16;
  for (const [s, w] of [16, 32, 64].entries()) {
    for (let b = 0; b < 3; b++) {
      const stride = b === 0 && s > 0 ? 2 : 1;
      blocks.push({ c1: conv(3, inp, w, stride), c2: conv(3, w, w, 1), ds: stride !== 1 || inp !== w ? conv(1, inp, w, stride) : null });
      inp = w;
    }
  }
  const fcW = tf.variable(tf.tensor2d(randn(64 * classes, seed++).map((a) => a * 0.1), [64, classes]));
  const fcB = tf.variable(tf.zeros([classes]));
  vars.push(fcW, fcB);
  const xs = tf.tensor4d(randn(batch * size * size * 3, 7), [batch, size, size, 3]);
  const ys = tf.oneHot(tf.tensor1d(Int32Array.from({ length: batch }, (_, i) => (i * 7) % classes), 'int32'), classes);
  const forward = () => {
    let h = tf.relu(convBn(xs, stem)) as ReturnType<Tf['tensor4d']>;
    for (const b of blocks) {
      const body = convBn(tf.relu(convBn(h, b.c1)) as ReturnType<Tf['tensor4d']>, b.c2);
      h = tf.relu(tf.add(body, b.ds ? convBn(h, b.ds) : h)) as ReturnType<Tf['tensor4d']>;
    }
    const pooled = tf.mean(h, [1, 2]) as ReturnType<Tf['tensor2d']>;
    return tf.losses.softmaxCrossEntropy(ys, tf.add(tf.matMul(pooled, fcW), fcB)) as ReturnType<Tf['scalar']>;
  };
  const opt = tf.train.momentum(0.01, 0.9, true);
  const step = async () => {
    tf.tidy(() => {
      opt.minimize(forward, false, vars as never);
    });
    await tfjsSync(tf, e);
  };
  await step();
  await step();
  const ts: number[] = [];
  for (let i = 0; i < ITERS; i++) {
    const t0 = performance.now();
    await step();
    ts.push(performance.now() - t0);
  }
  tf.dispose([xs, ys, ...vars]);
  opt.dispose();
  return { median: median(ts), min: Math.min(...ts) };
}

const cases: Case[] = [
  { model: 'resnet20', args: {}, batch: 128, size: 32, classes: 10 },
  { model: 'mobilenet_v2', args: { width_mult: 1.0 }, batch: MBV2_BATCH, size: MBV2_SIZE, classes: 1000 },
];
const rows: Row[] = [];
for (const c of cases) {
  for (const fixed of [false, true]) {
    const r = await runCase(c, fixed);
    rows.push(r);
    console.log(`${r.case} ${r.mode}: ${r['median ms']} ms/step, peak ${r['peak MiB']} MiB`);
  }
}
console.log(`\nTraining step (forward + loss + backward + SGD, synced), median of ${ITERS}:`);
console.table(rows);

const ratios = cases.map((c) => {
  const [fl, fx] = ['float', 'fixed'].map((m) => rows.find((r) => r.case.startsWith(c.model) && r.mode === m)!);
  return { case: fl.case, 'fixed/float step time': (fx['median ms'] / fl['median ms']).toFixed(2), 'fixed/float peak memory': (fx['peak MiB'] / fl['peak MiB']).toFixed(2) };
});
console.log('\nFixed point vs float:');
console.table(ratios);
if (!process.env.BENCH_SKIP_TFJS) {
  const t = await tfjsResNet20(128, 32, 10);
  const [fl, fx] = ['float', 'fixed'].map((m) => rows.find((r) => r.case.startsWith('resnet20') && r.mode === m)!);
  console.log(`\ntfjs-webgpu ResNet-20 float step (b128, 32x32, same device), median of ${ITERS}: ${t.median.toFixed(0)} ms (min ${t.min.toFixed(0)})`);
  console.table([
    { 'tfjs float / f8net float': (t.median / fl['median ms']).toFixed(2), 'tfjs float / f8net fixed': (t.median / fx['median ms']).toFixed(2) },
  ]);
}
await e.close();
