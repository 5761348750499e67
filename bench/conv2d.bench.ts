/**
 * conv2d benchmark: f8net's kernels against tfjs-backend-webgpu on the same GPUDevice.
 *
 *   npx tsx bench/conv2d.bench.ts            (BENCH_TIME=ms per task, BENCH_ITERS=min iterations)
 *
 * Cases: a ResNet-like 3x3 conv (batch 8, 64 -> 64 channels, 32x32, pad 1) and MobileNetV2-like
 * depthwise 3x3 convs (batch 8, 96 channels, 56x56, stride 1 and 2). For each pass (forward,
 * backward w.r.t. input, backward w.r.t. weight) our result is first checked against the CPU
 * reference (src/ops/conv2d.ref.ts) and tfjs's against the same reference, then timed with
 * tinybench; every iteration ends with a full GPU sync. Speedups are tfjs ms / f8net ms, on the
 * median (p50) and on the fastest iteration (min, less disturbed by other load on the machine). tfjs runs in NCHW (our layout) and in
 * NHWC (its native one) where it has the kernel; the speedup is against tfjs's faster layout
 * among those that pass the check (tfjs 4.22's NCHW conv2d forward gives wrong results at 32x32).
 * GFLOP/s counts 2*N*O*OH*OW*(C/groups)*KH*KW per pass for all three passes.
 *
 * Napkin math for lavapipe (2 CPU cores): ~12 G lane-FMA/s measured peak, a storage-buffer
 * load ~5 FMAs (loads run lane by lane); the kernels are load-bound, see wgsl/conv2d.wgsl.
 */
import '../src/node/register.js';
import { Bench } from 'tinybench';
import { Engine } from '../src/runtime/engine.js';
import { Tensor } from '../src/tensor.js';
import { conv2dForward, conv2dBackwardInput, conv2dBackwardWeight, conv2dOutputShape, type Conv2dOptions } from '../src/ops/conv2d.js';
import { refConv2d, refConv2dBackwardInput, refConv2dBackwardWeight } from '../src/ops/conv2d.ref.js';
import { uniform as rand } from './data.js';
import { tfjsOnEngine, tfjsSync } from './tfjs-peer.js';
import { closeCheck, permute4 as permute, NCHW_TO_NHWC, NHWC_TO_NCHW, OIHW_TO_HWIO, HWIO_TO_OIHW } from '../src/bench/check.js';

const e = await Engine.open();
// tfjs on our device (src/bench/tfjs-peer.ts): one adapter and one queue for both libraries.
const tf = await tfjsOnEngine(e);
type TfTensor = ReturnType<typeof tf.tensor>;

/** Whether `got` matches the reference to 1e-4 of its largest magnitude; says so when not. */
function check(what: string, got: ArrayLike<number>, ref: ArrayLike<number>): boolean {
  const c = closeCheck(got, ref, 1e-4);
  if (c.maxError < c.tolerance) return true;
  console.error(`${what}: WRONG RESULT, max error ${((1e-4 * c.maxError) / c.tolerance).toExponential(2)} of the largest |value| against the CPU reference; not timed`);
  return false;
}

// ---- cases -------------------------------------------------------------------------------------
interface Case {
  name: string;
  x: number[];
  w: number[];
  opts: Conv2dOptions;
  depthwise: boolean;
}
const cases: Case[] = [
  { name: 'conv 3x3 64->64 32x32 b8', x: [8, 64, 32, 32], w: [64, 64, 3, 3], opts: { padding: 1 }, depthwise: false },
  { name: 'depthwise 3x3 96 56x56 b8 s1', x: [8, 96, 56, 56], w: [96, 1, 3, 3], opts: { padding: 1, groups: 96 }, depthwise: true },
  { name: 'depthwise 3x3 96 56x56 b8 s2', x: [8, 96, 56, 56], w: [96, 1, 3, 3], opts: { padding: 1, stride: 2, groups: 96 }, depthwise: true },
];

interface Row {
  case: string;
  pass: string;
  impl: string;
  ms: number;
  min: number;
  gflops: number;
}
const rows: Row[] = [];
const TIME = Number(process.env.BENCH_TIME ?? 1500);
const ITERS = Number(process.env.BENCH_ITERS ?? 4);

for (const c of cases) {
  const yShape = conv2dOutputShape(c.x, c.w, c.opts);
  const [N, O, OH, OW] = yShape;
  const [, CG, KH, KW] = c.w;
  const flop = 2 * N * O * OH * OW * CG * KH * KW;
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const xd = rand(size(c.x), 1);
  const wd = rand(size(c.w), 2);
  const gyd = rand(size(yShape), 3);
  const x = Tensor.from(xd, c.x);
  const w = Tensor.from(wd, c.w);
  const gy = Tensor.from(gyd, yShape);
  const s = c.opts.stride ?? 1;
  const pad = c.opts.padding as number;

  // tfjs tensors in both layouts; depthwise filters are [KH, KW, C, 1].
  const wHWIO = permute(wd, c.w, OIHW_TO_HWIO);
  const tfw = c.depthwise ? tf.tensor4d(permute(wd, c.w, [2, 3, 0, 1]), [KH, KW, c.w[0], 1]) : tf.tensor4d(wHWIO, [KH, KW, CG, O]);
  const xNHWC = tf.tensor4d(permute(xd, c.x, NCHW_TO_NHWC), [c.x[0], c.x[2], c.x[3], c.x[1]]);
  const xNCHW = tf.tensor4d(xd, c.x as [number, number, number, number]);
  const gyNHWC = tf.tensor4d(permute(gyd, yShape, NCHW_TO_NHWC), [N, OH, OW, O]);
  const gyNCHW = tf.tensor4d(gyd, yShape as [number, number, number, number]);
  const xNHWCshape = [c.x[0], c.x[2], c.x[3], c.x[1]];

  type Impl = { name: string; run: () => Tensor | TfTensor; toNCHW: (v: Float32Array) => Float32Array };
  const passes: { pass: string; ref: () => Float32Array; impls: Impl[] }[] = [
    {
      pass: 'forward',
      ref: () => refConv2d(xd, c.x, wd, c.w, null, c.opts),
      impls: [
        { name: 'f8net', run: () => conv2dForward(x, w, null, c.opts), toNCHW: (v) => v },
        c.depthwise
          ? { name: 'tfjs NCHW', run: () => tf.depthwiseConv2d(xNCHW, tfw, s, pad, 'NCHW'), toNCHW: (v) => v }
          : { name: 'tfjs NCHW', run: () => tf.conv2d(xNCHW, tfw, s, pad, 'NCHW'), toNCHW: (v) => v },
        c.depthwise
          ? { name: 'tfjs NHWC', run: () => tf.depthwiseConv2d(xNHWC, tfw, s, pad, 'NHWC'), toNCHW: (v) => permute(v, [N, OH, OW, O], NHWC_TO_NCHW) }
          : { name: 'tfjs NHWC', run: () => tf.conv2d(xNHWC, tfw, s, pad, 'NHWC'), toNCHW: (v) => permute(v, [N, OH, OW, O], NHWC_TO_NCHW) },
      ],
    },
    {
      pass: 'backward input',
      ref: () => refConv2dBackwardInput(gyd, wd, c.w, c.x, c.opts),
      impls: [
        { name: 'f8net', run: () => conv2dBackwardInput(gy, w, c.x, c.opts), toNCHW: (v) => v },
        ...(c.depthwise
          ? []
          : [{ name: 'tfjs NCHW', run: () => tf.engine().runKernel('Conv2DBackpropInput', { dy: gyNCHW, filter: tfw }, { inputShape: c.x, strides: s, pad, dataFormat: 'NCHW' } as never) as TfTensor, toNCHW: (v: Float32Array) => v }]),
        {
          name: 'tfjs NHWC',
          run: () =>
            tf.engine().runKernel(c.depthwise ? 'DepthwiseConv2dNativeBackpropInput' : 'Conv2DBackpropInput', { dy: gyNHWC, filter: tfw }, { inputShape: xNHWCshape, strides: s, pad, dilations: 1, dataFormat: 'NHWC' } as never) as TfTensor,
          toNCHW: (v) => permute(v, xNHWCshape, NHWC_TO_NCHW),
        },
      ],
    },
    {
      pass: 'backward weight',
      ref: () => refConv2dBackwardWeight(xd, c.x, gyd, c.w, c.opts),
      impls: [
        { name: 'f8net', run: () => conv2dBackwardWeight(x, gy, c.w, c.opts), toNCHW: (v) => v },
        ...(c.depthwise
          ? []
          : [{ name: 'tfjs NCHW', run: () => tf.engine().runKernel('Conv2DBackpropFilter', { x: xNCHW, dy: gyNCHW }, { strides: s, pad, dataFormat: 'NCHW', filterShape: [KH, KW, CG, O] } as never) as TfTensor, toNCHW: (v: Float32Array) => permute(v, [KH, KW, CG, O], HWIO_TO_OIHW) }]),
        {
          name: 'tfjs NHWC',
          run: () =>
            c.depthwise
              ? (tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x: xNHWC, dy: gyNHWC }, { strides: s, pad, dilations: 1, filterShape: [KH, KW, c.w[0], 1] } as never) as TfTensor)
              : (tf.engine().runKernel('Conv2DBackpropFilter', { x: xNHWC, dy: gyNHWC }, { strides: s, pad, dataFormat: 'NHWC', filterShape: [KH, KW, CG, O] } as never) as TfTensor),
          toNCHW: (v) => (c.depthwise ? permute(v, [KH, KW, c.w[0], 1], [2, 3, 0, 1]) : permute(v, [KH, KW, CG, O], HWIO_TO_OIHW)),
        },
      ],
    },
  ];

  for (const p of passes) {
    const ref = p.ref();
    const bench = new Bench({ name: `${c.name} ${p.pass}`, time: TIME, iterations: ITERS, warmupIterations: 1, warmupTime: 0 });
    for (const impl of p.impls) {
      // Correctness first: the same op, checked against the CPU reference.
      const out = impl.run();
      const got = out instanceof Tensor ? ((await out.read()) as Float32Array) : await (out as TfTensor).data<'float32'>();
      const ok = check(`${c.name} ${p.pass} ${impl.name}`, impl.toNCHW(got as Float32Array), ref);
      if (out instanceof Tensor) out.dispose();
      else tf.dispose(out as TfTensor);
      if (!ok && impl.name === 'f8net') throw new Error(`${c.name} ${p.pass}: f8net's result is wrong`);
      if (!ok) {
        rows.push({ case: c.name, pass: p.pass, impl: impl.name, ms: NaN, min: NaN, gflops: NaN });
        continue;
      }
      bench.add(impl.name, async () => {
        const r = impl.run();
        if (r instanceof Tensor) {
          await e.sync();
          r.dispose();
        } else {
          await tfjsSync(tf, e);
          tf.dispose(r as TfTensor);
        }
      });
    }
    await bench.run();
    for (const t of bench.tasks) {
      const lat = (t.result as unknown as { latency: { p50: number; min: number } }).latency;
      rows.push({ case: c.name, pass: p.pass, impl: t.name, ms: lat.p50, min: lat.min, gflops: flop / lat.p50 / 1e6 });
    }
    const r = rows.filter((x) => x.case === c.name && x.pass === p.pass);
    console.error(`${c.name} ${p.pass}: ${r.map((x) => `${x.impl} ${x.ms.toFixed(1)} ms`).join(', ')}`);
  }
  for (const t of [x, w, gy]) t.dispose();
  tf.dispose([tfw, xNHWC, xNCHW, gyNHWC, gyNCHW]);
}

// ---- table ---------------------------------------------------------------------------------------
const table: Record<string, string | number>[] = [];
for (let i = 0; i < rows.length; ) {
  const group = rows.filter((r) => r.case === rows[i].case && r.pass === rows[i].pass);
  const ours = group.find((r) => r.impl === 'f8net')!;
  const tfs = group.filter((r) => r.impl !== 'f8net');
  const valid = tfs.filter((r) => !Number.isNaN(r.ms));
  const best = valid.reduce((a, b) => (b.ms < a.ms ? b : a));
  const bestMin = Math.min(...valid.map((r) => r.min));
  table.push({
    case: ours.case,
    pass: ours.pass,
    'f8net ms p50/min': `${ours.ms.toFixed(1)} / ${ours.min.toFixed(1)}`,
    'f8net GFLOP/s': +ours.gflops.toFixed(2),
    ...Object.fromEntries(tfs.map((r) => [`${r.impl} ms p50/min`, Number.isNaN(r.ms) ? 'wrong result' : `${r.ms.toFixed(1)} / ${r.min.toFixed(1)}`])),
    'tfjs best GFLOP/s': +best.gflops.toFixed(2),
    'speedup p50': `${(best.ms / ours.ms).toFixed(2)}x`,
    'speedup min': `${(bestMin / ours.min).toFixed(2)}x`,
  });
  i += group.length;
}
console.log(`adapter: ${e.gpu.adapter.info.description || e.gpu.adapter.info.vendor}, subgroups: ${e.gpu.features.has('subgroups')}`);
console.table(table);
await e.close();
process.exit(0);
