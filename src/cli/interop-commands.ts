/**
 * `f8net export-checkpoint --format f8net-pytorch`: an f8net checkpoint as the paper's torch
 * checkpoint (fix_train.py's pretrained_file / fp_pretrained_file). docs/INTEROP.md.
 */
import type { Command } from 'commander';
import { F8Error } from '../runtime/errors.js';
import { exportPaperCheckpoint } from '../node/paper-export.js';

export function registerInteropCommands(program: Command): void {
  program
    .command('export-checkpoint')
    .description("write an f8net checkpoint as the F8Net paper's PyTorch checkpoint (torch zip pickle)")
    .requiredOption('--checkpoint <file>', 'f8net checkpoint (.safetensors)')
    .requiredOption('--out <file>', 'the .pt file to write')
    .option('--format <name>', 'f8net-pytorch (the paper\'s code)', 'f8net-pytorch')
    .action((o: { checkpoint: string; out: string; format: string }) => {
      if (o.format !== 'f8net-pytorch') throw new F8Error('BAD_INPUT', `--format ${o.format}: expected f8net-pytorch`);
      const r = exportPaperCheckpoint(o.checkpoint, o.out);
      process.stdout.write(`wrote ${o.out}: ${r.written} tensors of ${r.model} in the paper's names (${r.skipped.length} f8net-only entries left out)\n`);
      for (const n of r.notes) process.stderr.write(`note: ${n}\n`);
    });
}
