/**
 * The forms of the global average pool before a classifier (F8NET.md §5 "Global average pool").
 * Plain data, shared by the pool (src/nn/qpool.ts), the config and the integer export.
 *
 *  - 'folded' (f8net's, the default): the integer model sums the k x k positions and reads the
 *    sum at fl + s, s = round(log2 k^2); the leftover c = 2^s / k^2 goes into the classifier's
 *    weight (Q(c w)), so the pool needs no division. The fake-quant pool gives mean / c.
 *  - 'paper' (the paper's default, nn.AdaptiveAvgPool2d; its `quant_avgpool: False`): the
 *    classifier's input quantiser reads the mean itself and the weight is not scaled. The integer
 *    model divides the sum by k^2 and rounds once, half to even, exactly (the sumpool node's
 *    `divisor`, src/export/graph.ts): a division, no multiplication.
 *
 * The two are the same model where k^2 is a power of two (c = 1): a 1 x 1 or 8 x 8 feature map.
 * A checkpoint, config or model file that names no pool form was made with 'folded'.
 *
 * @example
 *   poolFormOfPaper(false) // 'paper': quant_avgpool False, the paper's float mean
 */
export type PoolForm = 'folded' | 'paper';
export const POOL_FORMS: readonly PoolForm[] = ['folded', 'paper'];

/**
 * The pool form of a config or checkpoint in the paper's vocabulary: its float mean unless
 * `quant_avgpool` (sum and shift, f8net's folded form being the nearest).
 */
export function poolFormOfPaper(quantAvgpool: boolean): PoolForm {
  return quantAvgpool ? 'folded' : 'paper';
}
