/**
 * The page in a real browser: `f8net serve` on 127.0.0.1 (a free port), Debian's Chromium
 * headless with WebGPU (SwiftShader, a second WebGPU implementation beside Node's Dawn on
 * lavapipe), driven by puppeteer-core through window.f8page.
 *   - the server refuses paths outside its folder and serves the right MIME types;
 *   - a short two-stage training on a small subset: the loss falls, top-1 above chance;
 *   - the integer export: logits of the integer model on this GPU equal, bit for bit, Node's
 *     CPU runner on the same images and the model.json/weights.bin the page made;
 *   - a checkpoint made in the page loads in Node, a wrong-kind file gets the CLI's error;
 *   - the kernel rows of `bench --quick` (every kernel family, each checked against its CPU
 *     reference, bit-exact for the integer ones) pass on this second implementation, and the JSON
 *     is what `f8net bench diff` reads.
 * Skipped with a message when chromium or the built page is absent locally; fails in CI.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { join } from 'node:path';

const CHROMIUM = process.env.F8NET_CHROMIUM ?? '/usr/bin/chromium';
const ROOT = join(import.meta.dirname, '..', '..');
const PAGE = join(ROOT, 'dist', 'web', 'index.html');
const have = existsSync(CHROMIUM) && existsSync(PAGE);
if (!have) {
  const why = !existsSync(CHROMIUM) ? `${CHROMIUM} not found (bash scripts/setup.sh installs it)` : "dist/web not built (npm run build)";
  if (process.env.CI === 'true') throw new Error(`browser tests need Chromium and the built page: ${why}`);
  console.warn(`test/browser skipped: ${why}`);
}

function rawGet(port: number, path: string): Promise<{ status: number; type: string }> {
  return new Promise((ok, fail) => {
    // Raw path: Node's http client sends it as written, as a hostile client would.
    const r = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      res.resume();
      ok({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? '') });
    });
    r.on('error', fail);
    r.end();
  });
}

describe.skipIf(!have)('the page in headless Chromium', () => {
  let server: ChildProcess;
  let url = '';
  let port = 0;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let browser: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let page: any;

  beforeAll(async () => {
    server = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'entry.ts'), 'serve', '--port', '0', '--quiet'], { stdio: ['ignore', 'pipe', 'inherit'] });
    url = await new Promise<string>((ok, fail) => {
      server.stdout!.on('data', (d) => {
        const m = /(http:\/\/127\.0\.0\.1:(\d+)\/)/.exec(String(d));
        if (m) {
          port = Number(m[2]);
          ok(m[1]);
        }
      });
      server.once('exit', (c) => fail(new Error(`f8net serve exited with ${c}`)));
    });
    const puppeteer = (await import('puppeteer-core')).default;
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--enable-unsafe-webgpu'] });
    page = await browser.newPage();
    page.on('pageerror', (e: Error) => console.warn(`page error: ${e.message}`));
    await page.goto(url);
    await page.evaluate(() => (window as unknown as { f8page: { ready: Promise<void> } }).f8page.ready);
  });

  afterAll(async () => {
    await browser?.close();
    server?.kill('SIGTERM');
  });

  it('serves the page with MIME types and refuses paths outside its folder', async () => {
    expect(await rawGet(port, '/')).toEqual({ status: 200, type: 'text/html; charset=utf-8' });
    expect((await rawGet(port, '/f8net.js')).type).toBe('text/javascript; charset=utf-8');
    expect((await rawGet(port, '/mnist.bin')).type).toBe('application/octet-stream');
    expect((await rawGet(port, '/../package.json')).status).toBe(403);
    expect((await rawGet(port, '/%2e%2e/%2e%2e/etc/passwd')).status).toBe(403);
    expect((await rawGet(port, '/..%2fpackage.json')).status).toBe(403);
    expect((await rawGet(port, '/nope.js')).status).toBe(404);
    expect((await rawGet(port, '/%E0%A4%A')).status).toBe(400);
  });

  it('shows the adapter with its features and limits', async () => {
    const info = await page.evaluate(() => (window as unknown as { f8page: { info(): unknown } }).f8page.info());
    expect(info.limits.maxStorageBuffersPerShaderStage).toBeGreaterThanOrEqual(8);
    expect(Array.isArray(info.features)).toBe(true);
    expect(await page.$eval('#info', (e: Element) => e.textContent)).toContain('maxBufferSize');
  });

  it('trains both stages, exports, and the integer logits equal Node CPU runner on the same images', async () => {
    const r = await page.evaluate(async () => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const f = (window as any).f8page;
      const t = await f.train({ trainSamples: 480, testSamples: 100, floatEpochs: 1, fixedEpochs: 1, width: 8, batchSize: 16 });
      const x = await f.exportAndCompare(100);
      const b64 = (u: Uint8Array) => btoa(Array.from(u, (c) => String.fromCharCode(c)).join(''));
      return { t, cmp: x.comparisons, top1: x.top1, json: x.modelJson, weights: b64(x.weights), logits: x.intGpuLogits, count: x.count, ck: b64(f.checkpoint('fixed')) };
    });
    const losses: number[] = r.t.float.losses;
    expect(losses.length).toBeGreaterThan(2);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    expect(r.t.float.top1).toBeGreaterThan(0.2);
    expect(r.t.fixed.top1).toBeGreaterThan(0.15);
    expect(r.t.formats).toMatch(/conv|fc|linear/i);
    // In the page: the integer model on the CPU runner and on this GPU agree on every image.
    const cpuGpu = r.cmp.find((c: { a: string; b: string }) => c.a === 'int-cpu' && c.b === 'int-gpu');
    expect(cpuGpu.maxLogitDiff).toBe(0);

    const { parseIntModel, runIntCpu, quantizeImages, loadMnistNpm, decodeCheckpoint } = await nodeLib();
    const g = parseIntModel(r.json, new Uint8Array(Buffer.from(r.weights, 'base64')), 'page model.json');
    const test = loadMnistNpm().test;
    const n = r.count;
    const px = test.images.subarray(0, n * 784);
    const node = runIntCpu(g, quantizeImages(g, px, n), n);
    expect(Array.from(node)).toEqual(r.logits);

    // The page's checkpoint is a CLI checkpoint.
    const ck = decodeCheckpoint(Uint8Array.from(Buffer.from(r.ck, 'base64')), 'page.safetensors');
    expect(ck.meta.stage).toBe('fixed');
  });

  it('runs the quick bench kernel rows, all verified, and its JSON reads in bench diff', async () => {
    const json = await page.evaluate(async () => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const r = await (window as any).f8page.bench('^(conv2d|depthwise|matmul|bn|fakequant|fraclen|requant|int8|pool|sgd)');
      return JSON.stringify(r);
    });
    const res = JSON.parse(json);
    const families = new Set(res.rows.map((r: { family: string }) => r.family));
    expect(families.size).toBeGreaterThanOrEqual(8);
    for (const r of res.rows) expect(r.verified, `${r.id}: ${r.error ?? ''}`).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'f8net-bench-'));
    try {
      writeFileSync(join(dir, 'b.json'), json);
      const { diffResults } = await import('../../src/bench/diff.js');
      const { readBenchJson } = await import('../../src/node/bench-files.js');
      const a = readBenchJson(join(dir, 'b.json'));
      expect(diffResults(a, a).rows.length).toBe(res.rows.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('without WebGPU the page says what to enable', async () => {
    const puppeteer = (await import('puppeteer-core')).default;
    const b = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-webgpu'] });
    try {
      const p = await b.newPage();
      await p.goto(url);
      await p.evaluate(() => (window as unknown as { f8page: { ready: Promise<void> } }).f8page.ready);
      const text = await p.$eval('#nogpu', (e: Element) => ((e as HTMLElement).hidden ? '' : e.textContent ?? ''));
      expect(text).toMatch(/no WebGPU/);
      expect(text).toMatch(/enable-unsafe-webgpu/);
    } finally {
      await b.close();
    }
  });

  it('loading a file of the wrong kind gives the CLI one-line error', async () => {
    const msg = await page.evaluate(async () => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const f = (window as any).f8page;
      try {
        await f.loadCheckpointBytes(new TextEncoder().encode('not a checkpoint at all'), 'x.safetensors');
        return 'loaded';
      } catch (e) {
        return (e as Error).message;
      }
    });
    expect(msg).toMatch(/^x\.safetensors: /);
    expect(msg).not.toContain('\n');
  });
});

async function nodeLib() {
  const [fmt, cpu, mn, ck] = await Promise.all([
    import('../../src/export/format.js'),
    import('../../src/export/run-cpu.js'),
    import('../../src/node/dataset-files.js'),
    import('../../src/train/checkpoint.js'),
  ]);
  return { parseIntModel: fmt.parseIntModel, runIntCpu: cpu.runIntCpu, quantizeImages: cpu.quantizeImages, loadMnistNpm: mn.loadMnistNpm, decodeCheckpoint: ck.decodeCheckpoint };
}
