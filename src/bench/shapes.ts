/**
 * Layer shapes of the zoo for the benchmark rows: the convolutions of ResNet-18, ResNet-20 and
 * MobileNetV2 from describeModel (models/index.ts), with their input shapes recovered from the
 * summary (C/groups from the parameter count, H from the output size and stride; every zoo conv
 * pads (k - 1) / 2), deduplicated by shape, and a pick of them per model (the full zoo has ~50
 * distinct convolutions; the suite takes the 3x3 stride-1 convolution of each ResNet stage, the
 * ResNet-18 stem, and MobileNetV2 pointwise and depthwise layers spread over the network).
 *
 * @example
 *   zooConvs(false).map((c) => c.id); // ['resnet20.layer1.0.conv1', ...]
 */
import { describeModel, defaultDataShape, type DataShape } from '../models/index.js';
import type { LayerInfo } from '../models/shapes.js';
import { F8Error } from '../runtime/errors.js';

export interface ZooConv {
  /** model.layer of the first layer with this shape. */
  id: string;
  model: string;
  layer: string;
  /** [N, C, H, W] */
  x: [number, number, number, number];
  /** [O, C/groups, k, k] */
  w: [number, number, number, number];
  stride: number;
  padding: number;
  groups: number;
  depthwise: boolean;
}

export interface ZooPick {
  model: string;
  args: Record<string, unknown>;
  imageSize: number;
  batch: number;
  /** 3x3 stride-1 convolutions (not the stem), spread over the network. */
  body: number;
  stem: boolean;
  pointwise: number;
  depthwise: number;
}

/** The suite's picks: full runs use the usual image sizes, quick runs tiny ones. */
export function zooPicks(quick: boolean): ZooPick[] {
  if (quick) {
    return [
      { model: 'resnet20', args: {}, imageSize: 8, batch: 2, body: 1, stem: false, pointwise: 0, depthwise: 0 },
      { model: 'resnet18', args: {}, imageSize: 32, batch: 1, body: 1, stem: false, pointwise: 0, depthwise: 0 },
      { model: 'mobilenet_v2', args: {}, imageSize: 32, batch: 1, body: 0, stem: false, pointwise: 1, depthwise: 1 },
    ];
  }
  return [
    { model: 'resnet20', args: {}, imageSize: 32, batch: 16, body: 3, stem: false, pointwise: 0, depthwise: 0 },
    { model: 'resnet18', args: {}, imageSize: 224, batch: 2, body: 4, stem: true, pointwise: 0, depthwise: 0 },
    { model: 'mobilenet_v2', args: {}, imageSize: 224, batch: 2, body: 0, stem: false, pointwise: 2, depthwise: 4 },
  ];
}

/** The convolution of a summary row reading [C, H, W] images, batch N. */
export function convOf(model: string, l: LayerInfo, N: number): ZooConv {
  const m = /^(\d+)x(\d+)(?: s(\d+))?(?: g(\d+))?/.exec(l.detail);
  if (!m || (l.kind !== 'conv' && l.kind !== 'dwconv')) throw new F8Error('BAD_INPUT', `bench: ${model}.${l.name} is not a convolution (${l.kind} ${l.detail})`);
  const k = Number(m[1]);
  const s = Number(m[3] ?? 1);
  const g = Number(m[4] ?? 1);
  const [O, OH, OW] = l.outShape;
  const bnOrBias = l.detail.includes('+bias') ? O : 2 * O;
  const cg = (l.params - bnOrBias) / (O * k * k);
  const C = cg * g;
  return {
    id: `${model}.${l.name}`,
    model,
    layer: l.name,
    x: [N, C, OH * s, OW * s],
    w: [O, cg, k, k],
    stride: s,
    padding: (k - 1) / 2,
    groups: g,
    depthwise: g > 1 && g === C && O === C,
  };
}

const key = (c: ZooConv): string => JSON.stringify([c.x.slice(1), c.w, c.stride, c.groups]);

/** n items spread evenly over a list (first and last included when n > 1). */
function spread<T>(a: T[], n: number): T[] {
  if (n >= a.length) return a;
  if (n <= 0) return [];
  if (n === 1) return [a[0]];
  return Array.from({ length: n }, (_, i) => a[Math.round((i * (a.length - 1)) / (n - 1))]);
}

/** The picked convolutions of every model, distinct shapes only. */
export function zooConvs(quick: boolean): ZooConv[] {
  const out: ZooConv[] = [];
  for (const p of zooPicks(quick)) {
    const data: DataShape = { ...defaultDataShape(p.model), imageSize: p.imageSize };
    const seen = new Set<string>();
    const convs = describeModel(p.model, p.args, data)
      .filter((l) => l.kind === 'conv' || l.kind === 'dwconv')
      .map((l) => convOf(p.model, l, p.batch))
      .filter((c) => !seen.has(key(c)) && !!seen.add(key(c)));
    const stem = convs[0];
    const body = convs.filter((c) => c !== stem && c.w[2] === 3 && c.stride === 1 && c.groups === 1);
    const pw = convs.filter((c) => c !== stem && c.w[2] === 1 && c.groups === 1 && c.stride === 1);
    const dw = convs.filter((c) => c.depthwise);
    out.push(...(p.stem ? [stem] : []), ...spread(body, p.body), ...spread(pw, p.pointwise), ...spread(dw, p.depthwise));
  }
  return out;
}

/** Output shape of one image of a layer of a picked model (the first row whose name matches). */
export function zooLayer(quick: boolean, model: string, match: (l: LayerInfo) => boolean): { layer: LayerInfo; batch: number; input: number[] } {
  const p = zooPicks(quick).find((q) => q.model === model);
  if (!p) throw new F8Error('BAD_INPUT', `bench: model ${model} is not in the suite`);
  const data: DataShape = { ...defaultDataShape(p.model), imageSize: p.imageSize };
  const rows = describeModel(p.model, p.args, data);
  const i = rows.findIndex(match);
  if (i < 0) throw new F8Error('BAD_INPUT', `bench: no layer of ${model} matches`);
  const input = i === 0 ? [data.inChannels, data.imageSize, data.imageSize] : rows[i - 1].outShape;
  return { layer: rows[i], batch: p.batch, input };
}
