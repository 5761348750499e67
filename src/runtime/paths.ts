/**
 * Path text without node:path, for the core's error messages and file names: '/'-separated as
 * Node's path.posix writes them ('\\' is also read as a separator). The platform folder
 * (src/node/) opens the files; the core only names them.
 */
export function joinPath(...parts: string[]): string {
  const joined = parts.filter((p) => p !== '').join('/');
  if (joined === '') return '.';
  const abs = /^[\\/]/.test(joined);
  const out: string[] = [];
  for (const seg of joined.split(/[\\/]+/)) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..' && out.length && out[out.length - 1] !== '..') out.pop();
    else if (seg !== '..' || !abs) out.push(seg);
  }
  const s = (abs ? '/' : '') + out.join('/');
  return s === '' ? (abs ? '/' : '.') : s;
}

/** The last segment of a path ('a/b.wgsl' -> 'b.wgsl'). */
export function baseName(p: string): string {
  const m = /([^\\/]*)[\\/]*$/.exec(p);
  return m ? m[1] : p;
}

/** The path without its last segment ('a/b' -> 'a', 'b' -> '.'). */
export function dirName(p: string): string {
  const t = p.replace(/[\\/]+$/, '');
  if (t === '' && p !== '') return '/';
  const i = Math.max(t.lastIndexOf('/'), t.lastIndexOf('\\'));
  if (i < 0) return '.';
  return i === 0 ? '/' : t.slice(0, i);
}

/** The extension with its dot, lower-cased as written ('x.JPG' -> '.JPG'); '' when none. */
export function extName(p: string): string {
  const b = baseName(p);
  const i = b.lastIndexOf('.');
  return i <= 0 ? '' : b.slice(i);
}
