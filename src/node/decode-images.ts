/**
 * Images for prediction: an image file, a folder of images, or an IDX image file, decoded into
 * [n, C, H, W] uint8 pixels that fit a model's input. Each image records what was changed to
 * make it fit (resized, converted to grey, alpha dropped, padded), so the caller can say so.
 * With `skipBad`, unreadable files are skipped and listed instead of stopping at the first.
 *
 * @example
 *   const imgs = await decodeImages('digits/', [1, 28, 28], { skipBad: true });
 *   console.log(imgs.names.length, imgs.skipped.length, imgs.notes[0]); // e.g. "resized 640x480 to 28x28; converted to grey"
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { extname, join, basename } from 'node:path';
import sharp from 'sharp';
import { IDX_MAGIC_IMAGES } from '../data/idx.js';
import { readIdx } from './dataset-files.js';
import { IMAGE_EXTENSIONS, DEFAULT_MAX_PIXELS } from '../data/image-folder.js';
import { F8Error } from '../runtime/errors.js';
import { readUntrustedImage, checkedImageSize } from './image-folder.js';

export interface DecodedImages {
  /** n * C * H * W pixels, CHW per image. */
  pixels: Uint8Array;
  names: string[];
  /** Per image: what was done to fit the model ('' when nothing). */
  notes: string[];
  /** Files that could not be decoded (only with skipBad), with the reason. */
  skipped: { file: string; reason: string }[];
}

export interface DecodeOptions {
  /** Only the first n images. */
  limit?: number;
  /** Skip and list unreadable files instead of throwing at the first. */
  skipBad?: boolean;
  /** Largest accepted width x height of an input image (default 40e6). */
  maxPixels?: number;
}

/**
 * Decodes `path` for a model reading [C, H, W] images.
 *
 * @example
 *   const { pixels, names, notes, skipped } = await decodeImages('photos/', [3, 32, 32], { skipBad: true, limit: 100 });
 */
export async function decodeImages(path: string, shape: readonly [number, number, number], opts: DecodeOptions = {}): Promise<DecodedImages> {
  const [C, H, W] = shape;
  if (!existsSync(path)) throw new F8Error('BAD_INPUT', `--images ${path}: no such file or folder`);
  const st = statSync(path);
  if (st.isFile() && !IMAGE_EXTENSIONS.includes(extname(path.toLowerCase()))) return decodeIdx(path, shape, opts.limit);
  const files = st.isDirectory()
    ? readdirSync(path)
        .filter((f) => IMAGE_EXTENSIONS.includes(extname(f).toLowerCase()))
        .sort()
        .map((f) => join(path, f))
    : [path];
  if (!files.length) throw new F8Error('BAD_INPUT', `--images ${path}: no ${IMAGE_EXTENSIONS.join('/')} images in this folder`);
  const chosen = files.slice(0, opts.limit ?? files.length);
  const out: Uint8Array[] = [];
  const names: string[] = [];
  const notes: string[] = [];
  const skipped: DecodedImages['skipped'] = [];
  for (const file of chosen) {
    try {
      const { pixels, note } = await decodeOne(file, C, H, W, opts.maxPixels ?? DEFAULT_MAX_PIXELS);
      out.push(pixels);
      names.push(basename(file));
      notes.push(note);
    } catch (e) {
      if (!opts.skipBad || !(e instanceof F8Error)) throw e;
      skipped.push({ file, reason: e.message });
    }
  }
  if (!out.length) throw new F8Error('BAD_INPUT', `--images ${path}: none of the ${chosen.length} files could be read (first: ${skipped[0]?.reason})`);
  const pixels = new Uint8Array(out.length * C * H * W);
  out.forEach((p, i) => pixels.set(p, i * C * H * W));
  return { pixels, names, notes, skipped };
}

/** One image file to CHW pixels; the note says what changed. */
async function decodeOne(file: string, C: number, H: number, W: number, maxPixels: number): Promise<{ pixels: Uint8Array; note: string }> {
  const bad = (why: string) => new F8Error('BAD_INPUT', `${file}: not a readable image (${why.split('\n')[0]})`);
  // Regular files only, size and pixel count from the header before libvips decodes anything.
  const buf = readUntrustedImage(file);
  const [w, h] = await checkedImageSize(buf, file, maxPixels).catch((e: unknown) => {
    throw bad(String((e as Error).message).replace(`${file}: `, ''));
  });
  const meta = await sharp(buf, { limitInputPixels: false }).metadata().catch((e: unknown) => {
    throw bad((e as Error).message);
  });
  const srcChannels = (meta.channels ?? 3) - (meta.hasAlpha ? 1 : 0);
  const note: string[] = [];
  if (w !== W || h !== H) note.push(`resized ${w}x${h} to ${W}x${H}`);
  if (C === 1 && srcChannels > 1) note.push('converted to grey');
  if (C === 3 && srcChannels === 1) note.push('grey copied to 3 channels');
  if (meta.hasAlpha) note.push('alpha dropped');
  let raw: Buffer;
  try {
    let img = sharp(buf, { limitInputPixels: maxPixels }).resize(W, H, { fit: 'fill' }).removeAlpha();
    img = C === 1 ? img.grayscale() : img.toColourspace('srgb');
    raw = await img.raw().toBuffer();
  } catch (e) {
    throw bad((e as Error).message);
  }
  const ch = raw.length / (H * W);
  if (ch !== C) throw new F8Error('BAD_INPUT', `${file}: decoded to ${ch} channels; the model reads ${C}`);
  const pixels = new Uint8Array(C * H * W);
  // HWC -> CHW
  for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) pixels[c * H * W + p] = raw[p * C + c];
  return { pixels, note: note.join('; ') };
}

/** An IDX image file (optionally gzipped): [n, h, w] u8, padded (centred, zeros) to the model's size. */
function decodeIdx(path: string, [C, H, W]: readonly [number, number, number], limit?: number): DecodedImages {
  const idx = readIdx(path, IDX_MAGIC_IMAGES);
  const [n0, h, w] = [idx.dims[0], idx.dims[1], idx.dims[2] ?? 1];
  if (idx.dims.length !== 3 || C !== 1) throw new F8Error('BAD_INPUT', `--images ${path}: an IDX file of [n, h, w] grey images needs a one-channel model; the model reads [${C}, ${H}, ${W}]`);
  if (h > H || w > W) throw new F8Error('BAD_INPUT', `--images ${path}: ${h}x${w} images are larger than the model's ${H}x${W} input`);
  const n = Math.min(n0, limit ?? n0);
  const pixels = new Uint8Array(n * H * W);
  const [t, l] = [Math.floor((H - h) / 2), Math.floor((W - w) / 2)];
  for (let i = 0; i < n; i++) for (let y = 0; y < h; y++) pixels.set(idx.data.subarray((i * h + y) * w, (i * h + y + 1) * w), (i * H + t + y) * W + l);
  const note = h !== H || w !== W ? `padded ${w}x${h} to ${W}x${H}` : '';
  return { pixels, names: Array.from({ length: n }, (_, i) => `${basename(path)}[${i}]`), notes: new Array<string>(n).fill(note), skipped: [] };
}
