/// <reference types="@webgpu/types" preserve="true" />
/**
 * `f8net/node`: what needs Node's file system (and sharp, onnxruntime-node): configs,
 * training runs and checkpoints, data sets from files, integer model folders, export,
 * prediction from image files, and the whole F8Net recipe.
 *
 * @example
 *   import { Engine } from 'f8net';
 *   import { runRecipe, formatRecipe } from 'f8net/node';
 *   await Engine.open();
 *   console.log(formatRecipe(await runRecipe({ floatEpochs: 1, fixedEpochs: 1, sets: ['max_train_samples=1000'] })));
 *   await Engine.get().close();
 */
export { loadConfig, resolveConfig, configHelp, type TrainConfig } from './train/config.js';
export { train, evaluate, evaluateWithConfusion, modelFromConfig, type TrainOptions, type TrainResult, type EvalResult } from './train/trainer.js';
export { saveCheckpoint, loadCheckpoint, type Checkpoint, type CheckpointMeta } from './train/checkpoint.js';
export { runRecipe, formatRecipe, type RecipeOptions, type RecipeResult } from './train/recipe.js';
export { loadDataAsync, loadData, inputShape, type LoadedData } from './data/sources.js';
export { decodeImages, type DecodedImages, type DecodeOptions } from './data/decode-images.js';
export { readSafetensors, writeSafetensors } from './io/safetensors.js';
export { readIntModel, writeIntModel } from './export/format.js';
export { checkpointConfig, checkpointModel, exportCheckpoint, evaluateCheckpoint, writeExport, type ExportResult, type CheckpointEvaluation, type CheckpointModelOptions, type CheckpointModel } from './export/from-checkpoint.js';
export { openPredictModel, predict, type PredictModel, type Prediction } from './export/predict.js';
export { evaluateModes, compareModes, EVAL_MODES, type EvalMode } from './export/evaluate.js';
export { runOnnx, onnxInputKind, closeOnnxSessions } from './export/onnx-run.js';
