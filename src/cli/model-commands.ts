/** `f8net model list` and `f8net model summary`: the networks the registry knows. */
import { Option, type Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { modelNames, modelDoc, modelArgs } from '../models/index.js';
import { summarizeModel, formatSummary } from '../models/summary.js';
import { F8Error } from '../runtime/errors.js';
import { parseModelArgs, MODEL_ARGS_HELP } from './model-args.js';

function positiveInt(flag: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new F8Error('BAD_INPUT', `${flag} ${v}: expected a positive integer`);
    return n;
  };
}

/** Collects repeated `--arg key=value` (the value read as YAML, so 0.5 is a number). */
function collectArg(v: string, acc: Record<string, unknown>): Record<string, unknown> {
  const i = v.indexOf('=');
  if (i <= 0) throw new F8Error('BAD_INPUT', `--arg ${v}: expected key=value (e.g. width_mult=0.5)`);
  let val: unknown = v.slice(i + 1);
  try {
    val = parseYaml(val as string);
  } catch {
    /* keep the string */
  }
  return { ...acc, [v.slice(0, i).trim()]: val };
}

export function registerModelCommands(program: Command): void {
  const m = program.command('model').description('networks');
  m.command('list')
    .description('list the networks and their arguments')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => {
      const rows = modelNames().map((n) => ({ name: n, args: modelArgs(n), doc: modelDoc(n) }));
      if (o.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      else process.stdout.write(`${rows.map((r) => `${r.name.padEnd(16)} ${r.doc}${r.args.length ? ` (args: ${r.args.join(', ')})` : ''}`).join('\n')}\n`);
    });
  m.command('summary')
    .description('layers with output shapes, parameter counts and multiply-accumulates, and totals (no GPU needed)')
    .argument('<name>', "network name ('f8net model list')")
    .option('--json', 'print JSON')
    .addOption(new Option('--image-size <n>', 'input height and width (default: the network\'s usual data: 224, 32 or 28)').argParser(positiveInt('--image-size')))
    .addOption(new Option('--num-classes <k>', 'classes (default 1000 for ImageNet networks, 10 otherwise)').argParser(positiveInt('--num-classes')))
    .addOption(new Option('--in-channels <c>', 'input channels (default 3; 1 for cnn)').argParser(positiveInt('--in-channels')))
    .addOption(new Option('--model-args <mapping>', MODEL_ARGS_HELP).argParser(parseModelArgs))
    .addOption(new Option('--arg <key=value>', 'one network argument, repeatable (alias of --model-args, e.g. --arg width_mult=0.5)').argParser(collectArg).default({}))
    .action((name: string, o: { json?: boolean; imageSize?: number; numClasses?: number; inChannels?: number; arg: Record<string, unknown>; modelArgs?: Record<string, unknown> }) => {
      const s = summarizeModel(name, { ...o.arg, ...o.modelArgs }, { imageSize: o.imageSize, numClasses: o.numClasses, inChannels: o.inChannels });
      process.stdout.write(`${o.json ? JSON.stringify(s, null, 2) : formatSummary(s)}\n`);
    });
}
