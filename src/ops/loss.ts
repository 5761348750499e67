/**
 * Classification losses and metrics (wgsl/loss.wgsl) that stay on the GPU: the mean softmax
 * cross-entropy (differentiable w.r.t. the logits), the top-k hit count and argmax, so that a
 * training loop reads back nothing but what it prints. CPU references: ./loss.ref.ts.
 *
 * Labels outside [0, K) are never used as an index: their rows make the loss (and its
 * gradient) NaN, so the loop's NaN check stops training on bad labels, and they never count
 * as correct in topkCorrect.
 *
 * @example
 *   const loss = softmaxCrossEntropy(logits, labels, { labelSmoothing: 0.1 }); // [1]
 *   const top1 = topkCorrect(logits, labels, 1);                               // [1] i32
 */
import { Engine } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';
import { Tensor } from '../tensor.js';
import { record, needsGrad } from '../autograd/tape.js';
import { mean } from './reduce.js';
import { full } from './elementwise.js';

const WG = 64;
const SUM_BLOCK = 256;

function fmt(t: Tensor): string {
  return `[${t.shape.join(', ')}]`;
}

function checkHead(op: string, logits: Tensor, labels: Tensor | null): [number, number] {
  if (logits.shape.length !== 2) throw new F8Error('SHAPE_MISMATCH', `${op}: logits must be [N,K], got ${fmt(logits)}`);
  if (logits.dtype !== 'f32') throw new F8Error('UNSUPPORTED', `${op}: logits must be f32, got ${logits.dtype}`);
  const [N, K] = logits.shape;
  if (K < 1) throw new F8Error('SHAPE_MISMATCH', `${op}: logits ${fmt(logits)} have no classes`);
  if (labels) {
    if (labels.dtype !== 'i32') throw new F8Error('UNSUPPORTED', `${op}: labels must be i32, got ${labels.dtype}`);
    if (labels.shape.length !== 1 || labels.size !== N) throw new F8Error('SHAPE_MISMATCH', `${op}: labels ${fmt(labels)} do not match logits ${fmt(logits)} (expects [${N}])`);
  }
  return [N, K];
}

/**
 * Mean over rows of the softmax cross-entropy with (optionally smoothed) one-hot targets:
 * target = (1 - eps) onehot + eps / K, as in PyTorch. Returns [1]; the gradient w.r.t. the
 * logits is (softmax - target) / N. Rows whose label is outside [0, K) make it NaN.
 *
 * @example
 *   const loss = softmaxCrossEntropy(model(x), y);
 *   backward(loss);
 */
export function softmaxCrossEntropy(logits: Tensor, labels: Tensor, opts: { labelSmoothing?: number } = {}): Tensor {
  const [N, K] = checkHead('softmaxCrossEntropy', logits, labels);
  const eps = opts.labelSmoothing ?? 0;
  if (!(eps >= 0 && eps <= 1)) throw new F8Error('BAD_CONFIG', `softmaxCrossEntropy: labelSmoothing must be in [0, 1], got ${eps}`);
  if (N === 0) return full([1], NaN);
  const e = Engine.get();
  const rows = Tensor.empty([N]);
  const lse = Tensor.empty([N]);
  e.dispatch(e.kernel('loss.wgsl', 'xent_rows', { WG }), { x: logits, labels, loss: rows, lse_out: lse }, { N, K, eps, a: 1, topk: 0, nan: NaN }, e.grid1d(N, WG));
  const out = mean(rows);
  rows.dispose();
  if (!needsGrad(logits)) {
    lse.dispose();
    return out;
  }
  return record(out, 'softmaxCrossEntropy', [logits, labels], (g) => {
    const gx = Tensor.empty(logits.shape);
    e.dispatch(e.kernel('loss.wgsl', 'xent_grad', { WG: 256 }), { x: logits, labels, lse, g, out: gx }, { N, K, eps, a: 1 / N, topk: 0, nan: NaN }, e.grid1d(N * K, 256));
    return [gx, null];
  });
}

/**
 * Number of rows whose label is among the k largest logits: [1] i32 (no gradient). A logit is
 * ahead of the label's if it is larger, or equal with a lower index; a row is a hit if fewer
 * than k are ahead. Labels outside [0, K) and NaN label logits are never hits.
 *
 * @example
 *   const top5 = topkCorrect(logits, labels, 5); // sum over batches on the GPU, read once
 */
export function topkCorrect(logits: Tensor, labels: Tensor, k: number): Tensor {
  const [N, K] = checkHead('topkCorrect', logits, labels);
  if (!Number.isInteger(k) || k < 1) throw new F8Error('BAD_CONFIG', `topkCorrect: k must be a positive integer, got ${k}`);
  const e = Engine.get();
  if (N === 0) return Tensor.from(new Int32Array(1), [1], 'i32');
  let hits = Tensor.empty([N], 'i32');
  e.dispatch(e.kernel('loss.wgsl', 'topk_rows', { WG }), { x: logits, labels, idx: hits }, { N, K, eps: 0, a: 0, topk: Math.min(k, K), nan: NaN }, e.grid1d(N, WG));
  const isum = e.kernel('loss.wgsl', 'isum', { WG });
  let T = N;
  for (;;) {
    const To = Math.ceil(T / SUM_BLOCK);
    const next = Tensor.empty([To], 'i32');
    e.dispatch(isum, { hits, idx: next }, { T, To, B: SUM_BLOCK }, e.grid1d(To, WG));
    hits.dispose();
    hits = next;
    T = To;
    if (To === 1) return hits;
  }
}

/**
 * Index of the largest logit of each row: [N] i32 (lowest index on ties; NaN logits are
 * skipped, an all-NaN row gives 0).
 */
export function argmax(logits: Tensor): Tensor {
  const [N, K] = checkHead('argmax', logits, null);
  const e = Engine.get();
  const out = Tensor.empty([N], 'i32');
  if (N > 0) e.dispatch(e.kernel('loss.wgsl', 'argmax_rows', { WG }), { x: logits, idx: out }, { N, K, eps: 0, a: 0, topk: 0, nan: NaN }, e.grid1d(N, WG));
  return out;
}
