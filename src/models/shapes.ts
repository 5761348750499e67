/**
 * The layers of a network as `f8net model summary` lists them, read from a shape trace of its
 * forward (src/nn/trace.ts): one row per conv, linear, max pool, global pool and residual add,
 * with the output shape of one image, parameters and multiply-accumulates. Also the plain
 * layer descriptions (ConvDef, LinearDef) the networks build their layers from.
 *
 * Parameters counted: conv and linear weights, biases, BN affine gamma/beta (as torchvision's
 * `sum(p.numel() for p in model.parameters())`); not the F8Net clipping levels (alpha) and not
 * the running statistics. MACs: one per weight use per output element (BN folds away).
 *
 * @example
 *   const { model, trace } = traceShapes(() => buildModel('resnet18', {}, data, floatQuant(), new Rng(1)), [1, 3, 224, 224]);
 *   layerRows(model, trace)[0]; // { name: 'conv1', kind: 'conv', outShape: [64, 112, 112], params: 9536, macs: 118013952, ... }
 */
import type { Module } from '../nn/module.js';
import { QConv2d, QLinear } from '../nn/qlayers.js';
import type { ForwardTrace } from '../nn/trace.js';

export interface ConvDef {
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride?: number;
  padding?: number;
  groups?: number;
}

export interface LinearDef {
  inFeatures: number;
  outFeatures: number;
}

export type LayerKind = 'conv' | 'dwconv' | 'linear' | 'maxpool' | 'avgpool' | 'add';

export interface LayerInfo {
  /** Module path of the layer (torchvision-like), or of the block for an add. */
  name: string;
  kind: LayerKind;
  /** Output shape of one image: [C, H, W], or [K] after pooling / linear. */
  outShape: number[];
  params: number;
  macs: number;
  /** Kernel, stride, groups etc. for people. */
  detail: string;
}

/**
 * torchvision's `_make_divisible`: rounds `v` to the nearest multiple of `divisor` (at least
 * `divisor`), going up one step when rounding down would lose more than 10%.
 * @example makeDivisible(32 * 0.25, 8) // 8; makeDivisible(24 * 0.5, 8) // 16
 */
export function makeDivisible(v: number, divisor = 8, minValue = divisor): number {
  let n = Math.max(minValue, Math.floor(Math.trunc(v + divisor / 2) / divisor) * divisor);
  if (n < 0.9 * v) n += divisor;
  return n;
}

/** The summary rows of a traced network (the trace of traceShapes or traceForward). */
export function layerRows(model: Module, trace: ForwardTrace): LayerInfo[] {
  const paths = new Map(model.namedModules().map(([p, m]) => [m, p]));
  const rows: LayerInfo[] = [];
  const row = (name: string, kind: LayerKind, outShape: number[], params: number, macs: number, detail: string) => rows.push({ name, kind, outShape: [...outShape], params, macs, detail });
  for (const st of trace.steps) {
    if (st.op === 'layer') {
      const L = st.layer;
      const name = paths.get(L) ?? L.layerName;
      const out = trace.shapes[st.out];
      if (L instanceof QConv2d) {
        const [kh, kw] = L.weight.shape.slice(2);
        const s = typeof L.conv.stride === 'number' ? L.conv.stride : L.conv.stride[0];
        const g = L.conv.groups;
        const C = trace.shapes[st.input][0];
        const params = L.weight.size + (L.gamma?.size ?? 0) + (L.beta?.size ?? 0) + (L.bias?.size ?? 0);
        const detail = `${kh === kw ? `${kh}x${kh}` : `${kh}x${kw}`}${s > 1 ? ` s${s}` : ''}${g > 1 ? ` g${g}` : ''}${L.hasBn ? ' +BN' : ' +bias'}`;
        row(name, g > 1 && g === C ? 'dwconv' : 'conv', out, params, L.weight.size * out[1] * out[2], detail);
      } else if (L instanceof QLinear) {
        row(name, 'linear', out, L.weight.size + L.bias.size, L.weight.size, '+bias');
      }
    } else if (st.op === 'maxpool') {
      row(st.name, 'maxpool', trace.shapes[st.out], 0, 0, `${st.kernel}x${st.kernel} s${st.stride}`);
    } else if (st.op === 'globalpool') {
      const [, H, W] = trace.shapes[st.input];
      row('avgpool', 'avgpool', trace.shapes[st.out], 0, 0, `global ${H}x${W}`);
    } else if (st.op === 'add') {
      row(st.name, 'add', trace.shapes[st.out], 0, 0, 'residual');
    }
  }
  return rows;
}
