/**
 * The forms of the network's first layer (the paper's `head`, F8NET.md §3) and how each feeds the
 * image. Plain data, shared by the layers (src/nn/qlayers.ts), the data loaders, the config and
 * the integer export.
 *
 *  - 'weight_only' (the paper's `normalize: false`, its default): the image is not normalised;
 *    f8net feeds pixel / 256, so every image already sits on the unsigned 8-bit grid at fl 8 and
 *    its integer code is the pixel byte itself. The paper feeds pixel / 255 and its integer path
 *    takes trunc(x * 256), which is the same byte for every pixel below 255 (and 256 for 255).
 *    The head's input is not quantised in training (the ReLU of an unsigned input only), its
 *    alpha is unused (fix scaling 1); in evaluation it is quantised at fl 8, the identity on images.
 *  - 'double_side' (`normalize: true`): the normalised image (mean/std) is a signed input like any
 *    other, with its own alpha and fractional length.
 *  - 'f8net_scaled': f8net's earlier form: the normalised image divided by the head's s_in and
 *    quantised as a signed input, so alpha is a PACT clip of the real image. Checkpoints, configs
 *    and model files without a head form were made with it.
 *
 * @example
 *   imageFeed('weight_only', [0.1307], [0.3081]) // { mean: [0], std: [256 / 255] }: x = pixel / 256
 */
export type HeadForm = 'weight_only' | 'double_side' | 'f8net_scaled';
export const HEAD_FORMS: readonly HeadForm[] = ['weight_only', 'double_side', 'f8net_scaled'];
/** The head form of a file or stored config that names none (made before head forms existed). */
export const LEGACY_HEAD_FORM: HeadForm = 'f8net_scaled';
/** The weight_only head's input length: pixel / 256 is the code `pixel` at fl 8. */
export const WEIGHT_ONLY_FL = 8;
/**
 * The std that turns the loaders' pixel / 255 into pixel / 256 (mean 0). 1 / std = 255 / 256 is
 * exact in f32, and f32(f32(k / 255) * (255 / 256)) = k / 256 exactly for every byte k.
 */
export const WEIGHT_ONLY_STD = 256 / 255;

/** The head form a paper `normalize` value stands for. */
export function headFormOfNormalize(normalize: boolean): HeadForm {
  return normalize ? 'double_side' : 'weight_only';
}

/**
 * The normalisation (x = (pixel / 255 - mean[c]) / std[c]) that feeds the image to a head of
 * this form: weight_only ignores the data set's statistics, the others use them.
 */
export function imageFeed(form: HeadForm, mean: readonly number[], std: readonly number[]): { mean: number[]; std: number[] } {
  if (form === 'weight_only') return { mean: mean.map(() => 0), std: mean.map(() => WEIGHT_ONLY_STD) };
  return { mean: [...mean], std: [...std] };
}
