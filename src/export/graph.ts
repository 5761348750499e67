/**
 * The integer model: what `f8net export` writes and every integer runner executes (F8NET.md §5).
 * A graph of integer ops on per-image tensors; the batch axis is implicit (dynamic).
 *
 * Values. Every tensor between nodes is an integer tensor with one fractional length:
 *  - 'int8' codes in [-127, 127] or 'uint8' codes in [0, 255]: a layer's 8-bit input;
 *  - 'int32' values in [-(2^31 - 1), 2^31 - 1]: raw accumulators, residual sums, pooled sums, logits.
 * The real value (in the units of the layer that reads it, §4) is v / 2^fl.
 *
 * Nodes, in execution order (a node's inputs are the graph input or outputs of earlier nodes):
 *  - conv:    acc[o] = wrap32(sum X * W) then clampInt32(acc + B[o]); then the epilogue.
 *             W int8 [O, C/groups, KH, KW], B int32 [O] (optional). X 8-bit codes [C, H, W].
 *  - linear:  the same with W int8 [O, K]; the input (any shape) is read flattened to [K].
 *  - maxpool: max over each window (clipped at the borders; padded positions never win), on
 *             codes or int32; dtype and fl unchanged.
 *  - sumpool: global sum over H x W of [C, H, W] (wrapping int32), then the epilogue; [C].
 *             With a `divisor` D > 1 (the paper's pool form, src/quant/pool-form.ts) the
 *             epilogue's rounding shift becomes one exact rounding of the quotient:
 *             y = clamp(roundHalfEven(relu(sum) * 2^-n / D), lo, hi), output 8-bit codes only.
 *  - add:     clampInt32(r(a) * 2^shifts[0] + r(b) * 2^shifts[1]) with r = max(., 0) where
 *             relu[i], computed exactly; then the epilogue. Operands of one shape (codes or int32).
 *  - requant: the epilogue alone on an int32 (or 8-bit code) input.
 *
 * Epilogue (every node that has one): y = clamp(shiftRoundHalfEven(relu ? max(v, 0) : v, n[c]), lo, hi)
 * with n one shift or one per channel (axis 0 of the per-image tensor): n > 0 divides by 2^n
 * rounding half to even (floor modulo), n < 0 multiplies by 2^-n saturating at +-(2^31 - 1);
 * [lo, hi] from `out`: int8 [-127, 127], uint8 [0, 255], int32 [-(2^31 - 1), 2^31 - 1].
 * See src/quant/int-requant.ts for the integer arithmetic.
 *
 * Input. The network input is 8-bit codes at fractional length `input.fl`, computed from an
 * image outside the graph: x = (pixel / 255 - mean[c]) / std[c] (f32, as training normalises),
 * code = clamp(roundHalfEven(x * scale[c]), lo, hi). The scale follows the first layer's head form
 * (`input.headForm`, src/quant/head-form.ts): weight_only: mean 0, std 256/255, scale 2^8, uint8
 * (the code is the pixel byte); double_side: scale 2^fl, int8; f8net_scaled: scale
 * 2^fl / s_in = (2^(wl-1) - 1) / |alpha|, int8 (the network input divided by s_in).
 *
 * Output. `output.name` is int32 logits [classes] at `output.fl`: logit = v / 2^fl.
 */
import type { HeadForm } from '../quant/head-form.js';
import type { ClassifierForm } from '../quant/classifier-form.js';

export const INT_MODEL_FORMAT = 'f8net-int-model';
export const INT_MODEL_VERSION = 1;

export type IntDType = 'int8' | 'uint8' | 'int32';

export interface IntValueInfo {
  name: string;
  dtype: IntDType;
  /** Per image: [C, H, W] or [C]. */
  shape: number[];
  /** Fractional length: the value's real meaning is v / 2^fl. */
  fl: number;
}

export interface IntEpilogue {
  /** max(v, 0) before the shift. */
  relu: boolean;
  /** One shift, or one per output channel. 0 = none. */
  shift: number[];
  /** The clamp and dtype of the node's output. */
  out: IntDType;
}

interface NodeBase {
  /** Unique node name (the F8Net layer's module path for conv and linear). */
  name: string;
  output: string;
}

export interface ConvNode extends NodeBase {
  op: 'conv';
  input: string;
  /** Name of an int8 tensor [O, C/groups, KH, KW]. */
  weight: string;
  /** Name of an int32 tensor [O], or null. */
  bias: string | null;
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
  epilogue: IntEpilogue;
}

export interface LinearNode extends NodeBase {
  op: 'linear';
  input: string;
  /** int8 [O, K]. */
  weight: string;
  bias: string | null;
  epilogue: IntEpilogue;
}

export interface MaxPoolNode extends NodeBase {
  op: 'maxpool';
  input: string;
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
}

export interface SumPoolNode extends NodeBase {
  op: 'sumpool';
  input: string;
  epilogue: IntEpilogue;
  /**
   * The number of positions the mean divides by (H * W), an integer in [2, 2^16], with one
   * shift and 8-bit output codes; absent (or 1): the plain epilogue. Files made before pool
   * forms have none.
   */
  divisor?: number;
}

export interface AddNode extends NodeBase {
  op: 'add';
  inputs: [string, string];
  /** ReLU of each operand before the alignment (the identity path of a block whose entry reads unsigned). */
  relu: [boolean, boolean];
  /** Left shifts (>= 0) that bring each operand to the output's fractional length. */
  shifts: [number, number];
  epilogue: IntEpilogue;
}

export interface RequantNode extends NodeBase {
  op: 'requant';
  input: string;
  epilogue: IntEpilogue;
}

export type IntNode = ConvNode | LinearNode | MaxPoolNode | SumPoolNode | AddNode | RequantNode;

export interface IntTensor {
  dtype: 'int8' | 'int32';
  shape: number[];
  data: Int8Array | Int32Array;
}

export interface IntInputSpec {
  name: string;
  /** 'int8' (a signed first layer: double_side, f8net_scaled) or 'uint8' (weight_only). */
  dtype: 'int8' | 'uint8';
  /** [C, H, W]. */
  shape: [number, number, number];
  fl: number;
  /** code = clamp(roundHalfEven(x * scale[c])): one per channel (or one). */
  scale: number[];
  /** Image normalisation before the scale: x = (pixel / 255 - mean[c]) / std[c]. */
  mean: number[];
  std: number[];
  /**
   * The first layer's form (src/quant/head-form.ts), for people and checks: mean, std and scale
   * alone say how the image is fed. Absent in files made before head forms: f8net_scaled.
   */
  headForm?: HeadForm;
}

/** Formats of one F8Net layer, for people and for ONNX metadata_props. */
export interface IntLayerFormat {
  name: string;
  inputSigned: boolean;
  inputFl: number;
  weightFl: number[];
  alpha: number;
}

export interface IntGraph {
  format: typeof INT_MODEL_FORMAT;
  version: number;
  /** e.g. 'f8net 0.1.0'. */
  producer: string;
  /** Where it came from: model name and args, data set, number of classes, source checkpoint; class names when the data set had them. */
  model: { name: string; args: Record<string, unknown>; dataset: string; classes: number; checkpoint: string; classNames?: string[] };
  input: IntInputSpec;
  /**
   * The logits: int32 at fl. classifierForm (src/quant/classifier-form.ts), for people and checks:
   * 'paper' logits are the real logits divided by the classifier's s_in (same top-1); absent in
   * files made before classifier forms: 'folded', real logits.
   */
  output: { name: string; fl: number; classifierForm?: ClassifierForm };
  /** Every value, the input and the output included. */
  values: IntValueInfo[];
  nodes: IntNode[];
  tensors: Record<string, IntTensor>;
  layers: IntLayerFormat[];
}

/** Clamp range of an epilogue's output dtype. */
export function dtypeRange(d: IntDType): [number, number] {
  if (d === 'int8') return [-127, 127];
  if (d === 'uint8') return [0, 255];
  return [-2147483647, 2147483647];
}

/** The inputs of a node. */
export function nodeInputs(n: IntNode): string[] {
  return n.op === 'add' ? [...n.inputs] : [n.input];
}

/** Value infos by name. */
export function valueMap(g: IntGraph): Map<string, IntValueInfo> {
  return new Map(g.values.map((v) => [v.name, v]));
}
