/**
 * What an integer model (./graph.ts) asks of a GPU adapter's limits when the GPU integer runner
 * (./run-gpu.ts) runs it, checked before anything is uploaded: the validator (./validate.ts)
 * bounds a model by what every runner supports, this bounds it by the adapter at hand.
 *
 * Per node, the buffers its op binds (src/ops/int8.ts layouts; each rounded up to the buffer
 * pool's size class, src/runtime/pool.ts, since a binding covers the whole buffer):
 *  - 8-bit codes [C, ...S] packed four channels a word: ceil(C / 4) * |S| * 4 bytes per image;
 *    int32 values 4 bytes per element; a conv whose grouped output channels do not fill whole
 *    words writes i32 [O, OH, OW] before packing; a linear layer reads its input flattened [K];
 *  - constants: conv / linear weights [O, ceil(CG / 4), taps padded to 4, 4] bytes (depthwise:
 *    [ceil(O / 4), KH, KW, 4]), bias, weight sums and per-channel shifts 4 bytes a channel.
 * Every binding must fit maxStorageBufferBindingSize (and maxBufferSize: the read-back copy of the
 * output). Images run in chunks: the chunk shrinks until the largest per-image buffer fits, so a
 * model is refused only where one image does not fit. Dispatches: a conv launches groups x
 * ceil(og / OCB) workgroups along z (at most maxComputeWorkgroupsPerDimension); 1-D launches fold
 * into x * y, each at most that limit; element indices stay below 2^31.
 *
 * @example
 *   const batch = gpuBatchFor(graph, engine.device.limits, 64, int8Tuning(engine).OCB);
 *   // throws F8Error('UNSUPPORTED', 'integer model: node conv0 (conv): its output conv0.out needs ...')
 */
import { F8Error } from '../runtime/errors.js';
import { sizeClass } from '../runtime/pool.js';
import { valueMap, type IntGraph, type IntValueInfo } from './graph.js';

/** The adapter limits the check reads (a GPUSupportedLimits has them). */
export interface GpuRunnerLimits {
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxComputeWorkgroupsPerDimension: number;
}

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const pow2Ceil = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));
/** Bytes of one image's value on the GPU. */
const valueBytes = (v: IntValueInfo): number => (v.dtype === 'int32' ? 4 * size(v.shape) : Math.ceil(v.shape[0] / 4) * size(v.shape.slice(1)) * 4);
/** Element (word) indices of a chunk stay inside i32. */
const MAX_I32_INDEX = 2 ** 31 - 1;

/**
 * The chunk size (at most `batch`) whose buffers fit the adapter's limits; throws
 * F8Error('UNSUPPORTED') naming the node, the buffer and the limit where one image does not fit.
 * `ocb` is the conv kernel's output-channel block (int8Tuning().OCB).
 */
export function gpuBatchFor(g: IntGraph, limits: GpuRunnerLimits, batch: number, ocb = 8): number {
  const bind = Math.min(Number(limits.maxStorageBufferBindingSize), Number(limits.maxBufferSize));
  const maxWg = Number(limits.maxComputeWorkgroupsPerDimension);
  const values = valueMap(g);
  const limitName = Number(limits.maxStorageBufferBindingSize) <= Number(limits.maxBufferSize) ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
  const refuse = (node: string, what: string, bytes: number, perImage: boolean): never => {
    throw new F8Error(
      'UNSUPPORTED',
      `integer model: node ${node}: ${what} needs ${bytes} bytes${perImage ? ' per image' : ''} on the GPU, more than this adapter's ${limitName} of ${bind} bytes; run it with --runner cpu`,
    );
  };
  /** Per-image buffers: [node, what, bytes]. */
  const perImage: [string, string, number][] = [['input', `the input ${g.input.name}`, valueBytes(values.get(g.input.name) ?? { name: '', dtype: g.input.dtype, shape: g.input.shape, fl: 0 })]];
  const constant = (node: string, what: string, bytes: number): void => {
    if (sizeClass(bytes) > bind) refuse(node, what, bytes, false);
  };
  for (const n of g.nodes) {
    const out = values.get(n.output);
    if (!out) continue; // the validator refuses this; the runner names it
    perImage.push([`${n.name} (${n.op})`, `its output ${n.output}`, valueBytes(out)]);
    const label = `${n.name} (${n.op})`;
    const perChannel = (channels: number): void => {
      if ('epilogue' in n && n.epilogue.shift.length > 1) constant(label, 'its per-channel shifts', 4 * channels);
    };
    if (n.op === 'conv' || n.op === 'linear') {
      const w = g.tensors[n.weight];
      if (!w) continue;
      const [O, CG, KH, KW] = w.shape.length === 2 ? [w.shape[0], w.shape[1], 1, 1] : w.shape;
      const groups = n.op === 'conv' ? n.groups : 1;
      const depthwise = groups > 1 && groups === O && CG === 1;
      const T = KH * KW;
      const taps = T > 1 ? Math.ceil(T / 4) * 4 : 1;
      constant(label, `its weights ${n.weight}`, depthwise ? Math.ceil(O / 4) * T * 4 : O * Math.ceil(CG / 4) * taps * 4);
      constant(label, 'its bias and weight sums', 4 * O);
      perChannel(O);
      if (n.op === 'linear') {
        const x = values.get(n.input);
        if (x) perImage.push([label, 'its flattened input', Math.ceil(size(x.shape) / 4) * 4]);
      } else {
        const og = O / groups;
        if (!depthwise) {
          const block = Math.max(8, Math.min(ocb, 32, pow2Ceil(og)));
          const z = groups * Math.ceil(og / block);
          if (z > maxWg) {
            throw new F8Error('UNSUPPORTED', `integer model: node ${label}: groups = ${groups} with ${og} output channels each launch ${z} workgroups along z, more than this adapter's maxComputeWorkgroupsPerDimension of ${maxWg}; run it with --runner cpu`);
          }
        }
        if (n.epilogue.out !== 'int32' && !depthwise && groups > 1 && og % 4 !== 0) perImage.push([label, 'its int32 output before packing', 4 * size(out.shape)]);
      }
    } else if ('epilogue' in n) {
      perChannel(out.shape[0]);
    }
  }
  // The largest chunk whose every per-image buffer fits.
  const [node, what, worst] = perImage.reduce((a, b) => (b[2] > a[2] ? b : a));
  if (sizeClass(worst) > bind) refuse(node, what, worst, true);
  let b = Math.max(1, Math.min(batch, Math.floor(bind / worst)));
  while (b > 1 && sizeClass(b * worst) > bind) b--;
  // Launches: 64-thread groups folded into x * y; element (word) indices below 2^31.
  const words = Math.ceil(worst / 4);
  if (b * words > MAX_I32_INDEX || Math.ceil((b * words) / 64) > maxWg * maxWg) b = Math.max(1, Math.floor(Math.min(MAX_I32_INDEX, maxWg * maxWg * 64) / words));
  return b;
}
