/**
 * Limits on untrusted text, checked before any recursive parser runs: nesting depth of JSON and
 * YAML by a linear scan (so '[' * 100000 is a one-line error, not a stack overflow), JSON parsed
 * only after that check, and values cut to a readable length in messages. Portable: the file
 * side (regular files only, size caps) is src/node/untrusted.ts.
 *
 * @example
 *   const doc = parseJsonUntrusted(bytes, 'model.json');
 */
import { F8Error } from '../runtime/errors.js';

/** Deepest nesting accepted in JSON or YAML read from a file (f8net's own files nest < 10). */
export const MAX_TEXT_DEPTH = 64;

const bad = (file: string, msg: string) => new F8Error('BAD_INPUT', `${file}: ${msg}`);

/**
 * The deepest bracket nesting of JSON text (strings skipped), stopping once past `limit`.
 * Linear and allocation-free: run before JSON.parse or a tree walk.
 */
export function jsonDepth(text: string, limit = Infinity): number {
  let depth = 0;
  let max = 0;
  let inStr = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inStr) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inStr = false;
    } else if (c === 0x22) inStr = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/** Throws unless the JSON text nests at most maxDepth deep. */
export function checkJsonDepth(text: string, source: string, maxDepth = MAX_TEXT_DEPTH): void {
  const d = jsonDepth(text, maxDepth);
  if (d > maxDepth) throw bad(source, `JSON nests more than ${maxDepth} levels deep, expected at most ${maxDepth}`);
}

/** Cuts a value shown in a message to a readable length (a 50 MB value must not fill the terminal). */
export function clip(s: string, max = 120): string {
  const one = s.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return one.length <= max ? one : `${one.slice(0, max)}… (${one.length} characters)`;
}

/** JSON.parse of untrusted text or bytes, depth-checked first; errors are one line naming source. */
export function parseJsonUntrusted(src: string | Uint8Array, source: string, maxDepth = MAX_TEXT_DEPTH): unknown {
  let text: string;
  if (typeof src === 'string') text = src;
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(src);
    } catch {
      throw bad(source, 'is not valid UTF-8 text, expected JSON');
    }
  }
  checkJsonDepth(text, source, maxDepth);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw bad(source, `is not valid JSON (${clip((e as Error).message, 160)})`);
  }
}

/**
 * An upper bound on the nesting of YAML text: flow brackets outside quotes plus block levels
 * (indentation, and '- ' / '? ' entries that open a level on the same line). Conservative: it
 * may count a level the parser would not, never the other way round.
 */
export function yamlDepth(text: string, limit = Infinity): number {
  let max = 0;
  let flow = 0;
  let q = 0; // 0, or the quote character code
  let lineStart = true;
  let block = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) {
      lineStart = true;
      block = 0;
      if (q === 0x27 || q === 0x22) continue; // multi-line quoted scalars keep their quote
      continue;
    }
    if (q) {
      if (q === 0x22 && c === 0x5c) i++;
      else if (c === q) {
        if (q === 0x27 && text.charCodeAt(i + 1) === 0x27) i++;
        else q = 0;
      }
      continue;
    }
    if (lineStart) {
      if (c === 0x20 || c === 0x09) {
        block++;
        continue;
      }
      if ((c === 0x2d || c === 0x3f || c === 0x3a) && (text.charCodeAt(i + 1) === 0x20 || i + 1 === text.length)) {
        block += 2;
        i++;
        continue;
      }
      lineStart = false;
    }
    if (c === 0x23 && flow === 0) {
      // comment: skip to the end of the line
      while (i + 1 < text.length && text.charCodeAt(i + 1) !== 0x0a) i++;
      continue;
    }
    if (c === 0x22 || c === 0x27) q = c;
    else if (c === 0x5b || c === 0x7b) flow++;
    else if (c === 0x5d || c === 0x7d) flow = Math.max(0, flow - 1);
    const d = flow + (block >> 1) + 1;
    if (d > max && (max = d) > limit) return max;
  }
  return max;
}

/** Throws unless the YAML text nests at most maxDepth deep (see yamlDepth). */
export function checkYamlDepth(text: string, source: string, maxDepth = MAX_TEXT_DEPTH): void {
  const d = yamlDepth(text, maxDepth);
  if (d > maxDepth) throw new F8Error('BAD_CONFIG', `${source}: YAML nests more than ${maxDepth} levels deep, expected at most ${maxDepth}`);
}
