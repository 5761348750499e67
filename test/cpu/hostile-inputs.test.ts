/**
 * Issue 17, points 1-7 and 12: each hostile input of the attack gets a one-line F8Error naming
 * the input (never a hang, a stack trace or a silent wrong result). Special files are made with
 * mkfifo and symlinks to /dev/zero; every read must return or throw at once.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { crc32, deflateSync } from 'node:zlib';
import onnxProto from 'onnx-proto';
import { mkdtempSync, rmSync, writeFileSync, symlinkSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { F8Error } from '../../src/runtime/errors.js';
import { readSafetensors, writeSafetensors } from '../../src/node/safetensors-file.js';
import { readOnnx } from '../../src/node/onnx-file.js';
import { IDX_MAGIC_IMAGES } from '../../src/data/idx.js';
import { readIdx, loadIdxDataset, readCifarBatches } from '../../src/node/dataset-files.js';
import { resolveConfig } from '../../src/train/config.js';
import { loadConfig } from '../../src/node/config-file.js';
import { serializeIntModel } from '../../src/export/format.js';
import { readIntModel } from '../../src/node/int-model-files.js';
import { readTuningCache } from '../../src/node/tuning-cache.js';
import { CHECKPOINT_FORMAT, CHECKPOINT_VERSION } from '../../src/train/checkpoint.js';
import { loadCheckpoint } from '../../src/node/checkpoint-files.js';
import { readUntrusted, parseJsonUntrusted, yamlDepth } from '../../src/node/untrusted.js';
import { assertTensorsFinite, checkStateValues } from '../../src/io/finite.js';
import { loadData } from '../../src/data/sources.js';
import { readUntrustedImage, checkedImageSize } from '../../src/node/image-folder.js';
import { checkpointConfig } from '../../src/node/from-checkpoint.js';
import { openPredictModel, predict } from '../../src/node/predict.js';
import { toIntegizeOnnx, toIntOnlyOnnx, ONNX_META } from '../../src/export/onnx-export.js';
import { importCheckpoint } from '../../src/node/import-weights.js';
import { sampleGraphs, GraphBuilder } from '../int-graphs.js';
import { Rng } from '../../src/runtime/rng.js';
import { validateGraph } from '../../src/export/validate.js';

/** One PNG chunk: length, type, data, CRC-32 of type + data. */
function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td) >>> 0);
  return Buffer.concat([len, td, crc]);
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'f8net-hostile-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fifo = (name: string) => {
  const p = join(dir, name);
  execFileSync('mkfifo', [p]);
  return p;
};
/** The error of f(), which must be a one-line F8Error matching `re`. */
function oneLine(f: () => unknown, re: RegExp): F8Error {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(F8Error);
  const m = (err as F8Error).message;
  expect(m).not.toMatch(/\n/);
  expect(m).toMatch(re);
  return err as F8Error;
}

const idxBuf = (magic: number, dims: number[]) => {
  const n = dims.reduce((a, b) => a * b, 1);
  const b = Buffer.alloc(4 + 4 * dims.length + n);
  b.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
  return b;
};

describe('special files (point 5)', () => {
  it('refuses a named pipe in every reader without opening it', () => {
    const p = fifo('p.bin');
    oneLine(() => readSafetensors(p), /p\.bin: is a named pipe, expected a safetensors file/);
    oneLine(() => readOnnx(p), /named pipe/);
    oneLine(() => readIdx(p, IDX_MAGIC_IMAGES), /p\.bin: is a named pipe/);
    oneLine(() => readCifarBatches([p], 'c'), /named pipe, expected a CIFAR-10/);
    oneLine(() => loadConfig(p), /p\.bin: is a named pipe, expected a YAML config/);
    oneLine(() => loadCheckpoint(p), /named pipe/);
    oneLine(() => readUntrustedImage(p), /named pipe, expected a JPEG/);
  });
  it('refuses a pipe posing as model.json or weights.bin', () => {
    const m = join(dir, 'm1');
    mkdirSync(m);
    execFileSync('mkfifo', [join(m, 'model.json')]);
    writeFileSync(join(m, 'weights.bin'), '');
    oneLine(() => readIntModel(m), /model\.json: is not a regular file|named pipe/);
  });
  it('refuses a device (a link to /dev/zero)', () => {
    const z = join(dir, 'zero.safetensors');
    symlinkSync('/dev/zero', z);
    oneLine(() => readSafetensors(z), /character device/);
    oneLine(() => readUntrusted(z, { what: 'x' }), /character device/);
  });
});

describe('tuning cache (point 4)', () => {
  const want = { adapterKey: 'a', f8netVersion: 'v', wgslHash: 'h', quick: false };
  it('ignores a link to /dev/zero, a named pipe and a link out of its folder, at once', () => {
    const c = join(dir, 'cache');
    mkdirSync(c);
    symlinkSync('/dev/zero', join(c, 'zero.json'));
    execFileSync('mkfifo', [join(c, 'pipe.json')]);
    writeFileSync(join(dir, 'outside.json'), '{}');
    symlinkSync(join(dir, 'outside.json'), join(c, 'out.json'));
    writeFileSync(join(c, 'deep.json'), '['.repeat(100000));
    for (const [f, re] of [
      ['zero.json', /character device/],
      ['pipe.json', /named pipe/],
      ['out.json', /outside/],
      ['deep.json', /nests more than/],
    ] as const) {
      const r = readTuningCache(join(c, f), want) as { warning?: string };
      expect(r.warning).toMatch(re);
      expect(r.warning).not.toMatch(/\n/);
    }
    expect(readTuningCache(join(c, 'none.json'), want)).toEqual({ missing: true });
  });
});

describe('depth and size limits (point 2)', () => {
  it('a model.json of 100000 brackets is one line, not a stack overflow', () => {
    const { json, bin } = serializeIntModel(sampleGraphs()[0].graph);
    const m = join(dir, 'deep');
    mkdirSync(m);
    writeFileSync(join(m, 'weights.bin'), bin);
    writeFileSync(join(m, 'model.json'), `${'['.repeat(100000)}${']'.repeat(100000)}`);
    oneLine(() => readIntModel(m), /model\.json: JSON nests more than 64 levels/);
    writeFileSync(join(m, 'model.json'), json);
    expect(readIntModel(m).nodes.length).toBeGreaterThan(0);
  });
  it('deep YAML configs and --set values are refused before parsing', () => {
    const f = join(dir, 'deep.yml');
    writeFileSync(f, `model_args: ${'['.repeat(50000)}`);
    oneLine(() => loadConfig(f), /deep\.yml: YAML nests more than 64/);
    writeFileSync(f, `model_args:\n${Array.from({ length: 200 }, (_, i) => `${' '.repeat(2 * i + 2)}k${i}:`).join('\n')}\n`);
    oneLine(() => loadConfig(f), /YAML nests more than 64/);
    oneLine(() => resolveConfig({}, [`model_args=${'- '.repeat(1000)}1`]), /YAML nests more than 64/);
    expect(yamlDepth('a: [1, {b: "[[["}]\n')).toBe(3);
  });
  it('a safetensors header and checkpoint meta nesting deep are refused', () => {
    const h = Buffer.from(`{"a":${'['.repeat(10000)}}`);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    const f = join(dir, 'deep.safetensors');
    writeFileSync(f, Buffer.concat([len, h]));
    oneLine(() => readSafetensors(f), /deep\.safetensors: header JSON nests more than 8/);
    oneLine(() => parseJsonUntrusted('['.repeat(65) + ']'.repeat(65), 'x.json'), /x\.json: JSON nests more than 64/);
  });
});

const ck = (file: string, tensors: { name: string; data: Float32Array | Int32Array }[], config: Record<string, unknown> = {}) =>
  writeSafetensors(
    file,
    tensors.map((t) => ({ name: t.name, dtype: t.data instanceof Int32Array ? 'I32' : 'F32', shape: [t.data.length], data: t.data })),
    { format: CHECKPOINT_FORMAT, version: String(CHECKPOINT_VERSION), meta: JSON.stringify({ stage: 'fixed', epoch: 1, step: 1, config }) },
  );

describe('non-finite values and ranges (point 6)', () => {
  it('a NaN in a checkpoint weight names the tensor and the file', () => {
    const f = join(dir, 'nan.safetensors');
    ck(f, [{ name: 'model.conv1.weight', data: new Float32Array([0.1, NaN, 0.3]) }]);
    oneLine(() => loadCheckpoint(f), /nan\.safetensors: tensor conv1\.weight holds NaN at index 1/);
  });
  it('alpha = -3.4e38 and input_fraclen_run = -inf are refused', () => {
    const f = join(dir, 'alpha.safetensors');
    ck(f, [{ name: 'model.conv1.alpha', data: new Float32Array([-3.4e38]) }]);
    oneLine(() => loadCheckpoint(f), /conv1\.alpha = -3\.\d+e\+38, expected a clipping level/);
    ck(f, [{ name: 'model.conv1.input_fraclen_run', data: new Float32Array([-Infinity]) }]);
    oneLine(() => loadCheckpoint(f), /input_fraclen_run holds -Infinity/);
    ck(f, [{ name: 'model.conv1.weight_fraclen', data: new Int32Array([9]) }]);
    oneLine(() => loadCheckpoint(f), /weight_fraclen holds fractional length 9/);
    ck(f, [{ name: 'model.conv1.alpha', data: new Float32Array([0]) }]);
    oneLine(() => loadCheckpoint(f), /alpha = 0/);
  });
  it('F16 and BF16 infinities are found too; finite tensors pass', () => {
    const t = (dtype: 'F16' | 'BF16', bits: number) => ({ name: 'w', dtype, shape: [2], data: new Uint16Array([0x3c00, bits]) });
    oneLine(() => assertTensorsFinite([t('F16', 0x7c00)], 'a.onnx'), /a\.onnx: tensor w \(F16\) holds a NaN or infinity at index 1/);
    oneLine(() => assertTensorsFinite([t('BF16', 0xff80)], 'a.onnx'), /BF16/);
    expect(() => assertTensorsFinite([t('F16', 0x3c00)], 'a.onnx')).not.toThrow();
    expect(() => checkStateValues([['l.alpha', { data: new Float32Array([8]) }]], 'f')).not.toThrow();
  });
});

describe('config sizes (points 1 and 12)', () => {
  it('size-like keys have ranges naming the key and the limit', () => {
    oneLine(() => resolveConfig({}, ['pad_to=100000']), /pad_to = 100000 is invalid: expected a value <= 4096/);
    oneLine(() => resolveConfig({}, ['num_classes=1e9']), /num_classes = 1000000000 is invalid: expected a value <= 100000/);
    oneLine(() => resolveConfig({}, ['model_args={width: 65536}']), /model_args\.width = 65536 is out of range: expected a positive number <= 16384/);
    oneLine(() => resolveConfig({}, ['model_args={width: 8192}']), /the weights of conv3 would take .* GiB, more than the 2\.0 GiB limit of one tensor; reduce model_args\.width/);
    oneLine(() => resolveConfig({}, ['pad_to=4096', 'dataset=mnist']), /the output of .* would take .*reduce batch_size\/eval_batch_size, pad_to/);
  });
  it("a checkpoint's stored config errors name the checkpoint", () => {
    const f = join(dir, 'cfg.safetensors');
    ck(f, [], { pad_to: 100000 });
    oneLine(() => checkpointConfig(f), /cfg\.safetensors: stored config is not valid: .*pad_to = 100000/);
    ck(f, [], { model_args: { width: 65536 } });
    oneLine(() => checkpointConfig(f), /cfg\.safetensors: stored config is not valid: .*model_args\.width/);
  });
  it('a 50 MB value is cut in the message', () => {
    const e = oneLine(() => resolveConfig({}, [`lr=${'x'.repeat(50_000_000)}`]), /characters\)/);
    expect(e.message.length).toBeLessThan(1000);
    const e2 = oneLine(() => resolveConfig({ lr: 'y'.repeat(50_000_000) }), /lr = .*characters\)/);
    expect(e2.message.length).toBeLessThan(1000);
  });
});

describe('data that makes no sense (point 7)', () => {
  const idxDir = (name: string, train: number[], test: number[]) => {
    const d = join(dir, name);
    mkdirSync(d);
    writeFileSync(join(d, 'train-images-idx3-ubyte'), idxBuf(0x803, train));
    writeFileSync(join(d, 'train-labels-idx1-ubyte'), idxBuf(0x801, [train[0]]));
    writeFileSync(join(d, 't10k-images-idx3-ubyte'), idxBuf(0x803, test));
    writeFileSync(join(d, 't10k-labels-idx1-ubyte'), idxBuf(0x801, [test[0]]));
    return d;
  };
  it('0 training images and train/test images of different sizes are refused', () => {
    const empty = idxDir('empty', [0, 28, 28], [4, 28, 28]);
    oneLine(() => loadData(resolveConfig({ dataset: 'idx', dataset_dir: empty })), /empty: the training split idx\/train holds 0 images/);
    const mixed = idxDir('mixed', [4, 32, 32], [4, 28, 28]);
    expect(loadIdxDataset(mixed, 'idx').train.height).toBe(32);
    oneLine(() => loadData(resolveConfig({ dataset: 'idx', dataset_dir: mixed })), /mixed: test images are 1x28x28 but training images 1x32x32/);
  });
});

describe('images (point 12)', () => {
  it('a 1 x 39M PNG is refused from its header, before sharp decodes it', async () => {
    // A PNG header (signature + IHDR) is enough for sharp's metadata; no pixel data is needed.
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(1, 0);
    ihdr.writeUInt32BE(39_000_000, 4);
    ihdr[8] = 8;
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr), pngChunk('IEND', Buffer.alloc(0))]);
    await expect(checkedImageSize(png, 'tall.png', 40e6)).rejects.toThrow(/tall\.png: image of 1 x 39000000 pixels, expected an aspect ratio of at most 256:1/);
  });
});

describe('integer-model validator (point 3)', () => {
  it('refuses conv dilation and padding of 1000 that the GPU runner cannot compile', () => {
    const { json, bin } = serializeIntModel(sampleGraphs()[0].graph);
    const doc = JSON.parse(json);
    const conv = doc.nodes.find((n: { op: string }) => n.op === 'conv');
    expect(conv).toBeDefined();
    const m = join(dir, 'dil');
    mkdirSync(m);
    writeFileSync(join(m, 'weights.bin'), bin);
    conv.dilation = [1000, 1000];
    conv.padding = [1000, 1000];
    writeFileSync(join(m, 'model.json'), JSON.stringify(doc));
    oneLine(() => readIntModel(m), /node .*: dilation 1000 exceeds 32, the largest the integer runners support/);
    conv.dilation = [1, 1];
    writeFileSync(join(m, 'model.json'), JSON.stringify(doc));
    oneLine(() => readIntModel(m), /padding \[1000, 1000\] exceeds the dilated kernel extent/);
  });

  it('bounds every conv and maxpool attribute by what the runners support, naming the node and the attribute', () => {
    const { json, bin } = serializeIntModel(sampleGraphs()[0].graph);
    const m = join(dir, 'attrs');
    mkdirSync(m);
    writeFileSync(join(m, 'weights.bin'), bin);
    const check = (edit: (nodes: Record<string, any>[]) => void, re: RegExp) => {
      const doc = JSON.parse(json);
      edit(doc.nodes);
      writeFileSync(join(m, 'model.json'), JSON.stringify(doc));
      oneLine(() => readIntModel(m), re);
    };
    const conv = (ns: Record<string, any>[]) => ns.find((n) => n.op === 'conv')!;
    const pool = (ns: Record<string, any>[]) => ns.find((n) => n.op === 'maxpool')!;
    check((ns) => (conv(ns).stride = [33, 1]), /node conv0: stride 33 exceeds 32/);
    check((ns) => (conv(ns).dilation = [1, 33]), /node conv0: dilation 33 exceeds 32/);
    check((ns) => (conv(ns).padding = [0, 3]), /node conv0: padding \[0, 3\] exceeds the dilated kernel extent \[2, 2\]/);
    check((ns) => (conv(ns).groups = 0), /node conv0: groups is 0, expected an integer in \[1, /);
    check((ns) => (conv(ns).groups = 2), /node conv0: 3 input and 6 output channels are not both divisible by groups = 2/);
    check((ns) => (conv(ns).stride = [1.5, 1]), /node conv0: stride\[0\] is 1.5, expected an integer/);
    check((ns) => (pool(ns).kernel = [33, 2]), /node maxpool1: kernel \[33, 2\] or stride \[2, 2\] exceeds 32/);
    check((ns) => (pool(ns).padding = [2, 0]), /node maxpool1: padding \[2, 0\] exceeds half the kernel/);
    check((ns) => (conv(ns).epilogue.shift = [32]), /node conv0: epilogue\.shift\[0\] is 32, expected an integer in \[-31, 31\]/);
    check((ns) => (ns.find((n) => n.op === 'linear')!.epilogue.shift = [1, 2]), /epilogue\.shift has 2 entries, expected 1 or 5/);
  });

  it('refuses a conv window over 7x7, which the GPU runner would take minutes to compile', () => {
    const b = new GraphBuilder(new Rng(2), 'k9', { dtype: 'uint8', shape: [2, 12, 12], fl: 8 });
    const x = b.conv('input', 4, 9, { padding: 4, epilogue: { relu: false, shift: [7], out: 'uint8' } });
    const g = b.finish(b.linear(b.sumpool(x, { relu: false, shift: [12], out: 'uint8' }), 2, { relu: false, shift: [0], out: 'int32' }));
    oneLine(() => validateGraph(g, 'k9/model.json'), /^k9\/model\.json: node conv0: kernel 9x9 has 81 positions, more than 49 \(7x7\), the largest the GPU integer runner compiles in reasonable time$/);
  });
});

/** The rejection of p, which must be a one-line F8Error matching `re`. */
async function oneLineAsync(p: Promise<unknown>, re: RegExp): Promise<F8Error> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(F8Error);
  expect((err as F8Error).message).not.toMatch(/\n/);
  expect((err as F8Error).message).toMatch(re);
  return err as F8Error;
}

describe('ONNX files for predict (points 3, 6 and 7)', () => {
  const { onnx } = onnxProto;
  const g = sampleGraphs()[0].graph;
  const pixels = new Uint8Array(2 * 3 * 9 * 9).fill(100);
  const write = (name: string, edit: (m: InstanceType<typeof onnx.ModelProto>) => void, form = toIntegizeOnnx) => {
    const m = onnx.ModelProto.decode(form(g));
    edit(m);
    const p = join(dir, name);
    writeFileSync(p, onnx.ModelProto.encode(m).finish());
    return p;
  };

  it('a NaN initializer names the tensor and the file, before onnxruntime runs it', () => {
    const p = write('nan.onnx', (m) => {
      const t = m.graph!.initializer!.find((x) => x.dataType === onnx.TensorProto.DataType.FLOAT && x.rawData && x.rawData.length >= 8)!;
      const raw = Uint8Array.from(t.rawData!);
      new DataView(raw.buffer).setFloat32(4, NaN, true);
      t.rawData = raw;
    });
    oneLine(() => openPredictModel(p), /nan\.onnx: tensor \S+ (\(F32\) )?holds (NaN|a NaN or infinity) at index 1/);
  });

  it('an input_scale of the wrong length is refused, not used', () => {
    const p = write('scale.onnx', (m) => {
      m.metadataProps.find((x) => x.key === ONNX_META.inputScale)!.value = '[1, 2]';
    });
    oneLine(() => openPredictModel(p), /scale\.onnx: metadata f8net\.input_scale has 2 values, expected 1 or 3 \(one per input channel\)/);
  });

  it('a file that loads but cannot run (a kernel_shape that contradicts its weight) is one line naming the file', async () => {
    const p = write('kshape.onnx', (m) => {
      const nd = m.graph!.node!.find((x) => (x.attribute ?? []).some((a) => a.name === 'kernel_shape'))!;
      nd.attribute!.find((a) => a.name === 'kernel_shape')!.ints = [1000, 1000];
    }, toIntOnlyOnnx);
    const m = openPredictModel(p);
    await oneLineAsync(predict(m, pixels, 2), /kshape\.onnx: onnxruntime cannot run the model: \S+ node\. Name:'[^']+' Status Message: kernel_shape is not compatible with W shape/);
    // onnxruntime's own log line ("[E:onnxruntime:...] ... ExecuteKernel") stays off the terminal.
    const script = join(dir, 'predict-kshape.mts');
    writeFileSync(
      script,
      `import { openPredictModel, predict } from ${JSON.stringify(resolve('src/node/predict.ts'))};\n` +
        `try { await predict(openPredictModel(${JSON.stringify(p)}), new Uint8Array(243), 1); } catch (e) { console.log(e.name + ': ' + e.message); }\n`,
    );
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', cwd: resolve('.') });
    expect(r.stdout.trim()).toMatch(/^F8Error: .*kshape\.onnx: onnxruntime cannot run the model: /);
    expect(r.stderr).not.toMatch(/onnxruntime|ExecuteKernel/);
  });
});

describe('messages (point 12)', () => {
  it("import's num_classes = 0 (a classifier of 0 rows) names the file", async () => {
    const p = join(dir, 'zero.safetensors');
    writeSafetensors(p, [{ name: 'fc.weight', dtype: 'F32', shape: [0, 16], data: new Float32Array(0) }]);
    await oneLineAsync(importCheckpoint({ from: p, model: 'cnn', out: join(dir, 'zero-out.safetensors') }), /zero\.safetensors.*num_classes = 0 is invalid/);
  });

  it('a 1 x 39M PNG given to predict: one line, and no GLib-CRITICAL (or any other native noise) on stderr', () => {
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(1, 0);
    ihdr.writeUInt32BE(39_000_000, 4);
    ihdr[8] = 8;
    ihdr[9] = 2;
    // Signature, IHDR, an IDAT of one compressed row's worth of zeros, IEND: what sharp would start decoding.
    const idat = deflateSync(Buffer.alloc(4 * 39_000 + 39_000));
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr), pngChunk('IDAT', idat), pngChunk('IEND', Buffer.alloc(0))]);
    const img = join(dir, 'tall.png');
    writeFileSync(img, png);
    const script = join(dir, 'decode-tall.mts');
    writeFileSync(
      script,
      `import { decodeImages } from ${JSON.stringify(resolve('src/node/decode-images.ts'))};\n` +
        `try { await decodeImages(${JSON.stringify(img)}, [3, 8, 8]); console.log('decoded'); } catch (e) { console.log(e.name + ': ' + e.message); }\n`,
    );
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', cwd: resolve('.') });
    expect(r.stdout.trim()).toMatch(/^F8Error: .*tall\.png: not a readable image \(image of 1 x 39000000 pixels, expected an aspect ratio of at most 256:1\)$/);
    expect(r.stderr).not.toMatch(/GLib|CRITICAL|vips/i);
  });
});
