/**
 * The default small CNN (f8net's built-in model): three conv+BN layers with max pooling, a ReLU,
 * global average pooling and a linear classifier. Every layer is an F8Net layer, so the same
 * definition trains in float and in fixed point.
 *
 *   conv1 (signed input)  C -> w,   3x3 pad 1, maxpool 2
 *   conv2 (after ReLU)    w -> 2w,  3x3 pad 1, maxpool 2
 *   conv3 (after ReLU)   2w -> 4w,  3x3 pad 1, ReLU, global average pool
 *   fc    (after ReLU)   4w -> classes
 *
 * @example
 *   const m = new SmallCnn({ inChannels: 1, numClasses: 10, imageSize: 28, width: 32 }, floatQuant(), new Rng(1));
 */
import { globalPoolFor } from '../nn/qpool.js';
import { Module } from '../nn/module.js';
import { QConv2d, QLinear, type QuantConfig } from '../nn/qlayers.js';
import { maxPool, relu } from '../nn/traced.js';
import type { Tensor } from '../tensor.js';
import type { Rng } from '../runtime/rng.js';

export interface SmallCnnArgs {
  inChannels: number;
  numClasses: number;
  imageSize: number;
  /** Channels of the first layer (default 32); later layers use 2x and 4x. */
  width?: number;
}

export class SmallCnn extends Module {
  readonly conv1: QConv2d;
  readonly conv2: QConv2d;
  readonly conv3: QConv2d;
  readonly fc: QLinear;

  constructor(args: SmallCnnArgs, quant: QuantConfig, rng: Rng) {
    super();
    const w = args.width ?? 32;
    this.conv1 = this.child('conv1', new QConv2d('conv1', args.inChannels, w, 3, { padding: 1, inputSigned: true, quant, rng, head: true }));
    this.conv2 = this.child('conv2', new QConv2d('conv2', w, 2 * w, 3, { padding: 1, inputSigned: false, quant, rng }));
    this.conv3 = this.child('conv3', new QConv2d('conv3', 2 * w, 4 * w, 3, { padding: 1, inputSigned: false, quant, rng }));
    this.fc = this.child('fc', new QLinear('fc', 4 * w, args.numClasses, { inputSigned: false, quant, rng }));
    this.conv1.following = this.conv2;
    this.conv2.following = this.conv3;
    this.conv3.following = this.fc;
  }

  forward(x: Tensor): Tensor {
    let y = maxPool(this.conv1.forward(x), { kernel: 2, name: 'pool1' });
    y = maxPool(this.conv2.forward(y), { kernel: 2, name: 'pool2' });
    return this.fc.forward(globalPoolFor(relu(this.conv3.forward(y)), this.fc));
  }
}
