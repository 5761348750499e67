/**
 * `f8net import`: float weights from a safetensors or ONNX file (torchvision or f8net names) into
 * a float-stage checkpoint that the fixed-point stage starts from (fp_pretrained_file).
 *
 * @example
 *   f8net import --from resnet18.safetensors --model resnet18 --out runs/resnet18-float.safetensors
 */
import { Option, type Command } from 'commander';
import { F8Error } from '../runtime/errors.js';
import { importCheckpoint } from '../node/import-weights.js';
import { withEngine } from './main.js';
import { checkCheckpointOut } from '../node/run-dir.js';
import { parseModelArgs, MODEL_ARGS_HELP } from './model-args.js';

const collect = (v: string, prev: string[]) => [...prev, v];

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new F8Error('BAD_INPUT', `--${name} ${v}: expected a positive integer`);
    return n;
  };
}

export function registerImportCommand(program: Command): void {
  program
    .command('import')
    .description('turn float weights (safetensors, or an ONNX file\'s initializers; torchvision or f8net names) into a float-stage checkpoint')
    .requiredOption('--from <file>', 'weights: .safetensors, .onnx, or a torch checkpoint (.pt, .pth.tar; the paper\'s names are recognised)')
    .requiredOption('--model <name>', "network of the registry ('f8net model list')")
    .requiredOption('--out <checkpoint>', 'the f8net checkpoint to write (.safetensors)')
    .option('--model-args <mapping>', MODEL_ARGS_HELP, parseModelArgs)
    .option('--num-classes <k>', 'classes of the classifier (default: rows of the file\'s only matrix)', positiveInt('num-classes'))
    .option('--in-channels <n>', "channels of the input image (default: the network's usual data: 3, or 1 for cnn)", positiveInt('in-channels'))
    .option('-s, --set <key=value>', 'another key of the stored config (repeatable), e.g. --set dataset=cifar10', collect, [])
    .addOption(new Option('--stage <stage>', "the checkpoint's stage: float (start of the fixed-point stage) or fixed (weights trained in fixed point, e.g. the paper's fix_quant models: f8net eval and export read it as it is)").choices(['float', 'fixed']).default('float'))
    .option('--force', 'replace --out even when it exists and is not an f8net checkpoint')
    .option('--json', 'print the report as JSON')
    .action(async (o: { from: string; model: string; out: string; modelArgs?: Record<string, unknown>; numClasses?: number; inChannels?: number; set: string[]; stage: 'float' | 'fixed'; force?: boolean; json?: boolean }, cmd: Command) => {
      checkCheckpointOut(o.out, [o.from], { force: o.force });
      await withEngine(cmd, async () => {
        const { report, config, paperForms } = await importCheckpoint({ from: o.from, model: o.model, modelArgs: o.modelArgs, numClasses: o.numClasses, inChannels: o.inChannels, out: o.out, sets: o.set, stage: o.stage });
        if (o.json) {
          process.stdout.write(`${JSON.stringify({ out: o.out, model: config.model, model_args: config.model_args, num_classes: config.num_classes, ...report })}\n`);
          return;
        }
        const conv = Object.entries(report.converted).map(([k, n]) => `${n} ${k}`);
        process.stdout.write(
          `${o.from} (${report.format}): ${report.loaded} tensors into ${config.model}, ${report.renamed.length} renamed, ${report.ignored.length} ignored` +
            `${conv.length ? `, converted to f32: ${conv.join(', ')}` : ''}; ${report.kept.length} F8Net entries keep their initial values\n` +
            (paperForms
              ? `the paper's forms (docs/INTEROP.md; --set overrides): classifier_form ${config.classifier_form}, pool_form ${config.pool_form}, fold_order ${config.fold_order}, identity_add ${config.identity_add}, rescale_forward ${config.rescale_forward} (convolutions ${config.rescale_forward_conv})\n`
              : '') +
            (o.stage === 'fixed'
              ? `wrote ${o.out} (fixed-point stage); evaluate or export it with f8net eval / f8net export --checkpoint ${o.out}\n`
              : `wrote ${o.out} (float stage); start the fixed-point stage with --set floating_model=false --set fp_pretrained_file=${o.out}\n`),
        );
      });
    });
}
