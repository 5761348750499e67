import { it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpuDescribe } from '../helpers.js';

/** Runs the CLI from source as a user would run bin/f8net.js. */
function f8net(args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/entry.ts', ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

gpuDescribe('command line', () => {
  it('info --json describes the adapter and says whether dot4I8Packed exists', () => {
    const r = f8net(['info', '--json']);
    expect(r.code).toBe(0);
    const d = JSON.parse(r.out);
    expect(typeof d.description).toBe('string');
    expect(typeof d.dot4I8Packed).toBe('boolean');
    expect(d.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
    expect(Array.isArray(d.features)).toBe(true);
  });

  it('trains, evaluates and resumes from the command line, float then fixed point', () => {
    const dir = mkdtempSync(join(tmpdir(), 'f8net-cli-'));
    const common = ['--set', 'dataset=synthetic', '--set', 'image_size=12', '--set', 'num_classes=4', '--set', 'model_args={width: 4}', '--set', 'max_train_samples=128', '--set', 'max_test_samples=32', '--set', 'batch_size=32', '--quiet'];
    const fl = f8net(['train', ...common, '--set', `log_dir=${join(dir, 'float')}`, '--set', 'num_epochs=2', '--json']);
    expect(fl.code, fl.err).toBe(0);
    expect(JSON.parse(fl.out).epochs).toBe(2);
    const ck = join(dir, 'float', 'best.safetensors');
    expect(existsSync(ck)).toBe(true);
    const fx = f8net(['train', ...common, '--set', `log_dir=${join(dir, 'fixed')}`, '--set', 'num_epochs=1', '--set', 'floating_model=false', '--set', `fp_pretrained_file=${ck}`, '--set', 'lr=0.01', '--json']);
    expect(fx.code, fx.err).toBe(0);
    const layers = JSON.parse(fx.out).formats;
    expect(layers.map((l: { name: string }) => l.name)).toEqual(['conv1', 'conv2', 'conv3', 'fc']);
    for (const l of layers) {
      for (const fl of l.inputFraclen) {
        expect(fl).toBeGreaterThanOrEqual(0);
        expect(fl).toBeLessThanOrEqual(l.inputSigned ? 7 : 8);
      }
      expect(Number.isFinite(l.alpha)).toBe(true);
    }
    const ev = f8net(['eval', '--checkpoint', join(dir, 'fixed', 'last.safetensors'), '--json']);
    expect(ev.code, ev.err).toBe(0);
    const e = JSON.parse(ev.out);
    expect(e.stage).toBe('fixed');
    expect(e.confusion.length).toBe(4);
    expect(e.count).toBe(32);
  });

  it('bad input gives one clear line and a non-zero exit, before any work', () => {
    const dir = mkdtempSync(join(tmpdir(), 'f8net-cli-bad-'));
    const cfg = join(dir, 'typo.yml');
    writeFileSync(cfg, 'num_epoch: 3\n');
    const r = f8net(['train', '--config', cfg]);
    expect(r.code).toBe(2);
    expect(r.err.trim()).toMatch(/^f8net: .*typo\.yml: unknown key 'num_epoch' \(did you mean 'num_epochs'\?\)/);
    expect(r.err.trim().split('\n').filter((l) => l.startsWith('f8net:')).length).toBe(1);
    const bogus = join(dir, 'bogus.safetensors');
    writeFileSync(bogus, 'not a checkpoint at all');
    const e = f8net(['eval', '--checkpoint', bogus]);
    expect(e.code).toBe(2);
    expect(e.err).toMatch(/f8net: .*bogus\.safetensors: header claims/);
    const n = f8net(['train', '--set', 'lr=-1']);
    expect(n.code).toBe(2);
    expect(n.err).toMatch(/lr = -1 is invalid: expected a value >= 0/);
    const a = f8net(['info', '--adapter', 'no-such-adapter-xyz']);
    expect(a.code).toBe(3);
    expect(a.err).toMatch(/f8net: no adapter matches 'no-such-adapter-xyz'|no WebGPU adapter found/);
  });

  it('fraclen sweep writes the table and the plot', () => {
    const dir = mkdtempSync(join(tmpdir(), 'f8net-cli-sweep-'));
    const r = f8net(['fraclen', 'sweep', '--unsigned', '--points', '12', '--samples', '500', '--out', join(dir, 's.tsv'), '--plot', join(dir, 's.png')]);
    expect(r.code, r.err).toBe(0);
    expect(existsSync(join(dir, 's.tsv'))).toBe(true);
    expect(existsSync(join(dir, 's.png'))).toBe(true);
    const none = f8net(['fraclen', 'sweep']);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/give --signed or --unsigned/);
  });
});
