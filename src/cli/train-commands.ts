/** `f8net train` and `f8net eval`. */
import { Command, Option } from 'commander';
import { configHelp, DATASETS } from '../train/config.js';
import { loadConfig } from '../node/config-file.js';
import { train, evaluateWithConfusion, modelFromConfig, resumeConfig, plural } from '../node/trainer.js';
import { loadDataAsync } from '../data/sources.js';
import { F8Error } from '../runtime/errors.js';
import { withEngine } from './main.js';
import { runEvalModes } from './export-commands.js';
import { checkpointConfig } from '../node/from-checkpoint.js';
import { EVAL_MODES } from '../export/evaluate.js';
import { runRecipe, formatRecipe, setsNameAStage } from '../node/recipe.js';

const collect = (v: string, prev: string[]) => [...prev, v];
const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(2)}%`);

export function registerTrainCommands(program: Command): void {
  program
    .command('train')
    .description('without a config: the whole F8Net recipe on the MNIST digits (float stage, fixed-point stage from it, integer export, integer model checked against the fake-quant model); with --config (or --set of a stage key: floating_model, fp_pretrained_file, resume, num_epochs, lr, log_dir): that one stage')
    .option('-c, --config <file.yml>', 'YAML config of one stage (default: the recipe; the built-in stage config is the small CNN on the MNIST digits)')
    .option('-s, --set <key=value>', 'override a config key (repeatable), e.g. --set lr=0.1', collect, [])
    .option('--help-config', 'list every config key with its default and exit')
    .option('--stop-after <epochs>', 'stop after this many epochs of the schedule (resume later with --set resume=...)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new F8Error('BAD_INPUT', `--stop-after ${v}: expected a positive integer`);
      return n;
    })
    .option('--out <dir>', 'the recipe only: folder of the job (float/, fixed/, int/; default runs/recipe-<model>-<dataset>)')
    .option('--quiet', 'no progress output')
    .option('--json', 'print the result as JSON on standard output')
    .action(async (o: { config?: string; set: string[]; helpConfig?: boolean; stopAfter?: number; out?: string; quiet?: boolean; json?: boolean }, cmd: Command) => {
      if (o.helpConfig) {
        process.stdout.write(`config keys:\n${configHelp()}\n`);
        return;
      }
      if (!o.config && o.stopAfter === undefined && !setsNameAStage(o.set)) {
        await withEngine(cmd, async () => {
          const r = await runRecipe({ sets: o.set, quiet: o.quiet, dir: o.out, handleSignals: true });
          process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `${formatRecipe(r)}\n`);
        });
        return;
      }
      if (o.out) throw new F8Error('BAD_INPUT', '--out is for the recipe (train without --config); a single stage writes to its log_dir');
      let cfg = loadConfig(o.config ?? null, o.set);
      // A resume takes the run's config and folder from its checkpoint (RESUME_SAFE_KEYS may change).
      if (cfg.resume) cfg = resumeConfig(cfg.resume, o.set, o.config ?? null);
      await withEngine(cmd, async () => {
        const r = await train(cfg, { quiet: o.quiet, stopAfter: o.stopAfter, handleSignals: true });
        if (r.interrupted) throw new F8Error('INTERRUPTED', `interrupted; checkpoint ${r.interrupted.checkpoint}; resume with: ${r.interrupted.resumeCommand}`);
        const last = r.epochs[r.epochs.length - 1];
        const summary = {
          log_dir: r.logDir,
          top1: r.final.top1,
          top5: r.final.top5,
          best_top1: r.best,
          epochs: r.epochs.length,
          seconds: r.seconds,
          train_images_per_s: last?.images_per_s ?? null,
          formats: r.formats,
        };
        if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
        else
          process.stdout.write(
            `test top-1 ${pct(r.final.top1)}${r.final.top5 !== null ? `, top-5 ${pct(r.final.top5)}` : ''} after ${plural(r.epochs.length, 'epoch')} in ${r.seconds.toFixed(0)} s; run folder ${r.logDir}\n`,
          );
      });
    });

  program
    .command('eval')
    .description('evaluate a checkpoint on its test split (top-1, top-5, confusion summary); --mode runs its integer forms too')
    .requiredOption('--checkpoint <file>', 'checkpoint written by f8net train')
    .addOption(new Option('--dataset <name>', 'evaluate on another data set').choices([...DATASETS]))
    .option('--dataset-dir <dir>', 'folder of the data set files')
    .option('--max-test-samples <n|all>', 'evaluate on the first n test images, or all of them (default: the subset the checkpoint was trained with)', (v) => {
      if (v === 'all') return null;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new F8Error('BAD_INPUT', `--max-test-samples ${v}: expected a positive integer or 'all'`);
      return n;
    })
    .option('--mode <modes>', `evaluate in these forms (comma-separated or repeated): ${EVAL_MODES.join(', ')}`, collect, [])
    .option('--compare', 'with two or more modes: share of images whose predicted class agrees, largest logit difference')
    .option('--limit <n>', 'with --mode: only the first n test images', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new F8Error('BAD_INPUT', `--limit ${v}: expected a positive integer`);
      return n;
    })
    .option('--json', 'print JSON')
    .action(async (o: { checkpoint: string; dataset?: string; datasetDir?: string; maxTestSamples?: number | null; json?: boolean; mode: string[]; compare?: boolean; limit?: number }, cmd: Command) => {
      if (o.mode.length || o.compare) {
        if (!o.mode.length) throw new F8Error('BAD_CONFIG', '--compare needs --mode with two or more modes');
        const text = await withEngine(cmd, () => runEvalModes(o));
        process.stdout.write(`${text}\n`);
        return;
      }
      const { ck, cfg } = checkpointConfig(o.checkpoint, o);
      await withEngine(cmd, async () => {
        const data = await loadDataAsync(cfg);
        const model = modelFromConfig(cfg, data);
        model.loadStateDict(ck.model, { source: o.checkpoint });
        const r = await evaluateWithConfusion(model, data.test, data.mean, data.std, cfg.eval_batch_size);
        model.dispose();
        if (o.json) {
          process.stdout.write(`${JSON.stringify({ checkpoint: o.checkpoint, stage: ck.meta.stage, dataset: data.test.name, ...r })}\n`);
          return;
        }
        const lines = [
          `${o.checkpoint} (${ck.meta.stage} stage, epoch ${ck.meta.epoch}) on ${data.test.name}: top-1 ${pct(r.top1)}${r.top5 !== null ? `, top-5 ${pct(r.top5)}` : ''}, loss ${r.loss.toFixed(4)} over ${r.count} images`,
          'per-class recall (worst first):',
          ...r.perClass
            .map((c, k) => ({ k, ...c }))
            .sort((a, b) => a.recall - b.recall)
            .map((c) => `  class ${String(c.k).padStart(3)}: ${pct(c.recall)} of ${c.count}, most confused with ${c.confusedWith ?? '-'}`),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      });
    });
}
