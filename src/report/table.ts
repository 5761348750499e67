/**
 * Tables as text, in one place: aligned columns for the terminal (widths from the cells) and
 * markdown tables (bench results and their diffs). Cells are strings already formatted.
 *
 * @example
 *   textTable(['#', 'layer', 'fl'], [['0', 'conv1', '5']], { left: [1] });
 *   // '#  layer  fl\n0  conv1   5'
 *   markdownTable(['row', 'ms'], ['l', 'r'], [['matmul', '1.20']]);
 *   // '| row | ms |\n| --- | ---: |\n| matmul | 1.20 |'
 */

/**
 * Columns as wide as their widest cell (the head included), separated by `sep` (two spaces),
 * right-aligned except the columns in `left`; trailing spaces are cut.
 */
export function textTable(head: readonly string[], rows: readonly (readonly string[])[], opts: { left?: readonly number[]; sep?: string } = {}): string {
  const left = new Set(opts.left ?? []);
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((c) => c[i].length)));
  const line = (c: readonly string[]) => c.map((s, i) => (left.has(i) ? s.padEnd(width[i]) : s.padStart(width[i]))).join(opts.sep ?? '  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

/** One markdown table row: `| a | b |`. */
export const markdownRow = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;

/** A markdown table: head, the alignment row (`l`: `---`, `r`: `---:`), then the rows. */
export function markdownTable(head: readonly string[], align: readonly ('l' | 'r')[], rows: readonly (readonly string[])[]): string {
  return [markdownRow(head), markdownRow(align.map((a) => (a === 'r' ? '---:' : '---'))), ...rows.map(markdownRow)].join('\n');
}
