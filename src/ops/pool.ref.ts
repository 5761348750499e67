/**
 * CPU references of ./pool.ts (NCHW, PyTorch semantics, floor output size). Averages are
 * computed in f64; max values and indices are exact.
 */

export interface RefPoolOptions {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  countIncludePad?: boolean;
}

export interface RefPoolDims {
  N: number;
  C: number;
  H: number;
  W: number;
  OH: number;
  OW: number;
}

export function refPoolDims(shape: readonly number[], o: RefPoolOptions): RefPoolDims {
  const [N, C, H, W] = shape;
  return {
    N, C, H, W,
    OH: Math.floor((H + 2 * o.padding[0] - o.kernel[0]) / o.stride[0]) + 1,
    OW: Math.floor((W + 2 * o.padding[1] - o.kernel[1]) / o.stride[1]) + 1,
  };
}

/** Visits every window: (plane, oh, ow, clipped row range, clipped column range). */
function forEachWindow(d: RefPoolDims, o: RefPoolOptions, f: (q: number, oh: number, ow: number, h0: number, h1: number, w0: number, w1: number) => void): void {
  for (let q = 0; q < d.N * d.C; q++) {
    for (let oh = 0; oh < d.OH; oh++) {
      for (let ow = 0; ow < d.OW; ow++) {
        const hs = oh * o.stride[0] - o.padding[0];
        const ws = ow * o.stride[1] - o.padding[1];
        f(q, oh, ow, Math.max(hs, 0), Math.min(hs + o.kernel[0], d.H), Math.max(ws, 0), Math.min(ws + o.kernel[1], d.W));
      }
    }
  }
}

/** Max pooling; idx is the plane-local index ih*W + iw of the first maximum (PyTorch's rule). */
export function refMaxPool2d(x: Float32Array, shape: readonly number[], o: RefPoolOptions): { y: Float32Array; idx: Int32Array; dims: RefPoolDims } {
  const d = refPoolDims(shape, o);
  const y = new Float32Array(d.N * d.C * d.OH * d.OW);
  const idx = new Int32Array(y.length);
  forEachWindow(d, o, (q, oh, ow, h0, h1, w0, w1) => {
    let bi = h0 * d.W + w0;
    let best = -Infinity;
    for (let ih = h0; ih < h1; ih++) {
      for (let iw = w0; iw < w1; iw++) {
        const v = x[q * d.H * d.W + ih * d.W + iw];
        if (v > best || Number.isNaN(v)) {
          best = v;
          bi = ih * d.W + iw;
        }
      }
    }
    const j = (q * d.OH + oh) * d.OW + ow;
    y[j] = best;
    idx[j] = bi;
  });
  return { y, idx, dims: d };
}

/** Gradient of max pooling: each window's gradient goes to its chosen element. */
export function refMaxPool2dBackward(gy: Float32Array, idx: Int32Array, d: RefPoolDims): Float64Array {
  const gx = new Float64Array(d.N * d.C * d.H * d.W);
  for (let q = 0; q < d.N * d.C; q++) {
    for (let j = 0; j < d.OH * d.OW; j++) gx[q * d.H * d.W + idx[q * d.OH * d.OW + j]] += gy[q * d.OH * d.OW + j];
  }
  return gx;
}

function divisor(o: RefPoolOptions, h0: number, h1: number, w0: number, w1: number): number {
  return o.countIncludePad === false ? (h1 - h0) * (w1 - w0) : o.kernel[0] * o.kernel[1];
}

/** Average pooling (countIncludePad defaults to true, as in PyTorch). */
export function refAvgPool2d(x: Float32Array, shape: readonly number[], o: RefPoolOptions): { y: Float64Array; dims: RefPoolDims } {
  const d = refPoolDims(shape, o);
  const y = new Float64Array(d.N * d.C * d.OH * d.OW);
  forEachWindow(d, o, (q, oh, ow, h0, h1, w0, w1) => {
    let s = 0;
    for (let ih = h0; ih < h1; ih++) for (let iw = w0; iw < w1; iw++) s += x[q * d.H * d.W + ih * d.W + iw];
    y[(q * d.OH + oh) * d.OW + ow] = s / divisor(o, h0, h1, w0, w1);
  });
  return { y, dims: d };
}

export function refAvgPool2dBackward(gy: Float32Array, shape: readonly number[], o: RefPoolOptions): Float64Array {
  const d = refPoolDims(shape, o);
  const gx = new Float64Array(d.N * d.C * d.H * d.W);
  forEachWindow(d, o, (q, oh, ow, h0, h1, w0, w1) => {
    const g = gy[(q * d.OH + oh) * d.OW + ow] / divisor(o, h0, h1, w0, w1);
    for (let ih = h0; ih < h1; ih++) for (let iw = w0; iw < w1; iw++) gx[q * d.H * d.W + ih * d.W + iw] += g;
  });
  return gx;
}

/** Mean of each plane: [N, C, H, W] -> [N, C]. */
export function refGlobalAvgPool(x: Float32Array, shape: readonly number[]): Float64Array {
  const [N, C, H, W] = shape;
  const y = new Float64Array(N * C);
  for (let q = 0; q < N * C; q++) {
    let s = 0;
    for (let i = 0; i < H * W; i++) s += x[q * H * W + i];
    y[q] = s / (H * W);
  }
  return y;
}

export function refGlobalAvgPoolBackward(gy: Float32Array, shape: readonly number[]): Float64Array {
  const [N, C, H, W] = shape;
  const gx = new Float64Array(N * C * H * W);
  for (let q = 0; q < N * C; q++) gx.fill(gy[q] / (H * W), q * H * W, (q + 1) * H * W);
  return gx;
}
