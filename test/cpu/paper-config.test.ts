import { describe, it, expect } from 'vitest';
import { loadConfig } from '../../src/node/config-file.js';
import { parsePaperYaml, translatePaperKeys } from '../../src/train/paper-config.js';
import { resolveConfig } from '../../src/train/config.js';
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
    // Its classifier rescale as the file says; no quant_avgpool: the float-mean pool.
    expect([c.rescale_forward, c.rescale_forward_conv]).toEqual([true, false]);
    expect(c.pool_form).toBe('paper');
  });
  it('quant_avgpool and rescale_forward: the file, the paper\'s defaults where it says nothing, and a contradiction named', () => {
    // fix_test_int.yml: quant_avgpool True (sum and shift, f8net's folded pool), no rescale keys.
    const c = loadConfig(`${D}fix_test_int.yml`);
    expect(c.pool_form).toBe('folded');
    expect([c.rescale_forward, c.rescale_forward_conv]).toEqual([true, false]);
    expect(loadConfig(`${D}fix_test_int.yml`, ['pool_form=paper', 'rescale_forward=false']).pool_form).toBe('paper');
    expect(() => loadConfig(`${D}pool_conflict.yml`)).toThrow(/pool_conflict\.yml: quant_avgpool false means pool_form paper, but pool_form is folded; keep one of them/);
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
  it('tiny finetuning test files: their pretrained-model, width and pooling switches each get a notice and map or are ignored', () => {
    const f = `${D}finetune_test_int_op_only.yml`;
    const raw = parsePaperYaml(readFileSync(f, 'utf8'), f) as Record<string, unknown>;
    const { raw: out, notices } = translatePaperKeys(raw, f);
    const c = resolveConfig(out, [], f);
    expect([c.model, c.pool_form, c.head_form, c.lr_scheduler, c.dataset]).toEqual(['resnet50', 'folded', 'double_side', 'cosine', 'folder']);
    for (const k of ['finetune_iters', 'min_width', 'no_clipping', 'nvidia_pretrained', 'nvidia_pretrained_file', 'print_each_iter', 'ptcv_pretrained', 'quant_maxpool', 'width_divisor', 'pool_fusing', 'int_op_only', 'test_only', 'quant_avgpool']) {
      expect(notices.some((n) => n.includes(`${f}: ${k} `)), k).toBe(true);
    }
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
