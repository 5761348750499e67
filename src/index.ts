/// <reference types="@webgpu/types" preserve="true" />
/**
 * f8net's portable library API: no Node module behind any of it (test/cpu/portable-core.test.ts).
 * The Node package entry, src/node/index.ts, adds the file, dataset, training and bench
 * functions and opens WebGPU through Dawn. The CLI is a thin shell over both.
 *
 * @example
 *   import { Engine, loadConfig, train } from 'f8net';   // the Node entry
 *   await Engine.open();
 *   const r = await train(loadConfig(null, ['num_epochs=1']));
 */
export { Engine, Kernel } from './runtime/engine.js';
export { openGpu, Gpu, setGpuProvider, type GpuProvider, type GpuOptions, type AdapterDescription } from './runtime/gpu.js';
export { registerWgslSources, setWgslLoader, type WgslLoader } from './runtime/wgsl-source.js';
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
export * from './ops/qconv.js';
export { SGD } from './optim/sgd.js';
export * from './optim/schedule.js';
export { Module, Sequential, type StateDict } from './nn/module.js';
export * from './nn/qlayers.js';
export { imageFeed, headFormOfNormalize, WEIGHT_ONLY_STD } from './quant/head-form.js';
export * as quantRef from './quant/fixed.js';
export { buildModel, modelNames } from './models/index.js';
export * from './ops/int8.js';
export * from './export/graph.js';
export { exportModel } from './export/convert.js';
export { IntGraphBuilder } from './export/builder.js';
export { traceForward, traceShapes, type ForwardTrace, type TraceStep } from './nn/trace.js';
export * as traced from './nn/traced.js';
export { runIntCpu, quantizeImages, quantizeNormalized, applyEpilogue, logitsToFloat } from './export/run-cpu.js';
export { IntGpuRunner, runIntGpu } from './export/run-gpu.js';
export { validateGraph } from './export/validate.js';
export { toIntegizeOnnx, toIntOnlyOnnx, ONNX_META } from './export/onnx-export.js';
export { toQdqOnnx } from './export/onnx-qdq.js';
export { resolveConfig, parseConfigText, type TrainConfig } from './train/config.js';
export { parseIntModel, serializeIntModel } from './export/format.js';
export { encodeSafetensors, decodeSafetensors } from './io/safetensors.js';
export { resetTuning, tuneWithStore, type TuneReport, type TuningStore, type TuneSpace, type TuneFamily } from './runtime/tuner.js';
export { defineKnobs, Tuning, type Knobs } from './runtime/tuning.js';
export { TUNE_FAMILIES } from './cases/tune.js';
export { setDatasetReaders, type DatasetReaders } from './data/sources.js';
export { F8NET_VERSION } from './runtime/version.js';

// runs: the portable training loop, resume, run folders, export folders.
export { TrainingLoop, type StepInfo, type LoopCallbacks, type LoopRunOptions, type LoopRunResult } from './train/loop.js';
export { encodeCheckpoint, decodeCheckpoint, type Checkpoint, type CheckpointMeta } from './train/checkpoint.js';

// --- product: options-object model builder (the recipe, export and predict from files are in src/node/) ---
export { type BuildModelOptions, type DataShape, describeModel } from './models/index.js';
export { Rng } from './runtime/rng.js';

// ---- portable: kernel cases (runnable in a browser page: open an Engine, then runKernelCases) ----
export { KERNEL_CASES, selectCases, runKernelCase, runKernelCases, summarizeCases, selftestLines, kernelCase, type KernelCase, type CaseResult, type FamilySummary } from './cases/index.js';
export { compare, describeTolerance, isExact, type Tolerance, type Comparison } from './runtime/compare.js';
