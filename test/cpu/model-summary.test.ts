// `f8net model summary` (models/summary.ts) without a GPU: parameter counts equal torchvision's,
// MACs near the published figures, shapes, torchvision's _make_divisible, the CLI, and every
// shipped config under configs/ loads and names a registered network.
import { describe, it, expect } from 'vitest';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { summarizeModel, formatSummary } from '../../src/models/summary.js';
import { makeDivisible } from '../../src/models/shapes.js';
import { modelNames, modelArgs } from '../../src/models/index.js';
import { loadConfig } from '../../src/node/config-file.js';

describe('model summary', () => {
  it('parameter counts equal torchvision\'s (1000 classes, 3x224x224)', () => {
    expect(summarizeModel('resnet18').totals.params).toBe(11_689_512);
    expect(summarizeModel('resnet34').totals.params).toBe(21_797_672);
    expect(summarizeModel('resnet50').totals.params).toBe(25_557_032);
    expect(summarizeModel('mobilenet_v2').totals.params).toBe(3_504_872);
    expect(summarizeModel('mobilenet_v2', { width_mult: 1.0 }).totals.params).toBe(3_504_872);
  });

  it('other counts: MobileNetV1 4.23 M; CIFAR ResNets = option-A counts + the 1x1 projections (16->32, 32->64)', () => {
    expect(summarizeModel('mobilenet_v1').totals.params).toBe(4_231_976);
    // He et al.'s option A (zero padding) ResNet-20/32/56: 269,722 / 464,154 / 853,018 parameters.
    const projections = 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64;
    expect(summarizeModel('resnet20').totals.params).toBe(269_722 + projections);
    expect(summarizeModel('resnet32').totals.params).toBe(464_154 + projections);
    expect(summarizeModel('resnet56').totals.params).toBe(853_018 + projections);
  });

  it('MACs within 1% of the published figures (ResNet-18 1.81 G, ResNet-34 3.66 G, ResNet-50 4.09 G, MobileNetV2 300 M, MobileNetV1 569 M)', () => {
    const near = (name: string, want: number) => expect(Math.abs(summarizeModel(name).totals.macs / want - 1), name).toBeLessThan(0.01);
    near('resnet18', 1.814e9);
    near('resnet34', 3.664e9);
    near('resnet50', 4.089e9);
    near('mobilenet_v2', 300.8e6);
    near('mobilenet_v1', 569e6);
  });

  it('layers, shapes and the data shape options', () => {
    const s = summarizeModel('resnet18');
    expect(s.input).toEqual([3, 224, 224]);
    const row = (n: string) => s.layers.find((l) => l.name === n)!;
    expect(row('conv1').outShape).toEqual([64, 112, 112]);
    expect(row('conv1').params).toBe(64 * 3 * 49 + 128);
    expect(row('maxpool').outShape).toEqual([64, 56, 56]);
    expect(row('layer2.0.downsample').outShape).toEqual([128, 28, 28]);
    expect(row('layer4.1').kind).toBe('add');
    expect(row('fc').outShape).toEqual([1000]);
    expect(s.totals.layers).toBe(21);
    expect(s.layers.filter((l) => l.name.endsWith('downsample')).map((l) => l.name)).toEqual(['layer2.0.downsample', 'layer3.0.downsample', 'layer4.0.downsample']);

    const c = summarizeModel('resnet20', {}, { inChannels: 1, numClasses: 10, imageSize: 32 });
    expect(c.input).toEqual([1, 32, 32]);
    expect(c.layers.find((l) => l.name === 'layer3.2.conv2')!.outShape).toEqual([64, 8, 8]);
    expect(c.layers.some((l) => l.kind === 'maxpool')).toBe(false);

    const m = summarizeModel('mobilenet_v2', {}, { numClasses: 10, imageSize: 32 });
    expect(m.layers.find((l) => l.name === 'features.18')!.outShape).toEqual([1280, 1, 1]);
    expect(m.layers.find((l) => l.name === 'features.2.conv.1')!.kind).toBe('dwconv');
    expect(m.layers.filter((l) => l.kind === 'add').map((l) => l.name)).toEqual(
      [3, 5, 6, 8, 9, 10, 12, 13, 15, 16].map((i) => `features.${i}`),
    );
    expect(formatSummary(s)).toMatch(/parameters 11,689,512/);
  });

  it('errors name the problem: an image too small, an unknown network or argument', () => {
    expect(() => summarizeModel('cnn', {}, { imageSize: 3 })).toThrow(/pool2: input 1x1 is too small/);
    expect(() => summarizeModel('resnet19')).toThrow(/not known/);
    expect(() => summarizeModel('resnet18', { width_mult: 2 })).toThrow(/unknown argument 'width_mult'/);
    expect(() => summarizeModel('mobilenet_v2', { width_mult: -1 })).toThrow(/positive number/);
  });

  it("makeDivisible is torchvision's _make_divisible", () => {
    const cases: [number, number][] = [
      [32 * 0.25, 8],
      [16 * 0.25, 8],
      [24 * 0.75, 24],
      [96 * 0.35, 32],
      [1280 * 1.4, 1792],
      [24 * 0.5, 16],
      [3.9, 8],
      [36, 40],
    ];
    for (const [v, want] of cases) expect(makeDivisible(v), `${v}`).toBe(want);
    expect(summarizeModel('mobilenet_v2', { width_mult: 0.25 }).layers.find((l) => l.name === 'features.18')!.outShape[0]).toBe(1280);
  });

  it('f8net model summary NAME --json (CLI, no GPU)', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/entry.ts', 'model', 'summary', 'mobilenet_v2', '--json', '--image-size', '96', '--num-classes', '10', '--arg', 'width_mult=0.5'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.input).toEqual([3, 96, 96]);
    expect(s.args).toEqual({ width_mult: 0.5 });
    expect(s.layers.at(-1)).toMatchObject({ name: 'classifier', outShape: [10] });
    expect(s.totals.params).toBe(summarizeModel('mobilenet_v2', { width_mult: 0.5 }, { imageSize: 96, numClasses: 10 }).totals.params);
  });
});

describe('shipped configs', () => {
  const dir = 'configs';
  const files = readdirSync(dir).filter((f) => f.endsWith('.yml'));

  it('every config loads and names a registered network with known arguments', () => {
    expect(files.length).toBeGreaterThanOrEqual(26);
    for (const f of files) {
      const c = loadConfig(join(dir, f));
      expect(modelNames(), f).toContain(c.model);
      for (const k of Object.keys(c.model_args)) expect(modelArgs(c.model), `${f}: ${k}`).toContain(k);
    }
  });

  it('every zoo network has a float and a fixed-point config; fixed ones start from a float checkpoint with the F8Net recipe', () => {
    const cfgs = files.map((f) => ({ f, c: loadConfig(join(dir, f)) })).filter(({ c }) => c.model !== 'cnn');
    for (const name of modelNames().filter((n) => n !== 'cnn')) {
      expect(cfgs.some(({ c }) => c.model === name && c.floating_model), `${name}: float config`).toBe(true);
      expect(cfgs.some(({ c }) => c.model === name && !c.floating_model), `${name}: fixed config`).toBe(true);
    }
    for (const { f, c } of cfgs) {
      expect(c.optimizer, f).toBe('sgd');
      expect([c.momentum, c.nesterov, c.lr_scheduler, c.weight_decay], f).toEqual([0.9, true, 'cosine', 4e-5]);
      if (c.floating_model) continue;
      expect(c.fp_pretrained_file, f).toBeTruthy();
      expect([c.weight_format, c.input_format, c.format_type, c.format_search, c.metric], f).toEqual([[8, 7], [8, 6], 'per_layer', 'metric', 'std']);
    }
  });
});
