/**
 * The model registry: name -> builder. Configs name a model and its arguments.
 *
 * @example
 *   const m = buildModel('cnn', { width: 16 }, { inChannels: 1, numClasses: 10, imageSize: 28 }, floatQuant(), new Rng(0));
 */
import { F8Error } from '../src/runtime/errors.js';
import type { Module } from '../src/nn/module.js';
import type { QuantConfig } from '../src/nn/qlayers.js';
import type { Rng } from '../src/data/rng.js';
import { SmallCnn } from './cnn.js';

export interface DataShape {
  inChannels: number;
  numClasses: number;
  imageSize: number;
}

type Builder = (args: Record<string, unknown>, data: DataShape, quant: QuantConfig, rng: Rng) => Module;

function num(args: Record<string, unknown>, key: string, model: string, dflt: number): number {
  const v = args[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new F8Error('BAD_CONFIG', `model ${model}: argument ${key} must be a positive number, got ${JSON.stringify(v)}`);
  return v;
}

const registry = new Map<string, { builder: Builder; args: string[]; doc: string }>([
  [
    'cnn',
    {
      builder: (a, d, q, r) => new SmallCnn({ ...d, width: num(a, 'width', 'cnn', 32) }, q, r),
      args: ['width'],
      doc: 'small CNN: 3 conv+BN layers, max pools, global average pool, linear (default)',
    },
  ],
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

export function buildModel(name: string, args: Record<string, unknown>, data: DataShape, quant: QuantConfig, rng: Rng): Module {
  const e = registry.get(name);
  if (!e) throw new F8Error('BAD_CONFIG', `model '${name}' is not known; available: ${modelNames().join(', ')}`);
  for (const k of Object.keys(args)) {
    if (!e.args.includes(k)) throw new F8Error('BAD_CONFIG', `model ${name}: unknown argument '${k}'; allowed: ${e.args.join(', ') || 'none'}`);
  }
  return e.builder(args, data, quant, rng);
}
