import { describe, it, expect, vi } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig, nearestKey, configHelp, SCHEMA } from '../../src/train/config.js';
import { loadConfig } from '../../src/node/config-file.js';

const dir = mkdtempSync(join(tmpdir(), 'f8net-config-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('config', () => {
  it('the built-in default is valid and complete', () => {
    const c = loadConfig(null);
    expect(c.dataset).toBe('mnist');
    expect(c.model).toBe('cnn');
    expect(c.floating_model).toBe(true);
    for (const k of Object.keys(SCHEMA)) expect(c).toHaveProperty(k);
  });

  it('reads YAML and applies --set overrides typed as YAML', () => {
    const p = file('a.yml', 'lr: 0.2\nweight_format: [8, 6]\nmodel_args: {width: 8}\n');
    const c = loadConfig(p, ['num_epochs=3', 'nesterov=false', 'input_format=[8, 5]']);
    expect(c.lr).toBe(0.2);
    expect(c.weight_format).toEqual([8, 6]);
    expect(c.model_args).toEqual({ width: 8 });
    expect(c.num_epochs).toBe(3);
    expect(c.nesterov).toBe(false);
    expect(c.input_format).toEqual([8, 5]);
  });

  it('names an unknown key and suggests the nearest', () => {
    const p = file('typo.yml', 'learning_rat: 0.1\nnum_epoch: 3\n');
    expect(() => loadConfig(p)).toThrow(/unknown key 'num_epoch' \(did you mean 'num_epochs'\?\)|unknown key 'learning_rat'/);
    expect(nearestKey('num_epoch')).toBe('num_epochs');
    expect(nearestKey('wieght_decay')).toBe('weight_decay');
    expect(nearestKey('completely_unrelated_thing')).toBeNull();
  });

  it('names the key, the value and what is allowed for a wrong type or value', () => {
    expect(() => resolveConfig({ lr: 'fast' })).toThrow(/lr = "fast" is invalid: expected a finite number/);
    expect(() => resolveConfig({ batch_size: 0 })).toThrow(/batch_size = 0 is invalid: expected a value >= 1/);
    expect(() => resolveConfig({ metric: 'max' })).toThrow(/metric = "max" is invalid: expected one of std, mae, rms/);
    expect(() => resolveConfig({ weight_format: [8] })).toThrow(/weight_format = \[8\] is invalid: expected \[wl, fl\]/);
    expect(() => resolveConfig({ input_format: [8, 9] })).toThrow(/fractional length fl in 0..8/);
    expect(() => resolveConfig({ nesterov: 'yes' })).toThrow(/nesterov = "yes" is invalid: expected true or false/);
    expect(() => resolveConfig({}, ['lr'])).toThrow(/--set lr: expected key=value/);
  });

  it('refuses impossible combinations before any work', () => {
    expect(() => resolveConfig({ format_from_metric: true, format_grid_search: true })).toThrow(/both true; choose one/);
    expect(() => resolveConfig({ floating_model: false, format_from_metric: false })).toThrow(/needs format_from_metric or format_grid_search/);
    expect(() => resolveConfig({ weight_format: [8, 8] })).toThrow(/signed: fl must be at most wl - 1 = 7/);
    expect(() => resolveConfig({ fp_pretrained_file: 'x.safetensors' })).toThrow(/set floating_model: false/);
    expect(() => resolveConfig({ lr_scheduler: 'step' })).toThrow(/needs lr_milestones/);
    expect(() => resolveConfig({ dataset: 'cifar10' })).toThrow(/dataset cifar10 needs dataset_dir/);
  });

  it('format_search is one key; the paper\'s two booleans fold into it with a notice, in order with it', () => {
    expect(resolveConfig({}).format_search).toBe('metric');
    expect(resolveConfig({ format_search: 'grid' }).format_search).toBe('grid');
    expect(() => resolveConfig({ format_search: 'both' })).toThrow(/format_search = "both" is invalid: expected one of metric, grid, none/);
    expect(() => resolveConfig({ floating_model: false, format_search: 'none' })).toThrow(/needs format_from_metric or format_grid_search/);
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(resolveConfig({ format_from_metric: false, format_grid_search: true }).format_search).toBe('grid');
      expect(err).toHaveBeenLastCalledWith('f8net: config: format_from_metric false, format_grid_search true -> format_search grid');
      expect(resolveConfig({ format_grid_search: true, format_from_metric: false }, [], 'x.yml').format_search).toBe('grid');
      expect(resolveConfig({ format_from_metric: false }).format_search).toBe('none');
      expect(resolveConfig({ format_from_metric: true }).format_search).toBe('metric');
      expect(() => resolveConfig({ format_grid_search: 'yes' })).toThrow(/format_grid_search = "yes" is invalid: expected true or false/);
      // As when they were two keys: a later --set wins, and a contradiction is an error.
      expect(resolveConfig({ format_search: 'metric' }, ['format_from_metric=false', 'format_grid_search=true']).format_search).toBe('grid');
      expect(() => resolveConfig({ format_search: 'metric' }, ['format_grid_search=true'])).toThrow(/--set format_grid_search=true: format_from_metric and format_grid_search are both true/);
      expect(resolveConfig({ format_grid_search: true, format_from_metric: false, format_search: 'metric' }).format_search).toBe('metric');
      // A checkpoint written before format_search stores both booleans: its config still loads.
      const stored = { ...resolveConfig({ floating_model: false }) } as Record<string, unknown>;
      delete stored.format_search;
      const old = resolveConfig({ ...stored, format_from_metric: false, format_grid_search: true }, [], 'old.safetensors (config)');
      expect(old.format_search).toBe('grid');
      expect(old).toEqual(resolveConfig({ floating_model: false, format_search: 'grid' }));
      expect(err).toHaveBeenLastCalledWith('f8net: old.safetensors (config): format_from_metric false, format_grid_search true -> format_search grid');
    } finally {
      err.mockRestore();
    }
  });

  it('reports invalid YAML with the file and line', () => {
    const p = file('bad.yml', 'lr: 0.1\nmodel: [unclosed\n');
    expect(() => loadConfig(p)).toThrow(/bad\.yml:\d+: not valid YAML/);
    expect(() => loadConfig(file('list.yml', '- 1\n- 2\n'))).toThrow(/expected a mapping/);
    expect(() => loadConfig(join(dir, 'missing.yml'))).toThrow(/missing\.yml: cannot read/);
  });

  it('documents every key', () => {
    const h = configHelp();
    for (const k of Object.keys(SCHEMA)) expect(h).toContain(k);
  });
});

describe('shipped configs', () => {
  it('every config in configs validates', async () => {
    const { readdirSync } = await import('node:fs');
    const files = readdirSync('configs').filter((f) => f.endsWith('.yml'));
    expect(files.length).toBeGreaterThanOrEqual(6);
    for (const f of files) expect(() => loadConfig(join('configs', f)), f).not.toThrow();
  });
});
