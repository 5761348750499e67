// Traces of a forward pass (src/nn/trace.ts): a real traced pass and the shape trace see the same
// layers; a forward that computes between layers with a raw op fails the trace and the export
// with a message naming the reader; a ReLU in front of a signed reader becomes a node of the
// integer graph, and that graph still computes the fake-quant logits bit for bit.
import { it, expect } from 'vitest';
import { gpuDescribe } from '../helpers.js';
import { Engine } from '../../src/runtime/engine.js';
import { Tensor } from '../../src/tensor.js';
import { noGrad } from '../../src/autograd/tape.js';
import { Rng } from '../../src/runtime/rng.js';
import { Module } from '../../src/nn/module.js';
import { QConv2d, QLinear, fixedQuant, type QuantConfig } from '../../src/nn/qlayers.js';
import { globalPoolFor } from '../../src/nn/qpool.js';
import { relu } from '../../src/nn/traced.js';
import { traceForward } from '../../src/nn/trace.js';
import { add } from '../../src/ops/elementwise.js';
import { buildModel, describeModel } from '../../src/models/index.js';
import { exportModel } from '../../src/export/convert.js';
import { validateGraph } from '../../src/export/validate.js';
import { quantizeNormalized, runIntCpu } from '../../src/export/run-cpu.js';

/** conv1 (head) -> ReLU -> conv2 (signed input) -> ReLU, global pool -> fc; `rawAdd` adds conv1's output with ops/add. */
class Tiny extends Module {
  readonly conv1: QConv2d;
  readonly conv2: QConv2d;
  readonly fc: QLinear;
  constructor(quant: QuantConfig, private readonly rawAdd = false) {
    super();
    const rng = new Rng(11);
    this.conv1 = this.child('conv1', new QConv2d('conv1', 2, 4, 3, { padding: 1, inputSigned: true, quant, rng, head: true }));
    this.conv2 = this.child('conv2', new QConv2d('conv2', 4, 4, 3, { padding: 1, inputSigned: true, quant, rng }));
    this.fc = this.child('fc', new QLinear('fc', 4, 3, { inputSigned: false, quant, rng }));
    this.conv1.following = this.conv2;
    this.conv2.following = this.fc;
  }
  forward(x: Tensor): Tensor {
    const a = this.conv1.forward(x);
    const y = this.conv2.forward(this.rawAdd ? add(a, a) : relu(a));
    return this.fc.forward(globalPoolFor(relu(y), this.fc));
  }
}

const data = { shape: [2, 6, 6] as [number, number, number], mean: [0, 0], std: [1, 1] };
const info = { name: 'tiny', args: {}, dataset: 'random', classes: 3, checkpoint: '-' };

gpuDescribe('forward traces', () => {
  it('a traced evaluation pass of resnet20 has the layers of its shape trace, in the same order', () => {
    const e = Engine.get();
    const d = { inChannels: 3, numClasses: 10, imageSize: 12 };
    const m = buildModel('resnet20', {}, d, fixedQuant(), new Rng(3));
    m.eval();
    const steps = e.tidy(() => noGrad(() => traceForward(m, Tensor.from(new Float32Array(3 * 144), [1, 3, 12, 12])).trace.steps));
    const traced = steps.flatMap((s) => (s.op === 'layer' ? [s.layer.layerName] : s.op === 'add' ? [s.name] : []));
    const rows = describeModel('resnet20', {}, d).filter((r) => r.kind !== 'avgpool' && r.kind !== 'maxpool').map((r) => r.name);
    expect(traced).toEqual(rows);
    expect(steps[0].op).toBe('input');
    expect(steps.at(-1)!.op).toBe('output');
    m.dispose();
  });

  it('a forward that computes between layers with a raw op fails the trace and the export, naming the reader', async () => {
    const m = new Tiny(fixedQuant({ headForm: 'double_side' }), true);
    m.eval();
    const x = () => Tensor.from(new Float32Array(72), [1, ...data.shape]);
    expect(() => Engine.get().tidy(() => noGrad(() => traceForward(m, x())))).toThrow(/trace: conv2 reads a tensor \[1, 4, 6, 6\] that no traced step made/);
    await expect(exportModel(m, info, data)).rejects.toThrow(/conv2 reads a tensor/);
    m.dispose();
  });

  it('a ReLU in front of a signed layer becomes a relu node; the integer logits equal the fake-quant logits', async () => {
    const e = Engine.get();
    const m = new Tiny(fixedQuant({ headForm: 'double_side' }));
    const rng = new Rng(5);
    const n = 3;
    const x = Float32Array.from({ length: n * 72 }, () => rng.normal());
    m.train();
    for (let i = 0; i < 6; i++) e.tidy(() => noGrad(() => void m.forward(Tensor.from(x, [n, ...data.shape]))));
    m.eval();
    const fake = (await e.tidyAsync(() => noGrad(() => m.forward(Tensor.from(x, [n, ...data.shape]))).read())) as Float32Array;
    const g = await exportModel(m, info, data);
    m.dispose();
    validateGraph(g, 'tiny');
    // conv1 -> relu -> conv2's re-quantisation (signed: no clamp at 0 of its own), then the pool's ReLU.
    const conv2 = g.nodes.find((nd) => nd.name === 'conv2');
    if (conv2?.op !== 'conv') throw new Error('conv2 is not a conv node');
    const q = g.nodes.find((nd) => nd.output === conv2.input);
    if (q?.op !== 'conv' && q?.op !== 'requant') throw new Error(`conv2 reads ${q?.op}`);
    expect(q.epilogue.relu).toBe(true);
    expect(g.values.find((v) => v.name === conv2.input)!.dtype).toBe('int8');
    const cpu = runIntCpu(g, quantizeNormalized(g, x, n), n);
    expect(Array.from(cpu)).toEqual(Array.from(fake, (v) => v * 2 ** g.output.fl));
  });
});
