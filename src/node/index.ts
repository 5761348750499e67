/// <reference types="@webgpu/types" preserve="true" />
/**
 * f8net's package entry in Node: the portable API (src/index.ts) with WebGPU opened through
 * Dawn, kernels read from wgsl/, and the functions that read and write files.
 *
 * @example
 *   import { Engine, loadConfig, train } from 'f8net';
 *   await Engine.open();
 *   const r = await train(loadConfig(null, ['num_epochs=1']));
 */
import './register.js';

export * from '../index.js';
export { loadConfig } from './config-file.js';
export { train, evaluate, evaluateWithConfusion, modelFromConfig, resumeConfig, RESUME_SAFE_KEYS, type TrainOptions, type TrainResult } from './trainer.js';
export { saveCheckpoint, loadCheckpoint } from './checkpoint-files.js';
export { readSafetensors, writeSafetensors } from './safetensors-file.js';
export { readIntModel, writeIntModel } from './int-model-files.js';
export { runOnnx, onnxInputKind, closeOnnxSessions } from '../export/onnx-run.js';
export { evaluateModes, compareModes, EVAL_MODES, type EvalMode } from '../export/evaluate.js';
export { ensureTuning, tuningCacheDir } from './tuning-cache.js';
// runBench (src/bench/suite.ts) is the `f8net bench` command's: its peers' types come from dev
// dependencies (tfjs, onnxruntime-node), which the published types must not name.
export { writeFileAtomic } from './files.js';

// runs: run folders (next free name, lock, stale temporaries) and export folders swapped in whole.
export { claimRunDir, lockRunDir, releaseRunDir, checkCheckpointOut } from './run-dir.js';
export { writeExportFolder } from './out-dir.js';

// product: the F8Net recipe, export and evaluation of checkpoint files, prediction from image files.
export { runRecipe, formatRecipe, type RecipeOptions, type RecipeResult } from './recipe.js';
export { checkpointConfig, checkpointModel, exportCheckpoint, evaluateCheckpoint, writeExport, type ExportResult, type CheckpointEvaluation, type CheckpointModelOptions, type CheckpointModel } from './from-checkpoint.js';
export { openPredictModel, predict, type PredictModel, type Prediction } from './predict.js';
export { decodeImages, type DecodedImages, type DecodeOptions } from './decode-images.js';
export { topK } from '../export/topk.js';
