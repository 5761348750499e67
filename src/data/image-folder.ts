/**
 * Image-folder data set: `dir/train/<class>/*.{jpg,jpeg,png,webp}` and `dir/val/<class>/...`
 * (or `dir/test/`), labels from the sorted class names, as torchvision's ImageFolder.
 *
 * Every image is decoded once with sharp and kept in memory as uint8 NCHW (no EXIF rotation,
 * alpha flattened on black, grayscale or sRGB), resized so its shorter side is `resizeTo`
 * (bilinear, long side truncated as torchvision's Resize(int)). Train samples keep the center
 * resizeTo x resizeTo square, so a random-resized crop has the whole square to choose from;
 * eval samples are center-cropped to imageSize at once (Resize(256) + CenterCrop(224)).
 * Training batches get imageSize samples from a SampleTransform the BatchLoader runs on the
 * CPU in uint8 (random-resized crop or center crop); normalisation happens on the GPU.
 *
 * Files are untrusted: the header is read first (no decoding) and an image over `maxPixels`
 * is refused before sharp allocates for it; corrupt or truncated files fail with their path.
 *
 * This module is the portable part (crops, resampling, the sample transform); listing the
 * folders and decoding with sharp is src/node/image-folder.ts.
 *
 * @example
 *   const { train, test, classes } = await loadImageFolder('data/flowers', { imageSize: 224 });
 *   const loader = new BatchLoader(train, { batchSize: 64, shuffle: true, augment: { hflip: true },
 *     sampleTransform: imageFolderTransform(train, 224, true) });
 */
import { F8Error } from '../runtime/errors.js';
import type { Dataset, DatasetSplits } from './dataset.js';
import type { SampleTransform } from './loader.js';
import type { Rng } from '../runtime/rng.js';

export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp'];
export const DEFAULT_MAX_PIXELS = 40e6;

export interface ImageFolderOptions {
  /** Height and width of the network input. */
  imageSize: number;
  /** Shorter side after resizing, before any crop (default round(imageSize * 256 / 224)). */
  resizeTo?: number;
  /** 1: grayscale, 3: sRGB (default). */
  channels?: 1 | 3;
  /** Largest accepted width x height of an input image (default 40e6). */
  maxPixels?: number;
  /** Data set name in messages (default: the folder's name). */
  name?: string;
  /** Decode only the first N train / eval images (in class, then file-name order). */
  maxTrainSamples?: number | null;
  maxTestSamples?: number | null;
}

export interface ImageFolderSplits extends DatasetSplits {
  /** Class folder names; label k is classes[k]. */
  classes: string[];
  /** Train samples are resizeTo x resizeTo; test samples imageSize x imageSize. */
  resizeTo: number;
  imageSize: number;
}


/** Python's round(): halves go to the even neighbour, as in torchvision's center_crop offsets. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// ---------------------------------------------------------------- pixel functions (pure)

/**
 * Copies the center oh x ow window of a CxHxW image into `dst` (CxOHxOW), offsets
 * round((h - oh) / 2) and round((w - ow) / 2) as torchvision. `layout` 'hwc' reads
 * interleaved pixels (as sharp's raw output) and still writes planes.
 *
 * @example
 *   centerCropInto(dst, src, 3, 256, 256, 224, 224); // the 224x224 middle, offset 16
 */
export function centerCropInto(dst: Uint8Array, src: Uint8Array, c: number, h: number, w: number, oh: number, ow: number, layout: 'chw' | 'hwc' = 'chw'): void {
  if (oh > h || ow > w) throw new F8Error('SHAPE_MISMATCH', `centerCropInto: ${oh}x${ow} window of a ${h}x${w} image`);
  const top = roundHalfEven((h - oh) / 2);
  const left = roundHalfEven((w - ow) / 2);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < oh; y++) {
      const d = (ch * oh + y) * ow;
      if (layout === 'chw') {
        const s = (ch * h + y + top) * w + left;
        dst.set(src.subarray(s, s + ow), d);
      } else {
        const s = ((y + top) * w + left) * c + ch;
        for (let x = 0; x < ow; x++) dst[d + x] = src[s + x * c];
      }
    }
  }
}

interface AxisWeights {
  /** First input pixel and number of taps of each output pixel. */
  start: Int32Array;
  count: Int32Array;
  /** n * stride weights; output i uses w[i * stride .. i * stride + count[i]). */
  w: Float64Array;
  stride: number;
}

/**
 * Bilinear (triangle) filter taps for resampling `len` input pixels to `n`, as PIL's resize:
 * the filter widens by the downscale factor (antialiasing), taps outside the input are
 * dropped and the rest renormalised. Upscaling is then plain half-pixel bilinear.
 */
function axisWeights(len: number, n: number): AxisWeights {
  const scale = len / n;
  const support = Math.max(scale, 1);
  const stride = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(n);
  const count = new Int32Array(n);
  const w = new Float64Array(n * stride);
  for (let i = 0; i < n; i++) {
    const center = (i + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(center - support + 0.5));
    const hi = Math.min(len, Math.trunc(center + support + 0.5));
    start[i] = lo;
    count[i] = hi - lo;
    let sum = 0;
    for (let k = 0; k < hi - lo; k++) {
      const t = Math.abs((lo + k - center + 0.5) / support);
      const v = t < 1 ? 1 - t : 0;
      w[i * stride + k] = v;
      sum += v;
    }
    for (let k = 0; k < hi - lo; k++) w[i * stride + k] /= sum;
  }
  return { start, count, w, stride };
}

/**
 * Resamples the window (top, left, wh, ww) of a CxHxW image to CxOHxOW with a bilinear filter
 * (antialiased when shrinking, see axisWeights), rows first, rounding once at the end. Only
 * pixels inside the window contribute, as crop-then-resize.
 *
 * @example
 *   resampleWindowInto(dst, 224, 224, src, 3, 256, 256, 10, 20, 100, 140);
 */
export function resampleWindowInto(
  dst: Uint8Array, oh: number, ow: number,
  src: Uint8Array, c: number, h: number, w: number,
  top: number, left: number, wh: number, ww: number,
): void {
  if (top < 0 || left < 0 || wh < 1 || ww < 1 || top + wh > h || left + ww > w) {
    throw new F8Error('SHAPE_MISMATCH', `resampleWindowInto: window ${wh}x${ww} at (${top}, ${left}) of a ${h}x${w} image`);
  }
  const ax = axisWeights(ww, ow);
  const ay = axisWeights(wh, oh);
  const tmp = new Float64Array(wh * ow);
  const acc = new Float64Array(ow);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < wh; y++) {
      const row = (ch * h + top + y) * w + left;
      for (let x = 0; x < ow; x++) {
        const s = row + ax.start[x];
        const o = x * ax.stride;
        const n = ax.count[x];
        let a = 0;
        for (let k = 0; k < n; k++) a += ax.w[o + k] * src[s + k];
        tmp[y * ow + x] = a;
      }
    }
    for (let y = 0; y < oh; y++) {
      acc.fill(0);
      const o = y * ay.stride;
      for (let k = 0; k < ay.count[y]; k++) {
        const wk = ay.w[o + k];
        const r = (ay.start[y] + k) * ow;
        for (let x = 0; x < ow; x++) acc[x] += wk * tmp[r + x];
      }
      const d = (ch * oh + y) * ow;
      for (let x = 0; x < ow; x++) dst[d + x] = Math.min(255, Math.max(0, Math.round(acc[x])));
    }
  }
}

export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/**
 * torchvision's RandomResizedCrop.get_params: up to 10 tries of an area fraction in `scale`
 * and a log-uniform aspect ratio in `ratio` that fit the h x w image, then the center crop
 * of the largest window with a ratio in range.
 *
 * @example
 *   randomResizedCropBox(256, 256, new Rng(1)); // e.g. { top: 40, left: 3, height: 180, width: 201 }
 */
export function randomResizedCropBox(h: number, w: number, rng: Rng, scale: [number, number] = [0.08, 1], ratio: [number, number] = [3 / 4, 4 / 3]): CropBox {
  const area = h * w;
  const [lr0, lr1] = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * (scale[0] + (scale[1] - scale[0]) * rng.nextFloat());
    const aspect = Math.exp(lr0 + (lr1 - lr0) * rng.nextFloat());
    const cw = roundHalfEven(Math.sqrt(target * aspect));
    const chh = roundHalfEven(Math.sqrt(target / aspect));
    if (cw > 0 && cw <= w && chh > 0 && chh <= h) {
      return { top: rng.nextInt(h - chh + 1), left: rng.nextInt(w - cw + 1), height: chh, width: cw };
    }
  }
  const inRatio = w / h;
  let cw = w;
  let chh = h;
  if (inRatio < Math.min(...ratio)) chh = roundHalfEven(w / Math.min(...ratio));
  else if (inRatio > Math.max(...ratio)) cw = roundHalfEven(h * Math.max(...ratio));
  return { top: Math.floor((h - chh) / 2), left: Math.floor((w - cw) / 2), height: chh, width: cw };
}

/**
 * The training transform of an image-folder split stored at resizeTo: a random-resized crop
 * to size x size (torchvision defaults) or, without it, the center crop evaluation uses.
 *
 * @example
 *   new BatchLoader(train, { batchSize: 64, sampleTransform: imageFolderTransform(train, 224, true) });
 */
export function imageFolderTransform(ds: Dataset, size: number, randomResizedCrop: boolean): SampleTransform {
  const { channels: c, height: h, width: w } = ds;
  if (size > h || size > w) throw new F8Error('BAD_CONFIG', `image_size ${size} is larger than the ${h}x${w} images of ${ds.name}`);
  const outShape = [c, size, size] as const;
  if (!randomResizedCrop) return { outShape, apply: (dst, src) => centerCropInto(dst, src, c, h, w, size, size) };
  return {
    outShape,
    apply(dst, src, rng) {
      const b = randomResizedCropBox(h, w, rng);
      resampleWindowInto(dst, size, size, src, c, h, w, b.top, b.left, b.height, b.width);
    },
  };
}
