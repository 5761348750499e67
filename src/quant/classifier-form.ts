/**
 * The forms of the classifier (the last linear layer, F8NET.md §3 "Linear layers do the same
 * without BN"). Plain data, shared by the layers (src/nn/qlayers.ts), the CPU reference
 * (src/nn/qlayers.ref.ts), the config and the integer export.
 *
 *  - 'folded' (f8net's, the default): the input scaling is folded into the weight like a conv's:
 *    w_q = Q(s_in * c * w) (c: the global-pool factor, src/nn/qpool.ts), y = x_q . w_q + b; the
 *    logits are in real units in training and evaluation.
 *  - 'paper' (the paper's ReLUClipFXQLinear, fix_quant_ops.py): the weight is quantised alone,
 *    w_q = Q(c * w) (fl_w from c * w), and the input scaling stays outside it. Training:
 *    y = s_in * (x_q . w_q) + b (real logits, for the loss). Evaluation (and the integer model):
 *    z = x_q . w_q + round(b / s_in) on the accumulator grid 2^-(fl_in + fl_w), the logits divided
 *    by s_in (a positive scalar: same top-1, same ranking), exactly what the paper's evaluation
 *    returns. The integer model's int32 logits are z * 2^(fl_in + fl_w); no multiplication
 *    other than the 8-bit dot product. With rescale_forward the paper's linear rescales its
 *    quantised weight, ws = 1 / sqrt(out_features) / std(w_q) (no gradient): t = s_in ws takes
 *    s_in's place above (logits / t). No per-channel input lengths (the paper's linear has none:
 *    it warns and uses one length).
 *    With c = 1 (a 1x1 feature map before the pool, or 2^round(log2 k^2) = k^2) it is the paper's Q(w).
 *
 * A checkpoint, config or model file that names no classifier form was made with 'folded'.
 *
 * @example
 *   classifierFormOfPaper(true) // 'paper'
 */
export type ClassifierForm = 'folded' | 'paper';
export const CLASSIFIER_FORMS: readonly ClassifierForm[] = ['folded', 'paper'];
/** The classifier form of a stored config or file that names none (made before classifier forms). */
export const LEGACY_CLASSIFIER_FORM: ClassifierForm = 'folded';

/** The classifier form of a config or checkpoint in the paper's vocabulary (its code has one form). */
export function classifierFormOfPaper(paper: boolean): ClassifierForm {
  return paper ? 'paper' : 'folded';
}
