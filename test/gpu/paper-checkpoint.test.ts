// The paper's torch checkpoints where training reads one: fp_pretrained_file (and the paper's
// pretrained_file, mapped onto it) and resume, from the fixture resume.pt (written once by
// tools/seed_roundtrip.py --fixtures: fix_train.py's latest_checkpoint.pt form for f8net's
// resnet20 on the synthetic 1-channel, 4-class data).
import { it, expect } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gpuDescribe } from '../helpers.js';
import { resolveConfig } from '../../src/train/config.js';
import { train, resumeConfig, TrainingLoop } from '../../src/node/trainer.js';
import { loadDataAsync } from '../../src/data/sources.js';
import { readTorchCheckpoint } from '../../src/node/torch-file.js';
import { torchTrainingCheckpoint, readTrainingCheckpoint, isTorchFile } from '../../src/node/torch-checkpoint.js';
import { loadCheckpoint } from '../../src/node/checkpoint-files.js';
import { exportPaperCheckpoint } from '../../src/node/paper-export.js';
import { importCheckpoint } from '../../src/node/import-weights.js';
import { exportCheckpoint } from '../../src/node/from-checkpoint.js';
import { loadConfig } from '../../src/node/config-file.js';
import type { StTensor } from '../../src/io/safetensors.js';

const PT = new URL('../fixtures/paper/resume.pt', import.meta.url).pathname;
const base = { dataset: 'synthetic', model: 'resnet20', image_size: 12, num_classes: 4, max_train_samples: 16, max_test_samples: 8, batch_size: 8, floating_model: false, lr: 0.01 };

/** A stream that keeps what is written to it. */
function capture(): { stream: NodeJS.WriteStream; text: () => string } {
  let s = '';
  const w = new Writable({ write: (c, _e, cb) => ((s += String(c)), cb()) });
  return { stream: w as unknown as NodeJS.WriteStream, text: () => s };
}

gpuDescribe("the paper's checkpoints as fp_pretrained_file and resume", () => {
  it('maps weights, epoch, best top-1 and every momentum buffer of the paper file', async () => {
    expect(isTorchFile(PT)).toBe(true);
    const cfg = resolveConfig(base);
    const loop = new TrainingLoop(cfg, await loadDataAsync(cfg));
    try {
      const tc = readTorchCheckpoint(PT);
      const { ck, notes } = torchTrainingCheckpoint(PT, tc, loop.model, cfg, loop.loader.getState());
      expect(ck.meta.epoch).toBe(2);
      expect(ck.meta.best).toBeCloseTo(0.375, 12); // best_val is the paper's top-1 error
      expect(ck.meta.stage).toBe('fixed');
      expect(Object.keys(ck.optimizer)).toHaveLength(87);
      expect(notes.join('\n')).not.toMatch(/starts fresh/);
      // head.0.conv.weight's buffer (paper parameter 1) lands on conv1.weight's index.
      const params = loop.model.parameters();
      const conv1 = loop.model.namedParameters().find(([n]) => n === 'conv1.weight')![1];
      const mb = ((tc.extras.get('optimizer') as Map<string, unknown>).get('state') as Map<string, Map<string, StTensor>>).get('1')!.get('momentum_buffer')!;
      expect(ck.optimizer[`${params.indexOf(conv1)}.momentum_buffer`]).toEqual(new Float32Array(mb.data.buffer.slice(mb.data.byteOffset, mb.data.byteOffset + mb.data.byteLength)));
      expect(ck.model.get('conv1.alpha')!.shape).toEqual([1]);
      const fl = tc.tensors.get('module.head.0.input_fraclen')!.data;
      expect(ck.model.get('conv1.input_fraclen_run')!.data[0]).toBe(new DataView(fl.buffer, fl.byteOffset).getFloat32(0, true));
      loop.resumeFrom(ck, { partial: true });
      expect(loop.epoch).toBe(2);
      expect(loop.globalStep).toBe(2 * loop.stepsPerEpoch);

      // A buffer that does not fit its parameter: the optimizer starts fresh, in one notice.
      const opt = tc.extras.get('optimizer') as Map<string, unknown>;
      const state = opt.get('state') as Map<string, Map<string, StTensor>>;
      const one = state.get('1')!.get('momentum_buffer')!;
      state.get('1')!.set('momentum_buffer', { ...one, shape: [8], data: new Uint8Array(32) });
      const fresh = torchTrainingCheckpoint(PT, tc, loop.model, cfg, loop.loader.getState());
      expect(fresh.ck.optimizer).toEqual({});
      expect(fresh.notes.filter((n) => /the optimizer state starts fresh \(the momentum buffer of module\.head\.0\.conv\.weight has 8 values, our conv1\.weight 144\)/.test(n))).toHaveLength(1);
    } finally {
      loop.dispose();
    }
  });

  it('f8net import --stage fixed: the paper\'s fixed-point weights as a fixed-point checkpoint that f8net exports as it is', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'f8net-paper-import-'));
    const out = join(dir, 'r20.safetensors');
    const { report } = await importCheckpoint({ from: PT, model: 'resnet20', stage: 'fixed', inChannels: 1, out, sets: ['dataset=synthetic', 'image_size=12', 'max_test_samples=8'] });
    expect(report.loaded).toBeGreaterThan(100);
    const ck = loadCheckpoint(out);
    expect(ck.meta.stage).toBe('fixed');
    expect(ck.meta.config.floating_model).toBe(false);
    // The paper's forms, recorded in the stored config (docs/INTEROP.md "Classifier forms").
    expect([ck.meta.config.classifier_form, ck.meta.config.fold_order, ck.meta.config.identity_add, ck.meta.config.model_args]).toEqual(['paper', 'paper', 'paper', { alpha_sharing: 'paper' }]);
    const { graph } = await exportCheckpoint(out, join(dir, 'int'), { onnx: false });
    expect(graph.nodes.length).toBeGreaterThan(20);
    expect(graph.output.classifierForm).toBe('paper');
    // An explicit --set wins.
    await importCheckpoint({ from: PT, model: 'resnet20', stage: 'fixed', inChannels: 1, out, sets: ['dataset=synthetic', 'image_size=12', 'classifier_form=folded'] });
    expect(loadCheckpoint(out).meta.config.classifier_form).toBe('folded');
    await expect(importCheckpoint({ from: PT, model: 'resnet20', stage: 'fixed', inChannels: 1, out, sets: ['floating_model=true'] })).rejects.toThrow(/--set must not change .*--stage/);
  });

  it('another architecture is refused with one line naming the file', async () => {
    const cfg = resolveConfig({ ...base, model: 'resnet32' });
    const loop = new TrainingLoop(cfg, await loadDataAsync(cfg));
    try {
      expect(() => readTrainingCheckpoint(PT, loop.model, cfg, loop.loader.getState())).toThrow(/resume\.pt: does not fit the model: \d+ missing: layer1\.3\./);
    } finally {
      loop.dispose();
    }
  });

  it('trains from it as fp_pretrained_file, and resumes it (f8net train --config paper.yml --set resume=X.pt)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'f8net-paper-ck-'));
    const out = capture();
    const r = await train(resolveConfig({ ...base, num_epochs: 1, fp_pretrained_file: PT, log_dir: join(dir, 'fp') }), { stream: out.stream });
    expect(out.text()).toMatch(/resume\.pt: 172 tensors|resume\.pt: \d+ tensors of the paper's names into resnet20/);
    expect(r.epochs).toHaveLength(1);
    const ck = loadCheckpoint(join(r.logDir, 'last.safetensors'));
    expect(ck.meta.stage).toBe('fixed');

    // export-checkpoint --format f8net-pytorch, then read back: the identity, with the counters the paper's strict load needs.
    const back = join(dir, 'back.pt');
    // f8net's forms (this run's config): the tensors go out as they are, with one note per form the paper computes differently.
    const notes = exportPaperCheckpoint(join(r.logDir, 'last.safetensors'), back).notes.join('\n');
    expect(notes).toMatch(/classifier_form folded/);
    expect(notes).toMatch(/alpha_sharing f8net/);
    expect(notes).toMatch(/fold_order \/ identity_add not paper/);
    const tc = readTorchCheckpoint(back);
    expect(tc.tensors.get('module.head.0.bn.num_batches_tracked')!.dtype).toBe('I64');
    expect(tc.tensors.get('module.head.0.alpha')!.shape).toEqual([]);
    const cfgBack = resolveConfig(ck.meta.config);
    const loopBack = new TrainingLoop(cfgBack, await loadDataAsync(cfgBack));
    try {
      const again = readTrainingCheckpoint(back, loopBack.model, cfgBack).ck.model;
      for (const [k, e] of ck.model) {
        if (k.endsWith('.input_fraclen') || k.endsWith('.weight_fraclen')) continue; // derived, not exported
        expect(again.get(k)!.data, k).toEqual(e.data);
      }
    } finally {
      loopBack.dispose();
    }

    // resume: the config comes from the file and --set, the state from the paper's checkpoint.
    const yml = join(dir, 'run.yml');
    writeFileSync(yml, Object.entries({ ...base, num_epochs: 3, log_dir: join(dir, 'resumed') }).map(([k, v]) => `${k}: ${v}`).join('\n'));
    const cfg = resumeConfig(PT, [], yml);
    expect(cfg).toEqual({ ...loadConfig(yml, []), resume: PT });
    const out2 = capture();
    const r2 = await train(cfg, { stream: out2.stream });
    expect(out2.text()).toMatch(/paper's checkpoint at epoch 2, best top-1 37\.50%: \d+ tensors into resnet20, 87 momentum buffers/);
    expect(out2.text()).toMatch(/resumed from .*resume\.pt at step 4 \(2 epochs done\)/);
    expect(r2.epochs.map((e) => e.epoch)).toEqual([3]);
    const last = loadCheckpoint(join(r2.logDir, 'last.safetensors'));
    expect(last.meta.epoch).toBe(3);
    expect(last.meta.step).toBe(6);
    expect(readFileSync(join(r2.logDir, 'metrics.csv'), 'utf8').trim().split('\n')).toHaveLength(2);
    // num_epochs below the paper's epoch is refused.
    await expect(train({ ...cfg, num_epochs: 1, log_dir: join(dir, 'short') }, { quiet: true })).rejects.toThrow(/num_epochs=1: the checkpoint .*resume\.pt is already at epoch 2/);
  });
});
