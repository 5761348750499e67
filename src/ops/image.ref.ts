/** CPU reference of ./image.ts, in f32 like the GPU. */
export function refNormalizeImages(pixels: Uint8Array, shape: number[], mean: number[], std: number[]): Float32Array {
  const [n, c, h, w] = shape;
  const out = new Float32Array(n * c * h * w);
  for (let i = 0; i < out.length; i++) {
    const ch = Math.floor(i / (h * w)) % c;
    const v = Math.fround(pixels[i] / 255);
    out[i] = Math.fround(Math.fround(v - mean[ch]) * Math.fround(1 / std[ch]));
  }
  return out;
}
