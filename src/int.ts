/// <reference types="@webgpu/types" preserve="true" />
/**
 * `f8net/int`: the integer runtime alone. An exported model (model.json + weights.bin bytes) is
 * parsed and checked, its inputs quantised, and it runs on the CPU reference or on the GPU; no
 * training code and no file system.
 *
 * @example
 *   import { parseIntModel, quantizeImages, runIntCpu, logitsToFloat, topK } from 'f8net/int';
 *   import { readFileSync } from 'node:fs';
 *   const g = parseIntModel(readFileSync('m/model.json'), readFileSync('m/weights.bin'), 'm');
 *   const pixels = new Uint8Array(g.input.shape.reduce((a, b) => a * b, 1));   // one black image
 *   const logits = logitsToFloat(g, runIntCpu(g, quantizeImages(g, pixels, 1), 1));
 *   console.log(topK(logits, 3, g.model.classNames ?? null));
 */
export * from './export/graph.js';
export { parseIntModel, serializeIntModel } from './export/format.js';
export { validateGraph } from './export/validate.js';
export { runIntCpu, quantizeImages, quantizeNormalized, logitsToFloat } from './export/run-cpu.js';
export { IntGpuRunner, runIntGpu, type IntGpuOptions } from './export/run-gpu.js';
export { topK } from './export/topk.js';
export { Engine } from './runtime/engine.js';
export { F8Error, type ErrorCode } from './runtime/errors.js';
