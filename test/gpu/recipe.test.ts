import { it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpuDescribe } from '../helpers.js';
import { runRecipe, formatRecipe } from '../../src/node/recipe.js';

const tiny = ['dataset=synthetic', 'image_size=12', 'num_classes=4', 'model_args={width: 4}', 'max_train_samples=128', 'max_test_samples=32', 'batch_size=32'];

gpuDescribe('the F8Net recipe (default job of f8net train)', () => {
  it('runs float, fixed point from it, integer export and the integer check, with one summary', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'f8net-recipe-'));
    const r = await runRecipe({ sets: tiny, floatEpochs: 1, fixedEpochs: 1, dir, quiet: true, onnx: false });
    expect(r.float.checkpoint).toBe(join(dir, 'float', 'best.safetensors'));
    expect(r.fixed.checkpoint).toBe(join(dir, 'fixed', 'best.safetensors'));
    for (const f of [r.float.checkpoint, r.fixed.checkpoint, ...r.integer.files]) expect(existsSync(f), f).toBe(true);
    expect(r.integer.images).toBe(32);
    expect(r.integer.modes.map((m) => m.mode)).toEqual(['fake', 'int-cpu', 'int-gpu']);
    // The integer runners agree with the fake-quant model (the export's contract).
    expect(r.integer.sameClass).toBe(32);
    expect(r.integer.maxLogitDiff).toBeLessThan(0.1);
    const text = formatRecipe(r);
    expect(text.split('\n')[0]).toMatch(/^F8Net recipe done in \d+ s$/);
    expect(text).toMatch(/float top-1 +\d+\.\d\d%/);
    expect(text).toMatch(/8-bit fixed-point top-1 +\d+\.\d\d%/);
    expect(text).toMatch(/same class on 32\/32 images, largest logit difference /);
  });

  it('refuses a --set of a key it sets per stage, naming it, and a folder that holds a job', async () => {
    await expect(runRecipe({ sets: [...tiny, 'num_epochs=3'], quiet: true })).rejects.toThrow(/--set num_epochs=3: the recipe sets num_epochs itself/);
    const dir = mkdtempSync(join(tmpdir(), 'f8net-recipe-used-'));
    writeFileSync(join(dir, 'something'), 'x');
    await expect(runRecipe({ sets: tiny, dir, quiet: true })).rejects.toThrow(/--out .*: already holds files/);
  });

  it('is what `f8net train` runs without a config', () => {
    const dir = mkdtempSync(join(tmpdir(), 'f8net-recipe-cli-'));
    const args = tiny.flatMap((s) => ['--set', s]);
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/entry.ts', 'train', ...args, '--out', dir, '--quiet'], { encoding: 'utf8', timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^F8Net recipe done in \d+ s\n {2}float top-1 .*\n {2}8-bit fixed-point top-1 .*\n {2}integer model .*same class on 32\/32 images.*\n {2}integer model files .*int_op_only\.onnx, .*qdq\.onnx\n$/);
  });

  it('Ctrl-C in a stage writes its checkpoint at that step and names the command that resumes it (exit 130)', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'f8net-recipe-int-')), 'job');
    // Driven from a plain node parent, as a shell would (see test/gpu/native-stderr.test.ts).
    const driver = `
      const { spawn } = require('node:child_process');
      const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/entry.ts', 'train', '--set', 'dataset=synthetic', '--set', 'max_train_samples=60000', '--out', ${JSON.stringify(out)}], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '', sent = false;
      p.stderr.on('data', (d) => { err += d; if (!sent && /step \\d+\\//.test(err)) { sent = true; p.kill('SIGINT'); } });
      p.on('close', (c) => process.stdout.write(JSON.stringify({ code: c, err })));`;
    const r = spawnSync(process.execPath, ['-e', driver], { encoding: 'utf8', timeout: 110_000 });
    const { code, err } = JSON.parse(r.stdout || '{"code":null,"err":"no result"}');
    expect(code, err).toBe(130);
    expect(err).toMatch(/recipe interrupted in stage 1 \(float\); checkpoint .*float\/last\.safetensors; resume that stage with: f8net train --set resume=/);
    expect(existsSync(join(out, 'float', 'last.safetensors'))).toBe(true);
  }, 120_000);
});
