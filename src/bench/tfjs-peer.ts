/**
 * tfjs-backend-webgpu running on f8net's own GPUDevice, so that a benchmark compares both
 * libraries in one process on one adapter (same Dawn instance, same queue). tfjs is a dev
 * dependency: without it, tfjsOnEngine (src/node/tfjs-peer.ts, which sets tfjs up on the engine's
 * device under Dawn) throws UNSUPPORTED. This file holds what the rows use: the type and the sync.
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
import type { Engine } from '../runtime/engine.js';

export type Tf = typeof import('@tensorflow/tfjs-core');

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
