/**
 * Conversion of a fixed-point model in evaluation mode to its integer graph (F8NET.md §5).
 *
 * The weights and biases are not recomputed here: one evaluation forward pass on the GPU runs
 * with a hook on every F8Net layer (QLayer.onFold) that hands over the quantised folded weight
 * w_q and the folded bias b_f the fake-quant model computes with, and the fractional lengths it
 * used. So the integer weights are exactly the fake-quant model's (W = w_q * 2^fl_w), and the
 * integer model differs from it only by the bias rounding (B = roundHalfEven(b_f * 2^fl_acc)) and
 * by float summation order: rare ties.
 *
 * @example
 *   const g = await exportModel(model, { name: 'cnn', args: {}, dataset: 'mnist', classes: 10, checkpoint: 'best.safetensors' },
 *                               { shape: [1, 28, 28], mean: [0.1307], std: [0.3081] });
 */
import { F8NET_VERSION } from '../runtime/version.js';
import { Engine } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';
import { Tensor } from '../tensor.js';
import { noGrad } from '../autograd/tape.js';
import type { Module } from '../nn/module.js';
import { QLayer } from '../nn/qlayers.js';
import { traceForward, type ForwardTrace } from '../nn/trace.js';
import { IntGraphBuilder, type LayerCapture } from './builder.js';
import type { IntGraph, IntLayerFormat } from './graph.js';

export const PRODUCER = `f8net ${F8NET_VERSION}`;

/** The F8Net layers of a model with their module paths. */
export function qlayersOf(model: Module): Map<QLayer, string> {
  const out = new Map<QLayer, string>();
  for (const [path, m] of model.namedModules()) if (m instanceof QLayer) out.set(m, path);
  return out;
}

/**
 * The integer graph of `model` (fixed-point, any training state: it is put in evaluation mode).
 * `data` is the network input: per-image shape and the normalisation of training.
 */
export async function exportModel(
  model: Module,
  info: IntGraph['model'],
  data: { shape: [number, number, number]; mean: number[]; std: number[] },
): Promise<IntGraph> {
  const layers = qlayersOf(model);
  for (const [L, path] of layers) {
    if (!L.quant.enabled) throw new F8Error('BAD_INPUT', `export: ${info.checkpoint} holds a float-stage model (layer ${path} is not quantised); export a checkpoint of the fixed-point stage`);
    if (L.perChannelInput) {
      throw new F8Error('UNSUPPORTED', `export: layer ${path} has per-channel input lengths, which would need a shift per input channel inside the 8-bit dot product; train with input_format_type: per_layer`);
    }
  }
  const e = Engine.get();
  const raw = new Map<QLayer, { wq: Tensor; b: Tensor }>();
  model.eval();
  // One traced evaluation forward pass on one blank image: its steps are the graph, and it
  // records every layer's w_q and b_f.
  let trace: ForwardTrace | null = null;
  const kept = noGrad(() =>
    e.tidy(() => {
      for (const L of layers.keys()) L.onFold = (wq, b) => raw.set(L, { wq, b });
      try {
        const x = Tensor.from(new Float32Array(data.shape[0] * data.shape[1] * data.shape[2]), [1, ...data.shape]);
        trace = traceForward(model, x).trace;
      } finally {
        for (const L of layers.keys()) L.onFold = null;
      }
      return [...raw.values()].flatMap((r) => [r.wq, r.b]);
    }),
  );
  const captures = new Map<QLayer, LayerCapture>();
  const formats: IntLayerFormat[] = [];
  try {
    for (const [L, path] of layers) {
      const r = raw.get(L);
      if (!r) continue;
      const inputFl = (await L.inputFraclen.read())[0];
      const weightFl = [...(await L.weightFraclen.read())];
      const alpha = Math.abs((await L.alphaOwner.alpha.read())[0]);
      if (!(alpha > 0) || !Number.isFinite(alpha)) throw new F8Error('BAD_INPUT', `export: layer ${path} has clipping level ${alpha}; expected a positive finite alpha`);
      const wq = Float32Array.from(await r.wq.read());
      const bias = Float32Array.from(await r.b.read());
      if (wq.some((v) => !Number.isFinite(v)) || bias.some((v) => !Number.isFinite(v))) {
        throw new F8Error('BAD_INPUT', `export: layer ${path} has non-finite weights or biases after folding (a diverged checkpoint?)`);
      }
      captures.set(L, { wq, wShape: [...r.wq.shape], bias, weightFl, inputFl, alpha });
      formats.push({ name: path, inputSigned: L.inputSigned, inputFl, weightFl, alpha: roundTo(alpha) });
    }
  } finally {
    for (const t of kept) t.dispose();
  }
  const b = new IntGraphBuilder(captures, layers, data);
  b.fromTrace(trace!);
  return b.finish({ producer: PRODUCER, model: info, layers: formats });
}

const roundTo = (v: number): number => Number(v.toPrecision(8));
