/**
 * Loading a WGSL kernel file and specialising it for one variant.
 *
 * A file under wgsl/ may use:
 *   #include "name"          the text of wgsl/include/name.wgsl (shared snippets)
 *   ${NAME}                   the value of define NAME (workgroup sizes, unroll factors)
 *   #if ${NAME} ... #elif ${X} ... #else ... #endif   (wgsl-preprocessor)
 *
 * Every source line carries its origin through the preprocessor so that a compile error is
 * reported as `wgsl/conv2d.wgsl:42`, not as a line of the generated text.
 *
 * The text of the files comes through a loader, so that this module runs where there is no file
 * system: in Node, src/node/wgsl-files.ts registers one that reads wgsl/ (and writes each
 * specialised kernel to $F8NET_DUMP_WGSL); a bundle registers the sources it was built with
 * (registerWgslSources, e.g. from an esbuild text loader).
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { F8Error } from './errors.js';

export type Defines = Record<string, number | boolean | string>;

/** Where kernel files come from. `read` returns null when there is no such file. */
export interface WgslLoader {
  read(rel: string): string | null;
  /** Called with each specialised kernel (Node: writes it to $F8NET_DUMP_WGSL when set). */
  dump?(file: string, defines: Defines, code: string): void;
}

let loader: WgslLoader | null = null;
const bundled = new Map<string, string>();
const fileCache = new Map<string, string>();

/** Sets the loader of kernel files (paths relative to wgsl/, e.g. `conv2d.wgsl`, `include/common.wgsl`). */
export function setWgslLoader(l: WgslLoader): void {
  loader = l;
  fileCache.clear();
}

/**
 * Registers kernel sources built into a bundle, keyed by their path under wgsl/. They are found
 * before the loader's files, so a bundle needs no loader at all.
 * @example registerWgslSources({ 'conv2d.wgsl': conv2dText, 'include/common.wgsl': commonText });
 */
export function registerWgslSources(sources: Record<string, string>): void {
  for (const [rel, text] of Object.entries(sources)) bundled.set(rel.replace(/^(\.\/)?(wgsl\/)?/, ''), text);
  fileCache.clear();
}

function readWgsl(rel: string): string {
  let text = fileCache.get(rel) ?? bundled.get(rel);
  if (text === undefined) {
    if (!loader) throw new F8Error('IO', `${displayPath(rel)}: no kernel sources: register them (registerWgslSources) or a loader (setWgslLoader; Node: import src/node/register.js)`);
    const t = loader.read(rel);
    if (t === null) throw new F8Error('IO', `${displayPath(rel)}: kernel file not found`);
    text = t;
    fileCache.set(rel, text);
  }
  return text;
}

const MARK = '\u0001';

/** How a kernel file is named in messages: wgsl/<file> for the package's own kernels. */
export function displayPath(rel: string): string {
  return /^([\\/]|[A-Za-z]:[\\/])/.test(rel) ? rel : `wgsl/${rel}`;
}

/** Inlines #include lines and tags every line with `MARK file:line MARK` at its end. */
function expand(rel: string, seen: string[]): string[] {
  if (seen.includes(rel)) throw new F8Error('WGSL_COMPILE', `${displayPath(rel)}: #include cycle through ${seen.join(' -> ')}`);
  const out: string[] = [];
  readWgsl(rel)
    .split('\n')
    .forEach((line, i) => {
      const m = /^\s*#include\s+"([\w./-]+)"\s*$/.exec(line);
      if (m) out.push(...expand(`include/${m[1]}.wgsl`, [...seen, rel]));
      // The space keeps the tag out of a preprocessor token such as `#endif`.
      else out.push(`${line} ${MARK}${displayPath(rel)}:${i + 1}${MARK}`);
    });
  return out;
}

export interface SpecialisedSource {
  code: string;
  /** For each line of `code` (0-based), `file:line` of the origin. */
  origin: string[];
}

/** Produces the WGSL of `file` specialised with `defines`. */
export function specialise(file: string, defines: Defines): SpecialisedSource {
  const text = expand(file, []).join('\n');
  const strings: string[] = [];
  const values: unknown[] = [];
  let last = 0;
  const re = /\$\{(\w+)\}/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    strings.push(text.slice(last, m.index));
    if (!(m[1] in defines)) {
      throw new F8Error('WGSL_COMPILE', `${displayPath(file)}: define \${${m[1]}} has no value (given: ${Object.keys(defines).join(', ') || 'none'})`);
    }
    values.push(defines[m[1]]);
    last = m.index + m[0].length;
  }
  strings.push(text.slice(last));
  const tsa = Object.assign([...strings], { raw: [...strings] }) as unknown as TemplateStringsArray;
  let pre: string;
  try {
    pre = wgsl(tsa, ...values);
  } catch (e) {
    throw new F8Error('WGSL_COMPILE', `${displayPath(file)}: preprocessor: ${(e as Error).message}`);
  }
  const origin: string[] = [];
  const lines = pre.split('\n').map((line) => {
    const a = line.indexOf(MARK);
    if (a < 0) {
      origin.push(origin[origin.length - 1] ?? `${displayPath(file)}:?`);
      return line;
    }
    const b = line.indexOf(MARK, a + 1);
    origin.push(line.slice(a + 1, b));
    return line.slice(0, a).replace(/ $/, '') + line.slice(b + 1).replaceAll(new RegExp(`${MARK}[^${MARK}]*${MARK}`, 'g'), '');
  });
  const code = lines.join('\n');
  loader?.dump?.(file, defines, code);
  return { code, origin };
}

export interface BindingDecl {
  name: string;
  binding: number;
  kind: 'uniform' | 'storage' | 'read-only-storage';
}

export interface ParamField {
  name: string;
  type: 'u32' | 'i32' | 'f32';
  offset: number;
}

/** Bindings of group 0 (name, index, access) declared in the module. */
export function parseBindings(code: string): BindingDecl[] {
  const out: BindingDecl[] = [];
  const re = /@group\(0\)\s*@binding\((\d+)\)\s*var\s*<\s*(uniform|storage)\s*(?:,\s*(read_write|read))?\s*>\s*(\w+)/g;
  for (let m = re.exec(code); m; m = re.exec(code)) {
    const kind = m[2] === 'uniform' ? 'uniform' : m[3] === 'read_write' ? 'storage' : 'read-only-storage';
    out.push({ name: m[4], binding: Number(m[1]), kind });
  }
  return out;
}

/**
 * The scalar fields of `struct <name>` in declaration order with their byte offsets.
 * Only 4-byte scalars are allowed in uniform parameter structs, so the layout is the order.
 */
export function parseParamStruct(code: string, name: string, where: string): ParamField[] {
  const m = new RegExp(`struct\\s+${name}\\s*\\{([^}]*)\\}`).exec(code);
  if (!m) throw new F8Error('WGSL_COMPILE', `${where}: uniform struct ${name} not found`);
  const fields: ParamField[] = [];
  // Strip comments first: a comma inside a field's comment must not split the struct.
  const body = m[1].replace(/\/\/[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
  for (const part of body.split(',')) {
    const f = /^\s*(\w+)\s*:\s*(\w+)\s*$/.exec(part);
    if (!f) {
      if (part.trim() === '') continue;
      throw new F8Error('WGSL_COMPILE', `${where}: struct ${name} field '${part.trim()}' is not a u32, i32 or f32 scalar`);
    }
    if (f[2] !== 'u32' && f[2] !== 'i32' && f[2] !== 'f32') {
      throw new F8Error('WGSL_COMPILE', `${where}: struct ${name} field ${f[1]} has type ${f[2]}; parameters must be u32, i32 or f32`);
    }
    fields.push({ name: f[1], type: f[2], offset: fields.length * 4 });
  }
  return fields;
}

/** The type name of a uniform binding, e.g. `Params` in `var<uniform> p: Params;`. */
export function uniformTypeOf(code: string, varName: string): string | null {
  const m = new RegExp(`var\\s*<\\s*uniform\\s*>\\s*${varName}\\s*:\\s*(\\w+)`).exec(code);
  return m ? m[1] : null;
}

/**
 * Names of the module-scope variables reachable from `entry`: the identifiers used in its
 * body and, transitively, in the bodies of the functions it calls. Bindings not reached are
 * left out of the pipeline's layout, as the auto layout would, so one file can hold several
 * entry points with different bindings.
 */
export function reachableIdentifiers(code: string, entry: string): Set<string> {
  const stripped = code.replace(/\/\/[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
  const bodies = new Map<string, string>();
  const re = /\bfn\s+(\w+)\s*\(/g;
  for (let m = re.exec(stripped); m; m = re.exec(stripped)) {
    let i = stripped.indexOf('{', m.index);
    const start = i;
    let depth = 0;
    for (; i < stripped.length; i++) {
      if (stripped[i] === '{') depth++;
      else if (stripped[i] === '}' && --depth === 0) break;
    }
    bodies.set(m[1], stripped.slice(m.index, i + 1));
    re.lastIndex = Math.max(re.lastIndex, start);
  }
  if (!bodies.has(entry)) return new Set();
  const seen = new Set<string>();
  const ids = new Set<string>();
  const stack = [entry];
  while (stack.length) {
    const f = stack.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    // Skip member accesses (gid.x is not the binding x).
    for (const id of bodies.get(f)!.match(/(?<![.\w])[A-Za-z_]\w*/g) ?? []) {
      ids.add(id);
      if (bodies.has(id) && !seen.has(id)) stack.push(id);
    }
  }
  return ids;
}
