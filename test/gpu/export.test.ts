// Integer export of every network of the zoo (F8NET.md §5): the integer model computes exactly
// what the fake-quant model computes in evaluation mode (same logits, bit for bit, since the
// fake-quant layer adds the bias on the accumulator grid and the identity shortcut scales by an
// exact power of two), the GPU runner equals the CPU definition, and the converter refuses what
// has no integer form.
import { it, expect } from 'vitest';
import { gpuDescribe } from '../helpers.js';
import { Engine } from '../../src/runtime/engine.js';
import { Tensor } from '../../src/tensor.js';
import { noGrad } from '../../src/autograd/tape.js';
import { Rng } from '../../src/runtime/rng.js';
import { buildModel } from '../../src/models/index.js';
import { fixedQuant, floatQuant, QLayer, QLinear, type QuantConfig, type HeadForm, type ClassifierForm } from '../../src/nn/qlayers.js';
import { roundHalfEven } from '../../src/quant/fixed-format.js';
import { imageFeed } from '../../src/quant/head-form.js';
import { refNormalizeImages } from '../../src/ops/image.ref.js';
import type { Module } from '../../src/nn/module.js';
import { exportModel } from '../../src/export/convert.js';
import { validateGraph } from '../../src/export/validate.js';
import { quantizeImages, quantizeNormalized, runIntCpu } from '../../src/export/run-cpu.js';
import { runIntGpu } from '../../src/export/run-gpu.js';
import { poolFold } from '../../src/nn/qpool.js';

/** The paper's forms of QuantConfig (with the ResNets' model argument alpha_sharing: paper). */
const PAPER: Partial<QuantConfig> = { classifierForm: 'paper', foldOrder: 'paper', identityAdd: 'paper' };

const NETS: { name: string; args: Record<string, number | string>; C: number; S: number; quant?: Partial<QuantConfig>; forms?: HeadForm[] }[] = [
  { name: 'cnn', args: { width: 8 }, C: 1, S: 14 }, // 14 -> 7 -> 3: pool over 9 (s = 3, c = 8/9)
  // Per-output-channel weight lengths: per-channel shifts, int32 outputs aligned by left shifts.
  { name: 'cnn', args: { width: 8 }, C: 1, S: 14, quant: { formatType: 'per_channel', inputFormatType: 'per_layer' } },
  { name: 'resnet20', args: {}, C: 3, S: 12, quant: { formatType: 'per_channel', inputFormatType: 'per_layer' } },
  { name: 'resnet20', args: {}, C: 3, S: 12 }, // pool over 9, identity and projection shortcuts
  { name: 'resnet18', args: {}, C: 3, S: 32 }, // stem max pool on int32 (two readers)
  { name: 'resnet50', args: {}, C: 3, S: 32, forms: ['weight_only'] }, // bottlenecks (its head is resnet18's stem)
  { name: 'mobilenet_v1', args: { width_mult: 0.25 }, C: 3, S: 32 }, // depthwise
  { name: 'mobilenet_v2', args: { width_mult: 0.5 }, C: 3, S: 32 }, // linear bottlenecks, signed identities
  // The paper's forms (src/quant/classifier-form.ts 'paper': logits / s_in; ResNet alpha_sharing
  // own), one head form each: every family, per-layer and per-channel weights, a pool over 9 (c = 8/9).
  { name: 'cnn', args: { width: 8 }, C: 1, S: 14, quant: { ...PAPER }, forms: ['weight_only'] },
  { name: 'resnet20', args: { alpha_sharing: 'paper' }, C: 3, S: 12, quant: { ...PAPER, formatType: 'per_channel', inputFormatType: 'per_layer' }, forms: ['weight_only'] },
  { name: 'resnet18', args: { alpha_sharing: 'paper' }, C: 3, S: 32, quant: { ...PAPER }, forms: ['double_side'] },
  { name: 'resnet50', args: { alpha_sharing: 'paper' }, C: 3, S: 32, quant: { ...PAPER }, forms: ['weight_only'] }, // the first downsample owns its alpha
  { name: 'mobilenet_v1', args: { width_mult: 0.25 }, C: 3, S: 32, quant: { ...PAPER }, forms: ['weight_only'] },
  { name: 'mobilenet_v2', args: { width_mult: 0.5 }, C: 3, S: 32, quant: { ...PAPER }, forms: ['weight_only'] },
  // The paper's pool form (src/quant/pool-form.ts): the mean of 3 x 3 positions, divided in the sum pool.
  { name: 'cnn', args: { width: 8 }, C: 1, S: 14, quant: { ...PAPER, poolForm: 'paper' }, forms: ['weight_only'] },
  { name: 'resnet20', args: { alpha_sharing: 'paper' }, C: 3, S: 12, quant: { ...PAPER, poolForm: 'paper' }, forms: ['double_side'] },
];

/** A fixed-point model with batch statistics and running lengths from a few training-mode passes. */
function warmModel(net: (typeof NETS)[number], quant: QuantConfig, x: Float32Array, n: number, init?: (m: Module) => void): Module {
  const e = Engine.get();
  const m = buildModel(net.name, net.args, { inChannels: net.C, numClasses: 10, imageSize: net.S }, quant, new Rng(3));
  init?.(m);
  m.train();
  for (let i = 0; i < 6; i++) e.tidy(() => noGrad(() => void m.forward(Tensor.from(x, [n, net.C, net.S, net.S]))));
  m.eval();
  return m;
}

/** Every head form (src/quant/head-form.ts) with the images it reads: pixels / 256, or normalised ones. */
const FORMS: HeadForm[] = ['weight_only', 'double_side', 'f8net_scaled'];

gpuDescribe('integer export of the zoo', () => {
  for (const net of NETS) for (const form of net.forms ?? FORMS) {
    const what = [net.quant?.formatType === 'per_channel' && 'per-channel weight lengths', net.quant?.classifierForm && `classifier ${net.quant.classifierForm}, fold ${net.quant.foldOrder}, identity ${net.quant.identityAdd ?? 'aligned'}`, net.args.alpha_sharing && `alpha_sharing ${net.args.alpha_sharing}`, net.quant?.poolForm && `pool ${net.quant.poolForm}`].filter(Boolean).join(', ');
    it(`${net.name}${what ? ` (${what})` : ''}, head ${form}: integer logits equal the fake-quant logits; GPU equals CPU`, async () => {
      const e = Engine.get();
      let downsampleAlpha: number | null = null;
      const n = 3;
      const rng = new Rng(5);
      const size = n * net.C * net.S * net.S;
      // weight_only reads images as the loaders feed them (pixel / 256); the others a normalised image.
      const pixels = Uint8Array.from({ length: size }, () => Math.floor(rng.nextFloat() * 256));
      const feed = imageFeed(form, new Array(net.C).fill(form === 'weight_only' ? 0.4 : 0), new Array(net.C).fill(1));
      const x = form === 'weight_only' ? refNormalizeImages(pixels, [n, net.C, net.S, net.S], feed.mean, feed.std) : Float32Array.from({ length: size }, () => rng.normal());
      const m = warmModel(net, fixedQuant({ ...net.quant, headForm: form }), x, n, (mm) => {
        // A downsample alpha apart from its conv1's: used only where the shortcut owns its alpha.
        const ds = mm.namedModules().find(([p]) => p === 'layer1.0.downsample')?.[1] as QLayer | undefined;
        ds?.alpha.write([6]);
        downsampleAlpha = ds ? 6 : null;
      });
      const L = [...m.namedModules()].map(([, q]) => q).filter((q): q is QLinear => q instanceof QLinear).at(-1)!;
      const fc = { w: Float32Array.from(await L.weight.read()), c: 1 };
      const fake = (await e.tidyAsync(() => noGrad(() => m.forward(Tensor.from(x, [n, net.C, net.S, net.S]))).read())) as Float32Array;
      fc.c = L.poolFactor;
      const g = await exportModel(m, { name: net.name, args: net.args, dataset: 'random', classes: 10, checkpoint: '-' }, { shape: [net.C, net.S, net.S], ...feed });
      m.dispose();
      validateGraph(g, net.name);
      expect(g.input.headForm).toBe(form);
      const cform: ClassifierForm = net.quant?.classifierForm ?? 'folded';
      expect(g.output.classifierForm).toBe(cform);
      if (cform === 'paper') {
        // The paper's classifier: its int8 weights are Q(c w) of the weight alone (c: the pool factor), not of s_in c w.
        const fcName = g.nodes.filter((nd) => nd.op === 'linear').at(-1)!.name;
        const flW = g.layers.find((l) => l.name === fcName)!.weightFl;
        const rows = g.tensors[`${fcName}.weight`].shape[0];
        const inner = fc.w.length / rows;
        const want = Array.from(fc.w, (v, i) => Math.max(-127, Math.min(127, roundHalfEven(Math.fround(Math.fround(v * fc.c) * 2 ** flW[flW.length === 1 ? 0 : Math.floor(i / inner)])))) + 0); // + 0: no -0
        expect(Array.from(g.tensors[`${fcName}.weight`].data), `${fcName}: int8 weights`).toEqual(want);
      }
      // The global pool over k^2 positions: folded sums and shifts by 2^s (c = 2^s / k^2 in the
      // classifier), paper divides by k^2 where it is no power of two (c = 1).
      const pool = g.nodes.find((nd) => nd.op === 'sumpool');
      if (pool?.op === 'sumpool') {
        const k2 = g.values.find((v) => v.name === pool.input)!.shape.slice(1).reduce((a, b) => a * b, 1);
        const paperPool = net.quant?.poolForm === 'paper' && poolFold(k2).c !== 1;
        expect(pool.divisor ?? 1).toBe(paperPool ? k2 : 1);
        expect(fc.c).toBe(net.quant?.poolForm === 'paper' ? 1 : poolFold(k2).c);
      }
      if (net.args.alpha_sharing === 'paper' && downsampleAlpha !== null) {
        // The first projection shortcut keeps its own alpha (6, conv1's is 8).
        expect(g.layers.find((l) => l.name === 'layer1.0.downsample')!.alpha).toBe(6);
      }
      if (form === 'weight_only') {
        // The image enters at fl 8 unsigned and its codes are the pixel bytes themselves.
        expect([g.input.dtype, g.input.fl, g.input.scale]).toEqual(['uint8', 8, [256]]);
        expect(Array.from(quantizeImages(g, pixels, n))).toEqual(Array.from(pixels));
      }
      // Every multiplication is int8 x int8: conv/linear weights are int8 tensors, inputs 8-bit codes.
      const values = new Map(g.values.map((v) => [v.name, v]));
      for (const node of g.nodes) if (node.op === 'conv' || node.op === 'linear') expect(values.get(node.input)!.dtype).not.toBe('int32');
      const codes = quantizeNormalized(g, x, n);
      const cpu = runIntCpu(g, codes, n);
      const scaled = Array.from(fake, (v) => v * 2 ** g.output.fl);
      expect(Array.from(cpu)).toEqual(scaled);
      const gpu = await runIntGpu(g, codes, n);
      expect(Array.from(gpu)).toEqual(Array.from(cpu));
    }, 600_000); // ResNet-50 on a shared lavapipe takes minutes
  }

  it('the pool fold: s = round(log2(k^2)), c = 2^s / k^2', () => {
    expect(poolFold(49)).toEqual({ s: 6, c: 64 / 49 });
    expect(poolFold(64)).toEqual({ s: 6, c: 1 });
    expect(poolFold(9)).toEqual({ s: 3, c: 8 / 9 });
    expect(poolFold(1)).toEqual({ s: 0, c: 1 });
  });

  it('refuses a float-stage model, per-channel input lengths, and an identity across clipping levels', async () => {
    const rng = new Rng(1);
    const tiny = { name: 'cnn', args: { width: 4 }, C: 1, S: 8 };
    const x = Float32Array.from({ length: 2 * 64 }, () => rng.normal());
    const info = { name: 'cnn', args: {}, dataset: 'random', classes: 10, checkpoint: 'ck.safetensors' };
    const data = { shape: [1, 8, 8] as [number, number, number], mean: [0], std: [1] };
    const fl = warmModel(tiny, floatQuant(), x, 2);
    await expect(exportModel(fl, info, data)).rejects.toThrow(/ck.safetensors holds a float-stage model/);
    fl.dispose();
    const pc = warmModel(tiny, fixedQuant({ inputFormatType: 'per_channel' }), x, 2);
    await expect(exportModel(pc, info, data)).rejects.toThrow(/per-channel input lengths/);
    pc.dispose();
    // MobileNetV2 at width 0.25: features.1 adds its unsigned input to a signed projection.
    const mb = { name: 'mobilenet_v2', args: { width_mult: 0.25 }, C: 3, S: 32 };
    const xm = Float32Array.from({ length: 2 * 3 * 32 * 32 }, () => rng.normal());
    const m2 = warmModel(mb, fixedQuant(), xm, 2);
    await expect(exportModel(m2, { ...info, name: 'mobilenet_v2' }, { ...data, shape: [3, 32, 32] })).rejects.toThrow(/joins two clipping levels/);
    m2.dispose();
  });
});
