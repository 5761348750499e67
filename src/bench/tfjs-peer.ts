/**
 * tfjs-backend-webgpu running on f8net's own GPUDevice, so that a benchmark compares both
 * libraries in one process on one adapter (same Dawn instance, same queue). tfjs is a dev
 * dependency: without it, tfjsOnEngine throws UNSUPPORTED.
 *
 * How: tfjs registers its 'webgpu' backend factory at import time only when `navigator.gpu`
 * exists (Node 20 has no `navigator`), and its kernels are registered under the name
 * 'webgpu', so we give it a minimal `navigator.gpu`, replace that factory with one that wraps
 * our device in a `WebGPUBackend`, and select it. tfjs records into its own command encoder
 * and submits on the same queue; `await tfjsSync(tf, engine)` waits for everything tfjs has
 * recorded without reading anything back (`await t.data()` also works, but adds a read-back).
 *
 * @example
 *   const engine = await Engine.open();
 *   const tf = await tfjsOnEngine(engine);
 *   const c = tf.matMul(tf.randomNormal([512, 512]), tf.randomNormal([512, 512]));
 *   await tfjsSync(tf, engine); // or: await c.data()
 */
import { globals } from 'webgpu';
import type { Engine } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';

export type Tf = typeof import('@tensorflow/tfjs-core');

const cache = new WeakMap<Engine, Promise<Tf>>();

/** The tfjs-core namespace with the WebGPU backend on `engine.device` selected (cached per engine). */
export function tfjsOnEngine(engine: Engine): Promise<Tf> {
  let p = cache.get(engine);
  if (!p) {
    p = setUp(engine);
    cache.set(engine, p);
  }
  return p;
}

async function setUp(engine: Engine): Promise<Tf> {
  Object.assign(globalThis, globals);
  const adapter = engine.gpu.adapter;
  // tfjs only tests `navigator.gpu` for truth and calls requestAdapter in its default factory
  // (replaced below); the stub hands out our adapter in case anything asks.
  const gpuStub = {
    requestAdapter: async () => adapter,
    getPreferredCanvasFormat: () => 'rgba8unorm',
    wgslLanguageFeatures: new Set<string>(),
  };
  const g = globalThis as unknown as { navigator?: { gpu?: unknown } };
  if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: { gpu: gpuStub }, configurable: true, writable: true });
  else if (!g.navigator.gpu) Object.defineProperty(g.navigator, 'gpu', { value: gpuStub, configurable: true });

  let tf: Tf;
  let webgpu: { WebGPUBackend: new (device: GPUDevice, info?: GPUAdapterInfo) => InstanceType<Tf['KernelBackend']> };
  try {
    tf = await import('@tensorflow/tfjs-core');
    webgpu = (await import('@tensorflow/tfjs-backend-webgpu')) as unknown as typeof webgpu;
  } catch (e) {
    throw new F8Error('UNSUPPORTED', `--compare tfjs needs @tensorflow/tfjs-core and @tensorflow/tfjs-backend-webgpu (npm install them): ${(e as Error).message.split('\n')[0]}`);
  }
  // Production mode, as a deployed app would run it (also quiets the platform notices);
  // IS_TEST would add a leak check to every kernel call.
  tf.enableProdMode();
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new webgpu.WebGPUBackend(engine.device, adapter.info), 100);
  const ok = await tf.setBackend('webgpu');
  if (!ok || tf.getBackend() !== 'webgpu') throw new F8Error('UNSUPPORTED', 'tfjs: could not initialise the webgpu backend on the f8net device');
  return tf;
}

interface WebGpuBackendInternals {
  commandEncoder: GPUCommandEncoder | null;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

/**
 * Submits what tfjs has recorded (it batches up to 15 dispatches per submission) and waits
 * until the shared queue is idle, f8net's own work included. No read-back.
 */
export async function tfjsSync(tf: Tf, engine: Engine): Promise<void> {
  const b = tf.backend() as unknown as WebGpuBackendInternals;
  if (b.commandEncoder) {
    b.endComputePassEncoder();
    b.submitQueue();
  }
  engine.flush();
  await engine.device.queue.onSubmittedWorkDone();
}
