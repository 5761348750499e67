// Image-folder data set: layout and labels, exact pixels after decode and crop, the pure
// resample/crop functions against hand-computed values, random-resized crop, and hostile files.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { centerCropInto, imageFolderTransform, randomResizedCropBox, resampleWindowInto, type ImageFolderSplits } from '../../src/data/image-folder.js';
import { loadImageFolder } from '../../src/node/image-folder.js';
import { BatchLoader } from '../../src/data/loader.js';
import { Rng } from '../../src/runtime/rng.js';
import { inputShape, loadData, loadDataAsync } from '../../src/data/sources.js';
import { resolveConfig } from '../../src/train/config.js';
import { F8Error } from '../../src/runtime/errors.js';

const root = mkdtempSync(join(tmpdir(), 'f8net-imgdir-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

type Raw = { w: number; h: number; c: number; data: Buffer };

/** w x h image with c interleaved channels; pixel (y, x, ch) = f(y, x, ch). */
function raw(w: number, h: number, c: number, f: (y: number, x: number, ch: number) => number): Raw {
  const data = Buffer.alloc(w * h * c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) data[(y * w + x) * c + ch] = f(y, x, ch);
  return { w, h, c, data };
}

function encode(r: Raw, fmt: 'png' | 'jpeg' | 'webp' | 'gif'): Promise<Buffer> {
  const s = sharp(r.data, { raw: { width: r.w, height: r.h, channels: r.c as 1 | 3 | 4 } });
  if (fmt === 'png') return s.png().toBuffer();
  if (fmt === 'jpeg') return s.jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer();
  if (fmt === 'webp') return s.webp({ lossless: true }).toBuffer();
  return s.gif().toBuffer();
}

/** Writes files (relative path -> contents) under a new folder; returns the folder. */
function tree(files: Record<string, Buffer | string>): string {
  const d = mkdtempSync(join(root, 'set-'));
  for (const [rel, data] of Object.entries(files)) {
    mkdirSync(dirname(join(d, rel)), { recursive: true });
    writeFileSync(join(d, rel), data);
  }
  return d;
}

/** A valid PNG of w x h 1-bit black pixels: a few tens of KB that decode to w*h pixels. */
function pngBomb(w: number, h: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    td.copy(out, 4);
    out.writeUInt32BE(crc32(td), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 1; // bit depth
  const rows = Buffer.alloc((Math.ceil(w / 8) + 1) * h); // filter byte 0 + zero bits per row
  const sig = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
  return Buffer.concat([sig, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

async function expectBadInput(p: Promise<unknown>, ...parts: string[]): Promise<void> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(F8Error);
  const e = err as F8Error;
  expect(e.code).toBe('BAD_INPUT');
  expect(e.message).not.toContain('\n');
  for (const s of parts) expect(e.message).toContain(s);
}

/** CHW pixels of a c x h x w crop at (top, left) of an interleaved Raw. */
function chwCrop(r: Raw, top: number, left: number, h: number, w: number): number[] {
  const out: number[] = [];
  for (let ch = 0; ch < r.c; ch++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out.push(r.data[((y + top) * r.w + x + left) * r.c + ch]);
  return out;
}

// 6 wide, 9 high, so with resizeTo 6 nothing is resampled: the crops are exact for lossless files.
const tall = raw(6, 9, 3, (y, x, ch) => (y * 23 + x * 7 + ch * 50) % 256);
const smooth = raw(6, 6, 3, (y, x, ch) => 40 + y * 10 + x * 8 + ch * 30);
const flat = (v: number[]) => raw(12, 18, 3, (_y, _x, ch) => v[ch]);

describe('image folder: layout, labels and pixels', () => {
  let dir: string;
  let ds: ImageFolderSplits;
  beforeAll(async () => {
    dir = tree({
      'train/zebra/a.png': await encode(tall, 'png'),
      'train/zebra/b.jpg': await encode(smooth, 'jpeg'),
      'train/zebra/README.txt': 'not an image',
      'train/zebra/.hidden.png': 'garbage, but hidden',
      'train/ant/c.webp': await encode(tall, 'webp'),
      'train/ant/sub/d.PNG': await encode(flat([200, 100, 50]), 'png'),
      'train/bee/e.png': await encode(raw(12, 6, 4, (_y, x, ch) => [[200, 100, 50, 128], [10, 20, 30, 255]][x < 6 ? 0 : 1][ch]), 'png'),
      'train/.cache/x.png': 'hidden folder',
      'val/ant/f.png': await encode(tall, 'png'),
      'val/bee/g.jpeg': await encode(smooth, 'jpeg'),
      'val/zebra/h.webp': await encode(flat([1, 2, 3]), 'webp'),
    });
    ds = await loadImageFolder(dir, { imageSize: 4, resizeTo: 6, name: 'toy' });
  });

  it('labels by sorted class names, skips other and hidden files, keeps val separate', () => {
    expect(ds.classes).toEqual(['ant', 'bee', 'zebra']);
    expect(ds.train).toMatchObject({ name: 'toy/train', numClasses: 3, channels: 3, height: 6, width: 6, length: 5 });
    expect([...ds.train.labels]).toEqual([0, 0, 1, 2, 2]); // c.webp, sub/d.PNG, e.png, a.png, b.jpg
    expect(ds.test).toMatchObject({ name: 'toy/val', height: 4, width: 4, length: 3 });
    expect([...ds.test.labels]).toEqual([0, 1, 2]);
  });

  it('stores the center square of lossless images exactly (train at resizeTo, val cropped to imageSize)', () => {
    const s = 3 * 36;
    const want = chwCrop(tall, 2, 0, 6, 6); // round((9 - 6) / 2) = round(1.5) = 2, Python rounding
    expect([...ds.train.images.subarray(0, s)]).toEqual(want); // webp lossless
    expect([...ds.train.images.subarray(3 * s, 4 * s)]).toEqual(want); // png
    // Resize(6) + CenterCrop(4) straight from the 6x9 image: top round(2.5) = 2, left 1.
    expect([...ds.test.images.subarray(0, 48)]).toEqual(chwCrop(tall, 2, 1, 4, 4));
  });

  it('resizes the shorter side to resizeTo and flattens alpha on black', () => {
    const d = [...ds.train.images.subarray(108, 216)]; // 12x18 of one colour -> 6x9 -> 6x6
    expect(d).toEqual([...Array(36).fill(200), ...Array(36).fill(100), ...Array(36).fill(50)]);
    const e = ds.train.images.subarray(2 * 108, 3 * 108); // 12x6 RGBA, center 6x6: columns 3..8
    expect([e[0], e[36], e[72]]).toEqual([100, 50, 25]); // (200, 100, 50) at alpha 128
    expect([e[5], e[41], e[77]]).toEqual([10, 20, 30]);
  });

  it('decodes JPEG within a tolerance', () => {
    const got = ds.train.images.subarray(4 * 108, 5 * 108);
    const want = chwCrop(smooth, 0, 0, 6, 6);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(6);
  });

  it('loads grayscale with channels 1', async () => {
    const g = raw(6, 7, 1, (y, x) => y * 30 + x);
    const d = tree({ 'train/a/x.png': await encode(g, 'png'), 'train/b/y.png': await encode(g, 'png'), 'test/a/z.png': await encode(g, 'png'), 'test/b/z.png': await encode(g, 'png') });
    const s = await loadImageFolder(d, { imageSize: 2, resizeTo: 6, channels: 1 });
    expect(s.train).toMatchObject({ channels: 1, height: 6, width: 6, length: 2 });
    expect(s.test.name.endsWith('/test')).toBe(true);
    expect([...s.train.images.subarray(0, 36)]).toEqual(chwCrop(g, 0, 0, 6, 6)); // round(0.5) = 0
    expect([...s.test.images.subarray(0, 4)]).toEqual([2 * 30 + 2, 2 * 30 + 3, 3 * 30 + 2, 3 * 30 + 3]);
  });
});

describe('image folder: pixel functions', () => {
  it('center crop: Python-rounded offsets, CHW and HWC sources', () => {
    const src = Uint8Array.from({ length: 2 * 3 * 5 }, (_, i) => i); // 2 x 3 x 5
    const dst = new Uint8Array(2 * 1 * 2);
    centerCropInto(dst, src, 2, 3, 5, 1, 2); // top round(1) = 1, left round(1.5) = 2
    expect([...dst]).toEqual([7, 8, 22, 23]);
    const hwc = Uint8Array.from({ length: 3 * 5 * 2 }, (_, i) => i); // 3 x 5 x 2 interleaved
    centerCropInto(dst, hwc, 2, 3, 5, 1, 2, 'hwc');
    expect([...dst]).toEqual([14, 16, 15, 17]);
    expect(() => centerCropInto(dst, src, 2, 3, 5, 4, 2)).toThrow(/4x2 window of a 3x5 image/);
  });

  it('bilinear resample: half-pixel upscaling, antialiased downscaling, windows', () => {
    const up = new Uint8Array(4);
    resampleWindowInto(up, 1, 4, Uint8Array.from([0, 100]), 1, 1, 2, 0, 0, 1, 2);
    expect([...up]).toEqual([0, 25, 75, 100]);
    const down = new Uint8Array(2);
    // Triangle of half-width 2: weights 3/7, 3/7, 1/7 -> (0*3 + 70*3 + 140) / 7 = 50, (70 + 140*3 + 210*3) / 7 = 160.
    resampleWindowInto(down, 1, 2, Uint8Array.from([0, 70, 140, 210]), 1, 1, 4, 0, 0, 1, 4);
    expect([...down]).toEqual([50, 160]);
    // 2-D separable: 2x2 -> 4x4, each row and column [a, (3a+b)/4, (a+3b)/4, b].
    const sq = new Uint8Array(16);
    resampleWindowInto(sq, 4, 4, Uint8Array.from([0, 80, 160, 240]), 1, 2, 2, 0, 0, 2, 2);
    const lerp = (a: number, b: number) => [a, 0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b, b];
    const cols = lerp(0, 160).map((l, i) => [l, lerp(80, 240)[i]]);
    expect([...sq]).toEqual(cols.flatMap(([l, r]) => lerp(l, r).map(Math.round)));
    // A same-size window is a plain copy of the window, per channel.
    const src = Uint8Array.from({ length: 2 * 4 * 4 }, (_, i) => i * 3);
    const win = new Uint8Array(2 * 2 * 3);
    resampleWindowInto(win, 2, 3, src, 2, 4, 4, 1, 0, 2, 3);
    expect([...win]).toEqual([12, 15, 18, 24, 27, 30, 60, 63, 66, 72, 75, 78]);
    expect(() => resampleWindowInto(win, 2, 3, src, 2, 4, 4, 3, 0, 2, 3)).toThrow(/window 2x3 at \(3, 0\) of a 4x4/);
  });

  it('random-resized crop: deterministic per seed, inside the image, torchvision fallback', () => {
    const boxes = (seed: number) => Array.from({ length: 50 }, (_, i) => randomResizedCropBox(40, 30, new Rng(seed + i)));
    expect(boxes(1)).toEqual(boxes(1));
    expect(boxes(1)).not.toEqual(boxes(2));
    for (const b of boxes(7)) {
      expect(b.height).toBeGreaterThan(0);
      expect(b.width).toBeGreaterThan(0);
      expect(b.top + b.height).toBeLessThanOrEqual(40);
      expect(b.left + b.width).toBeLessThanOrEqual(30);
      expect(b.top).toBeGreaterThanOrEqual(0);
      expect(b.left).toBeGreaterThanOrEqual(0);
      expect((b.height * b.width) / 1200).toBeGreaterThan(0.05);
    }
    // No window of ratio 3/4..4/3 and area >= 8% fits a 1 x 100 strip: the fallback center crop.
    expect(randomResizedCropBox(1, 100, new Rng(3))).toEqual({ top: 0, left: 49, height: 1, width: 1 });
    expect(randomResizedCropBox(100, 1, new Rng(3))).toEqual({ top: 49, left: 0, height: 1, width: 1 });
    expect(randomResizedCropBox(10, 10, new Rng(3), [1, 1], [1, 1])).toEqual({ top: 0, left: 0, height: 10, width: 10 });
  });

  it('drives the BatchLoader: imageSize batches, seeded crops, flips after the transform', () => {
    const n = 12;
    const train = { name: 't', numClasses: 2, channels: 2, height: 8, width: 8, length: n, images: Uint8Array.from({ length: n * 128 }, (_, i) => (i * 37) % 251), labels: Uint8Array.from({ length: n }, (_, i) => i % 2) };
    const rrc = imageFolderTransform(train, 5, true);
    expect(rrc.outShape).toEqual([2, 5, 5]);
    const run = (seed: number) => [...new BatchLoader(train, { batchSize: 5, shuffle: true, seed, sampleTransform: rrc })].map((b) => [...b.images]);
    const a = run(4);
    expect(a.map((x) => x.length)).toEqual([250, 250, 100]);
    expect(run(4)).toEqual(a);
    expect(run(5)).not.toEqual(a);
    const center = imageFolderTransform(train, 4, false);
    const loader = new BatchLoader(train, { batchSize: n, sampleTransform: center, augment: { hflip: true } });
    expect(loader.sampleShape).toEqual([2, 4, 4]);
    const [b] = [...loader];
    let flipped = 0;
    for (let i = 0; i < n; i++) {
      const c = new Uint8Array(32);
      centerCropInto(c, train.images.subarray(i * 128, (i + 1) * 128), 2, 8, 8, 4, 4);
      const mirror = Array.from({ length: 32 }, (_, p) => c[p - (p % 4) + 3 - (p % 4)]);
      const got = [...b.images.subarray(i * 32, (i + 1) * 32)];
      if (got.join() !== [...c].join()) {
        expect(got).toEqual(mirror);
        flipped++;
      }
    }
    expect(flipped).toBeGreaterThan(0);
    expect(flipped).toBeLessThan(n);
    expect(() => imageFolderTransform(train, 9, true)).toThrow(/image_size 9 is larger than the 8x8 images/);
  });
});

describe('image folder: bad input', () => {
  let png: Buffer;
  beforeAll(async () => {
    png = await encode(tall, 'png');
  });
  const load = (files: Record<string, Buffer | string>, maxPixels?: number) => loadImageFolder(tree(files), { imageSize: 4, resizeTo: 6, maxPixels });

  it('refuses a corrupt, truncated or unsupported file with its path', async () => {
    const junk = Buffer.from(Array.from({ length: 500 }, (_, i) => (i * 131 + 7) % 256));
    await expectBadInput(load({ 'train/a/x.png': png, 'train/a/bad.jpg': junk, 'val/a/y.png': png }), 'bad.jpg: not a JPEG, PNG or WebP image');
    await expectBadInput(load({ 'train/a/x.png': png, 'val/a/cut.png': png.subarray(0, png.length - 20) }), 'cut.png: cannot decode (', 'expected a complete JPEG, PNG or WebP image');
    const jpg = await encode(smooth, 'jpeg');
    await expectBadInput(load({ 'train/a/cut.jpg': jpg.subarray(0, jpg.length >> 1), 'val/a/y.png': png }), 'cut.jpg: cannot decode (', 'premature end');
    await expectBadInput(load({ 'train/a/anim.png': await encode(tall, 'gif'), 'val/a/y.png': png }), 'anim.png: gif image, expected JPEG, PNG or WebP');
  });

  it('refuses a decompression bomb from its header, with the numbers', async () => {
    const bomb = pngBomb(20000, 20000);
    expect(bomb.length).toBeLessThan(100_000);
    await expectBadInput(load({ 'train/a/x.png': png, 'val/a/bomb.png': bomb }), 'bomb.png: image has 20000 x 20000 = 400000000 pixels, more than the limit of 40000000 (a decompression bomb?)');
    await expectBadInput(load({ 'train/a/x.png': png, 'val/a/y.png': png }, 50), 'x.png: image has 6 x 9 = 54 pixels, more than the limit of 50');
  });

  it('checks the layout: split folders, the same classes, no empty class', async () => {
    await expectBadInput(load({ 'train/a/x.png': png, 'train/b/x.png': png, 'val/a/y.png': png }), 'val: lacks class folder b that train/ has');
    await expectBadInput(load({ 'train/a/x.png': png, 'val/a/y.png': png, 'val/c/y.png': png, 'val/d/y.png': png }), 'val: has class folders c, d that train/ lacks');
    await expectBadInput(load({ 'train/a/x.png': png, 'train/b/README.txt': 'x', 'val/a/y.png': png, 'val/b/y.png': png }), `${join('train', 'b')}: no .jpg, .jpeg, .png or .webp images`);
    await expectBadInput(load({ 'cat/x.png': png, 'dog/y.png': png }), 'holds class folders (cat, dog) directly, with no train/ and val/ split', 'train');
    await expectBadInput(load({ 'train/a/x.png': png }), 'has train/ but no val/ or test/ folder');
    await expectBadInput(load({ 'train/x.png': png, 'val/y.png': png }), `${join('', 'train')}: has no class folders`);
  });
});

describe('image folder: config and loadDataAsync', () => {
  it('resolves a folder config into imageSize batches with ImageNet statistics (double_side head; weight_only feeds pixel / 256)', async () => {
    const png = await encode(tall, 'png');
    const dir = tree({ 'train/a/x.png': png, 'train/b/x.png': png, 'val/a/y.png': png, 'val/b/y.png': png });
    const cfg = resolveConfig({ dataset: 'folder', dataset_dir: dir, image_size: 4, augment_random_resized_crop: true, augment_hflip: true, head_form: 'double_side' });
    const data = await loadDataAsync(cfg);
    expect(data.train).toMatchObject({ height: 5, width: 5, numClasses: 2 }); // round(4 * 256 / 224)
    expect(data.test).toMatchObject({ height: 4, width: 4 });
    expect(inputShape(data)).toEqual([3, 4, 4]);
    expect(data.mean).toEqual([0.485, 0.456, 0.406]);
    expect((await loadDataAsync({ ...cfg, head_form: 'weight_only' })).mean).toEqual([0, 0, 0]);
    const [b] = [...new BatchLoader(data.train, { batchSize: 2, sampleTransform: data.trainTransform })];
    expect(b.images.length).toBe(2 * 3 * 16);
    const gray = await loadDataAsync(resolveConfig({ dataset: 'folder', dataset_dir: dir, image_size: 4, input_mean: [0.5], input_std: [0.25], head_form: 'double_side' }));
    expect(inputShape(gray)).toEqual([1, 4, 4]);
    expect(() => loadData(cfg)).toThrow(/call loadDataAsync/);
    expect(inputShape(await loadDataAsync(resolveConfig({ dataset: 'synthetic', image_size: 8 })))).toEqual([1, 8, 8]);
  });

  it('rejects folder configs without image_size, and random-resized crop elsewhere', () => {
    expect(() => resolveConfig({ dataset: 'folder', dataset_dir: '/x' })).toThrow(/dataset folder needs image_size/);
    expect(() => resolveConfig({ dataset: 'folder', dataset_dir: '/x', image_size: 8, pad_to: 10 })).toThrow(/pad_to does not apply/);
    expect(() => resolveConfig({ augment_random_resized_crop: true })).toThrow(/augment_random_resized_crop needs dataset folder/);
  });
});
