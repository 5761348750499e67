/**
 * MobileNetV2 (Sandler et al. 2018) as F8Net layers, laid out as torchvision's mobilenet_v2:
 * a 3x3/2 stem, 17 inverted residual blocks (1x1 expand, 3x3 depthwise, 1x1 linear projection),
 * a 1x1 conv to 1280 channels, ReLU, global average pooling and the classifier. Channel counts
 * follow torchvision: c * width_mult rounded by _make_divisible(., 8), the last conv
 * 1280 * max(1, width_mult), the hidden width round(in * t).
 *
 * Module paths -> torchvision names (our QConv2d holds conv and BN: weight, gamma = bn.weight,
 * beta = bn.bias, running_mean, running_var):
 *   features.0             features.0.0 + features.0.1                  stem, reads the input
 *   features.1.conv.0      features.1.conv.0.0 + features.1.conv.0.1    depthwise (t = 1: no expand)
 *   features.1.conv.1      features.1.conv.1 + features.1.conv.2        projection
 *   features.N.conv.0      features.N.conv.0.0 + features.N.conv.0.1    expand 1x1   (N = 2..17)
 *   features.N.conv.1      features.N.conv.1.0 + features.N.conv.1.1    depthwise 3x3
 *   features.N.conv.2      features.N.conv.2 + features.N.conv.3        projection 1x1
 *   features.18            features.18.0 + features.18.1                1x1 to 1280
 *   classifier             classifier.1                                 (no dropout here)
 *
 * Activations: torchvision's ReLU6 is the F8Net layer's input clip (PACT alpha) in fixed point;
 * the float stage runs with clipping off (F8NET.md §3), i.e. ReLU. The projection is linear, so
 * the next block's first layer (and features.18) reads a signed input; a stride-1 block with
 * in == out channels adds its input (identity shortcut, src/nn/residual.ts: rescaled to the
 * next block's units in fixed point, alpha passed on to the next block's first layer).
 *
 * @example
 *   const m = new MobileNetV2({ inChannels: 3, numClasses: 1000, imageSize: 224 }, 1.0, fixedQuant(), new Rng(1));
 */
import { globalPoolFor } from '../nn/qpool.js';
import { Module, Sequential } from '../nn/module.js';
import { QConv2d, QLinear, type QLayer, type QuantConfig } from '../nn/qlayers.js';
import { identityShortcut, wireBlocks, type ResidualBlock } from '../nn/residual.js';
import { relu, residualAdd } from '../nn/traced.js';
import type { Tensor } from '../tensor.js';
import type { Rng } from '../runtime/rng.js';
import { makeDivisible, type ConvDef, type LinearDef } from './shapes.js';
import type { DataShape } from './index.js';

/** t (expansion), c (output channels), n (blocks), s (stride of the first block). */
const SETTING: [number, number, number, number][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

interface BlockPlan {
  name: string;
  /** (expand,) depthwise, projection. */
  convs: ConvDef[];
  residual: boolean;
  /** Whether the block input is signed (the previous projection is linear; the stem's output is not). */
  inputSigned: boolean;
}

interface MobileNetV2Plan {
  stem: ConvDef;
  blocks: BlockPlan[];
  last: ConvDef;
  classifier: LinearDef;
}

/** The layers of MobileNetV2 for a data shape and width multiplier (pure: no GPU). */
export function mobileNetV2Plan(data: DataShape, widthMult = 1): MobileNetV2Plan {
  let inp = makeDivisible(32 * widthMult);
  const stem: ConvDef = { inChannels: data.inChannels, outChannels: inp, kernel: 3, stride: 2, padding: 1 };
  const blocks: BlockPlan[] = [];
  for (const [t, c, n, s] of SETTING) {
    const out = makeDivisible(c * widthMult);
    for (let i = 0; i < n; i++) {
      const stride = i === 0 ? s : 1;
      const hidden = Math.round(inp * t);
      const convs: ConvDef[] = [];
      if (t !== 1) convs.push({ inChannels: inp, outChannels: hidden, kernel: 1 });
      convs.push({ inChannels: hidden, outChannels: hidden, kernel: 3, stride, padding: 1, groups: hidden });
      convs.push({ inChannels: hidden, outChannels: out, kernel: 1 });
      blocks.push({ name: `features.${blocks.length + 1}`, convs, residual: stride === 1 && inp === out, inputSigned: blocks.length > 0 });
      inp = out;
    }
  }
  const lastCh = makeDivisible(1280 * Math.max(1, widthMult));
  return {
    stem,
    blocks,
    last: { inChannels: inp, outChannels: lastCh, kernel: 1 },
    classifier: { inFeatures: lastCh, outFeatures: data.numClasses },
  };
}

/** An inverted residual block; with `residual`, out = conv(x) + x (see residual.ts). */
export class InvertedResidual extends Module implements ResidualBlock {
  readonly blockName: string;
  readonly conv: Sequential;
  readonly layers: QConv2d[];
  readonly identity: boolean;
  next: QLayer | null = null;

  constructor(plan: BlockPlan, quant: QuantConfig, rng: Rng) {
    super();
    this.blockName = plan.name;
    this.identity = plan.residual;
    this.layers = plan.convs.map(
      (d, i) =>
        new QConv2d(`${plan.name}.conv.${i}`, d.inChannels, d.outChannels, d.kernel, {
          stride: d.stride,
          padding: d.padding,
          groups: d.groups,
          inputSigned: i === 0 ? plan.inputSigned : false,
          quant,
          rng,
        }),
    );
    this.conv = this.child('conv', new Sequential(this.layers));
    for (let i = 0; i + 1 < this.layers.length; i++) this.layers[i].following = this.layers[i + 1];
  }

  get readers(): QLayer[] {
    return [this.layers[0]];
  }

  get exits(): QLayer[] {
    return [this.layers[this.layers.length - 1]];
  }

  forward(x: Tensor): Tensor {
    const y = this.conv.forward(x);
    return this.identity ? residualAdd(y, identityShortcut(x, this.layers[0], this.next!), this.blockName) : y;
  }
}

export class MobileNetV2 extends Module {
  readonly features: Sequential;
  readonly stem: QConv2d;
  readonly blocks: InvertedResidual[];
  readonly last: QConv2d;
  readonly classifier: QLinear;

  constructor(data: DataShape, widthMult: number, quant: QuantConfig, rng: Rng) {
    super();
    const p = mobileNetV2Plan(data, widthMult);
    const s = p.stem;
    this.stem = new QConv2d('features.0', s.inChannels, s.outChannels, s.kernel, { stride: s.stride, padding: s.padding, inputSigned: true, quant, rng, head: true });
    this.blocks = p.blocks.map((b) => new InvertedResidual(b, quant, rng));
    const l = p.last;
    this.last = new QConv2d(`features.${p.blocks.length + 1}`, l.inChannels, l.outChannels, 1, { inputSigned: true, quant, rng });
    this.features = this.child('features', new Sequential([this.stem, ...this.blocks, this.last]));
    this.classifier = this.child('classifier', new QLinear('classifier', p.classifier.inFeatures, p.classifier.outFeatures, { inputSigned: false, quant, rng }));
    wireBlocks(this.stem, this.blocks, this.last);
    this.last.following = this.classifier;
  }

  forward(x: Tensor): Tensor {
    // features.forward without the Sequential: the paper's head is conv, ReLU (the first block's
    // batch length comes from rectified values); the blocks end linear, the last conv in a ReLU.
    let y = relu(this.stem.forward(x));
    for (const b of this.blocks) y = b.forward(y);
    return this.classifier.forward(globalPoolFor(relu(this.last.forward(y)), this.classifier));
  }
}
