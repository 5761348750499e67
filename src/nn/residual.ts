/**
 * Residual connections of F8Net networks (F8NET.md §4; the integer form is §5 "Residual add").
 *
 * Units. In fixed-point mode each layer divides its output by the fix scaling of the layer that
 * reads it (`following`), so a tensor between layers is in the reader's units (real / s_in of
 * the reader). A block computes out = body(x) + shortcut(x); `out` is read by the next block's
 * first layer N (or the classifier / last conv after the final block), so both addends must be
 * in N's units:
 *  - the body's last conv and a projection shortcut are layers: both get `following = N`;
 *  - an identity shortcut carries x itself, which is in the units of the layer E that read it
 *    (this block's first layer): identityShortcut() rescales it by s_in(E) / s_in(N).
 *
 * Clipping levels. Layers that read one tensor share one alpha (the master's) and keep private
 * fractional lengths: a projection shortcut reads the block input, so it shares E's alpha. As in
 * the F8Net reference code, the chain continues through identity shortcuts: the block input
 * reaches `out` unchanged, so the layers that read `out` share E's alpha too. With one alpha,
 * s_in(E) / s_in(N) = 2^(fl_E - fl_N) exactly, which the integer export turns into the shift of
 * §5. After a projection block the chain restarts (the next block's first layer owns its alpha);
 * it also restarts where the signedness changes (MobileNetV2 at width 0.25: features.1 adds
 * its unsigned input to a signed projection), where the ratio stays a scale, not a shift.
 *
 * ReLU. A ResNet block's forward returns relu(sum), as the paper's post_relu does, so that its
 * readers' batch lengths come from rectified values; values are the same either way (an
 * unsigned reader clamps at 0), and the integer export keeps the sum (below). Otherwise the
 * ReLU belongs to whoever reads a tensor: a
 * layer with an unsigned input applies it (its quantiser in fixed mode, QLayer.floatInput in
 * float mode), and identityShortcut() applies it to the identity path, as torchvision's
 * relu(out) does. MobileNetV2's linear bottleneck passes signed values: no ReLU anywhere.
 *
 * @example
 *   // in a block's forward, after this.conv1.forward(x):
 *   const s = this.downsample ? this.downsample.forward(x) : identityShortcut(x, this.conv1, this.next);
 *   return residualAdd(body, s, this.blockName); // src/nn/traced.ts
 */
import { Tensor } from '../tensor.js';
import { activeTracer } from './trace.js';
import { F8Error } from '../runtime/errors.js';
import { relu, scaleByTensor, powAffine, pow2Diff } from '../ops/elementwise.js';
import { mulChannel } from '../ops/reduce.js';
import type { QLayer } from './qlayers.js';

/**
 * The identity operand of a residual add, in the units of `next` (the layer that reads the
 * block output): x, rectified when `entry` reads it unsigned, times s_in(entry) / s_in(next) in
 * fixed mode, differentiable through both alphas (per channel with per-channel input lengths;
 * an identity keeps its channels). It is not clipped or quantised: the integer export adds the
 * int32 block input, as the F8Net reference does. Call it after `entry.forward(x)`, so that
 * s_in(entry) is the fix scaling `entry` used for this batch (its rounded running length after
 * this step's update, F8NET.md §3); s_in(next) is the one the body's last conv also divides by
 * (`next` has not run yet: its rounded running length as it stands).
 *
 * @example identityShortcut(x, block.conv1, nextBlock.conv1)
 */
export function identityShortcut(x: Tensor, entry: QLayer, next: QLayer): Tensor {
  const t = activeTracer();
  if (!t) return shortcut(x, entry, next);
  const input = t.read(x, `the identity shortcut of ${entry.layerName}`);
  const s = t.shapesOnly ? Tensor.meta(x.shape) : shortcut(x, entry, next);
  // A float signed shortcut is x itself: the step gets a view of it, a value of its own.
  const y = s === x ? x.reshape(x.shape) : s;
  t.push({ op: 'identity', input, out: t.made(y), entry, next });
  return y;
}

function shortcut(x: Tensor, entry: QLayer, next: QLayer): Tensor {
  const xr = entry.inputSigned ? x : relu(x);
  if (!entry.quant.enabled) return xr;
  // The paper's `res += x` (QuantConfig.identityAdd 'paper'): the block input as it is.
  if (entry.quant.identityAdd === 'paper') return xr;
  if (entry.alphaOwner === next.alphaOwner && !entry.perChannelInput && !next.perChannelInput) {
    // One clipping level, word length and signedness: s_E / s_N = 2^(fl_E - fl_N), computed
    // exactly (the integer model's shift); its derivative in alpha is 0 (alpha cancels).
    return scaleByTensor(xr, pow2Diff(entry.currentInputFraclen(), next.currentInputFraclen()));
  }
  return scaleBy(scaleBy(xr, entry.fixScaling(), false), next.fixScaling(), true);
}

/** x * s or x / s for a per-layer scaling [1] or a per-channel one [C] (input lengths per channel). */
function scaleBy(x: Tensor, s: Tensor, invert: boolean): Tensor {
  if (s.size === 1) return scaleByTensor(x, s, invert);
  return mulChannel(x, invert ? powAffine(s, 1, -1) : s, 1);
}

/** Makes `layer` use the clipping level of `master` (of its owner, when `master` has one). */
export function shareAlpha(layer: QLayer, master: QLayer): void {
  const owner = master.alphaOwner;
  if (owner === layer) return;
  if (owner.inputSigned !== layer.inputSigned) {
    throw new F8Error('BAD_CONFIG', `${layer.layerName}: cannot share the clipping level of ${owner.layerName}: one input is signed, the other unsigned`);
  }
  layer.master = owner;
}

/** The F8Net view of a residual block (ResNet basic/bottleneck, MobileNetV2 inverted residual). */
export interface ResidualBlock {
  /** The layers that read the block input; the first is the block's entry (E above). */
  readonly readers: QLayer[];
  /** The layers whose outputs make the block output (the body's last conv, a projection shortcut). */
  readonly exits: QLayer[];
  /** True when the shortcut is the identity (the block input reaches the output). */
  readonly identity: boolean;
  /** The layer that reads the block output (set by wireBlocks). */
  next: QLayer | null;
}

/**
 * How the layers around a chain of blocks share clipping levels: 'f8net' (default, F8NET.md §4:
 * a projection shortcut reads its entry's tensor, so it uses the entry's alpha; the layer after
 * the last block joins the chain of an identity block) or 'paper', as the paper's fix_resnet.py
 * builds it: where a block starts a sharing chain (the network's first block, or the block after
 * a projection block; its incoming master is None there) its projection shortcut owns its alpha
 * (in a ResNet only ResNet-50's first block is such a block with a projection shortcut), and the
 * classifier after the last block owns its alpha. Such a shortcut reads the entry's units
 * (x / s_in(entry)) and scales by its own s_in, as the paper's does; the integer model is
 * unchanged in form (a re-quantisation to its own fl). An identity into a classifier with its own
 * alpha needs QuantConfig.identityAdd 'paper' (the paper's unscaled add) for an integer form.
 */
export type AlphaSharing = 'f8net' | 'paper';
export const ALPHA_SHARINGS: readonly AlphaSharing[] = ['f8net', 'paper'];

export interface WireOptions {
  alphaSharing?: AlphaSharing;
}

/**
 * Sets the scaling and sharing relations of a chain of blocks (their internal `following`
 * relations are the blocks' own): `before` (the stem) feeds blocks[0]; `after` (the classifier,
 * or a last conv) reads the last block's output.
 *
 * @example wireBlocks(this.conv1, blocks, this.fc)
 */
export function wireBlocks(before: QLayer, blocks: ResidualBlock[], after: QLayer, opts: WireOptions = {}): void {
  before.following = blocks[0]?.readers[0] ?? after;
  let chain: QLayer | null = null;
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks[i];
    const entry = b.readers[0];
    const starts = !(chain && chain.inputSigned === entry.inputSigned);
    if (!starts) shareAlpha(entry, chain!);
    // alphaSharing 'paper': where a block starts a chain, its projection shortcut keeps its own alpha.
    if (!(starts && opts.alphaSharing === 'paper')) for (const r of b.readers.slice(1)) shareAlpha(r, entry);
    const next = blocks[i + 1]?.readers[0] ?? after;
    for (const e of b.exits) e.following = next;
    b.next = next;
    chain = b.identity ? entry : null;
  }
  // alphaSharing 'paper': the layer after the blocks (the paper's classifier) owns its alpha.
  if (chain && chain.inputSigned === after.inputSigned && opts.alphaSharing !== 'paper') shareAlpha(after, chain);
}
