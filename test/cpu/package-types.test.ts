/**
 * The package as a user installs it: `npm pack`, unpacked into a fresh project whose
 * node_modules holds only f8net's dependencies (not its dev dependencies), type-checked with
 * skipLibCheck: false through each entry of the exports map.
 */
import { it, expect } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, symlinkSync, existsSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

it('npm pack gives a package whose types compile in a consumer project with skipLibCheck: false', () => {
  const dir = mkdtempSync(join(tmpdir(), 'f8net-pack-'));
  // prepack builds dist/ first.
  const pack = spawnSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: root, encoding: 'utf8' });
  expect(pack.status, pack.stderr).toBe(0);
  // The project's npm settings are ones npm knows (an .npmrc key for onnxruntime-node was not).
  expect(pack.stderr).not.toMatch(/Unknown (project|user|env) config/);
  const out = pack.stdout;
  const info = JSON.parse(out.slice(out.indexOf('[')))[0] as { filename: string; files: { path: string }[] };
  const paths = info.files.map((f) => f.path);
  expect(paths).toContain('LICENSE');
  expect(paths).toContain('dist/src/index.d.ts');
  expect(paths.filter((p) => p.endsWith('.map')), 'source maps without their sources').toEqual([]);
  expect(paths.filter((p) => p.startsWith('test/') || p.startsWith('dist/test/')), 'tests are not shipped').toEqual([]);
  expect(readFileSync(join(root, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} f8net authors\n/);

  const app = join(dir, 'app');
  const nm = join(app, 'node_modules');
  mkdirSync(join(nm, 'f8net'), { recursive: true });
  execFileSync('tar', ['-xzf', join(dir, info.filename), '-C', join(nm, 'f8net'), '--strip-components=1']);
  // Only what a registry install brings: the dependencies (and their own), plus what any Node
  // TypeScript project has. Dev dependencies (onnxruntime-node, tfjs) stay out.
  const shared = realpathSync(join(root, 'node_modules'));
  const link = (name: string) => {
    const to = join(nm, name);
    if (existsSync(to) || !existsSync(join(shared, name))) return;
    mkdirSync(join(to, '..'), { recursive: true });
    symlinkSync(join(shared, name), to);
  };
  const seen = new Set<string>();
  const walk = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    link(name);
    const p = join(shared, name, 'package.json');
    if (!existsSync(p)) return;
    const j = JSON.parse(readFileSync(p, 'utf8'));
    for (const d of Object.keys(j.dependencies ?? {})) walk(d);
  };
  for (const d of Object.keys(pkg.dependencies)) walk(d);
  link('@types/node');
  expect(existsSync(join(nm, 'onnxruntime-node'))).toBe(false);
  expect(pkg.peerDependenciesMeta?.['onnxruntime-node']?.optional).toBe(true);
  expect(pkg.private).toBeUndefined();
  for (const k of ['description', 'license', 'repository', 'keywords']) expect(pkg[k], k).toBeTruthy();
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', type: 'module', private: true }));
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, noEmit: true, types: ['node'] }, include: ['main.ts'] }),
  );
  writeFileSync(
    join(app, 'main.ts'),
    [
      "import { Engine, buildModel, F8Error, Rng, type TrainConfig } from 'f8net';",
      "import { train, loadConfig, runRecipe, exportCheckpoint, openPredictModel } from 'f8net/node';",
      "import { parseIntModel, runIntCpu, topK, type IntGraph } from 'f8net/int';",
      'const cfg: TrainConfig = loadConfig(null, []);',
      'void [Engine, buildModel, F8Error, Rng, train, runRecipe, exportCheckpoint, openPredictModel, parseIntModel, runIntCpu, topK, cfg];',
      'export type G = IntGraph;',
    ].join('\n'),
  );
  const tsc = spawnSync(process.execPath, [join(shared, 'typescript', 'bin', 'tsc'), '-p', app], { encoding: 'utf8' });
  expect(tsc.stdout + tsc.stderr).toBe('');
  expect(tsc.status).toBe(0);
  // And it runs: the three entries import, and the installed command works (no GPU needed).
  const imp = spawnSync(process.execPath, ['--input-type=module', '-e', "const [a, b, c] = await Promise.all([import('f8net'), import('f8net/node'), import('f8net/int')]); console.log(typeof a.buildModel, typeof b.runRecipe, typeof c.runIntCpu);"], { cwd: app, encoding: 'utf8' });
  expect(imp.stderr).toBe('');
  expect(imp.stdout.trim()).toBe('function function function');
  const cmd = spawnSync(process.execPath, [join(nm, 'f8net', 'bin', 'f8net.js'), 'model', 'summary', 'cnn', '--json'], { cwd: app, encoding: 'utf8' });
  expect(cmd.status, cmd.stderr).toBe(0);
  expect(JSON.parse(cmd.stdout).model).toBe('cnn');
}, 120_000);
