/**
 * Class probabilities from logits: no file system and no GPU, so it runs wherever the integer
 * runtime does.
 *
 * @example
 *   topK([0.1, 2.3, -1], 2, ['cat', 'dog', 'fox']); // [{ class: 1, name: 'dog', prob: 0.88 }, { class: 0, name: 'cat', prob: 0.10 }]
 */
/** Softmax of one row of logits, and its k most probable classes (ties: lower class first). */
export function topK(logits: ArrayLike<number>, k: number, names: string[] | null = null): { class: number; name: string | null; prob: number }[] {
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) m = Math.max(m, logits[i]);
  let z = 0;
  const e = Array.from(logits, (v) => {
    const x = Math.exp(v - m);
    z += x;
    return x;
  });
  return e
    .map((x, c) => ({ class: c, name: names?.[c] ?? null, prob: x / z }))
    .sort((a, b) => b.prob - a.prob || a.class - b.class)
    .slice(0, Math.max(1, Math.min(k, logits.length)));
}
