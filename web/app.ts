/**
 * The f8net page (served by `f8net serve`): adapter info, the two-stage MNIST training with live
 * curves, the integer export with its fake-quant/integer comparison and a drawing pad, the quick
 * benchmark, and the CLI's files. Everything the buttons do is also on `window.f8page`, which the
 * browser tests (test/browser/) drive.
 */
import * as f8 from '../src/browser/index.js';
import type { Module } from '../src/nn/module.js';
import type { IntGraph } from '../src/export/graph.js';
import type { LoadedData } from '../src/data/sources.js';
import type { TrainConfig } from '../src/train/config.js';
import type { HeadForm } from '../src/quant/head-form.js';
import type { BenchResult } from '../src/bench/suite.js';
import type { EpochRecord } from '../src/train/loop.js';
import { drawChart, type Series } from './chart.js';
import { DrawPad } from './pad.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const CONFIGS = '/f8net/configs';

interface PageState {
  engine: f8.Engine | null;
  digits: Uint8Array | null;
  model: Module | null;
  cfg: TrainConfig | null;
  data: LoadedData | null;
  graph: IntGraph | null;
  checkpoints: { float?: Uint8Array; fixed?: Uint8Array };
  bench: BenchResult | null;
  busy: boolean;
}
const st: PageState = { engine: null, digits: null, model: null, cfg: null, data: null, graph: null, checkpoints: {}, bench: null, busy: false };

function status(s: string): void {
  $('status').textContent = s;
}
function message(e: unknown): string {
  return e instanceof f8.F8Error ? `f8net: ${e.message}` : `f8net: internal error: ${(e as Error)?.message ?? String(e)}`;
}
function showError(e: unknown): string {
  const m = message(e);
  const box = $('error');
  box.textContent = m;
  box.hidden = false;
  console.error(e);
  return m;
}
function clearError(): void {
  $('error').hidden = true;
}

function download(bytes: Uint8Array | string, name: string, type = 'application/octet-stream'): void {
  const blob = new Blob([bytes as BlobPart], { type });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

async function guarded<T>(what: string, fn: () => Promise<T>): Promise<T> {
  if (st.busy) throw new f8.F8Error('BAD_INPUT', `${what}: another task is running; wait for it to finish`);
  st.busy = true;
  document.querySelectorAll<HTMLButtonElement>('section button').forEach((b) => b.classList.add('busy'));
  clearError();
  try {
    return await fn();
  } finally {
    st.busy = false;
  }
}

// ---- 1. adapter -------------------------------------------------------------------------------

function renderInfo(d: f8.AdapterDescription): void {
  const rows = Object.entries(d.limits).map(([k, v]) => `<tr><td>${k}</td><td class="num">${v.toLocaleString('en')}</td></tr>`);
  $('info').innerHTML = `
    <p><b>${esc(d.description || d.device || d.vendor || 'unnamed adapter')}</b> · vendor ${esc(d.vendor || '-')} · architecture ${esc(d.architecture || '-')}</p>
    <p>features: ${d.features.map((f) => `<code>${esc(f)}</code>`).join(' ') || 'none'}</p>
    <p>WGSL language features: ${d.wgslLanguageFeatures.map((f) => `<code>${esc(f)}</code>`).join(' ') || 'none'} · dot4I8Packed: ${d.dot4I8Packed ? 'yes' : 'no'}</p>
    <table><tr><th>limit</th><th>value</th></tr>${rows.join('')}</table>`;
}

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

// ---- data -------------------------------------------------------------------------------------

async function digits(): Promise<Uint8Array> {
  if (!st.digits) {
    const r = await fetch('mnist.bin');
    if (!r.ok) throw new f8.F8Error('IO', `mnist.bin: the server answered ${r.status}; rebuild the page (npm run build)`);
    st.digits = new Uint8Array(await r.arrayBuffer());
  }
  return st.digits;
}

/** The digits, fed as the config's head form says (src/quant/head-form.ts: weight_only is pixel / 256). */
async function mnistData(headForm: HeadForm, nTrain?: number, nTest?: number): Promise<LoadedData> {
  const s = f8.decodeMnistBin(await digits(), 'mnist.bin', { train: nTrain, test: nTest });
  const [mean, std] = f8.DATASET_STATS.mnist;
  return { ...s, ...f8.imageFeed(headForm, mean, std) };
}

// ---- 2. training ------------------------------------------------------------------------------

export type TrainOptions = f8.PageTrainOptions;

export interface StageSummary {
  epochs: EpochRecord[];
  top1: number;
  imagesPerS: number;
  losses: number[];
}

function disposeModel(): void {
  st.model?.dispose();
  st.model = null;
  st.graph = null;
}

async function train(o: TrainOptions = {}): Promise<{ float: StageSummary; fixed: StageSummary; formats: string }> {
  return guarded('train', async () => {
    const engine = st.engine!;
    const sets = f8.pageStageSets(o);
    const fcfg = f8.loadConfig(`${CONFIGS}/cnn_mnist_float.yml`, sets.float);
    const qcfg = f8.loadConfig(`${CONFIGS}/cnn_mnist_fixed.yml`, sets.fixed);
    const data = await mnistData(fcfg.head_form, o.trainSamples, o.testSamples);
    disposeModel();
    st.checkpoints = {};
    enableDownloads();
    $('formats').textContent = '';
    const loss: Series[] = [
      { color: '#1f6feb', points: [] },
      { color: '#d97706', points: [] },
    ];
    const acc: Series[] = [
      { color: '#1f6feb', points: [] },
      { color: '#d97706', points: [] },
    ];
    let x = 0;
    const redraw = () => {
      drawChart($<HTMLCanvasElement>('chart-loss'), loss, { yLabel: 'loss' });
      drawChart($<HTMLCanvasElement>('chart-acc'), acc, { yLabel: 'top-1', yMin: 0, yMax: 1 });
    };
    redraw();
    const stats: string[] = [];
    const summary = async (cfg: TrainConfig, k: 0 | 1, init?: Uint8Array) => {
      const stage = k === 0 ? 'float' : 'fixed';
      const losses: number[] = [];
      let ips = 0;
      const r = await f8.trainStage(
        cfg,
        data,
        {
          onStep: (s) => {
            losses.push(s.loss);
            loss[k].points.push([x++, s.loss]);
            ips = s.imagesPerS;
            status(`${stage} stage: epoch ${s.epoch}/${cfg.num_epochs}, step ${s.step}/${s.steps}, loss ${s.loss.toFixed(4)}, ${s.imagesPerS.toFixed(0)} images/s`);
            redraw();
          },
          onEpoch: (rec) => {
            acc[k].points.push([k === 0 ? rec.epoch : (fcfg.num_epochs + rec.epoch), rec.top1]);
            redraw();
          },
          onCheckpoint: (bytes) => {
            st.checkpoints[stage] = bytes;
            enableDownloads();
          },
        },
        init,
      );
      const imagesPerS = r.epochs.reduce((a, e) => a + e.images_per_s, 0) / r.epochs.length || ips;
      stats.push(`${stage}: top-1 ${(100 * r.final.top1).toFixed(2)}% on ${data.test.length} test images, ${imagesPerS.toFixed(0)} images/s (training)`);
      $('train-stats').textContent = stats.join(' · ');
      return { r, s: { epochs: r.epochs, top1: r.final.top1, imagesPerS, losses } };
    };
    const fl = await summary(fcfg, 0);
    fl.r.model.dispose();
    const fx = await summary(qcfg, 1, fl.r.checkpoint);
    st.model = fx.r.model;
    st.cfg = qcfg;
    st.data = data;
    const formats = f8.formatTable(fx.r.formats ?? []);
    $('formats').textContent = `fractional lengths and clipping levels:\n${formats}`;
    $<HTMLButtonElement>('btn-export').disabled = false;
    status(`trained on ${engine.gpu.describe().description || 'this GPU'}; export the integer model next`);
    return { float: fl.s, fixed: fx.s, formats };
  });
}

// ---- 3. integer model -------------------------------------------------------------------------

async function exportAndCompare(limit?: number): Promise<{
  comparisons: ReturnType<typeof f8.compareModes>;
  top1: Record<string, number>;
  modelJson: string;
  weights: Uint8Array;
  intGpuLogits: number[];
  count: number;
}> {
  return guarded('export', async () => {
    if (!st.model || !st.cfg || !st.data) throw new f8.F8Error('BAD_INPUT', 'export: no model yet; train one or load a fixed-point checkpoint');
    const cfg = st.cfg;
    const data = st.data;
    const [c, h, w] = f8.inputShape(data);
    if (cfg.floating_model) throw new f8.F8Error('BAD_INPUT', 'export: a float-stage checkpoint has no integer form; export or evaluate a fixed-point checkpoint (floating_model: false)');
    status('exporting the integer model…');
    st.graph = await f8.exportModel(st.model, { name: cfg.model, args: { ...cfg.model_args }, dataset: cfg.dataset, classes: data.test.numClasses, checkpoint: 'page' }, { shape: [c, h, w], mean: data.mean, std: data.std });
    enableDownloads();
    status('comparing fake-quant and integer predictions on the test set…');
    const res = await f8.evaluateModes({ model: st.model, graph: st.graph, ds: data.test, mean: data.mean, std: data.std, limit }, ['fake', 'int-cpu', 'int-gpu']);
    const cmp = f8.compareModes(res);
    const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
    $('compare').innerHTML = `
      <table><tr><th>mode</th><th>top-1</th><th>images/s</th></tr>
      ${res.map((r) => `<tr><td>${r.mode}</td><td class="num">${pct(r.top1)}</td><td class="num">${r.images_per_s.toFixed(0)}</td></tr>`).join('')}</table>
      <table><tr><th>pair</th><th>agreement</th><th>disagreements</th><th>max |logit diff|</th></tr>
      ${cmp.map((p) => `<tr><td>${p.a} vs ${p.b}</td><td class="num ${p.agreement === 1 ? 'ok' : ''}">${pct(p.agreement)}</td><td class="num">${p.disagreements}</td><td class="num">${p.maxLogitDiff.toExponential(2)}</td></tr>`).join('')}</table>
      <p>on ${res[0].count} test images; int-cpu is the definition of the integer model, int-gpu the same model on this GPU.</p>`;
    $('prediction').innerHTML = '<p>Draw a digit (0–9) on the black pad; the integer model predicts it when you lift the pen.</p>';
    status('integer model ready: draw a digit');
    const { json, bin } = f8.serializeIntModel(st.graph);
    const gpuRes = res.find((r) => r.mode === 'int-gpu')!;
    const s = 2 ** st.graph.output.fl;
    return {
      comparisons: cmp,
      top1: Object.fromEntries(res.map((r) => [r.mode, r.top1])),
      modelJson: json,
      weights: bin,
      intGpuLogits: Array.from(gpuRes.logits, (v) => Math.round(v * s)),
      count: gpuRes.count,
    };
  });
}

/** Integer-model logits of 28x28 uint8 images on the CPU runner and on the GPU. */
async function predictPixels(pixels: Uint8Array, n: number): Promise<{ cpu: Int32Array; gpu: Int32Array }> {
  if (!st.graph) throw new f8.F8Error('BAD_INPUT', 'predict: no integer model yet; train and export first');
  const q = f8.quantizeImages(st.graph, pixels, n);
  const cpu = f8.runIntCpu(st.graph, q, n);
  const gpu = await f8.runIntGpu(st.graph, q, n);
  return { cpu, gpu };
}

async function predictDrawn(px: Uint8Array): Promise<void> {
  if (!st.graph) return;
  const { cpu, gpu } = await predictPixels(px, 1);
  const logits = f8.logitsToFloat(st.graph, cpu);
  const m = Math.max(...logits);
  const ex = Array.from(logits, (v) => Math.exp(v - m));
  const sum = ex.reduce((a, b) => a + b, 0);
  const best = ex.indexOf(Math.max(...ex));
  const same = cpu.every((v, i) => v === gpu[i]);
  $('prediction').innerHTML = `<p class="pred-big">${best}</p>
    ${ex.map((e, d) => `<div class="mono">${d} <span class="bar ${d === best ? 'top' : ''}" style="width:${(160 * e) / sum}px"></span> ${((100 * e) / sum).toFixed(1)}%</div>`).join('')}
    <p class="${same ? 'ok' : 'bad'}">integer logits on the CPU runner and on the GPU ${same ? 'agree bit for bit' : 'DIFFER'}</p>`;
}

// ---- 4. kernel self-test (f8net selftest) ------------------------------------------------------

export interface SelftestCase {
  family: string;
  name: string;
  ok: boolean;
  exact: boolean;
  /** Largest |GPU - CPU|; a string ('Infinity') when the case threw. */
  maxError: number | string;
  detail?: string;
}

/** Every kernel case of src/cases (or those matching `filter`) on this GPU against its CPU reference, as `f8net selftest`. */
async function selftest(filter?: string): Promise<{ cases: SelftestCase[]; lines: string[]; families: number }> {
  return guarded('selftest', async () => {
    const selected = f8.selectCases(filter);
    const results: f8.CaseResult[] = [];
    for (const c of selected) {
      status(`self-test: ${c.family}: ${c.name} (${results.length + 1}/${selected.length})`);
      results.push(await f8.runKernelCase(c, st.engine!));
    }
    const fam = f8.summarizeCases(results);
    const lines = f8.selftestLines(fam);
    const failed = results.filter((r) => !r.ok).length;
    $('selftest').textContent = `${lines.join('\n')}\n\n${failed ? `${failed} of ${results.length} cases differ from their CPU reference on this GPU` : `all ${results.length} cases of ${fam.length} families match their CPU reference`}`;
    status(`self-test done: ${results.length - failed}/${results.length} cases pass`);
    return {
      cases: results.map((r) => ({ family: r.family, name: r.name, ok: r.ok, exact: f8.isExact(r.tolerance), maxError: Number.isFinite(r.maxError) ? r.maxError : String(r.maxError), detail: r.detail })),
      lines,
      families: fam.length,
    };
  });
}

// ---- 5. bench ---------------------------------------------------------------------------------

async function bench(filter?: string): Promise<BenchResult> {
  return guarded('bench', async () => {
    const engine = st.engine!;
    const res = await f8.runBench(engine, { quick: true, tuning: 'default', search: false, filter, log: (l) => status(`bench: ${l}`) });
    st.bench = res;
    const p = res.peaks;
    $('bench-head').textContent = `roofline (measured now): f32 ${p.f32Gflops.toFixed(1)} GFLOP/s, int8 ${p.int8Path} ${p.int8Gops.toFixed(1)} GOP/s, copy ${p.copyGBs.toFixed(1)} GB/s; timing: ${res.config.timing}`;
    $('bench').innerHTML = `<table><tr><th>row</th><th>shape</th><th>median ms</th><th>figure</th><th>roofline</th><th>check</th></tr>${res.rows
      .map((r) => {
        const m = r.results.tuned ?? r.results.default;
        const check = r.error && !m ? `failed: ${esc(r.error)}` : r.verified ? 'ok' : `wrong: ${esc(r.error ?? '')}`;
        return `<tr><td>${r.id}</td><td>${esc(r.shape)}</td><td class="num">${m ? m.time.medianMs.toFixed(3) : '-'}</td><td class="num">${m ? `${m.figure.toPrecision(3)} ${r.unit}` : '-'}</td><td class="num">${m ? `${(100 * m.rooflineShare).toFixed(1)}%` : '-'}</td><td class="${r.verified ? 'ok' : 'bad'}">${check}</td></tr>`;
      })
      .join('')}</table>`;
    $<HTMLButtonElement>('btn-bench-json').disabled = false;
    status(`bench done: ${res.rows.length} rows`);
    return res;
  });
}

// ---- 6. files ---------------------------------------------------------------------------------

function enableDownloads(): void {
  $<HTMLButtonElement>('dl-ck-float').disabled = !st.checkpoints.float;
  $<HTMLButtonElement>('dl-ck-fixed').disabled = !st.checkpoints.fixed;
  for (const id of ['dl-model-json', 'dl-weights', 'dl-onnx-int', 'dl-onnx-integize']) $<HTMLButtonElement>(id).disabled = !st.graph;
}

/** Loads checkpoint bytes as the CLI does (same checks, same one-line errors). Returns a one-line description. */
async function loadCheckpointBytes(bytes: Uint8Array, name: string): Promise<string> {
  return guarded('load', async () => {
    const { ck, cfg } = f8.checkpointBytesToConfig(bytes, name);
    if (cfg.dataset !== 'mnist' || cfg.pad_to || cfg.model !== 'cnn') {
      throw new f8.F8Error('BAD_INPUT', `${name}: this page runs the cnn on the mnist digits; the checkpoint holds ${cfg.model} on ${cfg.dataset}${cfg.pad_to ? ` padded to ${cfg.pad_to}` : ''} (use the CLI for it)`);
    }
    const data = await mnistData(cfg.head_form, cfg.max_train_samples ?? undefined, cfg.max_test_samples ?? undefined);
    const model = f8.modelFromConfig(cfg, data);
    try {
      model.loadStateDict(ck.model, { source: name });
    } catch (e) {
      model.dispose();
      throw e;
    }
    disposeModel();
    st.model = model;
    st.cfg = cfg;
    st.data = data;
    st.checkpoints = { [ck.meta.stage]: bytes };
    enableDownloads();
    $<HTMLButtonElement>('btn-export').disabled = false;
    const top1 = ck.meta.metrics?.top1;
    return `${name}: ${cfg.model} ${JSON.stringify(cfg.model_args)}, ${ck.meta.stage} stage, epoch ${ck.meta.epoch}${top1 !== undefined ? `, top-1 ${(100 * top1).toFixed(2)}% when saved` : ''}`;
  });
}

// ---- wiring -----------------------------------------------------------------------------------

function wire(): void {
  const num = (id: string) => Number($<HTMLInputElement>(id).value);
  $('train-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    train({ trainSamples: num('n-train'), testSamples: num('n-test'), floatEpochs: num('ep-float'), fixedEpochs: num('ep-fixed'), width: num('width') }).catch(trainFailed);
  });
  $('btn-export').addEventListener('click', () => void exportAndCompare().catch(showError));
  $('btn-bench').addEventListener('click', () => void bench().catch(showError));
  $('btn-selftest').addEventListener('click', () => void selftest().catch(showError));
  $('btn-bench-json').addEventListener('click', () => st.bench && download(f8.benchJsonText(st.bench), 'bench.json', 'application/json'));
  $('dl-ck-float').addEventListener('click', () => st.checkpoints.float && download(st.checkpoints.float, 'cnn-mnist-float.safetensors'));
  $('dl-ck-fixed').addEventListener('click', () => st.checkpoints.fixed && download(st.checkpoints.fixed, 'cnn-mnist-fixed.safetensors'));
  $('dl-model-json').addEventListener('click', () => st.graph && download(f8.serializeIntModel(st.graph).json, 'model.json', 'application/json'));
  $('dl-weights').addEventListener('click', () => st.graph && download(f8.serializeIntModel(st.graph).bin, 'weights.bin'));
  $('dl-onnx-int').addEventListener('click', () => void guardDownload(() => f8.toIntOnlyOnnx(st.graph!), 'model.int.onnx'));
  $('dl-onnx-integize').addEventListener('click', () => void guardDownload(() => f8.toIntegizeOnnx(st.graph!), 'model.integize.onnx'));
  $<HTMLInputElement>('load-ck').addEventListener('change', async (ev) => {
    const f = (ev.target as HTMLInputElement).files?.[0];
    if (!f) return;
    try {
      $('load-result').textContent = await loadCheckpointBytes(new Uint8Array(await f.arrayBuffer()), f.name);
    } catch (e) {
      $('load-result').textContent = message(e);
    }
  });
  const pad = new DrawPad($<HTMLCanvasElement>('pad'), (px) => void predictDrawn(px).catch(showError));
  $('btn-clear').addEventListener('click', () => pad.clear());
}

/** A failed training run: a lost device gets deviceLost's message, anything else its one line; the checkpoints made so far stay. */
function trainFailed(e: unknown): string {
  if (e instanceof f8.F8Error && e.code === 'DEVICE_LOST') return deviceLost(st.engine?.gpu.lost ?? e.message);
  const m = showError(e);
  status(st.checkpoints.fixed || st.checkpoints.float ? `${m} — the last checkpoint is still downloadable below` : m);
  return m;
}

async function guardDownload(make: () => Uint8Array, name: string): Promise<void> {
  try {
    if (st.graph) download(make(), name);
  } catch (e) {
    showError(e);
  }
}

/** The message after a lost device: what happened, and which checkpoint can still be downloaded. */
function deviceLost(reason: string): string {
  const ck = st.checkpoints.fixed ? 'fixed' : st.checkpoints.float ? 'float' : null;
  const m = `f8net: the GPU device was lost (${reason}); reload the page to start again.${ck ? ` The last checkpoint (${ck} stage) is still downloadable below under Files.` : ' No checkpoint had been written yet.'}`;
  const box = $('error');
  box.textContent = m;
  box.hidden = false;
  for (const id of ['btn-train', 'btn-export', 'btn-bench', 'btn-selftest']) $<HTMLButtonElement>(id).disabled = true;
  enableDownloads();
  status('GPU device lost');
  return m;
}

function noWebGpu(reason: string): void {
  const box = $('nogpu');
  box.innerHTML = `<p><b>This browser gives the page no WebGPU</b> (${esc(reason)}), so f8net cannot run here.
    WebGPU is on by default in Chrome and Edge 113+ (Windows, macOS, ChromeOS, Android), Safari 26+ and Firefox 141+ (Windows);
    on Linux Chromium enable <code>chrome://flags/#enable-unsafe-webgpu</code> (or start it with <code>--enable-unsafe-webgpu</code>,
    plus <code>--enable-features=Vulkan</code> on some drivers); in Firefox set <code>dom.webgpu.enabled</code> in <code>about:config</code>.
    The page must come from <code>https://</code> or <code>http://127.0.0.1</code> (a secure context), and a GPU blocklisted by the browser
    shows up in <code>chrome://gpu</code>.</p>`;
  box.hidden = false;
  status('no WebGPU');
}

async function start(): Promise<void> {
  if (!('gpu' in navigator) || !navigator.gpu) return noWebGpu('navigator.gpu is undefined');
  try {
    st.engine = await f8.Engine.open({ backend: 'browser' });
  } catch (e) {
    // The library's NO_ADAPTER text is about Node drivers; in a page the browser decides.
    return noWebGpu(e instanceof f8.F8Error && e.code === 'NO_ADAPTER' ? 'navigator.gpu offers no adapter' : e instanceof Error ? e.message : String(e));
  }
  const d = st.engine.gpu.describe();
  renderInfo(d);
  // Gpu marks the device lost (a driver reset, the browser reclaiming it, or page code destroying
  // it); every later GPU call throws DEVICE_LOST. The page says so once and keeps the files.
  void st.engine.gpu.lostSeen.then(() => {
    if (st.engine?.gpu.lost) deviceLost(st.engine.gpu.lost);
  });
  $('main').hidden = false;
  wire();
  status(`ready on ${d.description || d.vendor || 'this GPU'}`);
}

declare global {
  interface Window {
    f8page: unknown;
  }
}
window.f8page = {
  ready: start(),
  info: () => st.engine?.gpu.describe() ?? null,
  train,
  exportAndCompare,
  predictPixels,
  bench,
  selftest,
  loadCheckpointBytes,
  testDigits: async (n: number) => {
    // Pixels only: predictPixels feeds them as the model file says.
    const d = await mnistData('weight_only', undefined, n);
    return { pixels: d.test.images, labels: d.test.labels };
  },
  checkpoint: (stage: 'float' | 'fixed') => st.checkpoints[stage] ?? null,
  /** train() as the Train button runs it: a failure ends in the page's message (returned) instead of a rejection. */
  trainAsButton: (o: TrainOptions) => train(o).then(() => null, trainFailed),
  /** Test hook: destroys the GPU device under the page, as a driver reset would take it. */
  loseDevice: () => st.engine?.gpu.device.destroy(),
  lib: f8,
};
