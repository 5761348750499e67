/**
 * MobileNetV1 (Howard et al. 2017) as F8Net layers: a 3x3/2 stem and 13 depthwise-separable
 * blocks (3x3 depthwise + BN + ReLU, 1x1 pointwise + BN + ReLU), global average pooling and the
 * classifier. Channels are c * width_mult rounded as torchvision's _make_divisible(., 8) (the
 * same as int(c * width_mult) for the usual multipliers 1, 0.75, 0.5, 0.25).
 *
 * torchvision has no MobileNetV1; the paths follow our MobileNetV2 (QConv2d = conv + BN):
 *   features.0            stem conv 3x3/2 + BN                 reads the network input (signed)
 *   features.N.dw         depthwise 3x3 conv + BN              (N = 1..13)
 *   features.N.pw         pointwise 1x1 conv + BN
 *   classifier            linear
 * A common PyTorch layout (`model.N` = Sequential(conv, bn, relu, conv, bn, relu)) maps as
 * model.N.0/1 -> features.N.dw, model.N.3/4 -> features.N.pw; fc -> classifier.
 *
 * No residuals: each layer's `following` is the next one; the last pointwise conv feeds the
 * classifier after ReLU and global average pooling. The float stage uses ReLU (F8Net's float
 * layer, clipping off); the fixed-point layers clip at their learned alpha.
 *
 * @example
 *   const m = new MobileNetV1({ inChannels: 3, numClasses: 1000, imageSize: 224 }, 0.5, floatQuant(), new Rng(1));
 */
import { globalPoolFor } from '../nn/qpool.js';
import { Module, Sequential } from '../nn/module.js';
import { QConv2d, QLinear, type QuantConfig } from '../nn/qlayers.js';
import { relu } from '../nn/traced.js';
import type { Tensor } from '../tensor.js';
import type { Rng } from '../runtime/rng.js';
import { makeDivisible, type ConvDef, type LinearDef } from './shapes.js';
import type { DataShape } from './index.js';

/** [output channels, stride] of the 13 depthwise-separable blocks. */
const SETTING: [number, number][] = [
  [64, 1],
  [128, 2],
  [128, 1],
  [256, 2],
  [256, 1],
  [512, 2],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [1024, 2],
  [1024, 1],
];

interface MobileNetV1Plan {
  stem: ConvDef;
  blocks: { dw: ConvDef; pw: ConvDef }[];
  classifier: LinearDef;
}

/** The layers of MobileNetV1 for a data shape and width multiplier (pure: no GPU). */
export function mobileNetV1Plan(data: DataShape, widthMult = 1): MobileNetV1Plan {
  let inp = makeDivisible(32 * widthMult);
  const stem: ConvDef = { inChannels: data.inChannels, outChannels: inp, kernel: 3, stride: 2, padding: 1 };
  const blocks = SETTING.map(([c, s]) => {
    const out = makeDivisible(c * widthMult);
    const b = {
      dw: { inChannels: inp, outChannels: inp, kernel: 3, stride: s, padding: 1, groups: inp },
      pw: { inChannels: inp, outChannels: out, kernel: 1 },
    };
    inp = out;
    return b;
  });
  return { stem, blocks, classifier: { inFeatures: inp, outFeatures: data.numClasses } };
}

const conv = (name: string, d: ConvDef, inputSigned: boolean, quant: QuantConfig, rng: Rng, head = false) =>
  new QConv2d(name, d.inChannels, d.outChannels, d.kernel, { stride: d.stride, padding: d.padding, groups: d.groups, inputSigned, quant, rng, head });

/** One depthwise-separable block: features.N.dw then features.N.pw. */
class Separable extends Module {
  readonly dw: QConv2d;
  readonly pw: QConv2d;
  constructor(name: string, b: { dw: ConvDef; pw: ConvDef }, quant: QuantConfig, rng: Rng) {
    super();
    this.dw = this.child('dw', conv(`${name}.dw`, b.dw, false, quant, rng));
    this.pw = this.child('pw', conv(`${name}.pw`, b.pw, false, quant, rng));
    this.dw.following = this.pw;
  }
  forward(x: Tensor): Tensor {
    // The paper's block is dw, pw, ReLU: the next block's batch length comes from rectified values.
    return relu(this.pw.forward(this.dw.forward(x)));
  }
}

export class MobileNetV1 extends Module {
  readonly features: Sequential;
  readonly stem: QConv2d;
  readonly blocks: Separable[];
  readonly classifier: QLinear;

  constructor(data: DataShape, widthMult: number, quant: QuantConfig, rng: Rng) {
    super();
    const p = mobileNetV1Plan(data, widthMult);
    this.stem = conv('features.0', p.stem, true, quant, rng, true);
    this.blocks = p.blocks.map((b, i) => new Separable(`features.${i + 1}`, b, quant, rng));
    this.features = this.child('features', new Sequential([this.stem, ...this.blocks]));
    this.classifier = this.child('classifier', new QLinear('classifier', p.classifier.inFeatures, p.classifier.outFeatures, { inputSigned: false, quant, rng }));
    const chain = [this.stem, ...this.blocks.flatMap((b) => [b.dw, b.pw]), this.classifier];
    for (let i = 0; i + 1 < chain.length; i++) chain[i].following = chain[i + 1];
  }

  forward(x: Tensor): Tensor {
    // features.forward without the Sequential: the paper's head is conv, ReLU.
    let y = relu(this.stem.forward(x));
    for (const b of this.blocks) y = b.forward(y);
    return this.classifier.forward(globalPoolFor(relu(y), this.classifier));
  }
}
