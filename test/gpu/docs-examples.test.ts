/** The library examples of README.md and docs/API.md, run as written (imports pointed at src/). */
import { it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { gpuDescribe } from '../helpers.js';

const root = resolve(import.meta.dirname, '../..');

/** The first ```ts block after `heading` in a markdown file. */
function example(file: string, heading: string): string {
  const md = readFileSync(join(root, file), 'utf8');
  const at = md.indexOf(heading);
  expect(at, `${file}: ${heading}`).toBeGreaterThanOrEqual(0);
  const m = /```ts\n([\s\S]*?)```/.exec(md.slice(at));
  expect(m, `${file}: a ts block after ${heading}`).not.toBeNull();
  return m![1];
}

async function run(code: string): Promise<{ status: number | null; out: string; err: string }> {
  const src = (p: string) => JSON.stringify(join(root, 'src', p));
  const text = code
    .replace(/from 'f8net'/g, `from ${src('node/index.ts')}`)
    .replace(/from 'f8net\/node'/g, `from ${src('node/index.ts')}`)
    .replace(/from 'f8net\/core'/g, `from ${src('index.ts')}`)
    .replace(/from 'f8net\/int'/g, `from ${src('int.ts')}`);
  expect(text, 'every import of the package is rewritten').not.toMatch(/from 'f8net/);
  const dir = mkdtempSync(join(tmpdir(), 'f8net-docs-'));
  writeFileSync(join(dir, 'example.mts'), text);
  // Asynchronous, so the test worker keeps answering while the example trains.
  const p = spawn(process.execPath, ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href, join(dir, 'example.mts')], { cwd: dir, env: { ...process.env, F8NET_TUNE: '0' } });
  let [out, err] = ['', ''];
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (err += d));
  const status = await new Promise<number | null>((r) => p.on('close', (c) => r(c)));
  return { status, out, err };
}

gpuDescribe('documentation examples', () => {
  it("README's library example runs", async () => {
    const r = await run(example('README.md', '## Library'));
    expect(r.status, r.err).toBe(0);
    expect(r.out).toMatch(/^0\.\d+|^1 /);
    expect(r.out).toMatch(/runs\/lib/);
  }, 300_000);

  it('docs/API.md trains, exports and runs the integer model', async () => {
    const r = await run(example('docs/API.md', 'start to end'));
    expect(r.status, r.err).toBe(0);
    expect(r.out).toMatch(/^float top-1 0\.\d+, 8-bit fixed point top-1 0\.\d+\n/);
    expect(r.out).toMatch(/class: \d, name: null, prob: 0\.\d+/);
  }, 300_000);
});
