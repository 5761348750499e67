// node:path in the browser bundle: the POSIX subset the core uses, over the bundle's /f8net tree.
function normalize(p: string): string {
  const abs = p.startsWith('/');
  const out: string[] = [];
  for (const s of p.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') {
      if (out.length && out[out.length - 1] !== '..') out.pop();
      else if (!abs) out.push('..');
    } else out.push(s);
  }
  return (abs ? '/' : '') + out.join('/') || (abs ? '/' : '.');
}
export const sep = '/';
export const isAbsolute = (p: string) => p.startsWith('/');
export const join = (...ps: string[]) => normalize(ps.filter(Boolean).join('/'));
export function resolve(...ps: string[]): string {
  let r = '';
  for (const p of ps) r = isAbsolute(p) ? p : `${r}/${p}`;
  return normalize(isAbsolute(r) ? r : `/${r}`);
}
export function dirname(p: string): string {
  const n = normalize(p);
  const i = n.lastIndexOf('/');
  return i < 0 ? '.' : i === 0 ? '/' : n.slice(0, i);
}
export function basename(p: string, ext?: string): string {
  const b = p.replace(/\/+$/, '').split('/').pop() ?? '';
  return ext && b.endsWith(ext) ? b.slice(0, -ext.length) : b;
}
export function extname(p: string): string {
  const b = basename(p);
  const i = b.lastIndexOf('.');
  return i <= 0 ? '' : b.slice(i);
}
/** Posix relative path from `from` to `to` (both resolved first). */
export function relative(from: string, to: string): string {
  const a = resolve(from).split('/').filter(Boolean);
  const b = resolve(to).split('/').filter(Boolean);
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return [...a.slice(i).map(() => '..'), ...b.slice(i)].join('/');
}
export const posix = { sep, isAbsolute, join, resolve, relative, dirname, basename, extname, normalize };
export default posix;
