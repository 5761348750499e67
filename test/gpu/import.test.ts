// Importing float weights: torchvision name maps (on name lists, no GPU), and on the GPU the
// small CNN's own state through safetensors and ONNX files, torchvision-style names with F16,
// BF16 and F64 tensors, the error for a file that does not fit, the command line, and the zoo's
// ResNets and MobileNets where the registry has them.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpuDescribe, rand, expectExact } from '../helpers.js';
import { Engine } from '../../src/runtime/engine.js';
import { Tensor } from '../../src/tensor.js';
import type { Module, StateDict } from '../../src/nn/module.js';
import { floatQuant, fixedQuant } from '../../src/nn/qlayers.js';
import { Rng } from '../../src/runtime/rng.js';
import { SmallCnn } from '../../src/models/cnn.js';
import { buildModel, modelNames } from '../../src/models/index.js';
import { type StTensor, type StDType } from '../../src/io/safetensors.js';
import { writeSafetensors } from '../../src/node/safetensors-file.js';
import { encodeOnnxInitializers } from '../../src/io/onnx-reader.js';
import { mapNames, nameRulesFor, RESNET_RULES, MOBILENET_V2_RULES, MOBILENET_V1_RULES, IDENTITY_RULES } from '../../src/io/name-maps.js';
import { importWeights, F8NET_ONLY } from '../../src/node/import-weights.js';
import { saveCheckpoint, loadCheckpoint } from '../../src/node/checkpoint-files.js';
import { resolveConfig } from '../../src/train/config.js';

const dir = mkdtempSync(join(tmpdir(), 'f8net-import-'));
const BN = ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'];
const OURS = ['weight', 'gamma', 'beta', 'running_mean', 'running_var'];
const f8only = (n: string) => F8NET_ONLY.includes(n.slice(n.lastIndexOf('.') + 1));

/** torchvision's state_dict names of a ResNet (BasicBlock or Bottleneck), and ours by the convention. */
function resnetNames(layers: number[], bottleneck: boolean): { tv: string[]; ours: string[] } {
  const tv = ['conv1.weight', ...BN.map((s) => `bn1.${s}`)];
  const ours = OURS.map((s) => `conv1.${s}`);
  layers.forEach((n, li) => {
    for (let b = 0; b < n; b++) {
      const p = `layer${li + 1}.${b}`;
      for (let k = 1; k <= (bottleneck ? 3 : 2); k++) {
        tv.push(`${p}.conv${k}.weight`, ...BN.map((s) => `${p}.bn${k}.${s}`));
        ours.push(...OURS.map((s) => `${p}.conv${k}.${s}`));
      }
      if (b === 0 && (li > 0 || bottleneck)) {
        tv.push(`${p}.downsample.0.weight`, ...BN.map((s) => `${p}.downsample.1.${s}`));
        ours.push(...OURS.map((s) => `${p}.downsample.${s}`));
      }
    }
  });
  tv.push('fc.weight', 'fc.bias');
  ours.push('fc.weight', 'fc.bias');
  return { tv, ours };
}

/** The same for torchvision's mobilenet_v2. */
function mobilenetV2Names(): { tv: string[]; ours: string[] } {
  const tv: string[] = [];
  const ours: string[] = [];
  const cbr = (p: string) => {
    tv.push(`${p}.0.weight`, ...BN.map((s) => `${p}.1.${s}`));
    ours.push(...OURS.map((s) => `${p}.${s}`));
  };
  cbr('features.0');
  let i = 1;
  for (const [t, , n] of [[1, 16, 1], [6, 24, 2], [6, 32, 3], [6, 64, 4], [6, 96, 3], [6, 160, 3], [6, 320, 1]]) {
    for (let j = 0; j < n; j++, i++) {
      const p = `features.${i}.conv`;
      const e = t === 1 ? 0 : 1;
      if (e) cbr(`${p}.0`);
      cbr(`${p}.${e}`);
      tv.push(`${p}.${e + 1}.weight`, ...BN.map((s) => `${p}.${e + 2}.${s}`));
      ours.push(...OURS.map((s) => `${p}.${e + 1}.${s}`));
    }
  }
  cbr('features.18');
  tv.push('classifier.1.weight', 'classifier.1.bias');
  ours.push('classifier.weight', 'classifier.bias');
  return { tv, ours };
}

/** The common PyTorch MobileNetV1 (model.N = conv, bn, relu, conv, bn, relu; fc), and ours. */
function mobilenetV1Names(): { tv: string[]; ours: string[] } {
  const tv = ['model.0.0.weight', ...BN.map((s) => `model.0.1.${s}`)];
  const ours = OURS.map((s) => `features.0.${s}`);
  for (let n = 1; n <= 13; n++) {
    tv.push(`model.${n}.0.weight`, ...BN.map((s) => `model.${n}.1.${s}`), `model.${n}.3.weight`, ...BN.map((s) => `model.${n}.4.${s}`));
    ours.push(...OURS.map((s) => `features.${n}.dw.${s}`), ...OURS.map((s) => `features.${n}.pw.${s}`));
  }
  tv.push('fc.weight', 'fc.bias');
  ours.push('classifier.weight', 'classifier.bias');
  return { tv, ours };
}

/** torchvision's (or the common PyTorch) names of each zoo model, and ours by the convention. */
const REFERENCE_NAMES: Record<string, () => { tv: string[]; ours: string[] }> = {
  resnet18: () => resnetNames([2, 2, 2, 2], false),
  resnet34: () => resnetNames([3, 4, 6, 3], false),
  resnet50: () => resnetNames([3, 4, 6, 3], true),
  resnet20: () => resnetNames([3, 3, 3], false),
  resnet32: () => resnetNames([5, 5, 5], false),
  resnet56: () => resnetNames([9, 9, 9], false),
  mobilenet_v1: mobilenetV1Names,
  mobilenet_v2: mobilenetV2Names,
};

/** Our name -> torchvision's ResNet name (null: F8Net-only state), inverting the resnet rules. */
function torchvisionNameOf(ours: string, all: Set<string>): string | null {
  if (f8only(ours)) return null;
  const i = ours.lastIndexOf('.');
  const p = ours.slice(0, i);
  const leaf = ours.slice(i + 1);
  if (!all.has(`${p}.gamma`)) return ours;
  const [conv, bn] = p.endsWith('.downsample') ? [`${p}.0`, `${p}.1`] : [p, p.replace(/conv(\d+)$/, 'bn$1')];
  return leaf === 'weight' ? `${conv}.weight` : `${bn}.${BN[OURS.indexOf(leaf) - 1]}`;
}

describe('torchvision name maps', () => {
  /** Maps torchvision's names onto exactly ours (only num_batches_tracked dropped), then checks some of them one by one. */
  const check = ({ tv, ours }: { tv: string[]; ours: string[] }, rules: typeof RESNET_RULES, some: Record<string, string> = {}) => {
    const m = mapNames(tv, rules);
    expect([...m.values()].filter((v) => v !== null).sort()).toEqual([...ours].sort());
    expect([...m].filter(([, v]) => v === null).every(([k]) => k.endsWith('.num_batches_tracked'))).toBe(true);
    for (const [k, v] of Object.entries(some)) expect(m.get(k), k).toBe(v);
  };
  it('ResNet-18 and ResNet-50: conv + bn pairs, downsample, fc', () => {
    check(resnetNames([2, 2, 2, 2], false), RESNET_RULES, {
      'bn1.weight': 'conv1.gamma',
      'layer2.0.bn2.running_var': 'layer2.0.conv2.running_var',
      'layer3.0.downsample.0.weight': 'layer3.0.downsample.weight',
      'layer3.0.downsample.1.bias': 'layer3.0.downsample.beta',
      'fc.weight': 'fc.weight',
    });
    check(resnetNames([3, 4, 6, 3], true), RESNET_RULES);
  });
  it('MobileNetV2: ConvBNReLU, the projection (conv.k + conv.k+1), classifier.1', () => {
    check(mobilenetV2Names(), MOBILENET_V2_RULES, {
      'features.0.1.weight': 'features.0.gamma',
      'features.1.conv.0.0.weight': 'features.1.conv.0.weight',
      'features.1.conv.1.weight': 'features.1.conv.1.weight',
      'features.1.conv.2.weight': 'features.1.conv.1.gamma',
      'features.2.conv.2.weight': 'features.2.conv.2.weight',
      'features.2.conv.3.running_mean': 'features.2.conv.2.running_mean',
      'features.18.1.bias': 'features.18.beta',
      'classifier.1.weight': 'classifier.weight',
    });
  });
  it('MobileNetV1 (the common PyTorch layout): model.N.0/1 and .3/4, fc', () => {
    check(mobilenetV1Names(), MOBILENET_V1_RULES, {
      'model.0.1.weight': 'features.0.gamma',
      'model.3.1.running_var': 'features.3.dw.running_var',
      'model.13.3.weight': 'features.13.pw.weight',
      'fc.bias': 'classifier.bias',
    });
  });
  it('our own names map onto themselves under every family; module. prefixes go; collisions are errors', () => {
    for (const [{ ours }, rules] of [[resnetNames([3, 4, 6, 3], true), RESNET_RULES], [mobilenetV2Names(), MOBILENET_V2_RULES], [mobilenetV1Names(), MOBILENET_V1_RULES]] as const) {
      const withF8 = [...ours, ...ours.filter((n) => n.endsWith('.weight')).map((n) => n.replace(/weight$/, 'alpha'))];
      for (const r of [rules, IDENTITY_RULES]) for (const [k, v] of mapNames(withF8, r)) expect(v).toBe(k);
    }
    const { tv, ours } = resnetNames([2, 2, 2, 2], false);
    expect([...mapNames(tv.map((n) => `module.${n}`), RESNET_RULES).values()].filter((v) => v !== null).sort()).toEqual([...ours].sort());
    expect(() => mapNames(['conv1.weight', 'bn1.weight', 'bn1.running_mean', 'conv1.gamma'], RESNET_RULES)).toThrow(/bn1\.weight and conv1\.gamma both map to conv1\.gamma|conv1\.gamma and bn1\.weight both map/);
    expect(nameRulesFor('resnet50')).toBe(RESNET_RULES);
    expect(nameRulesFor('mobilenet_v2')).toBe(MOBILENET_V2_RULES);
    expect(nameRulesFor('mobilenet_v1')).toBe(MOBILENET_V1_RULES);
    expect(nameRulesFor('cnn')).toBe(IDENTITY_RULES);
  });
});

const toSt: Record<string, StDType> = { f32: 'F32', i32: 'I32' };

/** Sets every float entry but the F8Net-only ones to k / 2^m with |k| < 128 (exact in F16 and BF16). */
function randomState(model: Module, seed: number): StateDict {
  const sd: StateDict = new Map();
  let s = seed;
  for (const [n, t] of [...model.namedParameters(), ...model.namedBuffers()]) {
    if (t.dtype !== 'f32' || f8only(n)) continue;
    const positive = n.endsWith('running_var') || n.endsWith('gamma');
    const r = rand(t.size, s++, positive ? 32 : -127, 127);
    sd.set(n, { shape: [...t.shape], dtype: 'f32', data: r.map((x) => Math.trunc(x) / (positive ? 64 : 256)) });
  }
  model.loadStateDict(sd, { strict: false });
  return sd;
}

async function evalOut(model: Module, x: Float32Array, shape: number[]): Promise<Float32Array> {
  model.eval();
  const y = Engine.get().tidy(() => model.forward(Tensor.from(x, shape)));
  const out = (await y.read()) as Float32Array;
  y.dispose();
  return out;
}

const f32ToHalf = (x: number): number => {
  if (x === 0) return Object.is(x, -0) ? 0x8000 : 0;
  const s = x < 0 ? 0x8000 : 0;
  const a = Math.abs(x);
  const e = Math.floor(Math.log2(a));
  const m = a / 2 ** e - 1;
  return s | ((e + 15) << 10) | Math.round(m * 1024);
};

function entries(sd: StateDict, rename: (n: string) => string | null = (n) => n, dtype: (n: string) => StDType = () => 'F32'): StTensor[] {
  const out: StTensor[] = [];
  for (const [n, e] of sd) {
    const name = rename(n);
    if (name === null) continue;
    const dt = e.dtype === 'f32' ? dtype(n) : toSt[e.dtype];
    const d = e.data;
    const data =
      dt === 'F16' ? Uint16Array.from(d, f32ToHalf) : dt === 'BF16' ? Uint16Array.from(new Uint32Array(Float32Array.from(d).buffer), (u) => u >>> 16) : dt === 'F64' ? Float64Array.from(d) : d;
    out.push({ name, dtype: dt, shape: e.shape, data });
  }
  return out;
}

const X_SHAPE = [2, 1, 12, 12];
const X = rand(2 * 144, 99);
const cnn = (seed: number) => new SmallCnn({ inChannels: 1, numClasses: 10, imageSize: 12, width: 4 }, floatQuant(), new Rng(seed));

gpuDescribe('import', () => {
  it("safetensors and ONNX files of a model's own state reproduce its outputs bit for bit", async () => {
    const a = cnn(1);
    randomState(a, 11);
    const want = await evalOut(a, X, X_SHAPE);
    const full = await a.stateDict();
    const st = join(dir, 'own.safetensors');
    writeSafetensors(st, entries(full));
    const ox = join(dir, 'own.onnx');
    // ONNX with float weights only: the F8Net state keeps its initial values.
    // (and an integer graph constant, which is ignored).
    const constant: StTensor = { name: 'onnx::Reshape_7', dtype: 'I64', shape: [2], data: new BigInt64Array([1n, -1n]) };
    writeFileSync(ox, encodeOnnxInitializers([...entries(full, (n) => (f8only(n) ? null : n)), constant], { inputs: ['x'], outputs: ['logits'] }));
    for (const [file, kept, ignored] of [[st, 0, []], [ox, 16, ['onnx::Reshape_7']]] as const) {
      const b = cnn(2);
      const { stateDict, report } = importWeights(file, b, nameRulesFor('cnn'));
      expect(report.kept.length).toBe(kept);
      expect(report.ignored).toEqual(ignored);
      expect(report.loaded + report.kept.length).toBe(full.size);
      expect(report.renamed).toEqual([]);
      b.loadStateDict(stateDict, { strict: false });
      expectExact(await evalOut(b, X, X_SHAPE), want, file);
      b.dispose();
    }
    // An f8net checkpoint imports as is (its optimizer state would be dropped).
    const ck = join(dir, 'own-ck.safetensors');
    await saveCheckpoint(ck, { model: a, meta: { stage: 'float', epoch: 1, step: 2, config: {} } });
    const c = cnn(3);
    const r = importWeights(ck, c, IDENTITY_RULES);
    c.loadStateDict(r.stateDict);
    expectExact(await evalOut(c, X, X_SHAPE), want, 'checkpoint');
    a.dispose();
    c.dispose();
  });

  it('torchvision-style names (conv + bn pairs) and F16, BF16, F64 tensors import exactly', async () => {
    const a = cnn(4);
    randomState(a, 21);
    const want = await evalOut(a, X, X_SHAPE);
    const sd = await a.stateDict();
    const all = new Set(sd.keys());
    const tensors = entries(
      sd,
      (n) => torchvisionNameOf(n, all),
      (n) => (n.startsWith('conv1') ? 'F16' : n.startsWith('conv2') ? 'BF16' : n.startsWith('conv3') ? 'F64' : 'F32'),
    );
    for (const k of [1, 2, 3]) tensors.push({ name: `bn${k}.num_batches_tracked`, dtype: 'I64', shape: [], data: new BigInt64Array([100n]) });
    expect(tensors.map((t) => t.name)).toContain('bn2.running_var');
    const file = join(dir, 'tv.safetensors');
    writeSafetensors(file, tensors);
    const b = cnn(5);
    const { stateDict, report } = importWeights(file, b, RESNET_RULES);
    expect(report.converted).toEqual({ F16: 5, BF16: 5, F64: 5 });
    expect(report.ignored.sort()).toEqual(['bn1.num_batches_tracked', 'bn2.num_batches_tracked', 'bn3.num_batches_tracked']);
    expect(report.renamed.length).toBe(12);
    b.loadStateDict(stateDict, { strict: false });
    expectExact(await evalOut(b, X, X_SHAPE), want, 'torchvision names');
    a.dispose();
    b.dispose();
  });

  it('a file that does not fit lists its missing, unexpected and wrongly shaped tensors', async () => {
    const a = cnn(6);
    const sd = await a.stateDict();
    const t = entries(sd, (n) => (n === 'conv2.gamma' ? null : n)).map((e) => (e.name === 'fc.bias' ? { ...e, shape: [3] } : e));
    t.push({ name: 'extra.weight', dtype: 'F32', shape: [2], data: new Float32Array(2) });
    const bad = join(dir, 'bad.safetensors');
    writeSafetensors(bad, t);
    expect(() => importWeights(bad, a, IDENTITY_RULES)).toThrow(
      /bad\.safetensors: does not fit the model: 1 missing: conv2\.gamma; 1 unexpected: extra\.weight; 1 wrongly shaped: fc\.bias: file \[3\], model \[10\] \(names mapped with the identity rules/,
    );
    // Long lists are cut at 8 with a count; torchvision names show what they mapped to.
    const many = [...Array(11).keys()].map((i): StTensor => ({ name: `x${i}.weight`, dtype: 'F32', shape: [1], data: new Float32Array(1) }));
    const tv = entries(sd).concat(many, [{ name: 'bn1.weight', dtype: 'F32', shape: [5], data: new Float32Array(5) }, { name: 'bn1.running_mean', dtype: 'F32', shape: [4], data: new Float32Array(4) }]);
    const file = join(dir, 'many.onnx');
    writeFileSync(file, encodeOnnxInitializers(tv.filter((e) => !['conv1.gamma', 'conv1.running_mean'].includes(e.name))));
    expect(() => importWeights(file, a, RESNET_RULES)).toThrow(/11 unexpected: x0\.weight, .*x7\.weight, \.\.\. \(\+3\); 1 wrongly shaped: bn1\.weight \(as conv1\.gamma\): file \[5\], model \[4\]/);
    a.dispose();
  });

  it('f8net import writes a float checkpoint that the fixed-point model loads; a bad file is one line, exit 2', async () => {
    const a = cnn(7);
    randomState(a, 31);
    const sd = await a.stateDict();
    const src = join(dir, 'cli.safetensors');
    writeSafetensors(src, entries(sd, (n) => (f8only(n) ? null : n)));
    const out = join(dir, 'cli-ck.safetensors');
    const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/entry.ts', 'import', ...args], { encoding: 'utf8', timeout: 300_000 });
    const r = run(['--from', src, '--model', 'cnn', '--model-args', '{"width": 4}', '--out', out, '--set', 'dataset=synthetic', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.num_classes).toBe(10);
    expect(rep.kept.length).toBe(16);
    const ck = loadCheckpoint(out);
    expect(ck.meta.stage).toBe('float');
    expect(ck.meta.epoch).toBe(0);
    expect(ck.meta.step).toBe(0);
    expect(ck.meta.config).toEqual(resolveConfig({ model: 'cnn', model_args: { width: 4 }, num_classes: 10, dataset: 'synthetic' }));
    expectExact(ck.model.get('conv2.running_var')!.data, sd.get('conv2.running_var')!.data, 'stored weights');
    const fixed = new SmallCnn({ inChannels: 1, numClasses: 10, imageSize: 12, width: 4 }, fixedQuant(), new Rng(1));
    fixed.loadStateDict(ck.model, { source: out });
    fixed.dispose();
    const e = run(['--from', src, '--model', 'cnn', '--out', join(dir, 'x.safetensors')]);
    expect(e.status).toBe(2);
    expect(e.stderr.split('\n').filter((l) => l.startsWith('f8net:'))).toHaveLength(1);
    expect(e.stderr).toMatch(/(^|\n)f8net: .*cli\.safetensors: does not fit the model: .*wrongly shaped: conv1\.weight: file \[4, 1, 3, 3\], model \[32, 1, 3, 3\]/);
    a.dispose();
  });

  const zoo = modelNames().filter((n) => /^(resnet|mobilenet)/.test(n));
  it.skipIf(zoo.length === 0)(`the zoo (${zoo.join(', ') || 'none yet'}): torchvision's names map onto every name of ours; resnet20 reproduces its outputs`, async () => {
    for (const name of zoo) {
      expect(REFERENCE_NAMES[name], `${name}: add its torchvision names to this test`).toBeDefined();
      const { tv } = REFERENCE_NAMES[name]();
      const small = /^resnet(20|32|56)$/.test(name);
      const m = buildModel(name, {}, { inChannels: 3, numClasses: 10, imageSize: small ? 32 : 224 }, floatQuant(), new Rng(1));
      const own = [...new Set([...m.namedParameters(), ...m.namedBuffers()].map(([n]) => n))];
      const mapped = [...mapNames(tv, nameRulesFor(name)).values()].filter((v) => v !== null);
      expect(mapped.sort(), name).toEqual(own.filter((n) => !f8only(n)).sort());
      if (name === 'resnet20') {
        const all = new Set(own);
        const sd = randomState(m, 41);
        const x = rand(2 * 3 * 32 * 32, 5);
        const want = await evalOut(m, x, [2, 3, 32, 32]);
        const file = join(dir, `${name}.onnx`);
        writeFileSync(file, encodeOnnxInitializers(entries(sd, (n) => torchvisionNameOf(n, all))));
        const b = buildModel(name, {}, { inChannels: 3, numClasses: 10, imageSize: 32 }, floatQuant(), new Rng(2));
        const r = importWeights(file, b, nameRulesFor(name));
        expect(r.report.renamed.length).toBeGreaterThan(0);
        b.loadStateDict(r.stateDict, { strict: false });
        expectExact(await evalOut(b, x, [2, 3, 32, 32]), want, name);
        b.dispose();
      }
      m.dispose();
    }
  });
});
