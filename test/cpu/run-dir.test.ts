import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { claimRunDir, lockRunDir, releaseRunDir, removeStaleTemps, trimLogs, checkDirPath, checkCheckpointOut, LOCK_FILE, pidAlive } from '../../src/node/run-dir.js';
import { writeSafetensors } from '../../src/node/safetensors-file.js';
import { CHECKPOINT_FORMAT, CHECKPOINT_VERSION } from '../../src/train/checkpoint.js';
import { resumeConfig, plural } from '../../src/node/trainer.js';
import { resolveConfig } from '../../src/train/config.js';
import { RunProgress } from '../../src/node/progress.js';
import { writeExportFolder } from '../../src/node/out-dir.js';

const tmp = (tag: string) => mkdtempSync(join(tmpdir(), `f8net-${tag}-`));

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  expect(pidAlive(r.pid!)).toBe(false);
  return r.pid!;
}

/** A checkpoint file with no tensors, holding `config` (what resume reads). */
function fakeCheckpoint(file: string, config: Record<string, unknown>, epoch = 1): void {
  const meta = { stage: 'float', epoch, step: epoch * 4, config, loader: { rng: [1, 2, 3, 4], epoch, batch: 0 }, best: 0.5 };
  writeSafetensors(file, [], { format: CHECKPOINT_FORMAT, version: String(CHECKPOINT_VERSION), meta: JSON.stringify(meta) });
}

describe('run folders', () => {
  it('a new run never writes into a folder that holds another run: it takes -2, -3; exist_ok keeps the name', () => {
    const root = tmp('claim');
    const a = claimRunDir(join(root, 'x'), { existOk: false });
    expect(a).toMatchObject({ dir: join(root, 'x'), taken: null });
    writeFileSync(join(a.dir, 'metrics.csv'), 'epoch\n');
    releaseRunDir(a.dir);
    const b = claimRunDir(join(root, 'x'), { existOk: false });
    expect(b).toMatchObject({ dir: join(root, 'x-2'), taken: join(root, 'x') });
    // x-2 is locked (non-empty): the next run goes to x-3 even before x-2 has logs.
    const c = claimRunDir(join(root, 'x'), { existOk: false });
    expect(c.dir).toBe(join(root, 'x-3'));
    releaseRunDir(b.dir);
    releaseRunDir(c.dir);
    expect(existsSync(join(b.dir, LOCK_FILE))).toBe(false);
    const d = claimRunDir(join(root, 'x'), { existOk: true });
    expect(d.dir).toBe(join(root, 'x'));
    releaseRunDir(d.dir);
  });

  it('a folder locked by a live process is refused; a dead process\'s lock is stale and taken over', () => {
    const dir = tmp('lock');
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: process.ppid, host: (require('node:os') as typeof import('node:os')).hostname() }));
    expect(() => lockRunDir(dir)).toThrow(new RegExp(`log_dir ${dir}: in use by another run \\(process ${process.ppid}`));
    expect(() => claimRunDir(dir, { existOk: true })).toThrow(/in use by another run/);
    const dead = deadPid();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: dead, host: (require('node:os') as typeof import('node:os')).hostname() }));
    expect(lockRunDir(dir).staleLock).toBe(dead);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    releaseRunDir(dir);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('log_dir that is a file, a device or holds a NUL byte: one line naming it', () => {
    const f = join(tmp('file'), 'notes.md');
    writeFileSync(f, 'mine');
    expect(() => checkDirPath(f)).toThrow(`log_dir ${f}: exists and is not a folder (a file)`);
    expect(() => claimRunDir('/dev/null', { existOk: false })).toThrow('log_dir /dev/null: exists and is not a folder (a device or other special file)');
    expect(() => claimRunDir('runs/a\0b', { existOk: false })).toThrow(/log_dir "runs\/a\\u0000b": contains a NUL byte/);
    expect(readFileSync(f, 'utf8')).toBe('mine');
  });

  it('removes the temporaries of dead processes only', () => {
    const dir = tmp('temps');
    const dead = deadPid();
    writeFileSync(join(dir, `.last.safetensors.${dead}.tmp`), 'x');
    writeFileSync(join(dir, `.best.safetensors.${process.ppid}.tmp`), 'x'); // a live process
    writeFileSync(join(dir, 'user.tmp'), 'x');
    expect(removeStaleTemps(dir)).toEqual([`.last.safetensors.${dead}.tmp`]);
    expect(readdirSync(dir).sort()).toEqual([`.best.safetensors.${process.ppid}.tmp`, 'user.tmp']);
  });

  it('on resume the logs are cut back to the checkpoint: no step or epoch twice', () => {
    const dir = tmp('trim');
    const steps = (e: number) => [2, 4].map((s) => JSON.stringify({ type: 'step', epoch: e, step: s, global_step: (e - 1) * 4 + s }));
    const lines = [...steps(1), JSON.stringify({ type: 'epoch', epoch: 1 }), ...steps(2), JSON.stringify({ type: 'epoch', epoch: 2 }), JSON.stringify({ type: 'step', epoch: 3, step: 2, global_step: 10 }), '{"type":"st'];
    writeFileSync(join(dir, 'log.jsonl'), lines.join('\n'));
    // A kill between the CSV append and the checkpoint rename: epoch 2 is in the CSV, the checkpoint is at epoch 1 (+2 steps).
    writeFileSync(join(dir, 'metrics.csv'), 'epoch,train_loss\n1,0.5\n2,0.4\n2,0.4\n');
    expect(trimLogs(dir, { epoch: 1, step: 6, stepsPerEpoch: 4 })).toEqual({ jsonl: 4, csv: 2 });
    const kept = readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(kept.map((r) => r.global_step ?? `e${r.epoch}`)).toEqual([2, 4, 'e1', 6]);
    expect(readFileSync(join(dir, 'metrics.csv'), 'utf8')).toBe('epoch,train_loss\n1,0.5\n');
  });
});

describe('resume config', () => {
  it('takes the config and log_dir from the checkpoint; --set may change only safe keys', () => {
    const dir = tmp('resume');
    const ck = join(dir, 'last.safetensors');
    const stored = { ...resolveConfig({ dataset: 'synthetic', lr: 0.05, num_epochs: 2, max_train_samples: 64, model_args: { width: 4 } }), log_dir: dir };
    fakeCheckpoint(ck, stored as unknown as Record<string, unknown>);
    const c = resumeConfig(ck, [`resume=${ck}`]);
    expect(c).toMatchObject({ dataset: 'synthetic', lr: 0.05, num_epochs: 2, max_train_samples: 64, model_args: { width: 4 }, log_dir: dir, resume: ck });
    expect(resumeConfig(ck, [`resume=${ck}`, 'num_epochs=5']).num_epochs).toBe(5);
    // Repeating a stored value is fine; changing it is refused, naming the key.
    expect(resumeConfig(ck, [`resume=${ck}`, 'lr=0.05']).lr).toBe(0.05);
    expect(() => resumeConfig(ck, [`resume=${ck}`, 'lr=0.1'])).toThrow(/--set lr: cannot change lr when resuming .* trained with lr = 0.05/);
    expect(() => resumeConfig(ck, [`resume=${ck}`, 'model_args={width: 8}'])).toThrow(/cannot change model_args/);
  });
});

describe('mid-epoch checkpoints', () => {
  it('a partial state that makes no sense is refused naming the file', async () => {
    const { loadCheckpoint } = await import('../../src/node/checkpoint-files.js');
    const file = join(tmp('partial'), 'last.safetensors');
    const meta = { stage: 'float', epoch: 1, step: 6, config: {}, loader: { rng: [1, 2, 3, 4], epoch: 1, batch: 2 }, partial: { loss_sum: 'NaN', images: 16 } };
    writeSafetensors(file, [], { format: CHECKPOINT_FORMAT, version: String(CHECKPOINT_VERSION), meta: JSON.stringify(meta) });
    expect(() => loadCheckpoint(file)).toThrow(`${file}: checkpoint metadata 'partial' (a mid-epoch state) needs a finite loss_sum`);
    writeSafetensors(file, [], { format: CHECKPOINT_FORMAT, version: String(CHECKPOINT_VERSION), meta: JSON.stringify({ ...meta, partial: { loss_sum: 1.5, images: 16 } }) });
    expect(loadCheckpoint(file).meta.partial).toEqual({ loss_sum: 1.5, images: 16 });
  });
});

describe('config and messages', () => {
  it('input_mean with one number means grey; "1 epoch"', () => {
    expect(resolveConfig({}, ['head_form=double_side', 'input_mean=0.13', 'input_std=0.3']).input_mean).toEqual([0.13]);
    expect(plural(1, 'epoch')).toBe('1 epoch');
    expect(plural(3, 'epoch')).toBe('3 epochs');
  });
});

describe('command line consistency', () => {
  const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/entry.ts', ...args], { encoding: 'utf8' });
  it('model arguments: --model-args takes the --set model_args form; --arg is its alias; usage errors exit 2', () => {
    const a = cli(['model', 'summary', 'cnn', '--model-args', '{width: 4}', '--json']);
    const b = cli(['model', 'summary', 'cnn', '--arg', 'width=4', '--json']);
    expect(a.status, a.stderr).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(JSON.parse(a.stdout)).not.toEqual(JSON.parse(cli(['model', 'summary', 'cnn', '--json']).stdout));
    const bad = cli(['model', 'summary', 'cnn', '--model-args', '[1, 2]']);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe("f8net: --model-args [1, 2]: expected a mapping, e.g. '{width: 16}'");
    expect(cli(['train', '--no-such-flag']).status).toBe(2);
    expect(cli(['--help']).status).toBe(0);
  });
});

describe('progress', () => {
  const sink = () => {
    const out: string[] = [];
    return { out, stream: { write: (s: string) => (out.push(s), true) } };
  };
  const step = (k: number) => ({ epoch: 0, step: k, stepsPerEpoch: 10, globalStep: k, loss: k % 5 === 0 ? 1 / k : null, lr: 0.1, ips: 100 });

  it('without a terminal: a plain line every N seconds (0: every step), with the loss and the ETA of the run', () => {
    const a = sink();
    const p = new RunProgress({ numEpochs: 2, totalSteps: 20, startStep: 0, plainEverySeconds: 0, stream: a.stream, tty: false });
    for (let k = 1; k <= 10; k++) p.step(step(k));
    p.evalProgress(0, 50, 100);
    expect(a.out.length).toBe(11);
    expect(a.out[0]).toMatch(/^epoch 1\/2 step 1\/10 \| loss - \| lr 0.100 \| 100 img\/s \| eta \S+\n$/);
    expect(a.out[4]).toMatch(/step 5\/10 \| loss 0.2000 /);
    expect(a.out[5]).toMatch(/step 6\/10 \| loss 0.2000 /); // the last loss read stays shown
    expect(a.out[10]).toMatch(/^epoch 1\/2 evaluating 50\/100/);
    p.step({ ...step(1), epoch: 1, globalStep: 11 });
    expect(a.out[11]).toMatch(/^epoch 2\/2 step 1\/10 \| loss - /); // not the last epoch's loss
    const b = sink();
    const q = new RunProgress({ numEpochs: 2, totalSteps: 20, startStep: 0, plainEverySeconds: 3600, stream: b.stream, tty: false });
    for (let k = 1; k <= 10; k++) q.step(step(k));
    expect(b.out.length).toBe(1);
  });

  it('on a terminal: one line redrawn in place, the cursor hidden and shown again', () => {
    const a = sink();
    const p = new RunProgress({ numEpochs: 1, totalSteps: 10, startStep: 0, plainEverySeconds: 0, stream: { ...a.stream, isTTY: true }, tty: true });
    p.step(step(1));
    p.step(step(2)); // within 100 ms: not redrawn
    p.step(step(10)); // the epoch's last step always is
    p.stop();
    expect(a.out.length).toBe(3);
    expect(a.out[0].startsWith('\x1b[?25l\r\x1b[2K')).toBe(true);
    expect(a.out[2]).toBe('\r\x1b[2K\x1b[?25h');
  });
});

describe('export --out and import --out', () => {
  const files = (tag: string) => [
    { name: 'model.json', data: new TextEncoder().encode(JSON.stringify({ format: 'f8net-int-model', tag })) },
    { name: 'weights.bin', data: new Uint8Array([1, 2, 3]) },
  ];

  it('an export replaces the whole folder: no file of the previous export stays beside the new one', () => {
    const out = join(tmp('export'), 'int');
    expect(writeExportFolder(out, [...files('a'), { name: 'int_op_only.onnx', data: new Uint8Array([9]) }]).replaced).toBe(false);
    expect(writeExportFolder(out, files('b')).replaced).toBe(true);
    expect(readdirSync(out).sort()).toEqual(['model.json', 'weights.bin']);
    expect(JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')).tag).toBe('b');
    expect(readdirSync(join(out, '..'))).toEqual(['int']); // no temporary left
  });

  it('a kill between the two renames: the next export puts the previous one back first', () => {
    const root = tmp('export-kill');
    const out = join(root, 'int');
    writeExportFolder(out, files('a'));
    const dead = deadPid();
    // The state a kill -9 leaves after the first rename: the old export aside, a half-written temporary.
    const { renameSync } = require('node:fs') as typeof import('node:fs');
    renameSync(out, join(root, `.int.${dead}.old`));
    mkdirSync(join(root, `.int.${dead}.tmp`));
    writeFileSync(join(root, `.int.${dead}.tmp`, 'model.json'), '{');
    expect(writeExportFolder(out, files('b')).replaced).toBe(true);
    expect(readdirSync(root)).toEqual(['int']);
    expect(JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')).tag).toBe('b');
  });

  it('a folder that is not an f8net export is refused unless --force; a failed write keeps the previous export', () => {
    const user = tmp('export-user');
    writeFileSync(join(user, 'model.json'), '{"mine": true}');
    expect(() => writeExportFolder(user, files('a'))).toThrow(`--out ${user}: is a non-empty folder that is not an f8net export (no f8net model.json; it holds model.json); choose another folder, or pass --force to replace it`);
    expect(readFileSync(join(user, 'model.json'), 'utf8')).toBe('{"mine": true}');
    const out = join(tmp('export-extra'), 'int');
    writeExportFolder(out, files('a'));
    writeFileSync(join(out, 'notes.md'), 'mine');
    expect(() => writeExportFolder(out, files('b'))).toThrow(/holds files that are not part of an f8net export \(notes.md\)/);
    expect(writeExportFolder(user, files('c'), { force: true }).replaced).toBe(true);
    expect(JSON.parse(readFileSync(join(user, 'model.json'), 'utf8')).tag).toBe('c');
    // A file that cannot be written (a name that is a folder path): the previous export stays whole.
    expect(() => writeExportFolder(user, [...files('d'), { name: 'sub/x.bin', data: new Uint8Array(1) }])).toThrow(/cannot write the export/);
    expect(JSON.parse(readFileSync(join(user, 'model.json'), 'utf8')).tag).toBe('c');
    expect(readdirSync(join(user, '..')).filter((n) => n.startsWith(`.${basename(user)}.`))).toEqual([]);
  });

  it('import --out: never an input, never a file that is not a checkpoint unless --force', () => {
    const dir = tmp('import-out');
    const w = join(dir, 'w.safetensors');
    writeSafetensors(w, [], {});
    expect(() => checkCheckpointOut(w, [w])).toThrow(`--out ${w}: is the input ${w}; writing it would replace the weights being read; choose another --out`);
    expect(() => checkCheckpointOut(join(dir, '.', 'w.safetensors'), [w], { force: true })).toThrow(/is the input/);
    const notes = join(dir, 'notes.md');
    writeFileSync(notes, 'mine');
    expect(() => checkCheckpointOut(notes, [w])).toThrow(`--out ${notes}: exists and is not an f8net checkpoint; choose another --out, or pass --force to replace it`);
    expect(() => checkCheckpointOut(notes, [w], { force: true })).not.toThrow();
    const ck = join(dir, 'old.safetensors');
    fakeCheckpoint(ck, {});
    expect(() => checkCheckpointOut(ck, [w])).not.toThrow();
    expect(() => checkCheckpointOut(join(dir, 'new.safetensors'), [w])).not.toThrow();
    expect(() => checkCheckpointOut(dir, [w])).toThrow(/is a folder/);
  });

  it('the command line refuses import --out onto its input in one line, exit 2, before any work', () => {
    const dir = tmp('import-cli');
    const w = join(dir, 'w.safetensors');
    writeSafetensors(w, [], {});
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/entry.ts', 'import', '--from', w, '--model', 'cnn', '--out', w], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(`f8net: --out ${w}: is the input ${w}; writing it would replace the weights being read; choose another --out`);
  });
});
