/**
 * Runs every benchmark in bench/ one after another (each in its own process, so that one
 * adapter and one tfjs instance serve each file), or those whose name contains a filter:
 *   npm run bench [-- conv2d]
 * Benchmarks print tables and assert nothing.
 */
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const filter = process.argv[2] ?? '';
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts') && f.includes(filter))
  .sort();
if (!files.length) {
  console.error(`bench: no benchmark matches '${filter}' (have: ${readdirSync(here).filter((f) => f.endsWith('.bench.ts')).join(', ')})`);
  process.exit(2);
}
let failed = 0;
for (const f of files) {
  console.log(`\n## ${f}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, f)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
