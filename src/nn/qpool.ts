/**
 * The global average pool of F8Net networks (F8NET.md §5, "Global average pool").
 *
 * The integer model pools by a sum: over k x k positions, sum = k^2 * mean, and with
 * s = round(log2(k^2)) the sum read at fractional length fl + s is mean * k^2 / 2^s, a power
 * of two away from what the float network feeds its classifier. §5 removes the leftover factor
 * c = 2^s / k^2 by multiplying a neighbouring layer's weights by it. It cannot go into the conv
 * before the pool when that pool reads a residual sum (ResNets): the identity operand of the sum
 * would need the same non-power-of-two factor. So f8net puts c into the layer after the pool:
 * in fixed-point mode the pooled tensor is mean / c (exactly the integer sum at fl + s) and the
 * reader's folded weight is multiplied by c before it is quantised, so W * c * mean / c = W * mean
 * as in float. The fake-quant model then computes what the integer model computes, and the
 * float model is unchanged; with k^2 a power of two (8 x 8), c = 1.
 *
 * With the reader's pool form 'paper' (src/quant/pool-form.ts, the paper's nn.AdaptiveAvgPool2d)
 * the pooled tensor is the mean in every mode and c stays 1: the classifier quantises the mean,
 * and the integer model divides the sum by k^2 (rounding half to even once, in the sumpool node).
 *
 * @example
 *   return this.fc.forward(globalPoolFor(relu(features), this.fc));
 */
import { Tensor } from '../tensor.js';
import { activeTracer } from './trace.js';
import { globalAvgPool } from '../ops/pool.js';
import { scale } from '../ops/elementwise.js';
import type { QLinear } from './qlayers.js';

/** s = round(log2(k^2)) and c = 2^s / k^2 for a pool over `positions` = k^2 values. */
export function poolFold(positions: number): { s: number; c: number } {
  const s = Math.round(Math.log2(positions));
  return { s, c: 2 ** s / positions };
}

/**
 * Global average pool of y [N, C, H, W] for `reader`: the mean in float mode and in the paper's
 * pool form; in fixed-point mode with the folded form mean / c, with c recorded on the reader (its
 * folded weight is multiplied by c).
 */
export function globalPoolFor(y: Tensor, reader: QLinear): Tensor {
  const t = activeTracer();
  if (!t) return pooled(y, reader);
  const input = t.read(y, 'the global average pool');
  const out = t.shapesOnly ? Tensor.meta(y.shape.slice(0, 2)) : pooled(y, reader);
  t.push({ op: 'globalpool', input, out: t.made(out), reader });
  return out;
}

function pooled(y: Tensor, reader: QLinear): Tensor {
  const p = globalAvgPool(y);
  if (!reader.quant.enabled || (reader.quant.poolForm ?? 'folded') === 'paper') {
    reader.poolFactor = 1;
    return p;
  }
  const { c } = poolFold(y.shape[2] * y.shape[3]);
  reader.poolFactor = c;
  return c === 1 ? p : scale(p, 1 / c);
}
