/**
 * `f8net model summary`: the layers of a registered network with output shapes, parameter
 * counts and multiply-accumulates, and the totals, read from a shape trace of the network's
 * forward (src/nn/trace.ts, rows in models/shapes.ts) without a GPU. Parameters are counted as torchvision counts them (weights,
 * biases, BN gamma/beta; no alpha, no running statistics), so ResNet-18 gives 11,689,512.
 *
 * @example
 *   const s = summarizeModel('resnet18');
 *   s.totals.params; // 11689512
 *   console.log(formatSummary(s));
 */
import { describeModel, defaultDataShape, type DataShape } from './index.js';
import type { LayerInfo } from './shapes.js';

export interface ModelSummary {
  model: string;
  args: Record<string, unknown>;
  /** One image: [C, H, W]. */
  input: number[];
  numClasses: number;
  layers: LayerInfo[];
  totals: { params: number; macs: number; layers: number };
}

/** Summary of `name` for `data` (missing fields from the network's usual data shape). */
export function summarizeModel(name: string, args: Record<string, unknown> = {}, data: Partial<DataShape> = {}): ModelSummary {
  const d: DataShape = { ...defaultDataShape(name), ...Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined)) };
  const layers = describeModel(name, args, d);
  const weighted = layers.filter((l) => l.kind === 'conv' || l.kind === 'dwconv' || l.kind === 'linear');
  return {
    model: name,
    args,
    input: [d.inChannels, d.imageSize, d.imageSize],
    numClasses: d.numClasses,
    layers,
    totals: {
      params: layers.reduce((s, l) => s + l.params, 0),
      macs: layers.reduce((s, l) => s + l.macs, 0),
      layers: weighted.length,
    },
  };
}

const group = (n: number): string => n.toLocaleString('en-US');
const si = (n: number): string => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} G` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(n));

/** A table of the summary for the terminal. */
export function formatSummary(s: ModelSummary): string {
  const nameW = Math.max(5, ...s.layers.map((l) => l.name.length));
  const head = `${'layer'.padEnd(nameW)}  ${'type'.padEnd(7)} ${'detail'.padEnd(14)} ${'output'.padEnd(16)} ${'params'.padStart(12)} ${'MACs'.padStart(15)}`;
  const rows = s.layers.map(
    (l) =>
      `${l.name.padEnd(nameW)}  ${l.kind.padEnd(7)} ${l.detail.padEnd(14)} ${`[${l.outShape.join(', ')}]`.padEnd(16)} ${(l.params ? group(l.params) : '-').padStart(12)} ${(l.macs ? group(l.macs) : '-').padStart(15)}`,
  );
  const args = Object.keys(s.args).length ? ` ${JSON.stringify(s.args)}` : '';
  return [
    `${s.model}${args}: input [${s.input.join(', ')}], ${s.numClasses} classes`,
    head,
    '-'.repeat(head.length),
    ...rows,
    '-'.repeat(head.length),
    `${s.totals.layers} conv/linear layers; parameters ${group(s.totals.params)} (${si(s.totals.params)}); MACs per image ${group(s.totals.macs)} (${si(s.totals.macs)})`,
    'parameters: weights, biases, BN gamma/beta (as torchvision counts them; not alpha or running statistics)',
  ].join('\n');
}
