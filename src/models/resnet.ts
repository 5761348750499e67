/**
 * ResNets with basic and bottleneck blocks, in two forms, as F8Net layers (float or fixed point
 * from the same definition: the QuantConfig decides).
 *  - ImageNet form (torchvision, "b" variant: the stride sits on the 3x3 conv of a bottleneck):
 *    7x7/2 stem, 3x3/2 max pool, 4 stages of 64/128/256/512 (x4 for bottlenecks).
 *    resnet18 [2,2,2,2] basic, resnet34 [3,4,6,3] basic, resnet50 [3,4,6,3] bottleneck.
 *  - CIFAR form (He et al. 2016): 3x3 stem, no max pool, 3 stages of 16/32/64 basic blocks,
 *    (depth - 2) / 6 per stage: resnet20, resnet32, resnet56. Where the shape changes the
 *    shortcut is a 1x1 conv + BN projection (the paper's option B), not the parameter-free
 *    zero-padding of option A, so that every shortcut is an F8Net layer.
 *
 * Module paths -> torchvision names (our QConv2d holds conv and BN: weight, gamma = bn.weight,
 * beta = bn.bias, running_mean, running_var; plus alpha, input_fraclen(_run), weight_fraclen):
 *   conv1                    conv1 + bn1
 *   layerS.B.conv1           layerS.B.conv1 + layerS.B.bn1
 *   layerS.B.conv2           layerS.B.conv2 + layerS.B.bn2
 *   layerS.B.conv3           layerS.B.conv3 + layerS.B.bn3        (bottleneck)
 *   layerS.B.downsample      layerS.B.downsample.0 + layerS.B.downsample.1
 *   fc                       fc
 *
 * F8Net relations (src/nn/residual.ts): conv1 -> conv2 (-> conv3) -> next block's conv1; the
 * downsample shares conv1's alpha (model argument alpha_sharing: paper gives the first block's
 * downsample of ResNet-50 and fc their own, as the paper's code) and also feeds the next block's conv1; identity blocks pass
 * their alpha on to the next block's readers; the last block feeds fc (after ReLU and global
 * average pooling). conv1 of the network reads the network input (signed).
 *
 * @example
 *   const m = new ResNet(RESNETS.resnet20, { inChannels: 3, numClasses: 10, imageSize: 32 }, floatQuant(), new Rng(1));
 */
import { globalPoolFor } from '../nn/qpool.js';
import { Module, Sequential } from '../nn/module.js';
import { QConv2d, QLinear, type QLayer, type QuantConfig } from '../nn/qlayers.js';
import { identityShortcut, wireBlocks, type ResidualBlock, type AlphaSharing } from '../nn/residual.js';
import { maxPool, relu, residualAdd } from '../nn/traced.js';
import type { Tensor } from '../tensor.js';
import type { Rng } from '../runtime/rng.js';
import type { ConvDef, LinearDef } from './shapes.js';
import type { DataShape } from './index.js';

export interface ResNetSpec {
  form: 'imagenet' | 'cifar';
  block: 'basic' | 'bottleneck';
  /** Blocks per stage. */
  depths: number[];
  /** Width of each stage (a bottleneck's output is 4x). */
  widths: number[];
}

const cifar = (depth: number): ResNetSpec => ({ form: 'cifar', block: 'basic', depths: Array(3).fill((depth - 2) / 6), widths: [16, 32, 64] });
const IMAGENET_WIDTHS = [64, 128, 256, 512];

export const RESNETS = {
  resnet18: { form: 'imagenet', block: 'basic', depths: [2, 2, 2, 2], widths: IMAGENET_WIDTHS },
  resnet34: { form: 'imagenet', block: 'basic', depths: [3, 4, 6, 3], widths: IMAGENET_WIDTHS },
  resnet50: { form: 'imagenet', block: 'bottleneck', depths: [3, 4, 6, 3], widths: IMAGENET_WIDTHS },
  resnet20: cifar(20),
  resnet32: cifar(32),
  resnet56: cifar(56),
} satisfies Record<string, ResNetSpec>;

interface BlockPlan {
  name: string;
  /** conv1, conv2 (, conv3): the body, in order. */
  convs: ConvDef[];
  downsample: ConvDef | null;
}

interface ResNetPlan {
  stem: ConvDef;
  maxPool: boolean;
  stages: BlockPlan[][];
  fc: LinearDef;
}

/** The layers of a ResNet for a data shape (pure: no GPU). */
export function resnetPlan(spec: ResNetSpec, data: DataShape): ResNetPlan {
  const imagenet = spec.form === 'imagenet';
  const expansion = spec.block === 'bottleneck' ? 4 : 1;
  const stem: ConvDef = imagenet
    ? { inChannels: data.inChannels, outChannels: 64, kernel: 7, stride: 2, padding: 3 }
    : { inChannels: data.inChannels, outChannels: spec.widths[0], kernel: 3, stride: 1, padding: 1 };
  let inp = stem.outChannels;
  const stages = spec.depths.map((n, s) => {
    const w = spec.widths[s];
    const out = w * expansion;
    return Array.from({ length: n }, (_, b): BlockPlan => {
      const stride = b === 0 && s > 0 ? 2 : 1;
      const convs: ConvDef[] =
        spec.block === 'basic'
          ? [
              { inChannels: inp, outChannels: w, kernel: 3, stride, padding: 1 },
              { inChannels: w, outChannels: w, kernel: 3, padding: 1 },
            ]
          : [
              { inChannels: inp, outChannels: w, kernel: 1 },
              { inChannels: w, outChannels: w, kernel: 3, stride, padding: 1 },
              { inChannels: w, outChannels: out, kernel: 1 },
            ];
      const downsample = stride !== 1 || inp !== out ? { inChannels: inp, outChannels: out, kernel: 1, stride } : null;
      inp = out;
      return { name: `layer${s + 1}.${b}`, convs, downsample };
    });
  });
  return { stem, maxPool: imagenet, stages, fc: { inFeatures: inp, outFeatures: data.numClasses } };
}

const CONV_NAMES = ['conv1', 'conv2', 'conv3'];

/** A basic or bottleneck block: out = body(x) + shortcut(x), before the ReLU (see residual.ts). */
export class ResNetBlock extends Module implements ResidualBlock {
  readonly blockName: string;
  readonly convs: QConv2d[];
  readonly downsample: QConv2d | null;
  next: QLayer | null = null;

  constructor(plan: BlockPlan, quant: QuantConfig, rng: Rng) {
    super();
    this.blockName = plan.name;
    this.convs = plan.convs.map((d, i) => this.child(CONV_NAMES[i], conv(`${plan.name}.${CONV_NAMES[i]}`, d, quant, rng)));
    this.downsample = plan.downsample ? this.child('downsample', conv(`${plan.name}.downsample`, plan.downsample, quant, rng)) : null;
    for (let i = 0; i + 1 < this.convs.length; i++) this.convs[i].following = this.convs[i + 1];
  }

  get readers(): QLayer[] {
    return this.downsample ? [this.convs[0], this.downsample] : [this.convs[0]];
  }

  get exits(): QLayer[] {
    const last = this.convs[this.convs.length - 1];
    return this.downsample ? [last, this.downsample] : [last];
  }

  get identity(): boolean {
    return !this.downsample;
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (const c of this.convs) y = c.forward(y);
    const s = this.downsample ? this.downsample.forward(x) : identityShortcut(x, this.convs[0], this.next!);
    // The paper's block ends in a ReLU (post_relu): its readers take their batch length from the
    // rectified sum (one fl step apart from the raw sum's in test/golden/layers.json's block).
    return relu(residualAdd(y, s, this.blockName));
  }
}

/** Every conv reads a ReLU output, except the network's first. */
function conv(name: string, d: ConvDef, quant: QuantConfig, rng: Rng, inputSigned = false, head = false): QConv2d {
  return new QConv2d(name, d.inChannels, d.outChannels, d.kernel, { stride: d.stride, padding: d.padding, groups: d.groups, inputSigned, quant, rng, head });
}

export class ResNet extends Module {
  readonly conv1: QConv2d;
  readonly stages: Sequential[];
  readonly blocks: ResNetBlock[];
  readonly fc: QLinear;
  private readonly maxPool: boolean;

  /** alphaSharing: see src/nn/residual.ts AlphaSharing ('f8net', F8NET.md §4; 'paper': the paper's fix_resnet.py). */
  constructor(spec: ResNetSpec, data: DataShape, quant: QuantConfig, rng: Rng, alphaSharing: AlphaSharing = 'f8net') {
    super();
    const p = resnetPlan(spec, data);
    this.maxPool = p.maxPool;
    this.conv1 = this.child('conv1', conv('conv1', p.stem, quant, rng, true, true));
    this.stages = p.stages.map((st, s) => this.child(`layer${s + 1}`, new Sequential(st.map((b) => new ResNetBlock(b, quant, rng)))));
    this.blocks = this.stages.flatMap((s) => s.layers as ResNetBlock[]);
    this.fc = this.child('fc', new QLinear('fc', p.fc.inFeatures, p.fc.outFeatures, { inputSigned: false, quant, rng }));
    wireBlocks(this.conv1, this.blocks, this.fc, { alphaSharing });
  }

  forward(x: Tensor): Tensor {
    // The paper's head is conv, ReLU, max pool: the first block's readers see rectified values.
    let y = relu(this.conv1.forward(x));
    // Max pooling commutes with the ReLU (and with the positive scaling of fixed point): the
    // ReLU is left to the readers of the pooled tensor.
    if (this.maxPool) y = maxPool(y, { kernel: 3, stride: 2, padding: 1 });
    for (const s of this.stages) y = s.forward(y);
    return this.fc.forward(globalPoolFor(relu(y), this.fc));
  }
}
