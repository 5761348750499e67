/**
 * Sets tfjs-backend-webgpu up on f8net's own GPUDevice under Dawn (src/bench/tfjs-peer.ts says
 * how and why; the rows use its tfjsSync). The bench suite gets it through the Node platform
 * (src/node/register.ts).
 */
import { globals } from 'webgpu';
import type { Engine } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';
import type { Tf } from '../bench/tfjs-peer.js';

export { tfjsSync, type Tf } from '../bench/tfjs-peer.js';

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

