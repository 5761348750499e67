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
import files from 'f8net:assets';
import { registerWgslSources } from '../runtime/wgsl-source.js';
import { parseConfigText, resolveConfig, type TrainConfig } from '../train/config.js';
import { F8Error } from '../runtime/errors.js';

export * from '../index.js';
export { evaluateModes, compareModes, EVAL_MODES, type EvalMode } from '../export/evaluate.js';
export { runBench, type BenchOptions, type BenchResult } from '../bench/suite.js';
export { modelFromConfig } from '../train/loop.js';

// The kernels built into the bundle (keys /f8net/wgsl/<rel>): the engine reads no files here.
registerWgslSources(Object.fromEntries(Object.entries(files as Record<string, string>).filter(([k]) => k.startsWith('/f8net/wgsl/')).map(([k, v]) => [k.slice('/f8net/wgsl/'.length), v])));

/**
 * A config by the path of a file built into the bundle (configs/*.yml under
 * /f8net/configs), or the built-in default when `file` is null; as `loadConfig` in Node.
 */
export function loadConfig(file: string | null, sets: string[] = []): TrainConfig {
  if (!file) return resolveConfig({}, sets, 'built-in default');
  const text = (files as Record<string, string>)[file];
  if (text === undefined) throw new F8Error('BAD_INPUT', `${file}: not a config built into the page (configs/*.yml)`);
  return parseConfigText(text, file, sets);
}
export { encodeSafetensors, decodeSafetensors } from '../io/safetensors.js';
export { STATS as DATASET_STATS, inputShape, type LoadedData } from '../data/sources.js';
export { imageFeed, HEAD_FORMS, type HeadForm } from '../quant/head-form.js';
export { describeFormats, formatTable } from '../nn/qlayers.js';
export { checkpointBytesToConfig, checkpointFromBytes, intModelFromFiles } from './files.js';
export { decodeMnistBin, encodeMnistBin } from './mnist-bin.js';
export { trainStage, pageStageSets, type PageTrainOptions, type StageHooks, type StageResult, type StepReport } from './train.js';
export { diffResults, diffTable } from '../bench/diff.js';
export { markdownTable, benchJsonText, rooflineSvg } from '../bench/report.js';
