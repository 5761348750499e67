/**
 * Whole-model rows: training steps (forward + softmax cross-entropy + backward + SGD) of the
 * small CNN and ResNet-20 in float and in fixed point, float inference of ResNet-20, and integer
 * inference of the exported CNN and ResNet-20 (src/export: exportModel -> IntGraph, run by
 * IntGpuRunner; the onnxruntime peer runs the int_op_only ONNX of the same graph).
 *
 * Inference rows time what a user waits for: upload the batch, run it, read the logits back
 * (float: normalised images in; integer: 8-bit codes in). Figures are images/s; FLOP are the
 * model's multiply-adds (models/index.ts describeModel) x 2 x batch for inference and x 3 more
 * for a training step (forward, input and weight gradients) — the float model's arithmetic, also
 * for fixed point, whose step does more (two convolutions per layer, the quantisers).
 *
 * Checks: a training step's loss against the CPU cross-entropy of the step's own logits, and
 * every parameter's update against the CPU SGD (src/optim/sgd.ref.ts) from the step's own
 * gradients; float inference against a CPU forward of ResNet-20 composed of the op references
 * (evaluation mode: conv, BN with the running statistics, ReLU, residual add, global average
 * pool, linear) on the first image; integer inference bit-exact against runIntCpu (the CPU
 * definition of the integer model) on the whole batch.
 */
import { Engine } from '../runtime/engine.js';
import { Tensor } from '../tensor.js';
import { backward, noGrad } from '../autograd/tape.js';
import { softmaxCrossEntropy } from '../ops/loss.js';
import { refSoftmaxCrossEntropy } from '../ops/loss.ref.js';
import { refConv2d } from '../ops/conv2d.ref.js';
import { conv2dOutputShape } from '../ops/conv2d.js';
import { refGlobalAvgPool } from '../ops/pool.ref.js';
import { refLinear } from '../ops/matmul.ref.js';
import { SGD } from '../optim/sgd.js';
import { RefSGD } from '../optim/sgd.ref.js';
import { floatQuant, fixedQuant, type QConv2d } from '../nn/qlayers.js';
import type { Module } from '../nn/module.js';
import { Rng } from '../runtime/rng.js';
import { buildModel, describeModel, defaultDataShape, type DataShape } from '../models/index.js';
import { ResNet } from '../models/resnet.js';
import { exportModel } from '../export/convert.js';
import { IntGpuRunner } from '../export/run-gpu.js';
import { runIntCpu, quantizeImages } from '../export/run-cpu.js';
import { toIntOnlyOnnx } from '../export/onnx-export.js';
import { runOnnx } from '../export/onnx-run.js';
import type { RowSpec, Check, PeerInstance } from './types.js';
import type { PeakKind } from './roofline.js';
import { closeCheck, exactCheck, worst, prod, uniform } from './check.js';

const SGD_OPTS = { lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 4e-5 };

interface Net {
  model: string;
  args: Record<string, unknown>;
  data: DataShape;
  batch: number;
  label: string;
}

function nets(quick: boolean): { cnn: Net; resnet20: Net; mobilenet: Net } {
  const cnnData = defaultDataShape('cnn');
  const rData = defaultDataShape('resnet20');
  const mData = defaultDataShape('mobilenet_v2');
  return quick
    ? {
        cnn: { model: 'cnn', args: { width: 8 }, data: { ...cnnData, imageSize: 12 }, batch: 4, label: 'cnn w8 12x12 b4' },
        resnet20: { model: 'resnet20', args: {}, data: { ...rData, imageSize: 8 }, batch: 2, label: 'resnet20 8x8 b2' },
        mobilenet: { model: 'mobilenet_v2', args: { width_mult: 0.25 }, data: { ...mData, imageSize: 32, numClasses: 10 }, batch: 2, label: 'mobilenet_v2 x0.25 32x32 b2' },
      }
    : {
        cnn: { model: 'cnn', args: { width: 16 }, data: cnnData, batch: 64, label: 'cnn w16 28x28 b64' },
        resnet20: { model: 'resnet20', args: {}, data: rData, batch: 32, label: 'resnet20 32x32 b32' },
        mobilenet: { model: 'mobilenet_v2', args: {}, data: mData, batch: 8, label: 'mobilenet_v2 224x224 b8' },
      };
}

const macs = (n: Net): number => describeModel(n.model, n.args, n.data).reduce((s, l) => s + l.macs, 0);
const imageShape = (n: Net): number[] => [n.batch, n.data.inChannels, n.data.imageSize, n.data.imageSize];
const labelsOf = (n: Net): Int32Array => Int32Array.from({ length: n.batch }, (_, i) => (i * 7) % n.data.numClasses);

/** A whole-model row: `flop` per step of n.batch images, figures in images/s. */
function modelRow(n: Net, id: string, family: string, shape: string, flop: number, peak: PeakKind, setup: RowSpec['setup']): RowSpec {
  return { id, family, shape, flop, bytes: 0, peak, unit: 'images/s', images: n.batch, setup };
}

function build(n: Net, fixed: boolean): Module {
  return buildModel(n.model, n.args, n.data, fixed ? fixedQuant() : floatQuant(), new Rng(1));
}

function trainRow(n: Net, fixed: boolean): RowSpec {
  const mode = fixed ? 'fixed' : 'float';
  return modelRow(n, `model.train.${mode}/${n.model}`, `training step (${mode})`, n.label, 6 * macs(n) * n.batch, 'f32', async () => {
    const e = Engine.get();
    const m = build(n, fixed);
    const opt = new SGD(m.parameters(), SGD_OPTS);
    const x = e.keep(Tensor.from(uniform(prod(imageShape(n)), 21, -2, 2), imageShape(n)));
    const labels = labelsOf(n);
    const y = e.keep(Tensor.from(labels, [n.batch], 'i32'));
    const step = () => {
      e.tidy(() => {
        backward(softmaxCrossEntropy(m.forward(x), y));
        opt.step();
      });
      opt.zeroGrad();
    };
    return {
      step,
      async peakBytes() {
        // Parameters, optimizer state and inputs are in use already; the step's own tensors come on top.
        await e.sync();
        e.pool.peakInUseBytes = e.pool.inUseBytes;
        step();
        await e.sync();
        return e.pool.peakInUseBytes;
      },
      async verify(): Promise<Check> {
        // One step split into its parts: loss and gradients, then the optimizer.
        const ps = m.parameters();
        const before: Float32Array[] = [];
        for (const p of ps) before.push((await p.read()) as Float32Array);
        const { logits, loss } = e.tidy(() => {
          const lg = m.forward(x);
          const l = softmaxCrossEntropy(lg, y);
          backward(l);
          return { logits: lg, loss: l };
        });
        const lv = (await logits.read()) as Float32Array;
        const lossGpu = await loss.item();
        logits.dispose();
        loss.dispose();
        const grads: (Float32Array | null)[] = [];
        for (const p of ps) grads.push(p.grad ? ((await p.grad.read()) as Float32Array) : null);
        e.tidy(() => opt.step());
        opt.zeroGrad();
        const ref = new RefSGD(SGD_OPTS);
        const expect = before.map((b) => b.slice());
        ref.step(expect, grads, SGD_OPTS.lr);
        const checks: Check[] = [closeCheck([lossGpu], [refSoftmaxCrossEntropy(lv, labels, n.batch, n.data.numClasses)], 1e-5)];
        for (let i = 0; i < ps.length; i++) if (grads[i]) checks.push(closeCheck((await ps[i].read()) as Float32Array, expect[i], 1e-6));
        return { ...worst(...checks), note: 'loss and SGD update' };
      },
      torch: !(n.model === 'cnn' || n.model === 'resnet20') ? undefined : (t) =>
        t.train(
          { model: n.model as 'cnn' | 'resnet20', mode, width: n.args.width as number | undefined, channels: n.data.inChannels, image: n.data.imageSize, classes: n.data.numClasses, batch: n.batch },
          m.parameters().filter((p) => p.shape.length >= 2).reduce((s, p) => s + p.size, 0),
        ),
      dispose() {
        m.dispose();
        opt.dispose();
        x.dispose();
        y.dispose();
      },
    };
  });
}

/** CPU forward of a float ResNet in evaluation mode from the op references (see the header). */
async function refResNetFloat(m: ResNet, x: Float32Array, shape: number[]): Promise<Float64Array> {
  const read = async (t: Tensor | null) => (t ? ((await t.read()) as Float32Array) : null);
  const relu = (v: Float32Array) => v.map((a) => (a > 0 ? a : 0));
  const convBn = async (L: QConv2d, v: Float32Array, s: number[]): Promise<{ y: Float32Array; s: number[] }> => {
    const w = (await read(L.weight))!;
    const y = refConv2d(L.inputSigned ? v : relu(v), s, w, L.weight.shape, null, L.conv);
    const [g, b, rm, rv] = await Promise.all([L.gamma, L.beta, L.runningMean, L.runningVar].map(read));
    const O = L.outChannels;
    const inner = y.length / (s[0] * O);
    const eps = L.opts.bnEps ?? 1e-5;
    for (let i = 0; i < y.length; i++) {
      const c = Math.floor(i / inner) % O;
      y[i] = ((y[i] - rm![c]) / Math.sqrt(rv![c] + eps)) * g![c] + b![c];
    }
    return { y, s: conv2dOutputShape(s, L.weight.shape, L.conv) };
  };
  let cur = await convBn(m.conv1, x, shape);
  for (const b of m.blocks) {
    let h = cur;
    for (const c of b.convs) h = await convBn(c, h.y, h.s);
    const sc = b.downsample ? (await convBn(b.downsample, cur.y, cur.s)).y : b.convs[0].inputSigned ? cur.y : relu(cur.y);
    cur = { y: h.y.map((v, i) => v + sc[i]), s: h.s };
  }
  const pooled = Float32Array.from(refGlobalAvgPool(relu(cur.y), cur.s));
  const fw = (await read(m.fc.weight))!;
  const fb = (await read(m.fc.bias))!;
  return refLinear(relu(pooled), fw, fb, shape[0], m.fc.weight.shape[0], m.fc.weight.shape[1]);
}

function floatInferRow(n: Net): RowSpec {
  return modelRow(n, `model.infer.float/${n.model}`, 'inference (float)', `${n.label}, upload + forward + read-back`, 2 * macs(n) * n.batch, 'f32', async () => {
    const e = Engine.get();
    const m = build(n, false) as ResNet;
    // Running statistics away from the initial 0 / 1, so the check sees BN do something.
    e.tidy(() => void m.forward(Tensor.from(uniform(prod(imageShape(n)), 22, -2, 2), imageShape(n))));
    m.eval();
    const xd = uniform(prod(imageShape(n)), 23, -2, 2);
    const forward = async (): Promise<Float32Array> =>
      e.tidyAsync(async () => (await noGrad(() => m.forward(Tensor.from(xd, imageShape(n)))).read()) as Float32Array);
    return {
      step: forward,
      async verify() {
        const got = await forward();
        const one = [1, ...imageShape(n).slice(1)];
        const ref = await refResNetFloat(m, xd.subarray(0, prod(one)), one);
        return closeCheck(got.subarray(0, ref.length), ref, 1e-4, `image 1 of ${n.batch}`);
      },
      dispose: () => m.dispose(),
    };
  });
}

/** Integer inference; `fuse` false times the runner without its residual fusions (row id suffix .unfused), for the A/B beside it. */
function intInferRow(n: Net, fuse = true): RowSpec {
  const id = `model.infer.int/${n.model}${fuse ? '' : '.unfused'}`;
  return modelRow(n, id, 'inference (integer)', `${n.label}, codes upload + IntGpuRunner${fuse ? '' : ' without fusions'} + read-back`, 2 * macs(n) * n.batch, 'int8', async () => {
    const e = Engine.get();
    const m = build(n, true);
    // Two training steps set batch statistics and fractional lengths; then the export.
    const x = Tensor.from(uniform(prod(imageShape(n)), 24, -2, 2), imageShape(n));
    const y = Tensor.from(labelsOf(n), [n.batch], 'i32');
    for (let i = 0; i < 2; i++) e.tidy(() => backward(softmaxCrossEntropy(m.forward(x), y)));
    for (const p of m.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
    x.dispose();
    y.dispose();
    const [C, S] = [n.data.inChannels, n.data.imageSize];
    const g = await exportModel(
      m,
      { name: n.model, args: n.args, dataset: 'synthetic', classes: n.data.numClasses, checkpoint: '(bench)' },
      { shape: [C, S, S], mean: Array(C).fill(0.5), std: Array(C).fill(0.25) },
    );
    m.dispose();
    const pixels = Uint8Array.from(uniform(n.batch * C * S * S, 25, 0, 256), (v) => Math.floor(v));
    const codes = quantizeImages(g, pixels, n.batch);
    const runner = new IntGpuRunner(g, { batch: n.batch, fuse });
    const ref = runIntCpu(g, codes, n.batch);
    return {
      step: () => runner.run(codes, n.batch),
      async verify() {
        return exactCheck(await runner.run(codes, n.batch), ref);
      },
      ort: !fuse ? undefined : async (): Promise<PeerInstance> => {
        const onnx = toIntOnlyOnnx(g);
        const shape = imageShape(n);
        return {
          what: 'int_op_only ONNX',
          async step() {
            await runOnnx(onnx, codes, shape);
          },
          async verify() {
            return exactCheck((await runOnnx(onnx, codes, shape)).logits, ref);
          },
          dispose() {},
        };
      },
      dispose: () => runner.dispose(),
    };
  });
}

export function modelRows(quick: boolean): RowSpec[] {
  const { cnn, resnet20, mobilenet } = nets(quick);
  return [
    trainRow(cnn, false),
    trainRow(cnn, true),
    trainRow(resnet20, false),
    trainRow(resnet20, true),
    trainRow(mobilenet, false),
    trainRow(mobilenet, true),
    floatInferRow(resnet20),
    intInferRow(cnn),
    intInferRow(resnet20),
    intInferRow(resnet20, false),
  ];
}
