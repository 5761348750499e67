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
 * @example
 *   const { train, test, classes } = await loadImageFolder('data/flowers', { imageSize: 224 });
 *   const loader = new BatchLoader(train, { batchSize: 64, shuffle: true, augment: { hflip: true },
 *     sampleTransform: imageFolderTransform(train, 224, true) });
 */
import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { readUntrusted } from '../io/untrusted.js';
import { basename, extname, join } from 'node:path';
import sharp from 'sharp';
import { F8Error } from '../runtime/errors.js';
import { checkDataset, type Dataset, type DatasetSplits } from './dataset.js';
import type { SampleTransform } from './loader.js';
import type { Rng } from './rng.js';

export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp'];
export const DEFAULT_MAX_PIXELS = 40e6;
const FORMATS = new Set(['jpeg', 'png', 'webp']);
/** Images decoded at a time: bounds the transient memory of full-size decodes. */
const CONCURRENCY = 4;

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

const bad = (path: string, msg: string) => new F8Error('BAD_INPUT', `${path}: ${msg}`);

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

// ---------------------------------------------------------------- files

function visible(e: Dirent): boolean {
  return !e.name.startsWith('.');
}

async function isDir(path: string, e: Dirent): Promise<boolean> {
  if (e.isDirectory()) return true;
  if (!e.isSymbolicLink()) return false;
  return (await stat(path).catch(() => null))?.isDirectory() ?? false;
}

/** Sorted names of the visible sub-folders (code-point order, as Python's sorted()). */
async function subdirs(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) if (visible(e) && (await isDir(join(dir, e.name), e))) out.push(e.name);
  return out.sort();
}

/** Image files under `dir` (recursively, as ImageFolder), sorted; other and hidden files are skipped. */
async function imageFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = (await readdir(dir, { withFileTypes: true })).filter(visible).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const p = join(dir, e.name);
    if (await isDir(p, e)) out.push(...(await imageFiles(p)));
    else if (IMAGE_EXTENSIONS.includes(extname(e.name).toLowerCase())) out.push(p);
  }
  return out;
}

/** The largest image file read (a 256 MiB JPEG is far past any data set's images). */
export const MAX_IMAGE_FILE_BYTES = 256 << 20;
/** Longest side over shortest accepted: libvips floods stderr with GLib-CRITICAL lines on 1 x 39M. */
export const MAX_IMAGE_ASPECT = 256;

/** An image file's bytes: regular files only (a named pipe is refused, not waited on). */
export function readUntrustedImage(file: string): Buffer {
  return readUntrusted(file, { what: 'a JPEG, PNG or WebP image', maxBytes: MAX_IMAGE_FILE_BYTES });
}

/**
 * Width and height from the header alone (sharp's own limit off, so a bomb is refused with its
 * size), refused before any decode when the format, the pixel count or the aspect ratio is out
 * of range. Used by every image reader.
 */
export async function checkedImageSize(buf: Buffer, file: string, maxPixels: number): Promise<[number, number]> {
  // PNG: the IHDR size is at a fixed offset; check it before libvips sees the file at all.
  if (buf.length >= 24 && buf.readUInt32BE(0) === 0x89504e47 && buf.toString('latin1', 12, 16) === 'IHDR') checkDims(buf.readUInt32BE(16), buf.readUInt32BE(20), file, maxPixels);
  const meta = await sharp(buf, { limitInputPixels: false, failOn: 'error' })
    .metadata()
    .catch((e: unknown) => {
      throw bad(file, decodeReason(e, maxPixels));
    });
  if (!FORMATS.has(meta.format ?? '')) throw bad(file, `${meta.format ?? 'unknown'} image, expected JPEG, PNG or WebP`);
  const { width: w, height: h } = meta;
  checkDims(w, h, file, maxPixels);
  return [w!, h!];
}

function checkDims(w: number | undefined, h: number | undefined, file: string, maxPixels: number): void {
  if (!w || !h) throw bad(file, `image of ${w} x ${h} pixels, expected a positive size`);
  if (w * h > maxPixels) throw bad(file, `image has ${w} x ${h} = ${w * h} pixels, more than the limit of ${maxPixels} (a decompression bomb?)`);
  if (Math.max(w, h) > MAX_IMAGE_ASPECT * Math.min(w, h)) throw bad(file, `image of ${w} x ${h} pixels, expected an aspect ratio of at most ${MAX_IMAGE_ASPECT}:1`);
}

/** sharp's message as one line of what went wrong. */
function decodeReason(e: unknown, maxPixels: number): string {
  const text = e instanceof Error ? e.message : String(e);
  // sharp repeats libvips' log lines, and prefixes header failures.
  const lines = text.replace(/^Input buffer has corrupt header:\s*/, 'corrupt header\n').split('\n').map((l) => l.trim()).filter(Boolean);
  const msg = [...new Set(lines)].join('; ') || 'unknown error';
  if (/unsupported image format/i.test(msg)) return 'not a JPEG, PNG or WebP image (unrecognised contents)';
  if (/exceeds pixel limit/i.test(msg)) return `image has more than the limit of ${maxPixels} pixels (a decompression bomb?)`;
  return `cannot decode (${msg}), expected a complete JPEG, PNG or WebP image`;
}

interface DecodeSpec {
  channels: 1 | 3;
  resizeTo: number;
  /** Side of the stored center crop: resizeTo (train) or imageSize (eval). */
  crop: number;
  maxPixels: number;
}

/** Decodes one file into `dst` (channels x crop x crop). */
async function decodeInto(file: string, dst: Uint8Array, spec: DecodeSpec): Promise<void> {
  const buf = readUntrustedImage(file);
  const [w, h] = await checkedImageSize(buf, file, spec.maxPixels);
  const r = spec.resizeTo;
  const short = Math.min(w, h);
  const long = Math.trunc((r * Math.max(w, h)) / short);
  const [rw, rh] = w <= h ? [r, long] : [long, r];
  let pipe = sharp(buf, { limitInputPixels: spec.maxPixels, failOn: 'error' }).flatten({ background: { r: 0, g: 0, b: 0 } });
  if (rw !== w || rh !== h) pipe = pipe.resize({ width: rw, height: rh, fit: 'fill', kernel: 'linear' });
  const out = await pipe
    .toColourspace(spec.channels === 1 ? 'b-w' : 'srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true })
    .catch((e: unknown) => {
      throw bad(file, decodeReason(e, spec.maxPixels));
    });
  const { info, data } = out;
  if (info.channels !== spec.channels || info.width !== rw || info.height !== rh) {
    throw bad(file, `decoded to ${info.width}x${info.height} with ${info.channels} channels, expected ${rw}x${rh} with ${spec.channels}`);
  }
  centerCropInto(dst, data, spec.channels, rh, rw, spec.crop, spec.crop, 'hwc');
}

async function decodeSplit(name: string, files: string[], labels: number[], numClasses: number, spec: DecodeSpec, source: string): Promise<Dataset> {
  const sz = spec.channels * spec.crop * spec.crop;
  const images = new Uint8Array(files.length * sz);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < files.length) {
      const i = next++;
      try {
        await decodeInto(files[i], images.subarray(i * sz, (i + 1) * sz), spec);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, files.length) }, worker));
  const ds: Dataset = { name, numClasses, channels: spec.channels, height: spec.crop, width: spec.crop, length: files.length, images, labels: Uint8Array.from(labels) };
  return checkDataset(ds, source);
}

/** Image files of every class folder under `splitDir`, with their labels; `limit` keeps the first N. */
async function listSplit(splitDir: string, classes: string[], limit: number | null | undefined): Promise<{ files: string[]; labels: number[] }> {
  const files: string[] = [];
  const labels: number[] = [];
  for (let k = 0; k < classes.length; k++) {
    const classDir = join(splitDir, classes[k]);
    const found = await imageFiles(classDir);
    if (found.length === 0) throw bad(classDir, `no .jpg, .jpeg, .png or .webp images, expected at least one per class folder`);
    files.push(...found);
    labels.push(...found.map(() => k));
  }
  const n = limit ?? files.length;
  return { files: files.slice(0, n), labels: labels.slice(0, n) };
}

/**
 * Loads an image folder: train at resizeTo x resizeTo (for imageFolderTransform), the val/test
 * split center-cropped to imageSize x imageSize.
 *
 * @example
 *   const { train, test, classes } = await loadImageFolder('data/pets', { imageSize: 64, resizeTo: 72 });
 */
export async function loadImageFolder(dir: string, opts: ImageFolderOptions): Promise<ImageFolderSplits> {
  const { imageSize, channels = 3, maxPixels = DEFAULT_MAX_PIXELS } = opts;
  const resizeTo = opts.resizeTo ?? Math.round((imageSize * 256) / 224);
  const name = opts.name ?? basename(dir);
  if (!Number.isInteger(imageSize) || imageSize < 1) throw new F8Error('BAD_CONFIG', `image folder: imageSize ${imageSize}, expected a positive integer`);
  if (!Number.isInteger(resizeTo) || resizeTo < imageSize) throw new F8Error('BAD_CONFIG', `image folder: resizeTo ${resizeTo}, expected an integer >= imageSize ${imageSize}`);
  if (channels !== 1 && channels !== 3) throw new F8Error('BAD_CONFIG', `image folder: channels ${channels}, expected 1 or 3`);
  if (!(maxPixels > 0)) throw new F8Error('BAD_CONFIG', `image folder: maxPixels ${maxPixels}, expected a positive number`);
  const st = await stat(dir).catch(() => null);
  if (!st?.isDirectory()) throw new F8Error('IO', `${dir}: not a readable folder, expected an image folder with train/ and val/ (or test/) inside`);

  const layout = `expected ${join(dir, 'train', '<class>')}/*.jpg|png|webp and the same class folders under val/ (or test/)`;
  const top = await subdirs(dir);
  if (!top.includes('train')) {
    const withImages: string[] = [];
    for (const d of top) if ((await imageFiles(join(dir, d))).length) withImages.push(d);
    if (withImages.length) throw bad(dir, `holds class folders (${withImages.slice(0, 4).join(', ')}${withImages.length > 4 ? ', ...' : ''}) directly, with no train/ and val/ split, ${layout}`);
    throw bad(dir, `has no train/ folder, ${layout}`);
  }
  const evalSplit = top.includes('val') ? 'val' : top.includes('test') ? 'test' : null;
  if (!evalSplit) throw bad(dir, `has train/ but no val/ or test/ folder, ${layout}`);
  const trainDir = join(dir, 'train');
  const evalDir = join(dir, evalSplit);
  const classes = await subdirs(trainDir);
  if (classes.length === 0) throw bad(trainDir, `has no class folders, ${layout}`);
  if (classes.length > 256) throw bad(trainDir, `has ${classes.length} class folders, expected at most 256 (labels are uint8)`);
  const evalClasses = await subdirs(evalDir);
  const missing = classes.filter((c) => !evalClasses.includes(c));
  const extra = evalClasses.filter((c) => !classes.includes(c));
  if (missing.length) throw bad(evalDir, `lacks class folder${missing.length > 1 ? 's' : ''} ${missing.join(', ')} that train/ has, expected the same classes as train/`);
  if (extra.length) throw bad(evalDir, `has class folder${extra.length > 1 ? 's' : ''} ${extra.join(', ')} that train/ lacks, expected the same classes as train/`);

  const tr = await listSplit(trainDir, classes, opts.maxTrainSamples);
  const ev = await listSplit(evalDir, classes, opts.maxTestSamples);
  const spec = { channels, resizeTo, maxPixels };
  const train = await decodeSplit(`${name}/train`, tr.files, tr.labels, classes.length, { ...spec, crop: resizeTo }, trainDir);
  const test = await decodeSplit(`${name}/${evalSplit}`, ev.files, ev.labels, classes.length, { ...spec, crop: imageSize }, evalDir);
  return { train, test, classes, resizeTo, imageSize };
}
