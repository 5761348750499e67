/**
 * The browser build's entry (dist/web/f8net.js): the whole library API of src/index.ts, the
 * engine opening on navigator.gpu, plus the byte-level file functions a page needs. Files are
 * the CLI's formats: checkpoints (safetensors), integer models (model.json + weights.bin),
 * ONNX, bench JSON; a file made in a page loads in the CLI and the other way round.
 *
 * @example
 *   import { Engine, decodeMnistBin, trainStage, resolveConfig } from './f8net.js';
 *   await Engine.open({ backend: 'browser' });
 */
export * from '../index.js';
export { encodeSafetensors, decodeSafetensors } from '../io/safetensors.js';
export { STATS as DATASET_STATS, inputShape, type LoadedData } from '../data/sources.js';
export { describeFormats, formatTable } from '../nn/qlayers.js';
export { checkpointBytesToConfig, checkpointFromBytes, intModelFromFiles } from './files.js';
export { decodeMnistBin, encodeMnistBin } from './mnist-bin.js';
export { trainStage, type StageHooks, type StageResult, type StepReport } from './train.js';
export { diffResults, diffTable } from '../bench/diff.js';
export { markdownTable } from '../bench/report.js';
