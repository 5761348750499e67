/**
 * Size limits of a run, checked from the config alone before any data is loaded or any tensor
 * allocated: a width of 65536 or pad_to 100000 otherwise ends deep inside a typed-array
 * constructor ("Invalid typed array length"). The estimate walks the network's layer shapes
 * (describeModel: arithmetic only) and counts what training holds at once: parameters with
 * their gradients and two optimizer/quantiser copies, and each layer's output for the batch
 * three times (forward, its gradient, the quantised copy). It is an order of magnitude, not an
 * account; the limits leave headroom on both sides.
 *
 * @example checkRunSize(resolveConfig({ model_args: { width: 65536 } }), 'config'); // throws, naming model_args.width
 */
import { envVar } from '../runtime/env.js';
import { F8Error } from '../runtime/errors.js';
import { describeModel, modelNames } from '../models/index.js';

/** The largest single tensor (bytes): one GPU storage buffer / one JS typed array. */
export const MAX_TENSOR_BYTES = 2 ** 31 - 1;
/** Default limit of the estimate; F8NET_MAX_RUN_BYTES raises or lowers it. */
export const DEFAULT_MAX_RUN_BYTES = 128 * 2 ** 30; // ResNet-50 at batch 256, 224x224 estimates ~49 GiB
/** Largest value of a width-like model argument (channels, width); width_mult is capped at 64. */
export const MAX_MODEL_WIDTH = 16384;

interface SizeCfg {
  dataset: string;
  model: string;
  model_args: Record<string, unknown>;
  image_size: number | null;
  pad_to: number | null;
  num_classes: number | null;
  batch_size: number;
  eval_batch_size: number;
  input_mean: number[] | null;
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(b < 2 ** 30 ? 3 : 1)} GiB`;

function maxRunBytes(): number {
  const v = Number(envVar('F8NET_MAX_RUN_BYTES'));
  return Number.isFinite(v) && v > 0 ? v : DEFAULT_MAX_RUN_BYTES;
}

/** The input shape and classes a config implies before its data is read. */
function impliedData(c: SizeCfg): { inChannels: number; numClasses: number; imageSize: number } {
  const rgb = c.dataset === 'cifar10' || (c.dataset === 'folder' && c.input_mean?.length !== 1);
  const native = c.dataset === 'cifar10' ? 32 : c.dataset === 'synthetic' ? 12 : 28;
  return { inChannels: rgb ? 3 : 1, numClasses: c.num_classes ?? 10, imageSize: c.pad_to ?? c.image_size ?? native };
}

/**
 * Throws BAD_CONFIG (naming the key and the limit) when a model argument is out of range or the
 * run's estimated memory exceeds the limit. `where` names the config's source.
 */
export function checkRunSize(c: SizeCfg, where: string): void {
  for (const [k, v] of Object.entries(c.model_args)) {
    if (typeof v !== 'number') continue;
    const max = k === 'width_mult' ? 64 : MAX_MODEL_WIDTH;
    if (!Number.isFinite(v) || v <= 0 || v > max) throw new F8Error('BAD_CONFIG', `${where}: model_args.${k} = ${v} is out of range: expected a positive number <= ${max}`);
  }
  if (!modelNames().includes(c.model)) return; // buildModel names the unknown model
  const data = impliedData(c);
  let layers;
  try {
    layers = describeModel(c.model, c.model_args, data);
  } catch {
    return; // bad arguments: buildModel reports them with its own message
  }
  let params = 0;
  let acts = 0;
  let biggest = 0;
  let biggestName = '';
  const batch = Math.max(c.batch_size, c.eval_batch_size);
  for (const L of layers) {
    const a = L.outShape.reduce((x, y) => x * y, 1);
    params += L.params;
    acts += a;
    const cands: [number, string][] = [
      [L.params * 4, `the weights of ${L.name}`],
      [a * batch * 4, `the output of ${L.name} for a batch of ${batch}`],
    ];
    for (const [b, n] of cands) if (b > biggest) [biggest, biggestName] = [b, n];
  }
  const input = batch * data.inChannels * data.imageSize * data.imageSize * 4;
  const paramBytes = params * 4 * 4;
  const actBytes = (acts * batch * 4 + input) * 3;
  const total = paramBytes + actBytes;
  const sizeKey = c.pad_to !== null ? 'pad_to' : c.image_size !== null ? 'image_size' : 'the data set image size';
  const widthKeys = Object.keys(c.model_args).map((k) => `model_args.${k}`);
  const keys = paramBytes > actBytes ? [...widthKeys, c.num_classes !== null ? 'num_classes' : ''] : ['batch_size/eval_batch_size', sizeKey, ...widthKeys];
  const named = keys.filter(Boolean).join(', ') || `the model ${c.model}`;
  if (biggest > MAX_TENSOR_BYTES) {
    throw new F8Error('BAD_CONFIG', `${where}: ${biggestName} would take ${gib(biggest)}, more than the ${gib(MAX_TENSOR_BYTES)} limit of one tensor; reduce ${named}`);
  }
  const limit = maxRunBytes();
  if (total > limit) {
    throw new F8Error('BAD_CONFIG', `${where}: the run needs about ${gib(total)} (parameters ${gib(paramBytes)}, activations ${gib(actBytes)}), more than the ${gib(limit)} limit (F8NET_MAX_RUN_BYTES); reduce ${named}`);
  }
}
