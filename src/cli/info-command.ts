/** `f8net info`: the adapter, its features, key limits and WGSL language features. */
import type { Command } from 'commander';
import { withEngine } from './main.js';

export function registerInfoCommand(program: Command): void {
  program
    .command('info')
    .description('print the WebGPU adapter, features, key limits and WGSL language features')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withEngine(cmd, async (e) => {
        const d = e.gpu.describe();
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(d, null, 2)}\n`);
          return;
        }
        const lines = [
          `adapter       ${d.description || '(no description)'}`,
          `vendor        ${d.vendor || '-'}   architecture ${d.architecture || '-'}   device ${d.device || '-'}`,
          `backend       ${d.backend}`,
          `dot4I8Packed  ${d.dot4I8Packed ? 'yes (packed_4x8_integer_dot_product)' : 'no: integer kernels use the unpacked fallback'}`,
          `features      ${d.features.join(', ')}`,
          `WGSL features ${d.wgslLanguageFeatures.join(', ')}`,
          'limits',
          ...Object.entries(d.limits).map(([k, v]) => `  ${k.padEnd(36)} ${v}`),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      });
    });
}
