// `f8net fraclen show`: the fractional lengths of a checkpoint, read without a GPU
// (src/report/fraclens.ts and the command in src/cli/fraclen-commands.ts).
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { type StTensor } from '../../src/io/safetensors.js';
import { writeSafetensors } from '../../src/node/safetensors-file.js';
import { CHECKPOINT_FORMAT, CHECKPOINT_VERSION } from '../../src/train/checkpoint.js';
import { loadCheckpoint } from '../../src/node/checkpoint-files.js';
import { fraclenRows, formatFraclenTable, fraclenChartSvg } from '../../src/report/fraclens.js';
import { main } from '../../src/cli/main.js';

const dir = mkdtempSync(join(tmpdir(), 'f8net-flshow-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const f32 = (name: string, v: number[], shape = [v.length]): StTensor => ({ name, dtype: 'F32', shape, data: Float32Array.from(v) });
const i32 = (name: string, v: number[]): StTensor => ({ name, dtype: 'I32', shape: [v.length], data: Int32Array.from(v) });

/** A checkpoint as saveCheckpoint writes one (docs/CHECKPOINT.md): parameters of every module, then buffers, then the optimizer. */
function writeCheckpoint(file: string, layers: { name: string; run: number; flw: number[]; alpha: number; bn: boolean }[], meta: Record<string, unknown> = {}): void {
  const t: StTensor[] = [];
  for (const l of layers) {
    const o = l.flw.length > 1 ? l.flw.length : 2;
    t.push(f32(`model.${l.name}.alpha`, [l.alpha]));
    t.push(f32(`model.${l.name}.weight`, new Array(o * 3).fill(0.1), [o, 3, 1, 1]));
    if (l.bn) t.push(f32(`model.${l.name}.gamma`, new Array(o).fill(1)), f32(`model.${l.name}.beta`, new Array(o).fill(0)));
    else t.push(f32(`model.${l.name}.bias`, new Array(o).fill(0)));
  }
  for (const l of layers) {
    const o = l.flw.length > 1 ? l.flw.length : 2;
    t.push(f32(`model.${l.name}.input_fraclen_run`, [l.run]), i32(`model.${l.name}.input_fraclen`, [Math.min(8, Math.round(l.run))]));
    if (l.bn) t.push(f32(`model.${l.name}.running_mean`, new Array(o).fill(0)), f32(`model.${l.name}.running_var`, new Array(o).fill(1)));
    t.push(i32(`model.${l.name}.weight_fraclen`, l.flw));
  }
  t.push(f32('optim.0.momentum_buffer', [0, 0]));
  writeSafetensors(file, t, {
    format: CHECKPOINT_FORMAT,
    version: String(CHECKPOINT_VERSION),
    meta: JSON.stringify({ stage: 'fixed', epoch: 3, step: 30, config: { input_format: [8, 6], weight_format: [8, 7] }, ...meta }),
  });
}

// Module order differs from alphabetical order (block.conv < conv1 < fc) on purpose.
const LAYERS = [
  { name: 'conv1', run: 5.5, flw: [7], alpha: 7.25, bn: true }, // 5.5 -> 6 (half to even)
  { name: 'block.conv', run: 4.5, flw: [5, 7, 6, 6], alpha: 8, bn: true }, // 4.5 -> 4; per channel
  { name: 'fc', run: 8.7, flw: [6], alpha: 3.5, bn: false }, // 9 -> clamp 8 (a signed input would use 7)
];
const ck = join(dir, 'ck.safetensors');
writeCheckpoint(ck, LAYERS);

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
  try {
    const code = await main(['node', 'f8net', ...args]);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe('fraclen show', () => {
  it('rows: layers in module order, run and rounded input lengths, weight lengths, alpha', () => {
    const rows = fraclenRows(loadCheckpoint(ck).model, { inputWl: 8 });
    expect(rows.map((r) => r.layer)).toEqual(['conv1', 'block.conv', 'fc']);
    expect(rows.map((r) => r.index)).toEqual([0, 1, 2]);
    expect(rows.map((r) => r.inputRun[0])).toEqual([5.5, 4.5, Math.fround(8.7)]);
    expect(rows.map((r) => r.inputEval[0])).toEqual([6, 4, 8]);
    expect(rows.map((r) => r.signedWouldClamp)).toEqual([false, false, true]);
    expect(rows.map((r) => r.weightFraclen)).toEqual([[7], [5, 7, 6, 6], [6]]);
    expect(rows.map((r) => r.alpha)).toEqual([7.25, 8, 3.5]);
  });

  it('table: one line per layer, per-channel weight lengths as min..max, the signed-input note', () => {
    const rows = fraclenRows(loadCheckpoint(ck).model);
    const lines = formatFraclenTable(rows, 8).split('\n');
    expect(lines[0]).toMatch(/^#\s+layer\s+fl_in run\s+fl_in eval\s+fl_w\s+fl_w count\s+alpha$/);
    expect(lines[1].split(/\s+/)).toEqual(['0', 'conv1', '5.500', '6', '7', '1', '7.2500']);
    expect(lines[2].split(/\s+/)).toEqual(['1', 'block.conv', '4.500', '4', '5..7', '4', '8.0000']);
    expect(lines[3].split(/\s+/)).toEqual(['2', 'fc', '8.700', '8*', '6', '1', '3.5000']);
    expect(lines[4]).toContain('a signed input uses 7 there');
    expect(lines.length).toBe(5);
  });

  it('chart: layers named on the x axis, input and weight lengths, alpha below; PNG written', async () => {
    const rows = fraclenRows(loadCheckpoint(ck).model);
    const svg = fraclenChartSvg(rows, { title: 't' });
    for (const s of ['input fl (eval)', 'input fl (running)', 'weight fl (max)', 'weight fl (min)', '>alpha<']) expect(svg).toContain(s);
    for (const name of ['conv1', 'block.conv', 'fc']) expect(svg).toMatch(new RegExp(`<text [^>]*>${name.replace('.', '\\.')}</text>`));
    const png = join(dir, 'direct.png');
    const { svgToPng } = await import('../../src/node/png.js');
    await svgToPng(svg, png);
    const m = await sharp(png).metadata();
    expect([m.format, m.width]).toEqual(['png', 900]);
  });

  it('command: table on stdout and the PNG; --json', async () => {
    const png = join(dir, 'cli.png');
    const r = await run(['fraclen', 'show', '--checkpoint', ck, '--plot', png]);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toBe(`${ck}: stage fixed, epoch 3`);
    expect(lines[2]).toMatch(/^0\s+conv1\s+5\.500\s+6\s+7\s+1\s+7\.2500$/);
    expect(lines[3]).toMatch(/^1\s+block\.conv\s+4\.500\s+4\s+5\.\.7\s+4\s+8\.0000$/);
    expect(existsSync(png)).toBe(true);
    expect((await sharp(png).metadata()).format).toBe('png');
    const j = await run(['fraclen', 'show', '--checkpoint', ck, '--json']);
    expect(j.code, j.err).toBe(0);
    const d = JSON.parse(j.out);
    expect(d).toMatchObject({ stage: 'fixed', epoch: 3, inputWl: 8 });
    expect(d.layers.map((l: { layer: string; inputEval: number[]; weightFraclen: number[] }) => [l.layer, l.inputEval[0], l.weightFraclen])).toEqual([
      ['conv1', 6, [7]],
      ['block.conv', 4, [5, 7, 6, 6]],
      ['fc', 8, [6]],
    ]);
  });

  it('errors: one line, exit 2, for a file that is not a checkpoint and for a checkpoint without F8Net layers', async () => {
    const text = join(dir, 'text.safetensors');
    writeFileSync(text, 'not a safetensors file at all');
    const foreign = join(dir, 'foreign.safetensors');
    writeSafetensors(foreign, [f32('w', [1, 2])], { format: 'pt' });
    const plain = join(dir, 'plain.safetensors');
    writeSafetensors(plain, [f32('model.lin.weight', [1, 2])], { format: CHECKPOINT_FORMAT, version: String(CHECKPOINT_VERSION), meta: JSON.stringify({ stage: 'float', epoch: 1, step: 1, config: {} }) });
    for (const [file, msg] of [
      [text, /text\.safetensors: not a safetensors file/],
      [foreign, /foreign\.safetensors: not an f8net checkpoint/],
      [plain, /plain\.safetensors: no F8Net layers \(no tensor named <layer>\.input_fraclen_run among 1 tensors\)/],
    ] as const) {
      const r = await run(['fraclen', 'show', '--checkpoint', file]);
      expect(r.code, r.err).toBe(2);
      expect(r.out).toBe('');
      const lines = r.err.trim().split('\n');
      expect(lines.length, r.err).toBe(1);
      expect(lines[0]).toMatch(/^f8net: /);
      expect(lines[0]).toMatch(msg);
    }
    const missing = await run(['fraclen', 'show', '--checkpoint', join(dir, 'nope.safetensors')]);
    expect(missing.code).not.toBe(0);
    expect(missing.err.trim().split('\n')).toHaveLength(1);
  });
});
