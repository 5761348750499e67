/**
 * `f8net serve [--port N] [--host H] [--root DIR]`: serves the page (dist/web) that trains,
 * exports and benchmarks f8net in the visitor's browser. Runs until interrupted (exit 130).
 */
import { Command, Option } from 'commander';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { F8Error } from '../runtime/errors.js';
import { builtPageDir, startStaticServer } from '../node/static-server.js';

function portOf(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw new F8Error('BAD_CONFIG', `--port ${v}: expected an integer from 0 (a free port) to 65535`);
  return n;
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve the f8net page (train, export and benchmark in a browser through WebGPU)')
    .addOption(new Option('--port <n>', 'TCP port (0: a free one)').default('8718'))
    .addOption(new Option('--host <addr>', 'address to bind; other than 127.0.0.1 exposes the page to the network').default('127.0.0.1'))
    .addOption(new Option('--root <dir>', 'folder to serve (default: the built page, dist/web)'))
    .option('--quiet', 'do not log requests')
    .action(async (o: { port: string; host: string; root?: string; quiet?: boolean }) => {
      const root = o.root ?? builtPageDir(dirname(fileURLToPath(import.meta.url)));
      const s = await startStaticServer({
        root,
        port: portOf(o.port),
        host: o.host,
        onRequest: o.quiet ? undefined : (m, p, st) => process.stderr.write(`${st} ${m} ${p}\n`),
      });
      // The test harness reads this line to learn the port.
      process.stdout.write(`f8net serve: ${s.url} (serving ${root}; Ctrl-C stops)\n`);
      await new Promise<void>((done) => {
        const stop = () => {
          void s.close().then(() => done());
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      process.exit(130);
    });
}
