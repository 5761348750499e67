// The head forms outside the layers (src/quant/head-form.ts): the config key and the paper's
// `normalize`, stored configs and model files made before head forms, the image feed, and the
// model file's record of it. The layers themselves: test/gpu/qlayers.test.ts; export: test/gpu/export.test.ts.
import { describe, it, expect } from 'vitest';
import { resolveConfig, parseConfigText, withStoredHeadForm } from '../../src/train/config.js';
import { loadConfig } from '../../src/node/config-file.js';
import { imageFeed, headFormOfNormalize, WEIGHT_ONLY_STD } from '../../src/quant/head-form.js';
import { refNormalizeImages } from '../../src/ops/image.ref.js';
import { parseIntModel, serializeIntModel } from '../../src/export/format.js';
import { quantizeImages } from '../../src/export/run-cpu.js';
import { sampleGraphs } from '../int-graphs.js';
import { F8Error } from '../../src/runtime/errors.js';

const D = new URL('../fixtures/paper-configs/', import.meta.url).pathname;

function oneLineError(fn: () => unknown, re: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(F8Error);
  expect((err as F8Error).message).toMatch(re);
  expect((err as F8Error).message).not.toContain('\n');
}

describe('head forms: config', () => {
  it('head_form is a key; the paper\'s normalize maps onto it; a conflict is refused', () => {
    expect(resolveConfig({}).head_form).toBe('weight_only');
    expect(resolveConfig({}, ['head_form=double_side']).head_form).toBe('double_side');
    oneLineError(() => resolveConfig({}, ['head_form=scaled']), /head_form.*one of weight_only, double_side, f8net_scaled/);
    expect(parseConfigText('normalize: true\n', 'a.yml').head_form).toBe('double_side');
    expect(parseConfigText('normalize: false\n', 'a.yml').head_form).toBe('weight_only');
    oneLineError(() => parseConfigText('normalize: true\nhead_form: weight_only\n', 'a.yml'), /normalize true means head_form double_side, but head_form is weight_only/);
    expect(headFormOfNormalize(true)).toBe('double_side');
    // The paper's fixture says normalize: True.
    expect(loadConfig(`${D}fix_test_int.yml`).head_form).toBe('double_side');
    // A paper file that says nothing gets the paper's default.
    expect(loadConfig(`${D}fix_train.yml`).head_form).toBe('weight_only');
  });

  it('weight_only takes no normalisation statistics', () => {
    oneLineError(() => resolveConfig({}, ['input_std=0.3']), /input_std does not apply to head_form weight_only/);
    oneLineError(() => resolveConfig({}, ['input_mean=0.1']), /input_mean does not apply to head_form weight_only/);
    expect(resolveConfig({}, ['head_form=double_side', 'input_mean=0.1', 'input_std=0.3']).input_std).toEqual([0.3]);
  });

  it('a stored config without head_form was trained with f8net_scaled', () => {
    const old = { ...resolveConfig({}) } as Record<string, unknown>;
    delete old.head_form;
    expect(resolveConfig(withStoredHeadForm(old)).head_form).toBe('f8net_scaled');
    expect(resolveConfig(withStoredHeadForm({ ...old, head_form: 'double_side' })).head_form).toBe('double_side');
  });
});

describe('head forms: the image feed', () => {
  it('weight_only feeds pixel / 256 exactly (f32), whatever the data set statistics', () => {
    const feed = imageFeed('weight_only', [0.2, 0.3, 0.4], [0.5, 0.6, 0.7]);
    expect(feed).toEqual({ mean: [0, 0, 0], std: [WEIGHT_ONLY_STD, WEIGHT_ONLY_STD, WEIGHT_ONLY_STD] });
    const px = Uint8Array.from({ length: 256 * 3 }, (_, i) => i % 256);
    const x = refNormalizeImages(px, [1, 3, 16, 16], feed.mean, feed.std);
    expect(Array.from(x)).toEqual(Array.from(px, (k) => k / 256));
    expect(imageFeed('double_side', [0.2], [0.5])).toEqual({ mean: [0.2], std: [0.5] });
  });

  it('the model file records the head form; files without it still load; quantizeImages follows the spec', () => {
    const g = structuredClone(sampleGraphs()[0].graph);
    // A legacy file: no headForm field.
    delete g.input.headForm;
    const { json, bin } = serializeIntModel(g);
    expect(JSON.parse(json).input.headForm).toBeUndefined();
    expect(parseIntModel(json, bin, 'old').input.headForm).toBeUndefined();
    // weight_only: uint8 codes at fl 8 with scale 256 are the pixel bytes (the sample graph with a uint8 input).
    const w = structuredClone(sampleGraphs().find((x) => x.name === 'per-channel')!.graph);
    const C = w.input.shape[0];
    w.input = { ...w.input, headForm: 'weight_only', fl: 8, scale: [256], ...imageFeed('weight_only', new Array(C).fill(0), new Array(C).fill(1)) };
    w.values = w.values.map((v) => (v.name === w.input.name ? { ...v, fl: 8 } : v));
    const s2 = serializeIntModel(w);
    const parsed = parseIntModel(s2.json, s2.bin, 'new');
    expect(parsed.input.headForm).toBe('weight_only');
    const n = 2;
    const px = Uint8Array.from({ length: n * C * w.input.shape[1] * w.input.shape[2] }, (_, i) => (i * 37) % 256);
    expect(Array.from(quantizeImages(parsed, px, n))).toEqual(Array.from(px));
  });

  it('a head form the reader does not know, or a weight_only spec that is not uint8 at fl 8, is refused', () => {
    const g = structuredClone(sampleGraphs()[0].graph);
    const { json, bin } = serializeIntModel(g);
    const d = JSON.parse(json);
    d.input.headForm = 'sideways';
    oneLineError(() => parseIntModel(JSON.stringify(d), bin, 'm'), /input.headForm is "sideways", expected one of "weight_only", "double_side", "f8net_scaled"/);
    d.input.headForm = 'weight_only';
    d.input.dtype = 'int8';
    oneLineError(() => parseIntModel(JSON.stringify(d), bin, 'm'), /head form weight_only reads uint8 codes at fl 8/);
  });
});
