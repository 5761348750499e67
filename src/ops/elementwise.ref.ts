/** CPU references of ./elementwise.ts, computed in f32 like the GPU. */
export const refAxpby = (x: Float32Array, y: Float32Array, a: number, b: number): Float32Array =>
  x.map((v, i) => Math.fround(Math.fround(a * v) + Math.fround(b * y[i])));
export const refMul = (x: Float32Array, y: Float32Array): Float32Array => x.map((v, i) => v * y[i]);
export const refAffine = (x: Float32Array, a: number, b: number): Float32Array => x.map((v) => Math.fround(a * v) + b);
export const refClamp = (x: Float32Array, lo: number, hi: number): Float32Array =>
  x.map((v) => (v < lo ? lo : v > hi ? hi : v));
export const refClampBackward = (x: Float32Array, g: Float32Array, lo: number, hi: number): Float32Array =>
  x.map((v, i) => (v > lo && v < hi ? g[i] : 0));
