import { it, expect } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, mkdirSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpuDescribe } from '../helpers.js';
import { typedData } from '../../src/io/safetensors.js';
import { readSafetensors } from '../../src/node/safetensors-file.js';
import { loadCheckpoint } from '../../src/node/checkpoint-files.js';
import { LOCK_FILE } from '../../src/node/run-dir.js';

const CLI = ['--import', 'tsx', 'src/cli/entry.ts'];

function f8net(args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [...CLI, ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** Runs the CLI; each time its standard error (so far) matches the next `when`, sends that signal (or runs that function). */
function f8netInterrupted(args: string[], plan: [RegExp, NodeJS.Signals | ((pid: number) => NodeJS.Signals)][]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [...CLI, ...args]);
    let out = '';
    let err = '';
    let k = 0;
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => {
      err += d;
      while (k < plan.length && plan[k][0].test(err)) {
        const act = plan[k++][1];
        p.kill(typeof act === 'function' ? act(p.pid!) : act);
      }
    });
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

/** Standard error without Dawn's adapter warnings. */
const errLines = (err: string) => err.split('\n').filter((l) => !l.startsWith('Warning: '));

/** 1024 synthetic images in batches of 8: 128 steps an epoch, so a signal lands mid-epoch. */
const tiny = (dir: string, epochs = 3) => [
  'train', '--set', 'dataset=synthetic', '--set', 'image_size=12', '--set', 'num_classes=4', '--set', 'model_args={width: 4}',
  '--set', 'max_train_samples=1024', '--set', 'max_test_samples=32', '--set', 'batch_size=8', '--set', `num_epochs=${epochs}`,
  '--set', 'augment_crop_padding=1', '--set', 'random_seed=3', '--set', 'log_interval=16', '--set', 'progress_seconds=0', '--set', `log_dir=${dir}`,
];

function expectSameTensors(a: string, b: string): void {
  const ta = readSafetensors(a).tensors;
  const tb = readSafetensors(b).tensors;
  expect([...tb.keys()].sort()).toEqual([...ta.keys()].sort());
  for (const [k, t] of ta) {
    const x = Buffer.from(typedData(t).buffer, typedData(t).byteOffset, typedData(t).byteLength);
    const u = typedData(tb.get(k)!);
    expect(x.equals(Buffer.from(u.buffer, u.byteOffset, u.byteLength)), k).toBe(true);
  }
}

gpuDescribe('runs from the command line', () => {
  it('SIGINT mid-epoch: checkpoint at that step, exit 130, the resume command; resumed without --set it equals an uninterrupted run bit for bit, logs without duplicates', async () => {
    const root = mkdtempSync(join(tmpdir(), 'f8net-sigint-'));
    const a = join(root, 'a');
    const b = join(root, 'b');
    const full = f8net([...tiny(a), '--quiet']);
    expect(full.code, full.err).toBe(0);
    const r = await f8netInterrupted(tiny(b), [[/epoch 2\/3 step 3\/128/, 'SIGINT']]);
    expect(r.code, r.err).toBe(130);
    const ck = join(b, 'last.safetensors');
    expect(r.err).toContain(`f8net: interrupted; checkpoint ${ck}; resume with: f8net train --set resume=${ck}`);
    const meta = loadCheckpoint(ck).meta;
    expect(meta.epoch).toBe(1);
    expect(meta.partial).toBeDefined();
    expect(meta.step % 128).toBeGreaterThan(0);
    expect(existsSync(join(b, LOCK_FILE))).toBe(false);
    // What a kill -9 during a checkpoint write leaves: removed when the run starts.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(join(b, `.last.safetensors.${dead}.tmp`), 'partial');
    const res = f8net(['train', '--set', `resume=${ck}`]);
    expect(res.code, res.err).toBe(0);
    expect(errLines(res.err)[0]).toBe(`f8net train: run folder ${b} (removed 1 temporary file of dead processes)`);
    expect(readdirSync(b).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(res.err).toContain(`resumed from ${ck} at step ${meta.step}`);
    expect(res.out.trim().endsWith(`run folder ${b}`)).toBe(true);
    expectSameTensors(join(a, 'last.safetensors'), ck);
    expectSameTensors(join(a, 'best.safetensors'), join(b, 'best.safetensors'));
    const steps = readFileSync(join(b, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((x) => x.type === 'step').map((x) => x.global_step);
    expect(steps).toEqual(Array.from({ length: 24 }, (_, i) => 16 * (i + 1)));
    const csv = (d: string) => readFileSync(join(d, 'metrics.csv'), 'utf8').trim().split('\n').map((l) => l.split(',').slice(0, 5).join(','));
    expect(csv(b)).toEqual(csv(a)); // epoch, train loss (the resumed epoch's too), test loss, top-1, top-5
  });

  it('a second SIGINT exits at once and leaves the previous checkpoint intact', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'f8net-sigint2-')), 'run');
    // A long evaluation (2000 images one by one): the first SIGINT waits for its end, the second does not.
    const args = [...tiny(dir, 2), '--set', 'max_train_samples=64', '--set', 'max_test_samples=2000', '--set', 'eval_batch_size=1'];
    const r = await f8netInterrupted(args, [[/epoch 2\/2 evaluating 10\//, 'SIGINT'], [/SIGINT: stopping after this step/, 'SIGINT']]);
    expect(r.code, r.err).toBe(130);
    expect(r.err).toMatch(/second SIGINT: exiting now; the previous checkpoint is intact/);
    expect(r.err).not.toMatch(/epoch 2: train loss/);
    const ck = loadCheckpoint(join(dir, 'last.safetensors'));
    expect(ck.meta.epoch).toBe(1);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('two runs into one folder: the second is refused while the first holds the lock; SIGTERM stops the first like SIGINT', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'f8net-lock-')), 'run');
    let second: ReturnType<typeof f8net> | null = null;
    let first = 0;
    const r = await f8netInterrupted(tiny(dir, 20), [
      [/epoch 1\/20 step 2\//, (pid) => {
        first = pid;
        second = f8net([...tiny(dir, 1), '--set', 'random_seed=2', '--set', 'exist_ok=true']);
        return 'SIGTERM';
      }],
    ]);
    expect(second!.code).toBe(2);
    expect(errLines(second!.err).join('\n').trim()).toMatch(new RegExp(`^f8net: log_dir ${dir}: in use by another run \\(process \\d+ on .*\\.f8net\\.lock\\)`));
    expect(r.code, r.err).toBe(130);
    expect(r.err).toContain('SIGTERM: stopping after this step');
    expect(loadCheckpoint(join(dir, 'last.safetensors')).meta.config.random_seed).toBe(3);
  });

  it('a second run into the same folder goes to -2 and says so first and last; /dev/null and random fixed-point starts get one line', () => {
    const root = mkdtempSync(join(tmpdir(), 'f8net-again-'));
    const dir = join(root, 'run');
    const small = (d: string) => [...tiny(d, 1), '--set', 'max_train_samples=64'];
    expect(f8net(small(dir)).code).toBe(0);
    const before = readFileSync(join(dir, 'last.safetensors'));
    const again = f8net(small(dir));
    expect(again.code, again.err).toBe(0);
    expect(errLines(again.err)[0]).toBe(`f8net train: run folder ${dir}-2 (${dir} holds another run)`);
    expect(again.out.trim()).toMatch(new RegExp(`after 1 epoch in \\d+ s; run folder ${dir}-2$`));
    expect(readFileSync(join(dir, 'last.safetensors')).equals(before)).toBe(true);
    const ok = f8net([...small(dir), '--set', 'exist_ok=true', '--quiet']);
    expect(ok.code, ok.err).toBe(0);
    expect(readdirSync(root).sort()).toEqual(['run', 'run-2']);
    expect(readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\n').length).toBe(2);
    const dn = f8net([...small('/dev/null')]);
    expect(dn.code).toBe(2);
    expect(errLines(dn.err).join('\n').trim()).toBe('f8net: log_dir /dev/null: exists and is not a folder (a device or other special file); expected a folder for the run\'s logs and checkpoints');
    const fx = f8net([...small(join(root, 'fx')), '--set', 'floating_model=false', '--quiet']);
    expect(fx.code, fx.err).toBe(0);
    expect(errLines(fx.err)[0]).toMatch(/^f8net train: warning: fixed-point stage from random weights/);
    // eval may change the test subset it inherits (32 images in training).
    const ev8 = f8net(['eval', '--checkpoint', join(root, 'fx', 'last.safetensors'), '--max-test-samples', '8', '--json']);
    expect(ev8.code, ev8.err).toBe(0);
    expect(JSON.parse(ev8.out).count).toBe(8);
    // export --out: the second export replaces the first whole (no ONNX files left beside it); a user folder is refused.
    const int = join(root, 'int');
    expect(f8net(['export', '--checkpoint', join(root, 'fx', 'last.safetensors'), '--out', int]).code).toBe(0);
    const ex = f8net(['export', '--checkpoint', join(root, 'fx', 'last.safetensors'), '--out', int, '--no-onnx']);
    expect(ex.code, ex.err).toBe(0);
    expect(ex.out).toContain('(replaced the previous export there)');
    expect(readdirSync(int).sort()).toEqual(['model.json', 'weights.bin']);
    const user = join(root, 'mine');
    mkdirSync(user);
    writeFileSync(join(user, 'weights.bin'), 'mine');
    const no = f8net(['export', '--checkpoint', join(root, 'fx', 'last.safetensors'), '--out', user]);
    expect(no.code).toBe(2);
    expect(errLines(no.err).join('\n').trim()).toMatch(/^f8net: --out .*mine: is a non-empty folder that is not an f8net export .*--force/);
    expect(readFileSync(join(user, 'weights.bin'), 'utf8')).toBe('mine');
  });
});
