/**
 * Where the fixed-point training step's time goes, before and after the fused conv-BN backward
 * (src/ops/qconv.ts), for the small CNN (w16, b64, 28x28), ResNet-20 (b32, 32x32) and, with
 * BENCH_NETS=mobilenet_v2, MobileNetV2 (b8, 224x224), the nets of
 * `f8net bench`'s model.train rows. Prints tables; asserts nothing.
 *
 *   nice -n 5 npx tsx bench/fixed-step.bench.ts     (BENCH_ROUNDS paired rounds, BENCH_REPS steps each)
 *
 * 1. Wall time per step (forward + softmax cross-entropy + backward + SGD, one full sync per
 *    step) of float, fixed op by op (qconv knob fused: false) and fixed fused, in paired rounds
 *    that rotate which variant runs first; min and median of ms/step and of the per-round
 *    fixed/float ratios (the machine is shared: ratios within a round move much less than times).
 * 2. A per-dispatch GPU profile of one step of each variant, interleaved over BENCH_PROFILE_REPS
 *    steps in rotating order (timestamp queries, one compute pass
 *    per dispatch: Engine.beginGpuTiming({ perDispatch: true })): each kernel's GPU time, forward
 *    or under the tape node whose backward it serves, and its share of the step's GPU time.
 */
import '../src/node/register.js';
import { Engine } from '../src/runtime/engine.js';
import { Tensor } from '../src/tensor.js';
import { backward } from '../src/autograd/tape.js';
import { softmaxCrossEntropy } from '../src/ops/loss.js';
import { SGD } from '../src/optim/sgd.js';
import { floatQuant, fixedQuant } from '../src/nn/qlayers.js';
import { Rng } from '../src/runtime/rng.js';
import { buildModel, defaultDataShape } from '../src/models/index.js';
import { qconvTuning } from '../src/ops/qconv.js';
import { uniform } from '../src/bench/check.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const NETS = (process.env.BENCH_NETS ?? 'cnn,resnet20').split(',');
/** Profiled steps per variant; each kernel's figure is its least over them (load only adds time). */
const PROFILE_REPS = Number(process.env.BENCH_PROFILE_REPS ?? 3);
/** Kernels under this share of the step are summed into one line (BENCH_SHARE_MIN=0 lists all). */
const SHARE_MIN = Number(process.env.BENCH_SHARE_MIN ?? 0.01);

const e = await Engine.open();
console.log(`adapter: ${JSON.stringify(e.gpu.describe())}`);

const nets = {
  cnn: { model: 'cnn', args: { width: 16 }, data: defaultDataShape('cnn'), batch: 64 },
  resnet20: { model: 'resnet20', args: {}, data: defaultDataShape('resnet20'), batch: 32 },
  mobilenet_v2: { model: 'mobilenet_v2', args: {}, data: defaultDataShape('mobilenet_v2'), batch: 8 },
} as const;

type Variant = 'float' | 'fixed (op by op)' | 'fixed (fused)';
const VARIANTS: Variant[] = ['float', 'fixed (op by op)', 'fixed (fused)'];

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const f = (v: number, d = 1) => v.toFixed(d);

for (const name of NETS) {
  const n = nets[name as keyof typeof nets];
  const shape = [n.batch, n.data.inChannels, n.data.imageSize, n.data.imageSize];
  const x = e.keep(Tensor.from(uniform(shape.reduce((a, b) => a * b, 1), 21, -2, 2), shape));
  const y = e.keep(Tensor.from(Int32Array.from({ length: n.batch }, (_, i) => (i * 7) % n.data.numClasses), [n.batch], 'i32'));
  const steps = new Map<Variant, () => void>();
  for (const v of VARIANTS) {
    const m = buildModel(n.model, n.args, n.data, v === 'float' ? floatQuant() : fixedQuant(), new Rng(1));
    const opt = new SGD(m.parameters(), { lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 4e-5 });
    steps.set(v, () => {
      qconvTuning(e).fused = v === 'fixed (fused)';
      e.tidy(() => {
        backward(softmaxCrossEntropy(m.forward(x), y));
        opt.step();
      });
      opt.zeroGrad();
    });
  }
  for (const v of VARIANTS) for (let i = 0; i < 2; i++) steps.get(v)!();
  await e.sync();

  // 1. wall time, paired rounds
  const ms = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (let j = 0; j < VARIANTS.length; j++) {
      const v = VARIANTS[(r + j) % VARIANTS.length];
      const t0 = performance.now();
      for (let i = 0; i < REPS; i++) {
        steps.get(v)!();
        await e.sync();
      }
      ms.get(v)!.push((performance.now() - t0) / REPS);
    }
  }
  console.log(`\n## ${name} (${shape.join('x')}): wall ms/step over ${ROUNDS} rounds of ${REPS} steps`);
  console.log('| variant | min | median | fixed/float min | fixed/float median |');
  console.log('|---|---:|---:|---:|---:|');
  const fl = ms.get('float')!;
  for (const v of VARIANTS) {
    const t = ms.get(v)!;
    const ratio = t.map((x, i) => x / fl[i]);
    console.log(`| ${v} | ${f(Math.min(...t))} | ${f(median(t))} | ${v === 'float' ? '' : f(Math.min(...ratio), 2) + 'x'} | ${v === 'float' ? '' : f(median(ratio), 2) + 'x'} |`);
  }

  // 2. per-dispatch GPU profile
  if (!e.canTimeGpu) {
    console.log('(no timestamp-query on this adapter: no GPU profile)');
    continue;
  }
  // Profiled steps interleave the variants, rotating which goes first: a variant profiled after
  // the others ran measured up to 2x slower on lavapipe than the same variant profiled first
  // (the same kernels on the same shapes), so a fixed order biases the comparison.
  const bestOf = new Map<Variant, Map<string, { ns: number; count: number }>>(VARIANTS.map((v) => [v, new Map()]));
  const passesOf = new Map<Variant, number>();
  for (let rep = 0; rep < PROFILE_REPS; rep++) {
    for (let j = 0; j < VARIANTS.length; j++) {
      const v = VARIANTS[(rep + j) % VARIANTS.length];
      const best = bestOf.get(v)!;
      e.beginGpuTiming({ perDispatch: true });
      steps.get(v)!();
      const r = await e.endGpuTiming();
      passesOf.set(v, r.passes);
      for (const [label, t] of r.byLabel) if (!best.has(label) || t.ns < best.get(label)!.ns) best.set(label, t);
    }
  }
  for (const v of VARIANTS) {
    const best = bestOf.get(v)!;
    const passes = passesOf.get(v)!;
    const byLabel = best;
    const ns = [...best.values()].reduce((a, t) => a + t.ns, 0);
    console.log(`\n### ${name}, ${v}: GPU ${f(ns / 1e6)} ms in ${passes} dispatches (each kernel's least of ${PROFILE_REPS} steps)`);
    console.log('| kernel [tape node it serves] | dispatches | GPU ms | share |');
    console.log('|---|---:|---:|---:|');
    const rows = [...byLabel.entries()].sort((a, b) => b[1].ns - a[1].ns);
    let rest = 0;
    let restN = 0;
    for (const [label, r] of rows) {
      if (r.ns / ns < SHARE_MIN) {
        rest += r.ns;
        restN += r.count;
        continue;
      }
      console.log(`| ${label} | ${r.count} | ${f(r.ns / 1e6)} | ${f((100 * r.ns) / ns)}% |`);
    }
    console.log(`| (each under 1%) | ${restN} | ${f(rest / 1e6)} | ${f((100 * rest) / ns)}% |`);
    if (v === 'fixed (fused)') fusionCandidates(byLabel, ns);
  }
}

/**
 * The memory-bound fusions of issue 16 point 1 that are not built, each with the kernels of the
 * fused step it would remove (matched by label) and their GPU time: the most that fusion can save.
 * An upper bound: the fraclen statistics also serve activations, and a fusion adds work to the
 * kernel it goes into (on lavapipe, re-quantising x on every load of a conv).
 */
function fusionCandidates(byLabel: Map<string, { ns: number; count: number }>, ns: number): void {
  const groups: [string, (label: string) => boolean][] = [
    ['input fake-quant into the convs\' loads', (l) => l === 'fake_quant.fq_fwd_bits'],
    ['fold + weight quantisation + statistics in one kernel', (l) => /^(fold\.fold_bn|reduce\.bcast_mul|fraclen\.stat_\w+|fake_quant\.fq_fwd|qconv\.scale_stats|batchnorm\.running_update)$/.test(l)],
    ['BN statistics of u in the forward conv\'s epilogue', (l) => /^batchnorm\.stats_(partial|finalize)$/.test(l)],
    ['STE masks in the backward kernels', (l) => /^(fake_quant\.fq_bwd_bits|elementwise\.clamp_bwd) \[/.test(l)],
    ['the tape\'s gradient sums into the kernels that produce them', (l) => l.startsWith('elementwise.axpby')],
  ];
  console.log('\n#### fusions not built: what each could save at most (kernels it removes, this profile)');
  console.log('| fusion | dispatches | GPU ms | share of the fused step |');
  console.log('|---|---:|---:|---:|');
  for (const [what, match] of groups) {
    let t = 0;
    let n = 0;
    for (const [label, r] of byLabel) if (match(label)) (t += r.ns), (n += r.count);
    console.log(`| ${what} | ${n} | ${f(t / 1e6, 2)} | ${f((100 * t) / ns)}% |`);
  }
}
await e.close();
