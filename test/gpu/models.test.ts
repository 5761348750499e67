// The model zoo (models/resnet.ts, mobilenet_v1.ts, mobilenet_v2.ts) on tiny inputs: output
// shapes and parameter counts against the GPU-free summary, a forward + backward pass in float
// and in fixed point (every used parameter gets a finite gradient), the F8Net relations of each
// residual block (shared alphas, private lengths, following layers), and the identity shortcut's
// rescaling: a fixed-point block matches the float block with the same parameters.
import { it, expect } from 'vitest';
import { gpuDescribe, rand } from '../helpers.js';
import { Engine } from '../../src/runtime/engine.js';
import { Tensor } from '../../src/tensor.js';
import { backward, noGrad } from '../../src/autograd/tape.js';
import { Module } from '../../src/nn/module.js';
import { QLayer, floatQuant, fixedQuant, type QuantConfig } from '../../src/nn/qlayers.js';
import { softmaxCrossEntropy } from '../../src/ops/loss.js';
import { SGD } from '../../src/optim/sgd.js';
import { Rng } from '../../src/runtime/rng.js';
import { buildModel, describeModel, type DataShape } from '../../src/models/index.js';
import { ResNet, ResNetBlock, type ResNetSpec } from '../../src/models/resnet.js';
import { MobileNetV2, InvertedResidual } from '../../src/models/mobilenet_v2.js';

interface Net {
  name: string;
  args: Record<string, unknown>;
  data: DataShape;
  batch: number;
}

const data = (imageSize: number, inChannels = 3): DataShape => ({ inChannels, numClasses: 10, imageSize });
const NETS: Net[] = [
  { name: 'resnet18', args: {}, data: data(32), batch: 2 },
  { name: 'resnet20', args: {}, data: data(16), batch: 2 },
  { name: 'mobilenet_v2', args: { width_mult: 0.25 }, data: data(32), batch: 2 },
  { name: 'mobilenet_v1', args: { width_mult: 0.25 }, data: data(32), batch: 2 },
];
/** Bottleneck blocks in the CIFAR layout at a few channels: ResNet-50's block at test size. */
const TINY_BOTTLENECK: ResNetSpec = { form: 'cifar', block: 'bottleneck', depths: [2, 1], widths: [4, 8] };
/** Two basic blocks of 8 channels (identity shortcuts). */
const RESNET_TINY: ResNetSpec = { form: 'cifar', block: 'basic', depths: [2], widths: [8] };

/** Trainable parameters as torchvision counts them (alpha is F8Net's own). */
function countParams(m: Module): number {
  return m
    .namedParameters()
    .filter(([n]) => !n.endsWith('alpha'))
    .reduce((s, [, p]) => s + p.size, 0);
}

function clearGrads(m: Module): void {
  for (const p of m.parameters()) {
    p.grad?.dispose();
    p.grad = null;
  }
}

function qlayers(m: Module): [string, QLayer][] {
  return m.namedModules().filter((e): e is [string, QLayer] => e[1] instanceof QLayer);
}

const input = (n: number, d: DataShape, seed = 1) => rand(n * d.inChannels * d.imageSize * d.imageSize, seed, -1.5, 1.5);
const labels = (n: number) => Int32Array.from({ length: n }, (_, i) => (i * 3) % 10);

/** One training step (forward, loss, backward); returns the loss and the logits' shape. */
async function step(m: Module, n: number, d: DataShape, opt?: SGD): Promise<{ loss: number; shape: number[] }> {
  const e = Engine.get();
  const out = e.tidy(() => {
    const x = Tensor.from(input(n, d), [n, d.inChannels, d.imageSize, d.imageSize]);
    const y = m.forward(x);
    const l = softmaxCrossEntropy(y, Tensor.from(labels(n), [n], 'i32'));
    backward(l);
    opt?.step();
    return { l, shape: [...y.shape] };
  });
  const loss = await out.l.item();
  out.l.dispose();
  return { loss, shape: out.shape };
}

/** Every parameter a mode uses has a finite, not all-zero gradient; unused alphas have none. */
async function checkGrads(m: Module, quant: QuantConfig, what: string): Promise<void> {
  // A weight_only head's alpha is not used (fix scaling 1, src/quant/head-form.ts).
  const owners = new Set(qlayers(m).filter(([, l]) => l.headForm !== 'weight_only').map(([, l]) => l.alphaOwner.alpha));
  let checked = 0;
  for (const [name, p] of m.namedParameters()) {
    const used = !name.endsWith('alpha') || (quant.enabled && owners.has(p));
    if (!used) {
      expect(p.grad, `${what}: ${name} is not used and gets no gradient`).toBeNull();
      continue;
    }
    expect(p.grad, `${what}: ${name} has a gradient`).not.toBeNull();
    const g = (await p.grad!.read()) as Float32Array;
    expect(g.every(Number.isFinite), `${what}: ${name} gradient is finite`).toBe(true);
    // A single bias-free scalar may legitimately be 0 (an alpha whose clip never bites); tensors not.
    if (p.size > 1) expect(g.some((v) => v !== 0), `${what}: ${name} gradient is not all zero`).toBe(true);
    checked++;
  }
  expect(checked).toBeGreaterThan(0);
}

gpuDescribe('model zoo', () => {
  it('every registered network: output [N, classes], parameters equal to the summary (eval, batch 1, tiny inputs)', async () => {
    const e = Engine.get();
    const sizes: Record<string, number> = { resnet18: 32, resnet34: 32, resnet50: 32, resnet20: 16, resnet32: 16, resnet56: 16, mobilenet_v1: 32, mobilenet_v2: 32, cnn: 12 };
    for (const [name, hw] of Object.entries(sizes)) {
      const args = name.startsWith('mobilenet') ? { width_mult: 0.5 } : name === 'cnn' ? { width: 4 } : {};
      const d = { ...data(hw, name === 'cnn' ? 1 : 3), numClasses: 7 };
      const m = buildModel(name, args, d, floatQuant(), new Rng(2));
      const rows = describeModel(name, args, d);
      expect(countParams(m), `${name}: parameters`).toBe(rows.reduce((s, r) => s + r.params, 0));
      const weighted = rows.filter((r) => r.params > 0).map((r) => r.name);
      expect(qlayers(m).map(([p]) => p), `${name}: layer paths`).toEqual(weighted);
      m.eval();
      const shape = e.tidy(() => noGrad(() => [...m.forward(Tensor.from(input(1, d), [1, d.inChannels, hw, hw])).shape]));
      expect(shape, `${name}: output shape`).toEqual([1, 7]);
      m.dispose();
    }
  });

  const modes: [string, QuantConfig, string[]][] = [
    ['float', floatQuant(), []],
    ['fixed', fixedQuant(), []],
    // Per-channel lengths (weights and inputs): per-channel scalings in the identity rescale.
    ['fixed, per channel', fixedQuant({ formatType: 'per_channel' }), ['resnet20', 'mobilenet_v2', 'mobilenet_v1']],
  ];
  for (const [mode, quant, only] of modes) {
    const nets = [...NETS, { name: 'tiny bottleneck ResNet', args: {}, data: data(8), batch: 2 }].filter((n) => !only.length || only.includes(n.name));
    for (const net of nets) {
      it(`${net.name} (${mode}): forward [N, classes], backward gives every used parameter a finite gradient`, async () => {
        const m = net.name.startsWith('tiny') ? new ResNet(TINY_BOTTLENECK, net.data, quant, new Rng(3)) : buildModel(net.name, net.args, net.data, quant, new Rng(3));
        const r = await step(m, net.batch, net.data);
        expect(r.shape).toEqual([net.batch, 10]);
        expect(Number.isFinite(r.loss)).toBe(true);
        await checkGrads(m, quant, `${net.name} ${mode}`);
        clearGrads(m);
        m.dispose();
      });
    }
  }

  it('ResNet relations: readers of a tensor share one alpha, exits divide by the next block\'s entry, identity blocks pass their alpha on', () => {
    for (const [m, last] of [
      [buildModel('resnet18', {}, data(32), fixedQuant(), new Rng(4)) as ResNet, 'fc'],
      [new ResNet(TINY_BOTTLENECK, data(8), fixedQuant(), new Rng(4)), 'fc'],
    ] as const) {
      const blocks = m.blocks;
      expect(m.conv1.readsNetworkInput).toBe(true);
      // The default head form, weight_only, reads pixel / 256: an unsigned input.
      expect(m.conv1.headForm).toBe('weight_only');
      expect(m.conv1.inputSigned).toBe(false);
      expect(m.conv1.following).toBe(blocks[0].convs[0]);
      expect(m.fc.following).toBeNull();
      let chain: QLayer | null = null;
      blocks.forEach((b, i) => {
        const next = blocks[i + 1]?.convs[0] ?? m.fc;
        const [c1] = b.convs;
        const last3 = b.convs[b.convs.length - 1];
        // Body chain.
        for (let k = 0; k + 1 < b.convs.length; k++) expect(b.convs[k].following).toBe(b.convs[k + 1]);
        expect(last3.following, `block ${i}: last conv -> next entry`).toBe(next);
        expect(b.next).toBe(next);
        // Alpha of the block input's readers.
        expect(c1.master, `block ${i}: entry master`).toBe(chain);
        if (b.downsample) {
          expect(b.downsample.following, `block ${i}: projection -> next entry`).toBe(next);
          expect(b.downsample.alphaOwner).toBe(c1.alphaOwner);
          expect(b.downsample.inputFraclen).not.toBe(c1.inputFraclen);
          expect(b.downsample.inputFraclenRun).not.toBe(c1.inputFraclenRun);
        }
        for (const c of b.convs.slice(1)) expect(c.master, `block ${i}: inner convs own their alpha`).toBeNull();
        chain = b.downsample ? null : c1.alphaOwner;
      });
      if (chain) expect(m.fc.alphaOwner).toBe(chain);
      expect(last).toBe('fc');
      m.dispose();
    }
  });

  it('MobileNetV2 relations: signed linear-bottleneck inputs, identity blocks pass their alpha on, last conv -> classifier', () => {
    const m = buildModel('mobilenet_v2', { width_mult: 0.5 }, data(32), fixedQuant(), new Rng(5)) as MobileNetV2;
    expect(m.stem.readsNetworkInput).toBe(true);
    expect(m.stem.following).toBe(m.blocks[0].layers[0]);
    expect(m.blocks[0].layers[0].inputSigned, 'features.1 reads the stem ReLU').toBe(false);
    let chain: QLayer | null = null;
    m.blocks.forEach((b: InvertedResidual, i) => {
      const next = m.blocks[i + 1]?.layers[0] ?? m.last;
      if (i > 0) expect(b.layers[0].inputSigned, `features.${i + 1}: signed input`).toBe(true);
      for (const l of b.layers.slice(1)) expect(l.inputSigned).toBe(false);
      expect(b.layers[b.layers.length - 1].following).toBe(next);
      expect(b.layers[0].master).toBe(chain && chain.inputSigned === b.layers[0].inputSigned ? chain : null);
      chain = b.identity ? b.layers[0].alphaOwner : null;
    });
    expect(m.blocks.filter((b) => b.identity).map((b) => m.blocks.indexOf(b) + 1)).toEqual([3, 5, 6, 8, 9, 10, 12, 13, 15, 16]);
    expect(m.last.inputSigned).toBe(true);
    expect(m.last.following).toBe(m.classifier);
    expect(m.classifier.following).toBeNull();
    m.dispose();
  });

  it('after a fixed-point training step, layers sharing a master use one alpha tensor (it moved) and keep private input lengths', async () => {
    const d = data(16);
    const m = buildModel('resnet20', {}, d, fixedQuant(), new Rng(6)) as ResNet;
    const proj = m.blocks.find((b) => b.downsample)!;
    const [c1, ds] = [proj.convs[0], proj.downsample!];
    const owner = c1.alphaOwner;
    c1.inputFraclenRun.write([3]);
    ds.inputFraclenRun.write([7]);
    ds.alpha.write([11]); // its own alpha is not used
    const opt = new SGD(m.parameters(), { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 4e-5 });
    const a0 = await owner.alpha.item();
    await step(m, 2, d, opt);
    expect(ds.alphaOwner.alpha).toBe(owner.alpha);
    expect(await owner.alpha.item(), 'the shared alpha was trained').not.toBe(a0);
    expect(await ds.alpha.item(), "the projection's own alpha is unused").toBe(11);
    const fl = await c1.inputFraclen.item();
    expect(await ds.inputFraclen.item(), 'both read the same tensor: same batch length').toBe(fl);
    expect(await c1.inputFraclenRun.item()).toBeCloseTo(0.1 * fl + 0.9 * 3, 5);
    expect(await ds.inputFraclenRun.item()).toBeCloseTo(0.1 * fl + 0.9 * 7, 5);
    const sd = await m.stateDict();
    for (const k of ['alpha', 'input_fraclen', 'input_fraclen_run', 'weight_fraclen']) {
      expect(sd.has(`layer2.0.conv1.${k}`)).toBe(true);
      expect(sd.has(`layer2.0.downsample.${k}`)).toBe(true);
    }
    opt.dispose();
    m.dispose();
  });

  // The identity shortcut carries the block input in the units of the block's entry layer; the
  // body's last conv produces the next entry's units. With different lengths for the two
  // (fl 5 and 7: a factor 4 between the units) the fixed-point block (x in entry units in, output
  // times s_next) must still agree with the float block, up to quantisation error.
  async function blockAgreement(
    mk: (q: QuantConfig) => { model: Module; block: ResNetBlock | InvertedResidual; entry: QLayer; next: QLayer },
    xShape: number[],
    signed: boolean,
    quant: QuantConfig,
  ): Promise<number> {
    const e = Engine.get();
    const fx = mk(quant);
    const fl = mk({ ...quant, enabled: false }); // the same state layout (per-channel buffers too)
    const xr = rand(xShape.reduce((a, b) => a * b, 1), 9, signed ? -2 : -0.5, 2);
    // Settle the running statistics in training, then compare in evaluation (same state in both).
    for (let k = 0; k < 3; k++) e.tidy(() => void fx.block.forward(Tensor.from(xr, xShape)));
    fx.entry.inputFraclenRun.write(new Float32Array(fx.entry.inputFraclenRun.size).fill(5));
    fx.next.inputFraclenRun.write(new Float32Array(fx.next.inputFraclenRun.size).fill(7));
    fl.model.loadStateDict(await fx.model.stateDict());
    fx.model.eval();
    fl.model.eval();
    // One scaling per layer, or one per channel (all equal here); the block's channels are kept.
    const [sIn, sNext] = await e.tidyAsync(async () => [(await fx.entry.fixScaling().read()) as Float32Array, (await fx.next.fixScaling().read()) as Float32Array]);
    expect(sIn.length).toBe(sNext.length);
    sIn.forEach((v, i) => expect(v / sNext[i]).toBeCloseTo(1 / 4, 5));
    const C = xShape[1];
    const plane = xShape[2] * xShape[3];
    const ch = (i: number) => (sIn.length === 1 ? 0 : Math.floor(i / plane) % C);
    const yf = (await e.tidyAsync(() => fl.block.forward(Tensor.from(xr, xShape)).read())) as Float32Array;
    const yq = (await e.tidyAsync(() => fx.block.forward(Tensor.from(xr.map((v, i) => v / sIn[ch(i)]), xShape)).read())) as Float32Array;
    let num = 0;
    let den = 0;
    for (let i = 0; i < yf.length; i++) {
      num += (yq[i] * sNext[ch(i)] - yf[i]) ** 2;
      den += yf[i] ** 2;
    }
    fx.model.dispose();
    fl.model.dispose();
    return Math.sqrt(num / den);
  }

  for (const [what, quant] of [['per layer', fixedQuant()], ['per channel', fixedQuant({ formatType: 'per_channel' })]] as const) {
    it(`identity shortcut (ResNet basic block, unsigned, ${what}): fixed block * s_next matches the float block`, async () => {
      const rel = await blockAgreement(
        (q) => {
          const m = new ResNet(RESNET_TINY, data(8), q, new Rng(7));
          const b = m.blocks[0];
          return { model: m, block: b, entry: b.convs[0], next: b.next! };
        },
        [2, 8, 8, 8],
        false,
        quant,
      );
      expect(rel).toBeLessThan(0.08);
    });

    it(`identity shortcut (MobileNetV2 inverted residual, signed, ${what}): fixed block * s_next matches the float block`, async () => {
      const rel = await blockAgreement(
        (q) => {
          const m = buildModel('mobilenet_v2', { width_mult: 0.5 }, data(32), q, new Rng(8)) as MobileNetV2;
          const b = m.blocks[2]; // features.3: 16 -> 16, stride 1
          expect(b.identity).toBe(true);
          return { model: m, block: b, entry: b.layers[0], next: b.next! };
        },
        [2, 16, 8, 8],
        true,
        quant,
      );
      expect(rel).toBeLessThan(0.08);
    });
  }
});
