/**
 * Reading an image-folder data set from disk (layout and decoding rules: src/data/image-folder.ts):
 * class folders listed in name order, every image's header read before it is decoded with sharp.
 */
import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { readUntrusted } from './untrusted.js';
import { basename, extname, join } from 'node:path';
import sharp from 'sharp';
import { F8Error } from '../runtime/errors.js';
import { checkDataset, type Dataset } from '../data/dataset.js';
import { IMAGE_EXTENSIONS, DEFAULT_MAX_PIXELS, centerCropInto, type ImageFolderOptions, type ImageFolderSplits } from '../data/image-folder.js';

const FORMATS = new Set(['jpeg', 'png', 'webp']);
/** Images decoded at a time: bounds the transient memory of full-size decodes. */
const CONCURRENCY = 4;
const bad = (path: string, msg: string) => new F8Error('BAD_INPUT', `${path}: ${msg}`);

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
