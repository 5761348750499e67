import { it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { gpuDescribe } from '../helpers.js';

/** Runs the CLI from source as a user would run bin/f8net.js. */
function f8net(args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/entry.ts', ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

const trained = { fixed: '', float: '', dir: '' };

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
    trained.fixed = join(dir, 'fixed', 'last.safetensors');
    trained.float = ck;
    trained.dir = dir;
  });

  it('exports the fixed-point checkpoint; eval in every mode agrees; predict reads IDX files and images', async () => {
    expect(trained.fixed, 'needs the checkpoint of the test above').toBeTruthy();
    const out = join(trained.dir, 'int');
    const ex = f8net(['export', '--checkpoint', trained.fixed, '--out', out, '--json']);
    expect(ex.code, ex.err).toBe(0);
    for (const f of ['model.json', 'weights.bin', 'integize.onnx', 'int_op_only.onnx', 'qdq.onnx']) expect(existsSync(join(out, f)), f).toBe(true);
    const noQdq = join(trained.dir, 'int-no-qdq');
    const ex2 = f8net(['export', '--checkpoint', trained.fixed, '--out', noQdq, '--no-qdq']);
    expect(ex2.code, ex2.err).toBe(0);
    expect(readdirSync(noQdq).sort()).toEqual(['int_op_only.onnx', 'integize.onnx', 'model.json', 'weights.bin']);
    const ev = f8net(['eval', '--checkpoint', trained.fixed, '--mode', 'fake,int-cpu,int-gpu', '--mode', 'onnx-integize,onnx-int,onnx-qdq', '--compare', '--json']);
    expect(ev.code, ev.err).toBe(0);
    const r = JSON.parse(ev.out);
    expect(r.results.map((m: { mode: string }) => m.mode)).toEqual(['fake', 'int-cpu', 'int-gpu', 'onnx-integize', 'onnx-int', 'onnx-qdq']);
    const top1 = r.results.map((m: { top1: number }) => m.top1);
    expect(new Set(top1).size, JSON.stringify(top1)).toBe(1);
    for (const c of r.compare) {
      expect(c.agreement, `${c.a} vs ${c.b}`).toBe(1);
      expect(c.maxLogitDiff, `${c.a} vs ${c.b}`).toBe(0);
    }
    // An IDX file of the first test images (synthetic 12 x 12 grey squares) and one PNG.
    const n = 5;
    const pix = Uint8Array.from({ length: n * 144 }, (_, i) => (i * 37) % 256);
    const head = Buffer.alloc(16);
    head.writeUInt32BE(0x803, 0);
    head.writeUInt32BE(n, 4);
    head.writeUInt32BE(12, 8);
    head.writeUInt32BE(12, 12);
    const idx = join(trained.dir, 'imgs-idx3-ubyte');
    writeFileSync(idx, Buffer.concat([head, Buffer.from(pix)]));
    const png = join(trained.dir, 'one.png');
    await sharp(Buffer.from(pix.subarray(0, 144)), { raw: { width: 12, height: 12, channels: 1 } }).png().toFile(png);
    const rows = (o: string) => o.trim().split('\n').map((l) => JSON.parse(l));
    const viaGpu = f8net(['predict', '--model', out, '--images', idx, '--json']);
    expect(viaGpu.code, viaGpu.err).toBe(0);
    const a = rows(viaGpu.out);
    expect(a.length).toBe(n);
    for (const [args, what] of [[['--runner', 'cpu'], 'cpu'], [['--model', join(out, 'int_op_only.onnx')], 'int_op_only'], [['--model', join(out, 'integize.onnx')], 'integize'], [['--model', join(out, 'qdq.onnx')], 'qdq']] as const) {
      const b = f8net(['predict', '--model', out, '--images', idx, '--json', ...args]);
      expect(b.code, `${what}: ${b.err}`).toBe(0);
      expect(rows(b.out).map((x) => x.class), what).toEqual(a.map((x) => x.class));
      expect(rows(b.out).map((x) => x.logits_int), what).toEqual(a.map((x) => x.logits_int));
    }
    const one = f8net(['predict', '--model', out, '--images', png]);
    expect(one.code, one.err).toBe(0);
    expect(one.out).toMatch(new RegExp(`one.png: class ${a[0].class} `));
    // Bad input: a float checkpoint, a damaged model file, a missing image folder.
    const fl = f8net(['export', '--checkpoint', trained.float, '--out', join(trained.dir, 'no')]);
    expect(fl.code).toBe(2);
    expect(fl.err).toMatch(/f8net: .*float-stage checkpoint has no integer form/);
    writeFileSync(join(out, 'weights.bin'), 'short');
    const bad = f8net(['predict', '--model', out, '--images', idx]);
    expect(bad.code).toBe(2);
    expect(bad.err.trim().split('\n').filter((l) => l.startsWith('f8net:'))).toHaveLength(1);
    expect(bad.err).toMatch(/f8net: .*weights\.bin/);
    const none = f8net(['predict', '--model', join(out, 'int_op_only.onnx'), '--images', join(trained.dir, 'nope')]);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/--images .*nope: no such file or folder/);
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
    expect(e.err).toMatch(/f8net: .*bogus\.safetensors: not a safetensors file/);
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
