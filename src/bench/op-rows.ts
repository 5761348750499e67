/**
 * The other kernel rows: matmul (the zoo's classifier layers, forward and weight gradient),
 * int8 linear, batch-norm statistics, fake-quant, fractional length, re-quantisation, pools
 * (f32 and int8) and the SGD step, on shapes of the zoo (./shapes.ts).
 *
 * Napkin math: matmul 2 * M * N * K FLOP, bytes = A + B + C; the elementwise and reduction rows
 * are memory-bound and count bytes only: every input element read once and every output element
 * written once (f32 and i32 4 bytes, int8 codes 1 byte); SGD with momentum reads w, g and the
 * momentum buffer and writes w and the buffer (20 bytes per parameter).
 */
import { Engine } from '../runtime/engine.js';
import { Tensor } from '../tensor.js';
import { matmul } from '../ops/matmul.js';
import { refMatmul } from '../ops/matmul.ref.js';
import { batchStats } from '../ops/batchnorm.js';
import { refBatchStats } from '../ops/batchnorm.ref.js';
import { fakeQuant } from '../ops/fakequant.js';
import { fraclenFromMetric } from '../ops/fraclen.js';
import { requantize } from '../ops/requant.js';
import { maxPool2d, globalAvgPool, poolOutputShape } from '../ops/pool.js';
import { refMaxPool2d, refGlobalAvgPool } from '../ops/pool.ref.js';
import { int8Activation, int8Linear, int8MaxPool2d, int8SumPool, type Int8Act } from '../ops/int8.js';
import { refInt8Linear, refInt8MaxPool2d, refInt8SumPool } from '../ops/int8.ref.js';
import { quantize, fraclenFromTensor, requantize as refRequantize } from '../quant/fixed.js';
import { SGD } from '../optim/sgd.js';
import { RefSGD } from '../optim/sgd.ref.js';
import { floatQuant } from '../nn/qlayers.js';
import { Rng } from '../runtime/rng.js';
import { buildModel, describeModel, defaultDataShape } from '../models/index.js';
import { zooPicks, zooLayer } from './shapes.js';
import type { RowSpec, RowInstance, Check } from './types.js';
import { closeCheck, exactCheck, worst, prod, uniform, integers, permute4, NCHW_TO_NHWC, NHWC_TO_NCHW } from './check.js';
import { onnxModel, ortPeer, ortFeed, ortOneOp, ortScalar } from './ort-peer.js';
import { ortQLinearConv } from './conv-rows.js';
import { tensorRow, int8Row, int8Operands, tfjsPeer } from './instances.js';

/** A memory-bound row: no arithmetic counted, `bytes` against the copy bandwidth, in GB/s. */
function memoryRow(id: string, family: string, shape: string, bytes: number, setup: () => Promise<RowInstance>): RowSpec {
  return { id, family, shape, flop: 0, bytes, peak: 'none', unit: 'GB/s', setup };
}

const fmt = (s: readonly number[]) => `[${s.join(',')}]`;

// ---- matmul and int8 linear ------------------------------------------------------------------

interface Fc {
  id: string;
  N: number;
  K: number;
  O: number;
}

/** The classifiers of the picked models at batch 64 (quick: ResNet-20's at batch 8). */
function fcs(quick: boolean): Fc[] {
  const out: Fc[] = [];
  const models = quick ? ['resnet20'] : ['resnet18', 'mobilenet_v2'];
  for (const m of models) {
    const p = zooPicks(quick).find((q) => q.model === m)!;
    const rows = describeModel(m, p.args, { ...defaultDataShape(m), imageSize: p.imageSize });
    const i = rows.findIndex((l) => l.kind === 'linear');
    out.push({ id: `${m}.${rows[i].name}`, N: quick ? 8 : 64, K: rows[i - 1].outShape[0], O: rows[i].outShape[0] });
  }
  return out;
}

export function matmulRows(quick: boolean): RowSpec[] {
  const rows: RowSpec[] = [];
  for (const f of fcs(quick)) {
    for (const pass of ['fwd', 'dw'] as const) {
      // fwd: y[N,O] = x[N,K] w[O,K]^T; dw: gw[O,K] = g[N,O]^T x[N,K].
      const [M, Nn, K, tA, tB] = pass === 'fwd' ? [f.N, f.O, f.K, false, true] : [f.O, f.K, f.N, true, false];
      const aShape = tA ? [K, M] : [M, K];
      const bShape = tB ? [Nn, K] : [K, Nn];
      rows.push({
        id: `matmul.${pass}/${f.id}`,
        family: 'matmul',
        shape: `${f.id} ${pass === 'fwd' ? 'x w^T' : 'g^T x'} ${M}x${Nn}x${K}`,
        flop: 2 * M * Nn * K,
        bytes: 4 * (M * K + K * Nn + M * Nn),
        peak: 'f32',
        unit: 'GFLOP/s',
        setup: async () => {
          const e = Engine.get();
          const A = uniform(M * K, 1);
          const B = uniform(K * Nn, 2);
          const a = e.keep(Tensor.from(A, aShape));
          const b = e.keep(Tensor.from(B, bShape));
          const compare = (got: ArrayLike<number>) => closeCheck(got, refMatmul(A, B, M, Nn, K, tA, tB));
          return tensorRow(() => [matmul(a, b, { transA: tA, transB: tB })], ([y]) => compare(y), {
            tfjs: async (tf) => {
              const ta = tf.tensor2d(A, aShape as [number, number]);
              const tb = tf.tensor2d(B, bShape as [number, number]);
              return tfjsPeer(tf, 'tf.matMul', [ta, tb], () => tf.matMul(ta, tb, tA, tB), ([y]) => compare(y));
            },
            ort: async (ort) =>
              ortOneOp(ort, { op: 'Gemm', inputs: ['x', 'b'], attrs: { transA: tA ? 1 : 0, transB: tB ? 1 : 0 } }, ortFeed('float32', A, aShape), [M, Nn], 'Gemm', compare, [
                { name: 'b', dtype: 'float32', dims: bShape, data: B },
              ]),
            dispose: () => {
              a.dispose();
              b.dispose();
            },
          });
        },
      });
    }
  }
  return rows;
}

export function int8LinearRows(quick: boolean): RowSpec[] {
  return fcs(quick).map((f) => ({
    id: `int8.linear/${f.id}`,
    family: 'int8 linear',
    shape: `${f.id} [${f.N},${f.K}] x [${f.O},${f.K}]^T u8 -> u8 (bias, ReLU, >>10)`,
    flop: 2 * f.N * f.O * f.K,
    bytes: f.N * f.K + f.O * f.K + f.N * f.O + 4 * f.O,
    peak: 'int8',
    unit: 'GOP/s',
    setup: async () => {
      const ops = int8Operands([f.N, f.K], [f.O, f.K]);
      const requant = { shift: 10, signed: false };
      const run = () => int8Linear(ops.x, ops.w, ops.b, { relu: true, requant });
      const compare = (got: ArrayLike<number>) => exactCheck(got, refInt8Linear(ops.xs, [f.N, f.K], ops.ws, [f.O, f.K], ops.bs, { relu: true, requant }));
      return int8Row(run, compare, {
        ort: async (ort) => ortQLinearConv(ort, [f.N, f.K, 1, 1], [f.O, f.K, 1, 1], [f.N, f.O, 1, 1], {}, ops, compare),
        dispose: () => ops.dispose(),
      });
    },
  }));
}

// ---- activations: statistics, fake-quant, fractional length, re-quantisation -----------------

interface Act {
  id: string;
  shape: number[];
}

/** Conv outputs of the picked models: ResNet-20's first stage, ResNet-18's layer1, a MobileNetV2 expansion. */
function activations(quick: boolean): Act[] {
  const pick = (model: string, name: string): Act => {
    const { layer, batch } = zooLayer(quick, model, (l) => l.name === name);
    return { id: `${model}.${name}`, shape: [batch, ...layer.outShape] };
  };
  const list = [pick('resnet20', 'layer1.0.conv1'), pick('resnet18', 'layer1.0.conv1')];
  if (!quick) list.push(pick('mobilenet_v2', 'features.2.conv.0'));
  return list;
}

export function activationRows(quick: boolean): RowSpec[] {
  const rows: RowSpec[] = [];
  for (const a of activations(quick)) {
    const n = prod(a.shape);
    const [N, C, H, W] = a.shape;
    rows.push(
      memoryRow(`bn.stats/${a.id}`, 'batch-norm statistics', `${a.id} ${fmt(a.shape)} mean, var per channel`, 4 * n, async () => {
        const e = Engine.get();
        const xd = uniform(n, 4, -2, 3);
        const x = e.keep(Tensor.from(xd, a.shape));
        const ref = refBatchStats(xd, a.shape);
        const compare = (m: ArrayLike<number>, v: ArrayLike<number>) => worst(closeCheck(m, ref.mean, 1e-4), closeCheck(v, ref.var, 1e-4));
        return tensorRow(
          () => {
            const s = batchStats(x);
            return [s.mean, s.var];
          },
          ([m, v]) => compare(m, v),
          {
            tfjs: async (tf) => {
              const tx = tf.tensor4d(permute4(xd, a.shape, NCHW_TO_NHWC), [N, H, W, C]);
              return tfjsPeer(tf, 'tf.moments NHWC', [tx], () => {
                const r = tf.moments(tx, [0, 1, 2]);
                return [r.mean, r.variance];
              }, ([m, v]) => compare(m, v));
            },
            dispose: () => x.dispose(),
          },
        );
      }),
    );
    // Fake-quant of a ReLU output: unsigned 8-bit, fl 6 (step 1/64, range [0, 255/64]).
    rows.push(
      memoryRow(`fakequant/${a.id}`, 'fake-quant', `${a.id} ${fmt(a.shape)} u8 fl 6`, 8 * n, async () => {
        const e = Engine.get();
        const xd = uniform(n, 5, -0.5, 4.5);
        const x = e.keep(Tensor.from(xd, a.shape));
        const fl = e.keep(Tensor.from(Int32Array.of(6), [1], 'i32'));
        const opts = { wl: 8, signed: false };
        const compare = (got: ArrayLike<number>) => exactCheck(got, quantize(xd, 6, opts).value);
        return tensorRow(() => [fakeQuant(x, fl, opts)], ([y]) => compare(y), {
          ort: async (ort) => {
            const model = onnxModel({
              nodes: [
                { op: 'QuantizeLinear', inputs: ['x', 's', 'z'], outputs: ['q'] },
                { op: 'DequantizeLinear', inputs: ['q', 's', 'z'], outputs: ['y'] },
              ],
              inputs: [{ name: 'x', dtype: 'float32', dims: a.shape }],
              outputs: [{ name: 'y', dtype: 'float32', dims: a.shape }],
              inits: [ortScalar('s', 'float32', 2 ** -6), ortScalar('z', 'uint8', 0)],
            });
            return ortPeer(ort, model, { x: ortFeed('float32', xd, a.shape) }, 'QuantizeLinear+DequantizeLinear u8', compare);
          },
          dispose: () => {
            x.dispose();
            fl.dispose();
          },
        });
      }),
    );
    rows.push(
      memoryRow(`fraclen/${a.id}`, 'fractional length', `${a.id} ${fmt(a.shape)} u8 from std`, 4 * n, async () => {
        const e = Engine.get();
        const xd = uniform(n, 6, 0, 2);
        const x = e.keep(Tensor.from(xd, a.shape));
        const opts = { wl: 8, signed: false, metric: 'std' as const };
        return tensorRow(() => [fraclenFromMetric(x, opts)], ([fl]) => exactCheck(fl, [fraclenFromTensor(xd, opts)]), { dispose: () => x.dispose() });
      }),
    );
    rows.push(
      memoryRow(`requant/${a.id}`, 're-quantisation', `${a.id} ${fmt(a.shape)} i32 -> u8 (ReLU, >>10)`, 8 * n, async () => {
        const e = Engine.get();
        const acc = integers(n, 7, -300000, 300000);
        const x = e.keep(Tensor.from(acc, a.shape, 'i32'));
        const sh = e.keep(Tensor.from(Int32Array.of(10), [1], 'i32'));
        const ref = refRequantize(acc, 10, { signed: false, relu: true });
        return tensorRow(() => [requantize(x, sh, { signed: false, relu: true })], ([y]) => exactCheck(y, ref), {
          dispose: () => {
            x.dispose();
            sh.dispose();
          },
        });
      }),
    );
  }
  return rows;
}

// ---- pools -----------------------------------------------------------------------------------

/** ONNX MaxPool attributes of the stem pool (3x3, stride 2, pad 1). */
const MAXPOOL_ATTRS = { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] };

/** Seeded unsigned codes in [0, 255] of `shape`, packed and kept on the GPU. */
function keptCodes(shape: number[], seed: number): { codes: Int32Array; x: Int8Act } {
  const codes = integers(prod(shape), seed, 0, 255);
  const x = int8Activation(codes, shape, false);
  Engine.get().keep(x.data);
  return { codes, x };
}

export function poolRows(quick: boolean): RowSpec[] {
  const rows: RowSpec[] = [];
  // ResNet-18's stem max pool (3x3, stride 2, pad 1) on its conv1 output.
  const mp = zooLayer(quick, 'resnet18', (l) => l.kind === 'maxpool');
  const xs = [mp.batch, ...mp.input];
  const popts = { kernel: 3, stride: 2, padding: 1 };
  const ys = poolOutputShape(xs, popts);
  const [N, C, H, W] = xs;
  rows.push(
    memoryRow('pool.max/resnet18.maxpool', 'max pool', `resnet18.maxpool ${fmt(xs)} 3x3 s2 p1`, 4 * (prod(xs) + prod(ys)), async () => {
      const e = Engine.get();
      const xd = uniform(prod(xs), 8);
      const x = e.keep(Tensor.from(xd, xs));
      const ref = refMaxPool2d(xd, xs, { kernel: [3, 3], stride: [2, 2], padding: [1, 1] }).y;
      return tensorRow(() => [maxPool2d(x, popts)], ([y]) => exactCheck(y, ref), {
        tfjs: async (tf) => {
          const tx = tf.tensor4d(permute4(xd, xs, NCHW_TO_NHWC), [N, H, W, C]);
          return tfjsPeer(tf, 'tf.maxPool NHWC', [tx], () => tf.maxPool(tx, 3, 2, 1), ([y]) => exactCheck(permute4(y, [N, ys[2], ys[3], C], NHWC_TO_NCHW), ref));
        },
        ort: async (ort) => ortOneOp(ort, { op: 'MaxPool', attrs: MAXPOOL_ATTRS }, ortFeed('float32', xd, xs), ys, 'MaxPool', (y) => exactCheck(y, ref)),
        dispose: () => x.dispose(),
      });
    }),
  );
  rows.push(
    memoryRow('int8.maxpool/resnet18.maxpool', 'int8 max pool', `resnet18.maxpool ${fmt(xs)} u8 3x3 s2 p1`, prod(xs) + prod(ys), async () => {
      const { codes, x } = keptCodes(xs, 9);
      const ref = refInt8MaxPool2d(codes, xs, [3, 3], [2, 2], [1, 1]);
      return int8Row(() => int8MaxPool2d(x, popts), (got) => exactCheck(got, ref), {
        ort: async (ort) => ortOneOp(ort, { op: 'MaxPool', attrs: MAXPOOL_ATTRS }, ortFeed('uint8', Uint8Array.from(codes), xs), ys, 'MaxPool u8', (y) => exactCheck(y, ref)),
        dispose: () => x.data.dispose(),
      });
    }),
  );
  // Global average pools before the classifiers.
  const gaps = [zooLayer(quick, 'resnet20', (l) => l.kind === 'avgpool'), ...(quick ? [] : [zooLayer(quick, 'mobilenet_v2', (l) => l.kind === 'avgpool')])];
  const models = ['resnet20', 'mobilenet_v2'];
  gaps.forEach((gp, i) => {
    const shape = [gp.batch, ...gp.input];
    const [n, c, h, w] = shape;
    const id = `${models[i]}.${gp.layer.name}`;
    rows.push(
      memoryRow(`pool.global_avg/${id}`, 'global average pool', `${id} ${fmt(shape)}`, 4 * (prod(shape) + n * c), async () => {
        const e = Engine.get();
        const xd = uniform(prod(shape), 10);
        const x = e.keep(Tensor.from(xd, shape));
        const ref = refGlobalAvgPool(xd, shape);
        const compare = (y: ArrayLike<number>) => closeCheck(y, ref, 1e-5);
        return tensorRow(() => [globalAvgPool(x)], ([y]) => compare(y), {
          tfjs: async (tf) => {
            const tx = tf.tensor4d(permute4(xd, shape, NCHW_TO_NHWC), [n, h, w, c]);
            return tfjsPeer(tf, 'tf.mean NHWC', [tx], () => tf.mean(tx, [1, 2]), ([y]) => compare(y));
          },
          ort: async (ort) => ortOneOp(ort, { op: 'GlobalAveragePool' }, ortFeed('float32', xd, shape), [n, c, 1, 1], 'GlobalAveragePool', compare),
          dispose: () => x.dispose(),
        });
      }),
    );
    rows.push(
      memoryRow(`int8.sumpool/${id}`, 'int8 sum pool', `${id} ${fmt(shape)} u8 -> u8 (>>6)`, prod(shape) + n * c, async () => {
        const { codes, x } = keptCodes(shape, 11);
        const requant = { shift: 6, signed: false };
        const ref = refInt8SumPool(codes, shape, { requant });
        return int8Row(() => int8SumPool(x, { requant }), (got) => exactCheck(got, ref), { dispose: () => x.data.dispose() });
      }),
    );
  });
  return rows;
}

// ---- optimizer -------------------------------------------------------------------------------

export function sgdRows(quick: boolean): RowSpec[] {
  const model = quick ? 'cnn' : 'resnet20';
  const args = quick ? { width: 8 } : {};
  const data = defaultDataShape(model);
  const params = describeModel(model, args, data).reduce((s, l) => s + l.params, 0);
  const SGD_OPTS = { lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 4e-5 };
  return [
    memoryRow(`sgd.step/${model}`, 'optimizer step', `${model}${quick ? ' w8' : ''} parameters, SGD momentum 0.9 Nesterov, weight decay`, 20 * params, async () => {
      const e = Engine.get();
      const m = buildModel(model, args, data, floatQuant(), new Rng(1));
      const ps = m.parameters();
      ps.forEach((p, i) => {
        p.grad = e.keep(Tensor.from(uniform(p.size, 100 + i, -0.1, 0.1), p.shape));
      });
      const opt = new SGD(ps, SGD_OPTS);
      return {
        step: () => opt.step(),
        async verify() {
          // The optimizer's first step (momentum buffers created), against the CPU update.
          const before: Float32Array[] = [];
          const grads: Float32Array[] = [];
          for (const p of ps) {
            before.push((await p.read()) as Float32Array);
            grads.push((await p.grad!.read()) as Float32Array);
          }
          opt.step();
          const ref = new RefSGD(SGD_OPTS);
          ref.step(before, grads, SGD_OPTS.lr);
          const checks: Check[] = [];
          for (let i = 0; i < ps.length; i++) checks.push(closeCheck((await ps[i].read()) as Float32Array, before[i], 1e-6));
          return worst(...checks);
        },
        dispose() {
          for (const p of ps) p.grad?.dispose();
          m.dispose();
          opt.dispose();
        },
      };
    }),
  ];
}
