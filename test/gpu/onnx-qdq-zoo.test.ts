// qdq.onnx (src/export/onnx-qdq.ts) of zoo networks in onnxruntime at every graph optimisation
// level against the integer CPU runner: every value of the graph, bit for bit. The networks are
// recorded as in test/gpu/export.test.ts (a few training-mode passes for statistics and running
// lengths on the engine), then exported; the ONNX side runs on the CPU. At level 'all' every conv
// with 8-bit output must be folded into QLinearConv and every linear into QGemm / QLinearMatMul.
import { it, expect, afterAll } from 'vitest';
import onnxProto from 'onnx-proto';
import { gpuDescribe } from '../helpers.js';
import { Engine } from '../../src/runtime/engine.js';
import { Tensor } from '../../src/tensor.js';
import { noGrad } from '../../src/autograd/tape.js';
import { Rng } from '../../src/runtime/rng.js';
import { buildModel } from '../../src/models/index.js';
import { fixedQuant, type QuantConfig } from '../../src/nn/qlayers.js';
import { exportModel } from '../../src/export/convert.js';
import { quantizeNormalized, runIntCpu } from '../../src/export/run-cpu.js';
import { toQdqOnnx } from '../../src/export/onnx-qdq.js';
import { closeOnnxSessions } from '../../src/export/onnx-run.js';
import { LEVELS, runQdqValues, optimizedOps, lsbDiff } from '../qdq-helpers.js';
import { exactValues } from '../onnx-cases.js';

const { onnx } = onnxProto;
afterAll(() => closeOnnxSessions());

const NETS: { name: string; args: Record<string, number>; C: number; S: number; quant?: Partial<QuantConfig> }[] = [
  { name: 'cnn', args: { width: 8 }, C: 1, S: 14 },
  { name: 'resnet20', args: {}, C: 3, S: 12, quant: { formatType: 'per_channel', inputFormatType: 'per_layer' } },
  { name: 'resnet20', args: {}, C: 3, S: 12 },
  { name: 'mobilenet_v2', args: { width_mult: 0.5 }, C: 3, S: 32 }, // linear bottlenecks: int8 codes that reach -128
];

gpuDescribe('qdq.onnx of the zoo in onnxruntime', () => {
  for (const net of NETS) {
    it(`${net.name}${net.quant ? ' (per-channel weight lengths)' : ''}: every value equals runIntCpu at every level; folded at 'all'`, async () => {
      const e = Engine.get();
      const n = 4;
      const rng = new Rng(7);
      const x = Float32Array.from({ length: n * net.C * net.S * net.S }, () => rng.normal());
      const m = buildModel(net.name, net.args, { inChannels: net.C, numClasses: 10, imageSize: net.S }, fixedQuant(net.quant), new Rng(3));
      m.train();
      for (let i = 0; i < 6; i++) e.tidy(() => noGrad(() => void m.forward(Tensor.from(x, [n, net.C, net.S, net.S]))));
      m.eval();
      const g = await exportModel(m, { name: net.name, args: net.args, dataset: 'random', classes: 10, checkpoint: '-' }, { shape: [net.C, net.S, net.S], mean: [0], std: [1] });
      m.dispose();

      const env = runIntCpu(g, quantizeNormalized(g, x, n), n, true);
      // Every accumulator of these networks stays below 2^24, where the float path is exact.
      expect(exactValues(g, env).size).toBe(g.values.length);
      const bytes = toQdqOnnx(g);
      for (const level of LEVELS) {
        const d = lsbDiff(env, await runQdqValues(bytes, g, x, n, level));
        expect(d.maxLsb, `${level}: ${d.differing} of ${d.total} values differ, the most in ${d.worst}`).toBe(0);
      }
      const values = new Map(g.values.map((v) => [v.name, v]));
      const convs8 = g.nodes.filter((nd) => nd.op === 'conv' && values.get(nd.output)!.dtype !== 'int32').length;
      const ops = await optimizedOps(bytes, 'all');
      const q = (ops.get('QLinearConv') ?? 0) + (ops.get('com.microsoft.QLinearConv') ?? 0);
      expect(q, JSON.stringify([...ops])).toBeGreaterThanOrEqual(convs8);
      expect(convs8).toBeGreaterThan(0);
      const linears = g.nodes.filter((nd) => nd.op === 'linear').length;
      expect((ops.get('com.microsoft.QGemm') ?? 0) + (ops.get('QLinearMatMul') ?? 0), JSON.stringify([...ops])).toBe(linears);
      // The int8 -128 fix-up (DQ -> Clip -> Q after the node) where a linear bottleneck's codes can reach -128.
      if (net.name === 'mobilenet_v2') expect(onnx.ModelProto.decode(bytes).graph!.node!.some((nd) => nd.name!.endsWith('/sat/clip'))).toBe(true);
    }, 600_000);
  }
});

