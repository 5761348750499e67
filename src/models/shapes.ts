/**
 * Pure architecture descriptions shared by the networks and `f8net model summary`: a network
 * builds its layers from ConvDef/LinearDef values, and walks the same values with a ShapeWalker
 * to list output shapes, parameter counts and multiply-accumulates without a GPU.
 *
 * Parameters counted: conv and linear weights, biases, BN affine gamma/beta (as torchvision's
 * `sum(p.numel() for p in model.parameters())`); not the F8Net clipping levels (alpha) and not
 * the running statistics. MACs: one per weight use per output element (BN folds away).
 *
 * @example
 *   const w = new ShapeWalker([3, 224, 224]);
 *   w.conv('conv1', { inChannels: 3, outChannels: 64, kernel: 7, stride: 2, padding: 3 });
 *   w.rows[0]; // { name: 'conv1', kind: 'conv', outShape: [64, 112, 112], params: 9536, macs: 118013952, ... }
 */
import { F8Error } from '../runtime/errors.js';

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

/** Tracks the shape of one image through a network and records a row per layer. */
export class ShapeWalker {
  readonly rows: LayerInfo[] = [];
  shape: number[];

  constructor(input: number[]) {
    this.shape = [...input];
  }

  /** A conv (with BN unless `bn` is false, then with a bias) reading `from` (default: the current shape). */
  conv(name: string, d: ConvDef, opts: { bn?: boolean; from?: number[] } = {}): number[] {
    const x = opts.from ?? this.shape;
    const [C, H, W] = x;
    const s = d.stride ?? 1;
    const p = d.padding ?? 0;
    const g = d.groups ?? 1;
    if (x.length !== 3 || C !== d.inChannels) {
      throw new F8Error('SHAPE_MISMATCH', `${name}: expects ${d.inChannels} input channels, gets [${x.join(', ')}]`);
    }
    const OH = Math.floor((H + 2 * p - d.kernel) / s) + 1;
    const OW = Math.floor((W + 2 * p - d.kernel) / s) + 1;
    if (OH < 1 || OW < 1) {
      throw new F8Error('BAD_CONFIG', `${name}: input ${H}x${W} is too small for a ${d.kernel}x${d.kernel} kernel with stride ${s} and padding ${p} (use a larger image_size)`);
    }
    const perOut = (C / g) * d.kernel * d.kernel;
    const out = [d.outChannels, OH, OW];
    const bnOrBias = opts.bn === false ? d.outChannels : 2 * d.outChannels;
    const dw = g > 1 && g === C;
    this.rows.push({
      name,
      kind: dw ? 'dwconv' : 'conv',
      outShape: out,
      params: d.outChannels * perOut + bnOrBias,
      macs: d.outChannels * OH * OW * perOut,
      detail: `${d.kernel}x${d.kernel}${s > 1 ? ` s${s}` : ''}${g > 1 ? ` g${g}` : ''}${opts.bn === false ? ' +bias' : ' +BN'}`,
    });
    this.shape = out;
    return out;
  }

  linear(name: string, d: LinearDef): number[] {
    const x = this.shape;
    if (x.length !== 1 || x[0] !== d.inFeatures) throw new F8Error('SHAPE_MISMATCH', `${name}: expects ${d.inFeatures} features, gets [${x.join(', ')}]`);
    this.rows.push({ name, kind: 'linear', outShape: [d.outFeatures], params: d.outFeatures * (d.inFeatures + 1), macs: d.outFeatures * d.inFeatures, detail: '+bias' });
    this.shape = [d.outFeatures];
    return this.shape;
  }

  maxPool(name: string, kernel: number, stride: number, padding: number): number[] {
    const [C, H, W] = this.shape;
    const OH = Math.floor((H + 2 * padding - kernel) / stride) + 1;
    const OW = Math.floor((W + 2 * padding - kernel) / stride) + 1;
    if (OH < 1 || OW < 1) throw new F8Error('BAD_CONFIG', `${name}: input ${H}x${W} is too small for max pooling ${kernel}x${kernel} (use a larger image_size)`);
    this.shape = [C, OH, OW];
    this.rows.push({ name, kind: 'maxpool', outShape: this.shape, params: 0, macs: 0, detail: `${kernel}x${kernel} s${stride}` });
    return this.shape;
  }

  /** ReLU and global average pooling: [C, H, W] -> [C]. */
  globalAvgPool(name: string): number[] {
    const [C, H, W] = this.shape;
    this.shape = [C];
    this.rows.push({ name, kind: 'avgpool', outShape: this.shape, params: 0, macs: 0, detail: `global ${H}x${W}` });
    return this.shape;
  }

  /** The residual add of a block: both operands must have the current shape. */
  add(name: string, other: number[]): number[] {
    if (other.length !== this.shape.length || other.some((d, i) => d !== this.shape[i])) {
      throw new F8Error('SHAPE_MISMATCH', `${name}: residual operands [${this.shape.join(', ')}] and [${other.join(', ')}] differ`);
    }
    this.rows.push({ name, kind: 'add', outShape: this.shape, params: 0, macs: 0, detail: 'residual' });
    return this.shape;
  }
}
