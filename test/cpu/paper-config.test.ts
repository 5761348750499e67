import { describe, it, expect } from 'vitest';
import { loadConfig } from '../../src/node/config-file.js';
import { parsePaperYaml } from '../../src/train/paper-config.js';
import { readFileSync } from 'node:fs';

const D = new URL('../fixtures/paper-configs/', import.meta.url).pathname;

describe("the paper's configs (fixtures in the layout of its apps/ files)", () => {
  it('fixed-point training: duplicate keys (later wins), vocabulary mapped, --set last', () => {
    const c = loadConfig(`${D}fix_train.yml`);
    expect(c.model).toBe('mobilenet_v2');
    expect(c.lr).toBe(0.05);
    expect(c.dataset).toBe('folder');
    expect(c.lr_scheduler).toBe('cosine');
    expect(c.floating_model).toBe(false);
    expect(c.fp_pretrained_file).toBe(null);
    // The paper's classifier form (src/quant/classifier-form.ts); --set still wins.
    expect(c.classifier_form).toBe('paper');
    expect(loadConfig(`${D}fix_train.yml`, ['classifier_form=folded']).classifier_form).toBe('folded');
    expect(loadConfig(`${D}fix_train.yml`, ['lr=0.01']).lr).toBe(0.01);
  });
  it('test modes: grid search wins like the paper, pretrained_file .pt mapped, resnet50', () => {
    const c = loadConfig(`${D}fix_test_int.yml`);
    expect(c.model).toBe('resnet50');
    expect(c.model_args).toEqual({ alpha_sharing: 'paper' });
    expect(c.classifier_form).toBe('paper');
    // The paper's two booleans (format_grid_search true, format_from_metric false) as one key.
    expect(c.format_search).toBe('grid');
    expect(c.fp_pretrained_file).toBe('/pretrained/best_model.pt');
    expect(c.lr_scheduler).toBe('constant');
  });
  it('float training of MobileNet V1', () => {
    const c = loadConfig(`${D}floating_train.yml`);
    expect(c.model).toBe('mobilenet_v1');
    expect(c.floating_model).toBe(true);
  });
  it('!include reads a file of the same folder, and nothing outside it', () => {
    const raw = parsePaperYaml(readFileSync(`${D}include.yml`, 'utf8'), `${D}include.yml`) as Record<string, unknown>;
    expect(raw.shared).toEqual({ optimizer: 'sgd', momentum: 0.9, nesterov: true });
    expect(() => loadConfig(`${D}escape.yml`)).toThrow(/!include \.\.\/\.\.\/\.\.\/package\.json is outside the config's folder/);
  });
  it('an unknown key is still an error with its name', () => {
    expect(() => loadConfig(`${D}unknown.yml`)).toThrow(/unknown key 'bogus_key'/);
  });
});
