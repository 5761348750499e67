/**
 * CPU references of ./conv2d.ts: plain loops over NCHW f32 data, the definition the GPU kernels
 * are tested against. Sums run in f64 (the GPU sums in f32; tests allow for the difference).
 *
 * @example
 *   const y = refConv2d(x, [1, 3, 5, 5], w, [4, 3, 3, 3], bias, { padding: 1 });
 */

/** Normalised conv2d options (each pair is [height, width]). */
export interface Conv2dGeometry {
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
}

export type Conv2dOptionsLike = {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
};

const pair = (v: number | [number, number] | undefined, d: number): [number, number] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : [v[0], v[1]]);

export function geometry(opts: Conv2dOptionsLike = {}): Conv2dGeometry {
  return { stride: pair(opts.stride, 1), padding: pair(opts.padding, 0), dilation: pair(opts.dilation, 1), groups: opts.groups ?? 1 };
}

/** Output height and width for input size h x w and kernel kh x kw. */
export function outSize(h: number, w: number, kh: number, kw: number, g: Conv2dGeometry): [number, number] {
  const oh = Math.floor((h + 2 * g.padding[0] - g.dilation[0] * (kh - 1) - 1) / g.stride[0]) + 1;
  const ow = Math.floor((w + 2 * g.padding[1] - g.dilation[1] * (kw - 1) - 1) / g.stride[1]) + 1;
  return [oh, ow];
}

/**
 * Visits every (output, weight, input) triple of the convolution: f(yIndex, wIndex, xIndex).
 * The three directions below are this one loop nest with a different accumulation.
 */
export function forEachTap(xShape: readonly number[], wShape: readonly number[], opts: Conv2dOptionsLike, f: (yi: number, wi: number, xi: number) => void): void {
  const [N, C, H, W] = xShape;
  const [O, CG, KH, KW] = wShape;
  const g = geometry(opts);
  const [OH, OW] = outSize(H, W, KH, KW, g);
  const OG = O / g.groups;
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      const grp = Math.floor(o / OG);
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          const yi = ((n * O + o) * OH + oh) * OW + ow;
          for (let c = 0; c < CG; c++)
            for (let kh = 0; kh < KH; kh++) {
              const ih = oh * g.stride[0] - g.padding[0] + kh * g.dilation[0];
              if (ih < 0 || ih >= H) continue;
              for (let kw = 0; kw < KW; kw++) {
                const iw = ow * g.stride[1] - g.padding[1] + kw * g.dilation[1];
                if (iw < 0 || iw >= W) continue;
                f(yi, ((o * CG + c) * KH + kh) * KW + kw, ((n * C + grp * CG + c) * H + ih) * W + iw);
              }
            }
        }
    }
}

/** y[n,o,oh,ow] = bias[o] + sum_{c,kh,kw} x[n, g*CG+c, oh*s-p+kh*d, ow*s-p+kw*d] * w[o,c,kh,kw] */
export function refConv2d(x: Float32Array, xShape: readonly number[], w: Float32Array, wShape: readonly number[], bias: Float32Array | null, opts: Conv2dOptionsLike = {}): Float32Array {
  const [N, , H, W] = xShape;
  const [O, , KH, KW] = wShape;
  const [OH, OW] = outSize(H, W, KH, KW, geometry(opts));
  const y = new Float64Array(N * O * OH * OW);
  if (bias) for (let i = 0; i < y.length; i++) y[i] = bias[Math.floor(i / (OH * OW)) % O];
  forEachTap(xShape, wShape, opts, (yi, wi, xi) => (y[yi] += x[xi] * w[wi]));
  return Float32Array.from(y);
}

/** dL/dx given dL/dy = gy (shape [N, O, OH, OW]). */
export function refConv2dBackwardInput(gy: Float32Array, w: Float32Array, wShape: readonly number[], xShape: readonly number[], opts: Conv2dOptionsLike = {}): Float32Array {
  const gx = new Float64Array(xShape.reduce((a, b) => a * b, 1));
  forEachTap(xShape, wShape, opts, (yi, wi, xi) => (gx[xi] += gy[yi] * w[wi]));
  return Float32Array.from(gx);
}

/** dL/dw given the input x and dL/dy = gy. */
export function refConv2dBackwardWeight(x: Float32Array, xShape: readonly number[], gy: Float32Array, wShape: readonly number[], opts: Conv2dOptionsLike = {}): Float32Array {
  const gw = new Float64Array(wShape.reduce((a, b) => a * b, 1));
  forEachTap(xShape, wShape, opts, (yi, wi, xi) => (gw[wi] += gy[yi] * x[xi]));
  return Float32Array.from(gw);
}

/** dL/dbias: gy summed over N, OH, OW per channel. */
export function refConv2dBackwardBias(gy: Float32Array, gyShape: readonly number[]): Float32Array {
  const [N, O, OH, OW] = gyShape;
  const gb = new Float64Array(O);
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let i = 0; i < OH * OW; i++) gb[o] += gy[(n * O + o) * OH * OW + i];
  return Float32Array.from(gb);
}
