// The trainer's final evaluation is the last epoch's: the test set is not evaluated a second
// time after training (src/node/trainer.ts takes TrainingLoop's lastEval). The trainer's own
// evaluate() calls are counted through a wrapper; the loop's per-epoch ones are module-internal.
import { it, expect, vi } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpuDescribe } from '../helpers.js';

const calls = vi.hoisted(() => ({ n: 0 }));
vi.mock('../../src/train/loop.js', async (importOriginal) => {
  const m = await importOriginal<typeof import('../../src/train/loop.js')>();
  return { ...m, evaluate: (...a: Parameters<typeof m.evaluate>) => (calls.n++, m.evaluate(...a)) };
});

gpuDescribe('final evaluation', () => {
  it('is the last epoch\'s evaluation, not a second pass over the test set', async () => {
    const { resolveConfig } = await import('../../src/train/config.js');
    const { train } = await import('../../src/node/trainer.js');
    const dir = mkdtempSync(join(tmpdir(), 'f8net-final-eval-'));
    const cfg = resolveConfig({ dataset: 'synthetic', model_args: { width: 4 }, image_size: 12, num_classes: 4, max_train_samples: 64, max_test_samples: 32, batch_size: 32, num_epochs: 2, log_dir: dir });
    const r = await train(cfg, { quiet: true });
    expect(r.epochs.length).toBe(2);
    expect(calls.n).toBe(0);
    const last = r.epochs[1];
    expect([r.final.top1, r.final.loss]).toEqual([last.top1, last.test_loss]);
  });
});
