/**
 * Turning a batch of uint8 images into the network's f32 input on the GPU
 * (wgsl/image.wgsl), so the CPU uploads a quarter of the bytes and never holds floats.
 * CPU reference: ./image.ref.ts.
 *
 * @example
 *   const x = normalizeImages(batch.images, [64, 1, 28, 28], [0.1307], [0.3081]);
 */
import { Engine } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';
import { Tensor, numel } from '../tensor.js';

const WG = 256;

export function normalizeImages(pixels: Uint8Array, shape: [number, number, number, number], mean: number[], std: number[]): Tensor {
  const [, c, h, w] = shape;
  const n = numel(shape);
  if (pixels.length < n) throw new F8Error('SHAPE_MISMATCH', `normalizeImages: ${pixels.length} pixels for shape [${shape.join(', ')}]`);
  if (c > 4 || mean.length !== c || std.length !== c) {
    throw new F8Error('SHAPE_MISMATCH', `normalizeImages: ${c} channels need ${c} means and stds (at most 4 channels), got ${mean.length} and ${std.length}`);
  }
  const e = Engine.get();
  const words = Math.ceil(n / 4);
  const packed = Tensor.empty([words], 'u32');
  e.write(packed.buffer, pixels.subarray(0, n));
  const out = Tensor.empty(shape);
  const p: Record<string, number> = { n, hw: h * w, c };
  for (let i = 0; i < 4; i++) {
    p[`m${i}`] = mean[i] ?? 0;
    p[`r${i}`] = 1 / (std[i] ?? 1);
  }
  e.dispatch(e.kernel('image.wgsl', 'normalize', { WG }), { pixels: packed, out }, p, e.grid1d(words, WG));
  packed.dispose();
  return out;
}
