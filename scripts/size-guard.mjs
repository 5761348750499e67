// Prints the line count of src/ and wgsl/ and fails (exit 1) when a source file passes 600
// lines without saying why in a comment near its top: a line `Long file: <reason>` within its
// first 40 lines. Small files are the rule (STYLE.md); the marker makes each exception a choice.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const LIMIT = 600;
const walk = (d) => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : /\.(ts|wgsl)$/.test(e.name) ? [join(d, e.name)] : []));
let total = 0;
const bad = [];
for (const root of ['src', 'wgsl']) {
  let n = 0;
  for (const f of walk(root)) {
    const lines = readFileSync(f, 'utf8').split('\n');
    const count = lines.length - (lines[lines.length - 1] === '' ? 1 : 0);
    n += count;
    if (count > LIMIT && !lines.slice(0, 40).some((l) => /^\s*(\/\/|\*|\/\*\*?)\s*Long file:\s*\S/.test(l))) bad.push(`${f}: ${count} lines, over ${LIMIT} without a 'Long file: <why>' comment at its top`);
  }
  console.log(`lines: ${root}/ ${n}`);
  total += n;
}
console.log(`lines: total ${total}`);
for (const b of bad) console.error(`size guard: ${b}`);
process.exit(bad.length ? 1 : 0);
