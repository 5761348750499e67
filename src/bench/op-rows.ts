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
import { int8Activation, int8Weights, int8Linear, int8MaxPool2d, int8SumPool, readInt8 } from '../ops/int8.js';
import { refInt8Linear, refInt8MaxPool2d, refInt8SumPool } from '../ops/int8.ref.js';
import { quantize, fraclenFromTensor, requantize as refRequantize } from '../quant/fixed.js';
import { SGD } from '../optim/sgd.js';
import { RefSGD } from '../optim/sgd.ref.js';
import { floatQuant } from '../nn/qlayers.js';
import { Rng } from '../data/rng.js';
import { buildModel, describeModel, defaultDataShape } from '../../models/index.js';
import { zooPicks, zooLayer } from './shapes.js';
import type { RowSpec, RowInstance, PeerInstance, Check } from './types.js';
import { closeCheck, exactCheck, worst, prod, uniform, integers, permute4, NCHW_TO_NHWC, NHWC_TO_NCHW } from './check.js';
import { tfjsSync, type Tf } from './tfjs-peer.js';
import { onnxModel, ortPeer, ortFeed } from './ort-peer.js';
import { ortQLinearConv } from './conv-rows.js';

type TfT = ReturnType<Tf['tensor']>;

/** A tfjs peer: `make` builds the inputs and the op, `toOurs` maps its output to our layout. */
async function tfjsPeer(tf: Tf, what: string, inputs: TfT[], op: () => TfT | TfT[], compare: (v: Float32Array[]) => Check): Promise<PeerInstance> {
  const e = Engine.get();
  const list = (r: TfT | TfT[]) => (Array.isArray(r) ? r : [r]);
  return {
    what,
    async step() {
      const r = list(op());
      await tfjsSync(tf, e);
      tf.dispose(r);
    },
    async verify() {
      const r = list(op());
      const v = await Promise.all(r.map(async (t) => (await t.data()) as Float32Array));
      tf.dispose(r);
      return compare(v);
    },
    dispose() {
      tf.dispose(inputs);
    },
  };
}

/** A row whose step makes one tensor (or several), checked by `check` on what was read back. */
function tensorRow(make: () => Tensor[], check: (got: (Float32Array | Int32Array | Uint32Array | Int8Array)[]) => Check, rest: Omit<RowInstance, 'step' | 'verify'>): RowInstance {
  const e = Engine.get();
  return {
    step: () => e.tidy(() => void make()),
    async verify() {
      const ys = e.tidy(() => make());
      const got = [];
      for (const y of ys) got.push(await y.read());
      for (const y of ys) y.dispose();
      return check(got);
    },
    ...rest,
  };
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
            ort: async (ort) => {
              const model = onnxModel({
                nodes: [{ op: 'Gemm', inputs: ['a', 'b'], outputs: ['y'], attrs: { transA: tA ? 1 : 0, transB: tB ? 1 : 0 } }],
                inputs: [{ name: 'a', dtype: 'float32', dims: aShape }],
                outputs: [{ name: 'y', dtype: 'float32', dims: [M, Nn] }],
                inits: [{ name: 'b', dtype: 'float32', dims: bShape, data: B }],
              });
              return ortPeer(ort, model, { a: ortFeed('float32', A, aShape) }, 'Gemm', compare);
            },
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
      const e = Engine.get();
      const xs = integers(f.N * f.K, 1, 0, 255);
      const ws = integers(f.O * f.K, 2, -127, 127);
      const bs = integers(f.O, 3, -20000, 20000);
      const x = int8Activation(xs, [f.N, f.K], false);
      const w = int8Weights(ws, [f.O, f.K]);
      const b = Tensor.from(bs, [f.O], 'i32');
      for (const t of [x.data, w.data, w.sums, b]) e.keep(t);
      const requant = { shift: 10, signed: false };
      const run = () => int8Linear(x, w, b, { relu: true, requant });
      const compare = (got: ArrayLike<number>) => exactCheck(got, refInt8Linear(xs, [f.N, f.K], ws, [f.O, f.K], bs, { relu: true, requant }));
      return {
        step: () => e.tidy(() => void run().data),
        async verify() {
          const y = run();
          const got = await readInt8(y);
          y.data.dispose();
          return compare(got);
        },
        ort: async (ort) => ortQLinearConv(ort, [f.N, f.K, 1, 1], [f.O, f.K, 1, 1], [f.N, f.O, 1, 1], {}, xs, ws, bs, compare),
        dispose() {
          for (const t of [x.data, w.data, w.sums, b]) t.dispose();
        },
      };
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
    rows.push({
      id: `bn.stats/${a.id}`,
      family: 'batch-norm statistics',
      shape: `${a.id} ${fmt(a.shape)} mean, var per channel`,
      flop: 0,
      bytes: 4 * n,
      peak: 'none',
      unit: 'GB/s',
      setup: async () => {
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
      },
    });
    // Fake-quant of a ReLU output: unsigned 8-bit, fl 6 (step 1/64, range [0, 255/64]).
    rows.push({
      id: `fakequant/${a.id}`,
      family: 'fake-quant',
      shape: `${a.id} ${fmt(a.shape)} u8 fl 6`,
      flop: 0,
      bytes: 8 * n,
      peak: 'none',
      unit: 'GB/s',
      setup: async () => {
        const e = Engine.get();
        const xd = uniform(n, 5, -0.5, 4.5);
        const x = e.keep(Tensor.from(xd, a.shape));
        const fl = e.keep(Tensor.from(Int32Array.of(6), [1], 'i32'));
        const opts = { wl: 8, signed: false };
        const compare = (got: ArrayLike<number>) => exactCheck(got, quantize(xd, 6, opts).value);
        return tensorRow(() => [fakeQuant(x, fl, opts)], ([y]) => compare(y), {
          ort: async (ort) => {
            const scalar = (name: string, dtype: 'float32' | 'uint8', v: number) => ({ name, dtype, dims: [], data: dtype === 'float32' ? Float32Array.of(v) : Uint8Array.of(v) });
            const model = onnxModel({
              nodes: [
                { op: 'QuantizeLinear', inputs: ['x', 's', 'z'], outputs: ['q'] },
                { op: 'DequantizeLinear', inputs: ['q', 's', 'z'], outputs: ['y'] },
              ],
              inputs: [{ name: 'x', dtype: 'float32', dims: a.shape }],
              outputs: [{ name: 'y', dtype: 'float32', dims: a.shape }],
              inits: [scalar('s', 'float32', 2 ** -6), scalar('z', 'uint8', 0)],
            });
            return ortPeer(ort, model, { x: ortFeed('float32', xd, a.shape) }, 'QuantizeLinear+DequantizeLinear u8', compare);
          },
          dispose: () => {
            x.dispose();
            fl.dispose();
          },
        });
      },
    });
    rows.push({
      id: `fraclen/${a.id}`,
      family: 'fractional length',
      shape: `${a.id} ${fmt(a.shape)} u8 from std`,
      flop: 0,
      bytes: 4 * n,
      peak: 'none',
      unit: 'GB/s',
      setup: async () => {
        const e = Engine.get();
        const xd = uniform(n, 6, 0, 2);
        const x = e.keep(Tensor.from(xd, a.shape));
        const opts = { wl: 8, signed: false, metric: 'std' as const };
        return tensorRow(() => [fraclenFromMetric(x, opts)], ([fl]) => exactCheck(fl, [fraclenFromTensor(xd, opts)]), { dispose: () => x.dispose() });
      },
    });
    rows.push({
      id: `requant/${a.id}`,
      family: 're-quantisation',
      shape: `${a.id} ${fmt(a.shape)} i32 -> u8 (ReLU, >>10)`,
      flop: 0,
      bytes: 8 * n,
      peak: 'none',
      unit: 'GB/s',
      setup: async () => {
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
      },
    });
  }
  return rows;
}

// ---- pools -----------------------------------------------------------------------------------

export function poolRows(quick: boolean): RowSpec[] {
  const rows: RowSpec[] = [];
  // ResNet-18's stem max pool (3x3, stride 2, pad 1) on its conv1 output.
  const mp = zooLayer(quick, 'resnet18', (l) => l.kind === 'maxpool');
  const xs = [mp.batch, ...mp.input];
  const popts = { kernel: 3, stride: 2, padding: 1 };
  const ys = poolOutputShape(xs, popts);
  const [N, C, H, W] = xs;
  rows.push({
    id: 'pool.max/resnet18.maxpool',
    family: 'max pool',
    shape: `resnet18.maxpool ${fmt(xs)} 3x3 s2 p1`,
    flop: 0,
    bytes: 4 * (prod(xs) + prod(ys)),
    peak: 'none',
    unit: 'GB/s',
    setup: async () => {
      const e = Engine.get();
      const xd = uniform(prod(xs), 8);
      const x = e.keep(Tensor.from(xd, xs));
      const ref = refMaxPool2d(xd, xs, { kernel: [3, 3], stride: [2, 2], padding: [1, 1] }).y;
      return tensorRow(() => [maxPool2d(x, popts)], ([y]) => exactCheck(y, ref), {
        tfjs: async (tf) => {
          const tx = tf.tensor4d(permute4(xd, xs, NCHW_TO_NHWC), [N, H, W, C]);
          return tfjsPeer(tf, 'tf.maxPool NHWC', [tx], () => tf.maxPool(tx, 3, 2, 1), ([y]) => exactCheck(permute4(y, [N, ys[2], ys[3], C], NHWC_TO_NCHW), ref));
        },
        ort: async (ort) => {
          const model = onnxModel({
            nodes: [{ op: 'MaxPool', inputs: ['x'], outputs: ['y'], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } }],
            inputs: [{ name: 'x', dtype: 'float32', dims: xs }],
            outputs: [{ name: 'y', dtype: 'float32', dims: ys }],
          });
          return ortPeer(ort, model, { x: ortFeed('float32', xd, xs) }, 'MaxPool', (y) => exactCheck(y, ref));
        },
        dispose: () => x.dispose(),
      });
    },
  });
  rows.push({
    id: 'int8.maxpool/resnet18.maxpool',
    family: 'int8 max pool',
    shape: `resnet18.maxpool ${fmt(xs)} u8 3x3 s2 p1`,
    flop: 0,
    bytes: prod(xs) + prod(ys),
    peak: 'none',
    unit: 'GB/s',
    setup: async () => {
      const e = Engine.get();
      const codes = integers(prod(xs), 9, 0, 255);
      const x = int8Activation(codes, xs, false);
      e.keep(x.data);
      const ref = refInt8MaxPool2d(codes, xs, [3, 3], [2, 2], [1, 1]);
      return {
        step: () => e.tidy(() => void int8MaxPool2d(x, popts).data),
        async verify() {
          const y = int8MaxPool2d(x, popts);
          const got = await readInt8(y);
          y.data.dispose();
          return exactCheck(got, ref);
        },
        ort: async (ort) => {
          const model = onnxModel({
            nodes: [{ op: 'MaxPool', inputs: ['x'], outputs: ['y'], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } }],
            inputs: [{ name: 'x', dtype: 'uint8', dims: xs }],
            outputs: [{ name: 'y', dtype: 'uint8', dims: ys }],
          });
          return ortPeer(ort, model, { x: ortFeed('uint8', Uint8Array.from(codes), xs) }, 'MaxPool u8', (y) => exactCheck(y, ref));
        },
        dispose: () => x.data.dispose(),
      };
    },
  });
  // Global average pools before the classifiers.
  const gaps = [zooLayer(quick, 'resnet20', (l) => l.kind === 'avgpool'), ...(quick ? [] : [zooLayer(quick, 'mobilenet_v2', (l) => l.kind === 'avgpool')])];
  const models = ['resnet20', 'mobilenet_v2'];
  gaps.forEach((gp, i) => {
    const shape = [gp.batch, ...gp.input];
    const [n, c, h, w] = shape;
    const id = `${models[i]}.${gp.layer.name}`;
    rows.push({
      id: `pool.global_avg/${id}`,
      family: 'global average pool',
      shape: `${id} ${fmt(shape)}`,
      flop: 0,
      bytes: 4 * (prod(shape) + n * c),
      peak: 'none',
      unit: 'GB/s',
      setup: async () => {
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
          ort: async (ort) => {
            const model = onnxModel({
              nodes: [{ op: 'GlobalAveragePool', inputs: ['x'], outputs: ['y'] }],
              inputs: [{ name: 'x', dtype: 'float32', dims: shape }],
              outputs: [{ name: 'y', dtype: 'float32', dims: [n, c, 1, 1] }],
            });
            return ortPeer(ort, model, { x: ortFeed('float32', xd, shape) }, 'GlobalAveragePool', compare);
          },
          dispose: () => x.dispose(),
        });
      },
    });
    rows.push({
      id: `int8.sumpool/${id}`,
      family: 'int8 sum pool',
      shape: `${id} ${fmt(shape)} u8 -> u8 (>>6)`,
      flop: 0,
      bytes: prod(shape) + n * c,
      peak: 'none',
      unit: 'GB/s',
      setup: async () => {
        const e = Engine.get();
        const codes = integers(prod(shape), 11, 0, 255);
        const x = int8Activation(codes, shape, false);
        e.keep(x.data);
        const requant = { shift: 6, signed: false };
        const ref = refInt8SumPool(codes, shape, { requant });
        return {
          step: () => e.tidy(() => void int8SumPool(x, { requant }).data),
          async verify() {
            const y = int8SumPool(x, { requant });
            const got = await readInt8(y);
            y.data.dispose();
            return exactCheck(got, ref);
          },
          dispose: () => x.data.dispose(),
        };
      },
    });
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
    {
      id: `sgd.step/${model}`,
      family: 'optimizer step',
      shape: `${model}${quick ? ' w8' : ''} parameters, SGD momentum 0.9 Nesterov, weight decay`,
      flop: 0,
      bytes: 20 * params,
      peak: 'none',
      unit: 'GB/s',
      setup: async () => {
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
      },
    },
  ];
}
