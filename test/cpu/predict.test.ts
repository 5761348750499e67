import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { sampleGraphs } from '../int-graphs.js';
import { writeIntModel, readIntModel } from '../../src/node/int-model-files.js';
import { writeSafetensors } from '../../src/node/safetensors-file.js';
import { CHECKPOINT_FORMAT } from '../../src/train/checkpoint.js';
import { loadCheckpoint } from '../../src/node/checkpoint-files.js';
import { openPredictModel, predict, topK } from '../../src/node/predict.js';
import { decodeImages } from '../../src/node/decode-images.js';
import { runIntCpu, quantizeImages } from '../../src/export/run-cpu.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'f8net-predict-'));

/** The command line from source, asynchronously (the test worker keeps answering). */
async function f8net(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/entry.ts', ...args], { env: { ...process.env, F8NET_TUNE: '0' } });
  let [out, err] = ['', ''];
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((r) => p.on('close', (c) => r(c)));
  return { code, out, err };
}

describe('predict as a library', () => {
  it('topK: softmax probabilities, most probable first, with class names', () => {
    const t = topK([1, 3, 2, 3], 3, ['a', 'b', 'c', 'd']);
    expect(t.map((x) => x.class)).toEqual([1, 3, 2]);
    expect(t.map((x) => x.name)).toEqual(['b', 'd', 'c']);
    const z = Math.exp(-2) + 2 + Math.exp(-1);
    expect(t[0].prob).toBeCloseTo(1 / z, 12);
    expect(t[2].prob).toBeCloseTo(Math.exp(-1) / z, 12);
    expect(topK([5, 1], 9).length).toBe(2);
  });

  it('a training checkpoint, a run folder or another safetensors file as --model says to export first', () => {
    const d = tmp();
    const ck = join(d, 'best.safetensors');
    writeSafetensors(ck, [{ name: 'model.w', dtype: 'F32', shape: [1], data: new Uint8Array(4) }], { format: CHECKPOINT_FORMAT, meta: '{}' });
    expect(() => openPredictModel(ck)).toThrow(new RegExp(`^--model ${ck}: this is a training checkpoint; run 'f8net export --checkpoint ${ck} --out DIR' first`));
    expect(() => openPredictModel(d)).toThrow(/this is a training run folder \(it holds best\.safetensors, no model\.json\); run 'f8net export/);
    const w = join(d, 'weights.st');
    writeSafetensors(w, [{ name: 'w', dtype: 'F32', shape: [1], data: new Uint8Array(4) }]);
    expect(() => openPredictModel(w)).toThrow(/a safetensors file, not an exported model; run 'f8net export/);
    expect(() => openPredictModel(join(d, 'nope'))).toThrow(/--model .*nope: no such file or folder/);
  });

  it('a text file given as a checkpoint says "not a safetensors file"', () => {
    const f = join(tmp(), 'notes.txt');
    writeFileSync(f, 'these are my notes about the run\n');
    expect(() => loadCheckpoint(f)).toThrow(/notes\.txt: not a safetensors file/);
  });

  it('decodes images, says what it changed to fit, and skips unreadable files when asked', async () => {
    const d = tmp();
    const imgs = join(d, 'imgs');
    mkdirSync(imgs);
    await sharp({ create: { width: 20, height: 14, channels: 3, background: { r: 200, g: 10, b: 10 } } }).png().toFile(join(imgs, 'a.png'));
    await sharp({ create: { width: 9, height: 9, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toFile(join(imgs, 'b.png'));
    writeFileSync(join(imgs, 'c.jpg'), 'not a jpeg');
    const shape: [number, number, number] = [1, 9, 9];
    await expect(decodeImages(imgs, shape)).rejects.toThrow(/c\.jpg: not a readable image/);
    const r = await decodeImages(imgs, shape, { skipBad: true });
    expect(r.names).toEqual(['a.png', 'b.png']);
    expect(r.notes).toEqual(['resized 20x14 to 9x9; converted to grey', 'converted to grey']);
    expect(r.skipped.map((s) => s.file)).toEqual([join(imgs, 'c.jpg')]);
    expect(r.pixels.length).toBe(2 * 81);
    const rgb = await decodeImages(join(imgs, 'b.png'), [3, 9, 9]);
    expect(rgb.notes).toEqual(['']);
    expect(Array.from(rgb.pixels.subarray(0, 1))).toEqual([1]);
    expect(rgb.pixels[81]).toBe(2);
  });

  it('runs an integer model on the CPU: the same logits as runIntCpu, class names from model.json', async () => {
    const g = sampleGraphs().find((s) => s.name === 'cnn')!.graph;
    g.model.classNames = ['zero', 'one', 'two', 'three', 'four'];
    const dir = join(tmp(), 'int');
    writeIntModel(dir, g);
    expect(readIntModel(dir).model.classNames).toEqual(g.model.classNames);
    const m = openPredictModel(dir);
    expect(m.classNames).toEqual(g.model.classNames);
    const n = 2;
    const px = Uint8Array.from({ length: n * 3 * 81 }, (_, i) => (i * 53) % 256);
    const p = await predict(m, px, n, { runner: 'cpu', topK: 2 });
    const want = runIntCpu(g, quantizeImages(g, px, n), n);
    expect(p.map((x) => x.logitsInt).flat()).toEqual(Array.from(want));
    for (const x of p) {
      expect(x.top.length).toBe(2);
      expect(x.name).toBe(g.model.classNames[x.class]);
      expect(x.top[0].prob).toBeGreaterThanOrEqual(x.top[1].prob);
    }
  });

  it('refuses class names that do not fit the model', () => {
    const g = sampleGraphs().find((s) => s.name === 'cnn')!.graph;
    g.model.classNames = ['only', 'two'];
    expect(() => writeIntModel(join(tmp(), 'int'), g)).toThrow(/model\.classNames is .*expected 5 class names/);
  });

  it('the command: top-k with probabilities and class names, what was changed, skipped files counted; a checkpoint as --model refused', async () => {
    const d = tmp();
    const g = sampleGraphs().find((x) => x.name === 'cnn')!.graph;
    g.model.classNames = ['zero', 'one', 'two', 'three', 'four'];
    const model = join(d, 'int');
    writeIntModel(model, g);
    const imgs = join(d, 'imgs');
    mkdirSync(imgs);
    await sharp({ create: { width: 20, height: 14, channels: 3, background: { r: 200, g: 10, b: 10 } } }).png().toFile(join(imgs, 'a.png'));
    await sharp({ create: { width: 9, height: 9, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toFile(join(imgs, 'b.png'));
    writeFileSync(join(imgs, 'c.jpg'), 'not a jpeg');
    const stop = await f8net(['predict', '--model', model, '--images', imgs, '--runner', 'cpu']);
    expect(stop.code).toBe(2);
    expect(stop.err).toMatch(/^f8net: .*c\.jpg: not a readable image/);
    const r = await f8net(['predict', '--model', model, '--images', imgs, '--runner', 'cpu', '--skip-bad-images', '--top-k', '2']);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^a\.png: class \d "(zero|one|two|three|four)" \(\d+\.\d%\), then \d "\w+" \d+\.\d%  \[resized 20x14 to 9x9\]$/);
    expect(lines[1]).toMatch(/^b\.png: class \d "\w+" \(\d+\.\d%\), then \d "\w+" \d+\.\d%$/);
    expect(r.err).toMatch(/f8net: skipped .*c\.jpg: not a readable image/);
    expect(r.err).toMatch(/f8net: 1 of 3 images skipped as unreadable\n$/);
    const ck = join(d, 'best.safetensors');
    writeSafetensors(ck, [{ name: 'model.w', dtype: 'F32', shape: [1], data: new Uint8Array(4) }], { format: CHECKPOINT_FORMAT, meta: '{}' });
    const c = await f8net(['predict', '--model', ck, '--images', imgs]);
    expect(c.code).toBe(2);
    expect(c.err.trim()).toMatch(/^f8net: --model .*best\.safetensors: this is a training checkpoint; run 'f8net export --checkpoint .*best\.safetensors --out DIR' first/);
  }, 60_000);
});
