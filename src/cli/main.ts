/**
 * The f8net command line: a thin shell over the library. Every option is declared once here
 * with its help text; errors print one line `f8net: <message>` and exit non-zero.
 *
 * @example
 *   f8net info --json
 *   f8net train --config configs/cnn_mnist_float.yml --set num_epochs=2
 */
import '../node/register.js';
import { Command, Option } from 'commander';
import { F8Error } from '../runtime/errors.js';
import { Engine } from '../runtime/engine.js';
import type { GpuOptions } from '../runtime/gpu.js';
import { registerTrainCommands } from './train-commands.js';
import { registerInfoCommand } from './info-command.js';
import { registerFraclenCommands } from './fraclen-commands.js';
import { registerModelCommands } from './model-commands.js';
import { registerImportCommand } from './import-command.js';
import { registerExportCommands } from './export-commands.js';
import { registerBenchCommand } from './bench-command.js';
import { registerTuneCommand, tuneOnOpen } from './tune-command.js';
import { registerSelftestCommand } from './selftest-command.js';
import { F8NET_VERSION } from '../runtime/version.js';
import { registerInteropCommands } from './interop-commands.js';
import { registerServeCommand } from './serve-command.js';

/** The adapter options shared by every command that uses the GPU. */
export function gpuOptionsOf(cmd: Command): GpuOptions {
  const o = cmd.optsWithGlobals() as { adapter?: string; backend?: string };
  return { adapter: o.adapter, backend: o.backend };
}

/** Opens the GPU for a command and always releases it (so the process can exit). */
export async function withEngine<T>(cmd: Command, fn: (e: Engine) => Promise<T>): Promise<T> {
  const e = await Engine.open(gpuOptionsOf(cmd));
  try {
    await tuneOnOpen(cmd, e);
    return await fn(e);
  } finally {
    await e.close().catch(() => undefined);
  }
}

export function buildProgram(): Command {
  const program = new Command('f8net')
    .description('Fixed-point 8-bit neural networks (F8Net) on any GPU through WebGPU')
    .version(F8NET_VERSION)
    .addOption(new Option('--adapter <name>', 'use the adapter whose description contains <name>').env('F8NET_ADAPTER'))
    .addOption(new Option('--backend <name>', 'Dawn backend').choices(['vulkan', 'metal', 'd3d12', 'd3d11', 'opengl', 'opengles', 'null']).env('F8NET_BACKEND'))
    .option('--verbose', "show the GPU driver's native messages (Dawn's limit warnings are hidden otherwise)")
    .showHelpAfterError('(run with --help for usage)');
  registerInfoCommand(program);
  registerTrainCommands(program);
  registerFraclenCommands(program);
  registerModelCommands(program);
  registerImportCommand(program);
  registerExportCommands(program);
  registerBenchCommand(program);
  registerTuneCommand(program);
  registerInteropCommands(program);
  registerServeCommand(program);
  registerSelftestCommand(program);
  return program;
}

/** Exit codes (README: exit codes): 2 bad input or usage, 130 interrupted, 3 no adapter, 4 device lost, 1 any other failure. */
export function exitCodeOf(e: F8Error): number {
  switch (e.code) {
    case 'BAD_CONFIG':
    case 'BAD_INPUT':
      return 2;
    case 'INTERRUPTED':
      return 130;
    case 'NO_ADAPTER':
      return 3;
    case 'DEVICE_LOST':
      return 4;
    default:
      return 1;
  }
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  // On every subcommand too (they were created before): usage errors come back here, exit 2.
  const override = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  override(program);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    const err = e as { code?: string; exitCode?: number; message?: string };
    if (typeof err.code === 'string' && err.code.startsWith('commander.')) {
      // commander already printed its message; help and version exit 0, usage errors 2 (README: exit codes).
      return err.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof F8Error) {
      process.stderr.write(`f8net: ${e.message}\n`);
      return exitCodeOf(e);
    }
    process.stderr.write(`f8net: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}
