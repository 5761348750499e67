// Counts imports that go from a lower layer up to a higher one (the order of docs/ARCHITECTURE.md).
// Usage: node scripts/layer-arrows.mjs [root]   (root: a checkout; default the current folder)
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';

const ORDER = ['runtime', 'quant', 'tensor', 'autograd', 'ops', 'optim', 'cases', 'nn', 'report', 'models', 'data', 'io', 'export', 'train', 'bench', 'index', 'node', 'cli'];
const root = resolve(process.argv.slice(2).find((a) => !a.startsWith('-')) ?? '.');
const layerOf = (rel) => {
  const m = /^(?:src\/)?([^/.]+)/.exec(rel);
  if (rel.startsWith('models/')) return 'models';
  return m && ORDER.includes(m[1]) ? m[1] : null;
};
const walk = (d) => (existsSync(d) ? readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith('.ts') ? [join(d, e.name)] : [])) : []);
let up = 0;
const seen = [];
for (const f of [...walk(join(root, 'src')), ...walk(join(root, 'models'))]) {
  const from = layerOf(relative(root, f));
  const text = readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
  for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*)'(\.[^']+)'/g)) {
    const to = layerOf(relative(root, resolve(dirname(f), m[1])));
    if (from && to && ORDER.indexOf(to) > ORDER.indexOf(from)) {
      up++;
      seen.push(`${relative(root, f)} -> ${m[1]}`);
    }
  }
}
if (process.argv.includes('-v')) for (const s of seen) console.log(s);
console.log(`upward imports: ${up}`);
