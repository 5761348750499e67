/**
 * f8net's library API. The CLI is a thin shell over these exports.
 *
 * @example
 *   import { Engine, loadConfig, train } from 'f8net';
 *   await Engine.open();
 *   const r = await train(loadConfig(null, ['num_epochs=1']));
 */
export { Engine, Kernel } from './runtime/engine.js';
export { openGpu, Gpu, type GpuOptions, type AdapterDescription } from './runtime/gpu.js';
export { F8Error, type ErrorCode } from './runtime/errors.js';
export { Tensor, type DType } from './tensor.js';
export { backward, noGrad, record, needsGrad } from './autograd/tape.js';
export * from './ops/elementwise.js';
export * from './ops/conv2d.js';
export * from './ops/matmul.js';
export * from './ops/reduce.js';
export * from './ops/loss.js';
export * from './ops/batchnorm.js';
export * from './ops/pool.js';
export * from './ops/image.js';
export * from './ops/fakequant.js';
export { fraclenFromMetric, gridSearchFraclen, updateRunningFraclen, evalFraclen, fraclenAndStat, gridSearchWithErrors } from './ops/fraclen.js';
export * from './ops/requant.js';
export * from './ops/fold.js';
export { SGD } from './optim/sgd.js';
export * from './optim/schedule.js';
export { Module, Sequential, type StateDict } from './nn/module.js';
export * from './nn/qlayers.js';
export * as quantRef from './quant/fixed.js';
export { loadConfig, resolveConfig, type TrainConfig } from './train/config.js';
export { train, evaluate, evaluateWithConfusion, modelFromConfig } from './train/trainer.js';
export { saveCheckpoint, loadCheckpoint } from './train/checkpoint.js';
export { readSafetensors, writeSafetensors } from './io/safetensors.js';
export { buildModel, modelNames } from '../models/index.js';
