import { it, expect } from 'vitest';
import { mkdtempSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpuDescribe } from '../helpers.js';
import { Engine } from '../../src/runtime/engine.js';
import { Tensor } from '../../src/tensor.js';
import { backward } from '../../src/autograd/tape.js';
import { softmaxCrossEntropy } from '../../src/ops/loss.js';
import { normalizeImages } from '../../src/ops/image.js';
import { SGD } from '../../src/optim/sgd.js';
import { SmallCnn } from '../../src/models/cnn.js';
import { floatQuant } from '../../src/nn/qlayers.js';
import { Rng } from '../../src/runtime/rng.js';
import { syntheticDataset } from '../../src/data/sources.js';
import { resolveConfig } from '../../src/train/config.js';
import { train } from '../../src/node/trainer.js';

/** A config on the synthetic toy set (4 classes, 12x12) with a width-4 CNN, plus `over`. */
// The accuracy thresholds below were set with a normalised image; under weight_only (pixel / 256,
// not centred) the width-4 CNN reaches 0.5 instead of > 0.75 in its 16 steps, so these runs feed
// the normalised image (double_side). The head forms are compared in docs/INTEROP.md.
function synthConfig(over: Record<string, unknown>) {
  return resolveConfig({ dataset: 'synthetic', model_args: { width: 4 }, image_size: 12, num_classes: 4, head_form: 'double_side', ...over });
}

/** synthConfig with 256 training images in batches of 32, logging to a fresh temp folder `dir`, plus `over`. */
function synthRun(tag: string, over: Record<string, unknown>) {
  const dir = mkdtempSync(join(tmpdir(), `f8net-${tag}-`));
  return { dir, cfg: synthConfig({ max_train_samples: 256, batch_size: 32, log_dir: dir, ...over }) };
}

gpuDescribe('training', () => {
  it('a tiny model fits a fixed batch, and the pool stays flat over 200 steps', async () => {
    const e = Engine.get();
    const ds = syntheticDataset(16, 4, 12, 3);
    const model = new SmallCnn({ inChannels: 1, numClasses: 4, imageSize: 12, width: 4 }, floatQuant(), new Rng(5));
    const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
    const labels = Int32Array.from(ds.labels);
    const losses: number[] = [];
    const allocated: number[] = [];
    for (let step = 0; step < 200; step++) {
      const loss = e.tidy(() => {
        const x = normalizeImages(ds.images, [16, 1, 12, 12], [0.2], [0.3]);
        const l = softmaxCrossEntropy(model.forward(x), Tensor.from(labels, [16], 'i32'));
        backward(l);
        opt.step();
        return l;
      });
      opt.zeroGrad();
      if (step % 20 === 0 || step === 199) losses.push(await loss.item());
      loss.dispose();
      allocated.push(e.pool.stats().allocatedBytes);
    }
    expect(losses[losses.length - 1]).toBeLessThan(0.5 * losses[0]);
    expect(losses[losses.length - 1]).toBeLessThan(0.2);
    // After the first steps (lazy momentum buffers, read-back staging) nothing more is allocated.
    expect(allocated[199]).toBe(allocated[5]);
    model.dispose();
    opt.dispose();
  });

  it('trains from a config end to end: logs, checkpoints, curves, and the accuracy rises', async () => {
    const { dir, cfg } = synthRun('train', { max_test_samples: 64, num_epochs: 2, lr: 0.1, log_interval: 4 });
    const r = await train(cfg, { quiet: true });
    expect(r.epochs.length).toBe(2);
    expect(r.final.top1).toBeGreaterThan(0.75); // chance is 0.25
    for (const f of ['log.jsonl', 'metrics.csv', 'curves.png', 'last.safetensors', 'best.safetensors']) expect(existsSync(join(dir, f))).toBe(true);
    const csv = readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('epoch,train_loss,test_loss,top1,top5,lr,seconds,images_per_s,data_wait_share');
    expect(csv.length).toBe(3);
  });
});

gpuDescribe('resume', () => {
  it('a run stopped after epoch 1 and resumed equals an uninterrupted run, bit for bit', async () => {
    const { readSafetensors } = await import('../../src/node/safetensors-file.js');
    const { typedData } = await import('../../src/io/safetensors.js');
    const base = {
      max_train_samples: 192,
      max_test_samples: 32,
      batch_size: 32,
      num_epochs: 2,
      lr: 0.1,
      augment_crop_padding: 1,
      random_seed: 7,
    };
    const a = mkdtempSync(join(tmpdir(), 'f8net-resume-a-'));
    const b = mkdtempSync(join(tmpdir(), 'f8net-resume-b-'));
    await train(synthConfig({ ...base, log_dir: a }), { quiet: true });
    await train(synthConfig({ ...base, log_dir: b }), { quiet: true, stopAfter: 1 });
    await train(synthConfig({ ...base, log_dir: b, resume: join(b, 'last.safetensors') }), { quiet: true });
    const ta = readSafetensors(join(a, 'last.safetensors')).tensors;
    const tb = readSafetensors(join(b, 'last.safetensors')).tensors;
    expect([...tb.keys()].sort()).toEqual([...ta.keys()].sort());
    for (const [k, t] of ta) {
      const x = Buffer.from(typedData(t).buffer, typedData(t).byteOffset, typedData(t).byteLength);
      const y = Buffer.from(typedData(tb.get(k)!).buffer, typedData(tb.get(k)!).byteOffset, typedData(tb.get(k)!).byteLength);
      expect(x.equals(y), k).toBe(true);
    }
  });
});

gpuDescribe('resume mid-epoch', () => {
  it('a run aborted mid-epoch (opts.signal, as SIGINT does) and resumed from its checkpoint config equals an uninterrupted run', async () => {
    const base = { max_train_samples: 192, max_test_samples: 32, batch_size: 32, num_epochs: 2, lr: 0.1, augment_crop_padding: 1, random_seed: 5, log_interval: 2 };
    const a = mkdtempSync(join(tmpdir(), 'f8net-mid-a-'));
    const b = mkdtempSync(join(tmpdir(), 'f8net-mid-b-'));
    await train(synthConfig({ ...base, log_dir: a }), { quiet: true });
    const ctrl = new AbortController();
    const r = await train(synthConfig({ ...base, log_dir: b }), { quiet: true, signal: ctrl.signal, onStep: (s) => s.globalStep === 8 && ctrl.abort() });
    expect(r.interrupted).toMatchObject({ epoch: 1, step: 8, checkpoint: join(b, 'last.safetensors') });
    const ck = join(b, 'last.safetensors');
    // The library refuses a config that differs from the checkpoint's outside the safe keys.
    await expect(train(synthConfig({ ...base, lr: 0.2, log_dir: b, resume: ck }), { quiet: true })).rejects.toThrow(/differs from the checkpoint's in lr/);
    const { resumeConfig } = await import('../../src/node/trainer.js');
    // best.safetensors (epoch 1, step 6) is behind last (step 8): resuming from it would discard steps.
    const best = join(b, 'best.safetensors');
    await expect(train(resumeConfig(best, [`resume=${best}`]), { quiet: true })).rejects.toThrow(`resume ${best}: is at step 6, but the run in ${b} went on to step 8`);
    await train(resumeConfig(ck, [`resume=${ck}`]), { quiet: true });
    const { readSafetensors } = await import('../../src/node/safetensors-file.js');
    const { typedData } = await import('../../src/io/safetensors.js');
    const ta = readSafetensors(join(a, 'last.safetensors')).tensors;
    const tb = readSafetensors(ck).tensors;
    const bytes = (v: ReturnType<typeof typedData>) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    expect([...tb.keys()].sort()).toEqual([...ta.keys()].sort());
    for (const [k, t] of ta) expect(bytes(typedData(t)).equals(bytes(typedData(tb.get(k)!))), k).toBe(true);
    expect(readFileSync(join(b, 'metrics.csv'), 'utf8').split('\n').map((l) => l.split(',').slice(0, 4).join())).toEqual(readFileSync(join(a, 'metrics.csv'), 'utf8').split('\n').map((l) => l.split(',').slice(0, 4).join()));
  });
});

gpuDescribe('NaN loss', () => {
  it('stops with a message naming the epoch, the step and the learning rate', async () => {
    const { dir, cfg } = synthRun('nan', { max_test_samples: 32, num_epochs: 1, lr: 1e30, lr_scheduler: 'constant', log_interval: 2 });
    await expect(train(cfg, { quiet: true })).rejects.toThrow(/loss became (NaN|Infinity|-Infinity) in epoch 1 by step \d+ \(lr 1\.00e\+30\)/);
    // Nothing half-written: no checkpoint was produced by the failed epoch.
    expect(existsSync(join(dir, 'last.safetensors'))).toBe(false);
  });
});

gpuDescribe('image-folder training', () => {
  it('trains on a folder of PNG and JPEG images with random-resized crops and flips', async () => {
    const sharp = (await import('sharp')).default;
    const { mkdirSync } = await import('node:fs');
    const dir = mkdtempSync(join(tmpdir(), 'f8net-folder-'));
    // Two classes that differ in colour: red and blue squares of varying brightness.
    for (const split of ['train', 'val']) {
      for (const [cls, rgb] of [['blue', [20, 40, 220]], ['red', [220, 30, 30]]] as const) {
        mkdirSync(join(dir, split, cls), { recursive: true });
        for (let i = 0; i < (split === 'train' ? 12 : 4); i++) {
          const f = 0.7 + 0.05 * i;
          const img = sharp({ create: { width: 20 + i, height: 18, channels: 3, background: { r: rgb[0] * f, g: rgb[1] * f, b: rgb[2] * f } } });
          await (i % 2 ? img.jpeg() : img.png()).toFile(join(dir, split, cls, `${i}.${i % 2 ? 'jpg' : 'png'}`));
        }
      }
    }
    const log = mkdtempSync(join(tmpdir(), 'f8net-folder-log-'));
    const cfg = resolveConfig({
      dataset: 'folder',
      dataset_dir: dir,
      image_size: 12,
      model_args: { width: 4 },
      batch_size: 8,
      num_epochs: 3,
      lr: 0.1,
      augment_random_resized_crop: true,
      augment_hflip: true,
      log_dir: log,
    });
    const r = await train(cfg, { quiet: true });
    expect(r.final.count).toBe(8);
    expect(r.final.top1).toBeGreaterThanOrEqual(0.75);
    // The class folder names travel with the checkpoint and into the integer model.
    const { loadCheckpoint } = await import('../../src/node/checkpoint-files.js');
    expect(loadCheckpoint(join(log, 'best.safetensors')).meta.classes).toEqual(['blue', 'red']);
    const fixedLog = mkdtempSync(join(tmpdir(), 'f8net-folder-fixed-'));
    // The fixed stage feeds the image as the float stage was fed (here weight_only, the default).
    const fixedCfg = { ...cfg, num_epochs: 1, lr: 0.01, floating_model: false, fp_pretrained_file: join(log, 'best.safetensors'), log_dir: fixedLog, augment_random_resized_crop: false };
    await expect(train(resolveConfig({ ...fixedCfg, head_form: 'double_side' }), { quiet: true })).rejects.toThrow(/trained with head_form weight_only, this config says double_side/);
    await train(resolveConfig({ ...cfg, num_epochs: 1, lr: 0.01, floating_model: false, fp_pretrained_file: join(log, 'best.safetensors'), log_dir: fixedLog, augment_random_resized_crop: false }), { quiet: true });
    const { exportCheckpoint } = await import('../../src/node/from-checkpoint.js');
    const { readIntModel } = await import('../../src/node/int-model-files.js');
    await exportCheckpoint(join(fixedLog, 'best.safetensors'), join(fixedLog, 'int'), { onnx: false });
    const g = readIntModel(join(fixedLog, 'int'));
    expect(g.model.classNames).toEqual(['blue', 'red']);
    expect([g.input.headForm, g.input.dtype, g.input.fl, g.input.scale]).toEqual(['weight_only', 'uint8', 8, [256]]);
    // A checkpoint written before head forms (no head_form in its stored config) loads as f8net_scaled.
    const { decodeSafetensors, encodeSafetensors } = await import('../../src/io/safetensors.js');
    const { checkpointConfig } = await import('../../src/node/from-checkpoint.js');
    const st = decodeSafetensors(readFileSync(join(fixedLog, 'best.safetensors')), 'best');
    const meta = JSON.parse(st.metadata.meta);
    delete meta.config.head_form;
    const legacy = join(fixedLog, 'legacy.safetensors');
    writeFileSync(legacy, Buffer.concat(encodeSafetensors([...st.tensors.values()], { ...st.metadata, meta: JSON.stringify(meta) })));
    expect(checkpointConfig(legacy).cfg.head_form).toBe('f8net_scaled');
    await exportCheckpoint(legacy, join(fixedLog, 'int-legacy'), { onnx: false });
    expect(readIntModel(join(fixedLog, 'int-legacy')).input).toMatchObject({ headForm: 'f8net_scaled', dtype: 'int8' });
  });
});

gpuDescribe('fixed-point training with per-channel formats', () => {
  it('trains the small CNN with per-channel weight and input lengths', async () => {
    const { cfg } = synthRun('pc', { max_test_samples: 64, num_epochs: 3, lr: 0.1, floating_model: false, format_type: 'per_channel' });
    const r = await train(cfg, { quiet: true });
    expect(r.final.top1).toBeGreaterThan(0.5); // chance is 0.25
    const conv2 = r.formats!.find((l) => l.name === 'conv2')!;
    expect(conv2.inputFraclen.length).toBe(4); // conv2 reads the 4 channels of conv1
    expect(conv2.weightFraclen.length).toBe(8); // one per output channel
  });
});
