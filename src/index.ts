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
export * from './ops/int8.js';
export * from './export/graph.js';
export { exportModel } from './export/convert.js';
export { IntGraphBuilder, type IntExportable } from './export/builder.js';
export { runIntCpu, quantizeImages, quantizeNormalized, applyEpilogue, logitsToFloat } from './export/run-cpu.js';
export { IntGpuRunner, runIntGpu } from './export/run-gpu.js';
export { readIntModel, writeIntModel, parseIntModel, serializeIntModel } from './export/format.js';
export { validateGraph } from './export/validate.js';
export { toIntegizeOnnx, toIntOnlyOnnx, ONNX_META } from './export/onnx-export.js';
export { runOnnx, onnxInputKind, closeOnnxSessions } from './export/onnx-run.js';
export { evaluateModes, compareModes, EVAL_MODES, type EvalMode } from './export/evaluate.js';
export { ensureTuning, resetTuning, tuningCacheDir, type TuneReport } from './runtime/tuner.js';
export { runBench, type BenchOptions, type BenchResult } from './bench/suite.js';

// runs: the portable training loop, resume, run folders, export folders.
export { TrainingLoop, type StepInfo, type LoopCallbacks, type LoopRunOptions, type LoopRunResult } from './train/loop.js';
export { resumeConfig, RESUME_SAFE_KEYS, type TrainOptions, type TrainResult } from './train/trainer.js';
export { encodeCheckpoint, decodeCheckpoint, type Checkpoint, type CheckpointMeta } from './train/checkpoint.js';
export { claimRunDir, lockRunDir, releaseRunDir, checkCheckpointOut } from './train/run-dir.js';
export { writeExportFolder } from './export/out-dir.js';
