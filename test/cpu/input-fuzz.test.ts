/**
 * Structure-aware fuzzing of every input kind f8net reads from files (issue 17): checkpoints,
 * safetensors, ONNX and torch .pt weight imports (structure-aware cases in test/fuzz/), integer models, IDX, CIFAR, YAML configs, tuning caches,
 * images. Each case starts from a small valid file and applies one mutation that knows the
 * format: header and shape lies, truncation, bit flips, non-finite values, deep nesting, or a
 * special file (named pipe, link to /dev/zero) in its place. The oracle: the reader returns a
 * result that passes the kind's own check, or throws a one-line F8Error naming the file. Any
 * other exception is a crash; a case over MAX_CASE_MS is a hang; a result with a non-finite
 * float or the wrong size is a wrong result.
 *
 * F8NET_FUZZ_CASES sets the cases per kind (default 400: 4,000 cases in all, about 6 s);
 * F8NET_FUZZ_SUMMARY=1 prints the table of the closing note. Seeded: a failure names its case.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, symlinkSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { Rng } from '../../src/runtime/rng.js';
import { F8Error } from '../../src/runtime/errors.js';
import { encodeSafetensors } from '../../src/io/safetensors.js';
import { readSafetensors } from '../../src/node/safetensors-file.js';
import { encodeOnnxInitializers } from '../../src/io/onnx-reader.js';
import { readOnnx } from '../../src/node/onnx-file.js';
import { readWeights } from '../../src/node/import-weights.js';
import { assertTensorsFinite, firstNonFinite } from '../../src/io/finite.js';
import { CHECKPOINT_FORMAT, CHECKPOINT_VERSION } from '../../src/train/checkpoint.js';
import { loadCheckpoint } from '../../src/node/checkpoint-files.js';
import { IDX_MAGIC_IMAGES } from '../../src/data/idx.js';
import { readIdx, readCifarBatches } from '../../src/node/dataset-files.js';
import { CIFAR_RECORD } from '../../src/data/cifar.js';
import { loadConfig } from '../../src/node/config-file.js';
import { readTuningCache } from '../../src/node/tuning-cache.js';
import { serializeIntModel } from '../../src/export/format.js';
import { readIntModel } from '../../src/node/int-model-files.js';
import { runIntCpu } from '../../src/export/run-cpu.js';
import { readUntrustedImage, checkedImageSize } from '../../src/node/image-folder.js';
import { sampleGraphs, randomCodes } from '../int-graphs.js';
import { torchFuzzBase, torchMutations, checkTorchImport } from '../fuzz/torch-pt-cases.js';

const CASES = Math.max(1, Number(process.env.F8NET_FUZZ_CASES) || 400);
const MAX_CASE_MS = 2000;
const dir = mkdtempSync(join(tmpdir(), 'f8net-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Tally {
  cases: number;
  clean: number;
  accepted: number;
  crashes: string[];
  hangs: string[];
  wrong: string[];
}
const table = new Map<string, Tally>();

/** A mutated file: its bytes, or a special file made in its place. */
type Mut = { bytes: Uint8Array; what: string } | { special: 'fifo' | 'zero' | 'dir'; what: string };

function mutateBytes(rng: Rng, base: Uint8Array, structural: ((rng: Rng) => { bytes: Uint8Array; what: string })[]): Mut {
  const k = rng.nextInt(10);
  if (k === 0) {
    const s = (['fifo', 'zero', 'dir'] as const)[rng.nextInt(3)];
    return { special: s, what: `special ${s}` };
  }
  if (k <= 2) {
    const n = rng.nextInt(base.length + 1);
    return { bytes: base.slice(0, n), what: `truncate to ${n}` };
  }
  if (k <= 4) {
    const b = base.slice();
    const flips = 1 + rng.nextInt(4);
    for (let i = 0; i < flips; i++) b[rng.nextInt(b.length)] ^= 1 << rng.nextInt(8);
    return { bytes: b, what: `flip ${flips} bits` };
  }
  if (k === 5) {
    const b = new Uint8Array(base.length + 1 + rng.nextInt(64));
    b.set(base);
    return { bytes: b, what: 'trailing bytes' };
  }
  return structural[rng.nextInt(structural.length)](rng);
}

/** Writes the case to a fresh path (special files made with mkfifo / a link to /dev/zero). */
function place(m: Mut, name: string): string {
  const p = join(dir, name);
  rmSync(p, { recursive: true, force: true });
  if ('bytes' in m) writeFileSync(p, m.bytes);
  else if (m.special === 'fifo') execFileSync('mkfifo', [p]);
  else if (m.special === 'zero') symlinkSync('/dev/zero', p);
  else mkdirSync(p);
  return p;
}

/**
 * Runs `cases` cases of one kind. `check` reads the placed file and returns null (a correct
 * result) or the reason the result is wrong.
 */
async function fuzzKind(kind: string, seed: number, make: (rng: Rng) => Mut, check: (path: string) => Promise<string | null> | string | null, name = `${kind}.bin`): Promise<Tally> {
  const t: Tally = { cases: 0, clean: 0, accepted: 0, crashes: [], hangs: [], wrong: [] };
  table.set(kind, t);
  for (let i = 0; i < CASES; i++) {
    const rng = new Rng(seed * 100003 + i);
    const m = make(rng);
    const path = place(m, name);
    const label = `${kind} case ${i} (${m.what})`;
    t.cases++;
    const t0 = performance.now();
    try {
      const why = await check(path);
      if (why) t.wrong.push(`${label}: ${why}`);
      else t.accepted++;
    } catch (e) {
      if (e instanceof F8Error && !e.message.includes('\n') && e.message.includes(name)) t.clean++;
      else t.crashes.push(`${label}: ${(e as Error)?.stack?.split('\n').slice(0, 2).join(' | ') ?? String(e)}`);
    }
    if (performance.now() - t0 > MAX_CASE_MS) t.hangs.push(`${label}: ${Math.round(performance.now() - t0)} ms`);
  }
  return t;
}

const expectClean = (t: Tally) => {
  expect(t.crashes.slice(0, 3)).toEqual([]);
  expect(t.hangs.slice(0, 3)).toEqual([]);
  expect(t.wrong.slice(0, 3)).toEqual([]);
  expect(t.clean + t.accepted).toBe(t.cases);
};

const concat = (cs: Uint8Array[]) => {
  const out = new Uint8Array(cs.reduce((a, c) => a + c.byteLength, 0));
  let o = 0;
  for (const c of cs) out.set(c, o), (o += c.byteLength);
  return out;
};
const WEIRD_NUM = [NaN, Infinity, -Infinity, -3.4e38, 3.4e38, 0, -0, 1e-45];

/** safetensors bytes whose JSON header is edited (shape / offset / dtype lies, deep nesting). */
function safetensorsCase(rng: Rng, meta: Record<string, string>): Mut {
  const w = new Float32Array(12).map((_, i) => (i - 6) / 8);
  const a = new Float32Array([8]);
  const tensors = [
    { name: 'model.conv1.weight', dtype: 'F32' as const, shape: [3, 4], data: w },
    { name: 'model.conv1.alpha', dtype: 'F32' as const, shape: [1], data: a },
  ];
  const base = concat(encodeSafetensors(tensors, meta));
  const header = (edit: (h: Record<string, any>) => void, what: string) => (r: Rng) => {
    void r;
    const hl = Number(new DataView(base.buffer).getBigUint64(0, true));
    const h = JSON.parse(Buffer.from(base.subarray(8, 8 + hl)).toString());
    edit(h);
    const hb = Buffer.from(JSON.stringify(h));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(hb.length));
    return { bytes: concat([len, hb, base.subarray(8 + hl)]), what };
  };
  const nonFinite = (r: Rng) => {
    const v = WEIRD_NUM[r.nextInt(WEIRD_NUM.length)];
    const t2 = tensors.map((t) => ({ ...t, data: t.data.slice() }));
    const tt = t2[r.nextInt(2)];
    tt.data[r.nextInt(tt.data.length)] = v;
    return { bytes: concat(encodeSafetensors(t2, meta)), what: `value ${v} in ${tt.name}` };
  };
  return mutateBytes(rng, base, [
    nonFinite,
    nonFinite,
    header((h) => (h['model.conv1.weight'].shape = [3, 5]), 'shape lie'),
    header((h) => (h['model.conv1.weight'].shape = [2 ** 40, 2 ** 40]), 'huge shape'),
    header((h) => (h['model.conv1.weight'].data_offsets = [0, 2 ** 53]), 'offset lie'),
    header((h) => (h['model.conv1.weight'].dtype = 'F64'), 'dtype lie'),
    header((h) => (h['model.conv1.alpha'] = JSON.parse('['.repeat(500) + ']'.repeat(500))), 'deep nesting'),
    header((h) => (h.__metadata__ = { meta: '['.repeat(100000) }), 'deep meta'),
    header((h) => delete h['model.conv1.alpha'], 'missing tensor'),
  ]);
}

const tensorsOk = (ts: Iterable<{ dtype: string; data: ArrayBufferView; shape: number[] }>) => {
  for (const t of ts) {
    if (t.dtype !== 'F32') continue;
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (firstNonFinite(new Float32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + 4 * n))) >= 0) return 'non-finite value accepted';
  }
  return null;
};

describe('input fuzzing (issue 17)', () => {
  const ckMeta = { format: CHECKPOINT_FORMAT, version: String(CHECKPOINT_VERSION), meta: JSON.stringify({ stage: 'fixed', epoch: 1, step: 1, config: {} }) };

  it('checkpoints', async () => {
    const t = await fuzzKind('checkpoint', 1, (r) => safetensorsCase(r, ckMeta), (p) => {
      const c = loadCheckpoint(p);
      for (const [n, e] of c.model) if (e.data instanceof Float32Array && firstNonFinite(e.data) >= 0) return `non-finite ${n} accepted`;
      const a = c.model.get('conv1.alpha')?.data[0];
      if (a !== undefined && !(Math.abs(a) >= 2 ** -24 && Math.abs(a) <= 2 ** 24)) return `alpha ${a} accepted`;
      return null;
    }, 'ck.safetensors');
    expectClean(t);
  });

  it('safetensors and ONNX weight imports', async () => {
    const t = await fuzzKind('safetensors import', 2, (r) => safetensorsCase(r, {}), (p) => {
      const w = readWeights(p);
      assertTensorsFinite(w.tensors.values(), p);
      return tensorsOk(w.tensors.values());
    }, 'w.safetensors');
    expectClean(t);
    const w = new Float32Array(12).map((_, i) => i / 10);
    const onnxOf = (v: Float32Array) => encodeOnnxInitializers([{ name: 'conv1.weight', dtype: 'F32', shape: [3, 4], data: v }], { metadata: { 'f8net.input_scale': '[1]' } });
    const base = onnxOf(w);
    const t2 = await fuzzKind('onnx import', 3, (r) =>
      mutateBytes(r, base, [
        (rr) => {
          const v = w.slice();
          const x = [...WEIRD_NUM.slice(0, 3), 1e30, -2.5][rr.nextInt(5)];
          v[rr.nextInt(12)] = x;
          return { bytes: onnxOf(v), what: `initializer value ${x}` };
        },
        (rr) => {
          // Length lies: a varint length byte of the first fields turned large.
          const b = base.slice();
          b[1 + rr.nextInt(8)] = 0xff;
          return { bytes: b, what: 'length lie' };
        },
      ]), (p) => {
      const o = readOnnx(p);
      assertTensorsFinite(o.initializers.values(), p);
      return tensorsOk(o.initializers.values());
    }, 'w.onnx');
    expectClean(t2);
  });

  it("torch .pt weight imports (the paper's checkpoints)", async () => {
    const base = torchFuzzBase();
    const muts = torchMutations(base);
    const t = await fuzzKind('torch import', 10, (r) => mutateBytes(r, base, muts), checkTorchImport, 'w.pt');
    expectClean(t);
  });

  it('integer models (CPU runner on every accepted model)', async () => {
    const { graph } = sampleGraphs()[0];
    const { json, bin } = serializeIntModel(graph);
    const m = join(dir, 'intm');
    mkdirSync(m, { recursive: true });
    const jb = Buffer.from(json);
    // Two files per model: the generic harness places one file, so this kind runs its own loop.
    const tt: Tally = { cases: 0, clean: 0, accepted: 0, crashes: [], hangs: [], wrong: [] };
    table.set('integer model', tt);
    for (let i = 0; i < CASES; i++) {
      const rng = new Rng(4 * 100003 + i);
      const which = rng.nextInt(2) ? 'weights.bin' : 'model.json';
      const mm = mutateBytes(rng, which === 'weights.bin' ? bin : jb, [
        () => ({ bytes: Buffer.from(`${'['.repeat(100000)}${']'.repeat(100000)}`), what: 'deep nesting' }),
        () => ({ bytes: Buffer.from(json.replace(/"pads":\s*\[[^\]]*\]/, '"pads":[1000,1000,1000,1000]')), what: 'pads 1000' }),
      ]);
      for (const f of ['model.json', 'weights.bin']) rmSync(join(m, f), { recursive: true, force: true });
      writeFileSync(join(m, 'model.json'), jb);
      writeFileSync(join(m, 'weights.bin'), bin);
      rmSync(join(m, which), { force: true });
      if ('bytes' in mm) writeFileSync(join(m, which), mm.bytes);
      else if (mm.special === 'fifo') execFileSync('mkfifo', [join(m, which)]);
      else if (mm.special === 'zero') symlinkSync('/dev/zero', join(m, which));
      else mkdirSync(join(m, which));
      tt.cases++;
      const label = `integer model case ${i} (${which}: ${mm.what})`;
      const t0 = performance.now();
      try {
        const g = readIntModel(m);
        const logits = runIntCpu(g, randomCodes(g, 1, i), 1);
        if (logits.length === 0 || firstNonFinite(logits) >= 0) tt.wrong.push(`${label}: ${logits.length} logits, some not finite`);
        else tt.accepted++;
      } catch (e) {
        if (e instanceof F8Error && !e.message.includes('\n') && /model\.json|weights\.bin|intm/.test(e.message)) tt.clean++;
        else tt.crashes.push(`${label}: ${(e as Error)?.stack?.split('\n').slice(0, 2).join(' | ')}`);
      }
      if (performance.now() - t0 > MAX_CASE_MS) tt.hangs.push(label);
    }
    expectClean(tt);
  });

  it('IDX and CIFAR files', async () => {
    const n = 3;
    const idx = Buffer.alloc(16 + n * 28 * 28);
    idx.writeUInt32BE(IDX_MAGIC_IMAGES, 0);
    [n, 28, 28].forEach((d, i) => idx.writeUInt32BE(d, 4 + 4 * i));
    const dimLie = (rr: Rng) => {
      const b = Buffer.from(idx);
      b.writeUInt32BE([0, 1, 2 ** 32 - 1, 2 ** 31, 1000][rr.nextInt(5)], 4 + 4 * rr.nextInt(3));
      return { bytes: b, what: 'dimension lie' };
    };
    const t = await fuzzKind('IDX', 5, (r) => mutateBytes(r, idx, [dimLie, dimLie]), (p) => {
      const a = readIdx(p, IDX_MAGIC_IMAGES);
      return a.data.length === a.dims.reduce((x, y) => x * y, 1) ? null : 'data length differs from dims';
    }, 'images-idx3-ubyte');
    expectClean(t);
    const cifar = Buffer.alloc(2 * CIFAR_RECORD);
    const t2 = await fuzzKind('CIFAR', 6, (r) =>
      mutateBytes(r, cifar, [(rr) => {
        const b = Buffer.from(cifar);
        b[rr.nextInt(2) * CIFAR_RECORD] = 10 + rr.nextInt(246);
        return { bytes: b, what: 'label lie' };
      }]), (p) => {
      const d = readCifarBatches([p], 'c');
      return d.labels.every((l) => l < 10) && d.images.length === d.length * 3072 ? null : 'bad labels or size accepted';
    }, 'data_batch_1.bin');
    expectClean(t2);
  });

  it('configs and tuning caches', async () => {
    const yml = Buffer.from('model: cnn\nmodel_args: {width: 8}\nbatch_size: 32\npad_to: 32\nweight_format: [8, 7]\n');
    const t = await fuzzKind('config', 7, (r) =>
      mutateBytes(r, yml, [
        () => ({ bytes: Buffer.from(`model_args: ${'['.repeat(100000)}`), what: 'deep flow nesting' }),
        () => ({ bytes: Buffer.from(`model_args:\n${'- '.repeat(20000)}1\n`), what: 'deep block nesting' }),
        (rr) => ({ bytes: Buffer.from(`pad_to: ${[100000, -1, 1e9, 0.5][rr.nextInt(4)]}\n`), what: 'size out of range' }),
        (rr) => ({ bytes: Buffer.from(`model_args: {width: ${[65536, 1e9, -3, 0][rr.nextInt(4)]}}\n`), what: 'width out of range' }),
        () => ({ bytes: Buffer.from(`a: &a [x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n`), what: 'alias bomb' }),
      ]), (p) => {
      const c = loadConfig(p);
      return c.batch_size >= 1 && (c.pad_to === null || c.pad_to <= 4096) ? null : 'out-of-range config accepted';
    }, 'cfg.yml');
    expectClean(t);
    const want = { adapterKey: 'a', f8netVersion: 'v', wgslHash: 'h', quick: false };
    const cache = Buffer.from(JSON.stringify({ format: 'f8net-tuning', adapterKey: 'a', f8netVersion: 'v', wgslHash: 'h', quick: false, families: {} }));
    const t2 = await fuzzKind('tuning cache', 8, (r) => mutateBytes(r, cache, [() => ({ bytes: Buffer.from('['.repeat(200000)), what: 'deep nesting' })]), (p) => {
      // Never throws: a bad cache is a one-line warning naming the file.
      const res = readTuningCache(p, want) as { warning?: string };
      if (res.warning !== undefined && (res.warning.includes('\n') || !res.warning.includes(p))) return `warning not one line naming the file: ${res.warning.slice(0, 100)}`;
      if (res.warning !== undefined) throw new F8Error('BAD_INPUT', res.warning); // counted as a clean error
      return null;
    }, 'tuning.json');
    expectClean(t2);
  });

  it('images', async () => {
    const png = await sharp({ create: { width: 6, height: 5, channels: 3, background: '#808080' } }).png().toBuffer();
    const t = await fuzzKind('image', 9, (r) =>
      mutateBytes(r, png, [
        (rr) => {
          const b = Buffer.from(png);
          b.writeUInt32BE([0, 1, 39_000_000, 2 ** 31 - 1, 100000][rr.nextInt(5)], 16 + 4 * rr.nextInt(2));
          return { bytes: b, what: 'IHDR size lie' };
        },
      ]), async (p) => {
      const buf = readUntrustedImage(p);
      const [w, h] = await checkedImageSize(buf, p, 40e6);
      const { data, info } = await sharp(buf, { limitInputPixels: 40e6 }).raw().toBuffer({ resolveWithObject: true }).catch((e: Error) => {
        throw new F8Error('BAD_INPUT', `${p}: cannot decode (${e.message.split('\n')[0]})`);
      });
      return info.width === w && info.height === h && data.length === w * h * info.channels ? null : 'decoded size differs from the header';
    }, 'img.png');
    expectClean(t);
  });

  afterAll(() => {
    if (!process.env.F8NET_FUZZ_SUMMARY) return;
    const rows = [...table].map(([k, t]) => `| ${k} | ${t.cases} | ${t.clean} | ${t.accepted} | ${t.crashes.length} | ${t.hangs.length} | ${t.wrong.length} |`);
    process.stdout.write(`\n| input kind | cases | clean errors | accepted | crashes | hangs | wrong results |\n|---|---|---|---|---|---|---|\n${rows.join('\n')}\n`);
    for (const t of table.values()) for (const s of [...t.crashes, ...t.hangs, ...t.wrong].slice(0, 5)) process.stdout.write(`  ${s}\n`);
  });
});
