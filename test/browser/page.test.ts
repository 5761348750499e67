/**
 * The page in a real browser: `f8net serve` on 127.0.0.1 (a free port), Debian's Chromium
 * headless with WebGPU (SwiftShader, a second WebGPU implementation beside Node's Dawn on
 * lavapipe), driven by puppeteer-core through window.f8page.
 *   - the server refuses paths outside its folder and serves the right MIME types;
 *   - a short two-stage training on a small subset: the loss falls, top-1 above chance;
 *   - the integer export: logits of the integer model on this GPU equal, bit for bit, Node's
 *     CPU runner on the same images and the model.json/weights.bin the page made;
 *   - a checkpoint made in the page loads in Node, a wrong-kind file gets the CLI's error;
 *   - every kernel case of src/cases (every kernel family: GPU against the CPU reference,
 *     bit-exact for integer and fixed point) passes in the page, case by case as Node's selftest
 *     on Dawn passes it;
 *   - a device lost mid-training: the page says so, and the last checkpoint downloads and loads
 *     with the CLI's checkpoint loader;
 *   - the kernel rows of `bench --quick` pass on this second implementation, and the JSON is what
 *     `f8net bench diff` reads;
 *   - without WebGPU (no navigator.gpu, or no adapter) the page says what to enable.
 * Skipped with a message when chromium or the built page is absent locally; fails in CI.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, rmSync, readdirSync } from 'node:fs';
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
    // The training and the self-test run for minutes inside one page.evaluate on SwiftShader.
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, protocolTimeout: 900_000, args: ['--no-sandbox', '--enable-unsafe-webgpu'] });
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

  it('runs every kernel case in the page, and each passes as it passes in Node (selftest on Dawn)', async () => {
    type Case = { family: string; name: string; ok: boolean; exact: boolean; maxError: number | string; detail?: string };
    const inPage: { cases: Case[]; lines: string[]; families: number } = await page.evaluate(() => (window as unknown as { f8page: { selftest(): Promise<unknown> } }).f8page.selftest());
    const text = await page.$eval('#selftest', (e: Element) => e.textContent ?? '');
    const { Engine } = await import('../../src/runtime/engine.js');
    const { KERNEL_CASES, runKernelCases } = await import('../../src/cases/index.js');
    const e = await Engine.open();
    let node: Awaited<ReturnType<typeof runKernelCases>>;
    try {
      node = await runKernelCases(undefined, e);
    } finally {
      await e.close();
    }
    const verdict = (c: { family: string; name: string; ok: boolean; detail?: string }) => `${c.family}: ${c.name}: ${c.ok ? 'ok' : `FAIL ${c.detail}`}`;
    // Every case of the registry ran in the page, every family has its line, and the verdicts
    // equal Node's case by case (all pass on both implementations).
    expect(inPage.cases.map((c) => `${c.family}: ${c.name}`)).toEqual(KERNEL_CASES.map((c) => `${c.family}: ${c.name}`));
    expect(inPage.cases.map(verdict)).toEqual(node.map(verdict));
    expect(inPage.cases.every((c) => c.ok)).toBe(true);
    const families = new Set(KERNEL_CASES.map((c) => c.family));
    expect(inPage.families).toBe(families.size);
    for (const f of families) expect(text).toMatch(new RegExp(`^ok +${f.replace('.', '\\.')} `, 'm'));
    // Integer and fixed-point cases are bit-exact in both.
    for (const c of inPage.cases) if (c.exact) expect(c.maxError, `${c.family}: ${c.name}`).toBe(0);
    console.log(`browser selftest: ${inPage.cases.length} cases, ${families.size} families pass in Chromium/SwiftShader and in Node/Dawn`);
  }, 600_000);

  it('trains both stages, exports, and the integer logits equal Node CPU runner on the same images', async () => {
    const r = await page.evaluate(async () => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const f = (window as any).f8page;
      // Two float epochs (60 steps of 16), then one fixed epoch. With one float epoch (30 steps)
      // the float stage ended at 25-38% and the fixed one at 26-41% over seeds 1-5
      // (bench/page-training.ts, the same recipe in Node), near the thresholds below; with two,
      // 33-49% and 37-50%.
      const t = await f.train({ trainSamples: 480, testSamples: 100, floatEpochs: 2, fixedEpochs: 1, width: 8, batchSize: 16 });
      const x = await f.exportAndCompare(100);
      const b64 = (u: Uint8Array) => btoa(Array.from(u, (c) => String.fromCharCode(c)).join(''));
      return { t, cmp: x.comparisons, top1: x.top1, json: x.modelJson, weights: b64(x.weights), logits: x.intGpuLogits, count: x.count, ck: b64(f.checkpoint('fixed')) };
    });
    // The float loss falls: the mean of the last third of the logged steps below the first
    // third's (single steps are noisy). The fixed stage starts from the trained float model and
    // fine-tunes at lr 0.01, so its loss is flat; it must stay well below where the float stage
    // began (a collapsed fixed stage sits at ln 10 = 2.30).
    const third = (l: number[], k: 0 | 2) => {
      const n = Math.floor(l.length / 3);
      const part = k === 0 ? l.slice(0, n) : l.slice(l.length - n);
      return part.reduce((a, b) => a + b, 0) / n;
    };
    const fl: number[] = r.t.float.losses;
    const fx: number[] = r.t.fixed.losses;
    expect(fl.length).toBeGreaterThanOrEqual(6);
    expect(third(fl, 2), `float loss ${fl.map((v) => v.toFixed(3)).join(' ')}`).toBeLessThan(third(fl, 0));
    expect(fx.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...fx), `fixed loss ${fx.map((v) => v.toFixed(3)).join(' ')}`).toBeLessThan(third(fl, 0));
    expect(r.t.float.top1).toBeGreaterThan(0.2);
    expect(r.t.fixed.top1).toBeGreaterThan(0.2);
    console.log(`page training (SwiftShader, width 8, batch 16, 480 images, 2 + 1 epochs): float ${r.t.float.imagesPerS.toFixed(1)} images/s top-1 ${r.t.float.top1}, fixed ${r.t.fixed.imagesPerS.toFixed(1)} images/s top-1 ${r.t.fixed.top1}`);
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
  }, 600_000);

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

  it('a device lost mid-training: the page says so and the last checkpoint downloads and loads in Node', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'f8net-dl-'));
    const p = await browser.newPage();
    try {
      const cdp = await p.createCDPSession();
      await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: dir });
      await p.goto(url);
      await p.evaluate(() => (window as unknown as { f8page: { ready: Promise<void> } }).f8page.ready);
      const r = await p.evaluate(async () => {
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        const f = (window as any).f8page;
        const run = f.trainAsButton({ trainSamples: 64, testSamples: 20, floatEpochs: 3, fixedEpochs: 1, width: 4, batchSize: 16 });
        // The device goes once the first epoch's checkpoint exists, while the second epoch trains.
        while (!f.checkpoint('float')) await new Promise((ok) => setTimeout(ok, 20));
        f.loseDevice();
        const returned = await run;
        return { returned, box: document.getElementById('error')!.textContent, status: document.getElementById('status')!.textContent, dl: !(document.getElementById('dl-ck-float') as HTMLButtonElement).disabled };
      });
      expect(r.returned).toMatch(/^f8net: the GPU device was lost \(the device was destroyed outside f8net/);
      expect(r.box).toBe(r.returned);
      expect(r.box).toContain('The last checkpoint (float stage) is still downloadable');
      expect(r.box).not.toContain('\n');
      expect(r.status).toBe('GPU device lost');
      expect(r.dl).toBe(true);
      await p.click('#dl-ck-float');
      const file = join(dir, 'cnn-mnist-float.safetensors');
      for (let i = 0; i < 200 && !readdirSync(dir).includes('cnn-mnist-float.safetensors'); i++) await new Promise((ok) => setTimeout(ok, 50));
      const { loadCheckpoint } = await import('../../src/node/checkpoint-files.js');
      const ck = loadCheckpoint(file);
      expect(ck.meta.stage).toBe('float');
      expect(ck.meta.epoch).toBe(1);
      expect(ck.model.size).toBeGreaterThan(0);
    } finally {
      await p.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  /** The page's no-WebGPU box (one paragraph) on a fresh page; `before` runs before the app does. */
  async function noGpuText(b: typeof browser, before?: () => void): Promise<string> {
    const p = await b.newPage();
    try {
      if (before) await p.evaluateOnNewDocument(before);
      await p.goto(url);
      await p.evaluate(() => (window as unknown as { f8page: { ready: Promise<void> } }).f8page.ready);
      expect(await p.$eval('#main', (e: Element) => (e as HTMLElement).hidden)).toBe(true);
      expect(await p.$$eval('#nogpu p', (ps: Element[]) => ps.length)).toBe(1);
      const text: string = await p.$eval('#nogpu', (e: Element) => ((e as HTMLElement).hidden ? '' : e.textContent ?? ''));
      expect(text).toMatch(/enable-unsafe-webgpu/);
      return text;
    } finally {
      await p.close();
    }
  }

  it('with --disable-webgpu the page says what to enable', async () => {
    const puppeteer = (await import('puppeteer-core')).default;
    const b = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-webgpu'] });
    try {
      // Chromium 156 keeps navigator.gpu under --disable-webgpu and offers no adapter.
      expect(await noGpuText(b)).toMatch(/no WebGPU \(navigator\.gpu (offers no adapter|is undefined)\)/);
    } finally {
      await b.close();
    }
  });

  it('without navigator.gpu, and with a navigator.gpu that offers no adapter, the page says what to enable', async () => {
    const gone = await noGpuText(browser, () => {
      delete (Navigator.prototype as unknown as { gpu?: unknown }).gpu;
    });
    expect(gone).toMatch(/no WebGPU \(navigator\.gpu is undefined\)/);
    const none = await noGpuText(browser, () => {
      Object.defineProperty(Object.getPrototypeOf(navigator.gpu), 'requestAdapter', { value: async () => null });
    });
    expect(none).toMatch(/no WebGPU \(navigator\.gpu offers no adapter\)/);
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
