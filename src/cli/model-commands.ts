/** `f8net model list`: the networks the registry knows. */
import type { Command } from 'commander';
import { modelNames, modelDoc, modelArgs } from '../../models/index.js';

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
}
