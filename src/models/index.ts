/**
 * The model registry: name -> builder, arguments and usual data shape. A network is its
 * builder; its layer list (`f8net model summary`) is read from a shape trace of its forward
 * (src/nn/trace.ts), without a GPU. Configs name a model and its arguments; the data set gives
 * the DataShape (channels, classes, image size).
 *
 * @example
 *   const m = buildModel('cnn', { args: { width: 16 }, data: { inChannels: 1, numClasses: 10, imageSize: 28 } });
 *   const rows = describeModel('resnet18', {}, { inChannels: 3, numClasses: 1000, imageSize: 224 });
 */
import { F8Error } from '../runtime/errors.js';
import type { Module } from '../nn/module.js';
import { fixedQuant, floatQuant, type QuantConfig } from '../nn/qlayers.js';
import { Rng } from '../runtime/rng.js';
import { traceShapes } from '../nn/trace.js';
import { SmallCnn } from './cnn.js';
import { ResNet, RESNETS } from './resnet.js';
import { MobileNetV1 } from './mobilenet_v1.js';
import { MobileNetV2 } from './mobilenet_v2.js';
import { layerRows, type LayerInfo } from './shapes.js';
import { ALPHA_SHARINGS, type AlphaSharing } from '../nn/residual.js';

export interface DataShape {
  inChannels: number;
  numClasses: number;
  imageSize: number;
}

type Args = Record<string, unknown>;
type Builder = (args: Args, data: DataShape, quant: QuantConfig, rng: Rng) => Module;

interface Entry {
  builder: Builder;
  args: string[];
  doc: string;
  /** The data shape the network is usually trained on (the summary's default). */
  data: DataShape;
}

function num(args: Record<string, unknown>, key: string, model: string, dflt: number): number {
  const v = args[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new F8Error('BAD_CONFIG', `model ${model}: argument ${key} must be a positive number, got ${JSON.stringify(v)}`);
  return v;
}

function oneOf<T extends string>(args: Record<string, unknown>, key: string, model: string, values: readonly T[], dflt: T): T {
  const v = args[key] ?? dflt;
  if (typeof v !== 'string' || !values.includes(v as T)) throw new F8Error('BAD_CONFIG', `model ${model}: argument ${key} must be one of ${values.join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

const IMAGENET: DataShape = { inChannels: 3, numClasses: 1000, imageSize: 224 };
const CIFAR: DataShape = { inChannels: 3, numClasses: 10, imageSize: 32 };

function resnetEntry(name: keyof typeof RESNETS, doc: string): [string, Entry] {
  const spec = RESNETS[name];
  return [
    name,
    {
      // alpha_sharing (src/nn/residual.ts): 'f8net' (default) or 'paper' (the paper's first projection shortcut and classifier own their alphas).
      builder: (a, d, q, r) => new ResNet(spec, d, q, r, oneOf<AlphaSharing>(a, 'alpha_sharing', name, ALPHA_SHARINGS, 'f8net')),
      args: ['alpha_sharing'],
      doc,
      data: spec.form === 'imagenet' ? IMAGENET : CIFAR,
    },
  ];
}

/** A MobileNet on ImageNet with its one argument, width_mult (default 1). */
function mobilenetEntry(
  name: string,
  Net: new (data: DataShape, widthMult: number, quant: QuantConfig, rng: Rng) => Module,
  doc: string,
): [string, Entry] {
  const widthMult = (a: Args) => num(a, 'width_mult', name, 1);
  return [
    name,
    {
      builder: (a, d, q, r) => new Net(d, widthMult(a), q, r),
      args: ['width_mult'],
      doc,
      data: IMAGENET,
    },
  ];
}

const registry = new Map<string, Entry>([
  [
    'cnn',
    {
      builder: (a, d, q, r) => new SmallCnn({ ...d, width: num(a, 'width', 'cnn', 32) }, q, r),
      args: ['width'],
      doc: 'small CNN: 3 conv+BN layers, max pools, global average pool, linear (default)',
      data: { inChannels: 1, numClasses: 10, imageSize: 28 },
    },
  ],
  resnetEntry('resnet18', 'ResNet-18, ImageNet form (7x7 stem, max pool, basic blocks 64..512)'),
  resnetEntry('resnet34', 'ResNet-34, ImageNet form (basic blocks [3,4,6,3])'),
  resnetEntry('resnet50', 'ResNet-50, ImageNet form (bottlenecks [3,4,6,3], stride on the 3x3)'),
  resnetEntry('resnet20', 'ResNet-20, CIFAR form (3x3 stem, 16/32/64 channels, 1x1 projection shortcuts)'),
  resnetEntry('resnet32', 'ResNet-32, CIFAR form'),
  resnetEntry('resnet56', 'ResNet-56, CIFAR form'),
  mobilenetEntry('mobilenet_v1', MobileNetV1, 'MobileNetV1 (13 depthwise-separable blocks)'),
  mobilenetEntry('mobilenet_v2', MobileNetV2, 'MobileNetV2 (torchvision layout, inverted residuals, linear bottlenecks)'),
]);

export function modelNames(): string[] {
  return [...registry.keys()];
}

export function modelArgs(name: string): string[] {
  return registry.get(name)?.args ?? [];
}

export function modelDoc(name: string): string {
  return registry.get(name)?.doc ?? '';
}

function entry(name: string, args: Args): Entry {
  const e = registry.get(name);
  if (!e) throw new F8Error('BAD_CONFIG', `model '${name}' is not known; available: ${modelNames().join(', ')}`);
  for (const k of Object.keys(args)) {
    if (!e.args.includes(k)) throw new F8Error('BAD_CONFIG', `model ${name}: unknown argument '${k}'; allowed: ${e.args.join(', ') || 'none'}`);
  }
  return e;
}

/** Options of buildModel; every field has a default. */
export interface BuildModelOptions {
  /** Arguments of the network, e.g. { width: 16 } (default none). */
  args?: Args;
  /** Input channels, classes and image size (default: the data the network is usually trained on). */
  data?: Partial<DataShape>;
  /** false (default): float layers; true: F8Net 8-bit fixed-point layers; or a full QuantConfig. */
  fixedPoint?: boolean | QuantConfig;
  /** Seed of the weight initialisation (default 1). */
  seed?: number;
}

/**
 * A network by name ('f8net model list'), ready to train: float or 8-bit fixed point.
 *
 * @example
 *   import { Engine, buildModel } from 'f8net';
 *   await Engine.open();
 *   const m = buildModel('cnn', { args: { width: 16 }, data: { inChannels: 1, numClasses: 10, imageSize: 28 }, fixedPoint: true });
 *   console.log(m.parameters().length);
 *   m.dispose();
 *   await Engine.get().close();
 */
export function buildModel(name: string, opts?: BuildModelOptions): Module;
/** The positional form the trainer uses: explicit quantisation config and generator. */
export function buildModel(name: string, args: Args, data: DataShape, quant: QuantConfig, rng: Rng): Module;
export function buildModel(name: string, a: Args | BuildModelOptions = {}, data?: DataShape, quant?: QuantConfig, rng?: Rng): Module {
  if (data && quant && rng) return checkedBuild(name, a as Args, data, quant, rng);
  const o = a as BuildModelOptions;
  const args = o.args ?? {};
  const e = entry(name, args);
  const q = o.fixedPoint === true ? fixedQuant() : o.fixedPoint ? o.fixedPoint : floatQuant();
  return checkedBuild(name, args, { ...e.data, ...o.data }, q, new Rng(o.seed ?? 1));
}

/** Builds after a shape trace, so that an image too small for the network fails before any GPU allocation. */
function checkedBuild(name: string, args: Args, data: DataShape, quant: QuantConfig, rng: Rng): Module {
  describeModel(name, args, data);
  return entry(name, args).builder(args, data, quant, rng);
}

/**
 * The layers of a network with output shapes, parameters and MACs, from a shape trace of its
 * forward (the network built with shape-only tensors); needs no GPU.
 */
export function describeModel(name: string, args: Args, data: DataShape): LayerInfo[] {
  const e = entry(name, args);
  const { model, trace } = traceShapes(() => e.builder(args, data, floatQuant(), new Rng(1)), [1, data.inChannels, data.imageSize, data.imageSize]);
  return layerRows(model, trace);
}

/** The data shape a network is usually trained on (ImageNet, CIFAR-10 or MNIST). */
export function defaultDataShape(name: string): DataShape {
  return { ...entry(name, {}).data };
}
