/**
 * node:fs in the browser bundle: a read-only file system over the files built into the bundle
 * (wgsl/ and package.json under /f8net), so the core's kernel loader and version lookup work
 * unchanged. Writing is not possible in a page: the library's byte-returning functions
 * (encodeSafetensors, serializeIntModel, ...) are the browser's way to make files.
 */
import files from 'f8net:assets';
import { F8Error } from '../../runtime/errors.js';

function noFile(p: string): never {
  const e = new Error(`ENOENT: ${p} is not built into the browser bundle`) as Error & { code: string };
  e.code = 'ENOENT';
  throw e;
}
function noWrite(what: string): () => never {
  return () => {
    throw new F8Error('UNSUPPORTED', `${what}: the browser has no file system; use the functions that return bytes (encodeSafetensors, serializeIntModel, toIntOnlyOnnx) and download them`);
  };
}

export function readFileSync(p: string, enc?: string | { encoding?: string }): string | Uint8Array {
  const text = files[String(p)];
  if (text === undefined) noFile(String(p));
  const e = typeof enc === 'string' ? enc : enc?.encoding;
  return e ? text : new TextEncoder().encode(text);
}
export function existsSync(p: string): boolean {
  const s = String(p);
  return s in files || Object.keys(files).some((k) => k.startsWith(`${s}/`));
}
export function readdirSync(dir: string, opts?: { withFileTypes?: boolean }): unknown[] {
  const pre = `${String(dir).replace(/\/$/, '')}/`;
  const names = new Map<string, boolean>();
  for (const k of Object.keys(files)) {
    if (!k.startsWith(pre)) continue;
    const rest = k.slice(pre.length);
    const i = rest.indexOf('/');
    names.set(i < 0 ? rest : rest.slice(0, i), i >= 0);
  }
  if (!names.size) noFile(String(dir));
  const out = [...names].sort(([a], [b]) => (a < b ? -1 : 1));
  return opts?.withFileTypes ? out.map(([name, isDir]) => ({ name, isDirectory: () => isDir, isFile: () => !isDir })) : out.map(([n]) => n);
}
export function statSync(p: string): { size: number; isFile(): boolean; isDirectory(): boolean } {
  const s = String(p);
  if (s in files) return { size: new TextEncoder().encode(files[s]).byteLength, isFile: () => true, isDirectory: () => false };
  if (existsSync(s)) return { size: 0, isFile: () => false, isDirectory: () => true };
  noFile(s);
}
export const writeFileSync = noWrite('writeFileSync');
export const appendFileSync = noWrite('appendFileSync');
export const mkdirSync = noWrite('mkdirSync');
export const renameSync = noWrite('renameSync');
export const unlinkSync = noWrite('unlinkSync');
export const openSync = noWrite('openSync');
export const closeSync = noWrite('closeSync');
export const readSync = noWrite('readSync');
export const writeSync = noWrite('writeSync');
export const fsyncSync = noWrite('fsyncSync');
export const rmSync = noWrite('rmSync');
export const lstatSync = statSync;
export const fstatSync = noWrite('fstatSync');
export const constants = { O_RDONLY: 0, O_NONBLOCK: 0 };
export const realpathSync = (p: string) => String(p);
export const promises = {};
export default { readFileSync, existsSync, readdirSync, statSync, writeFileSync, appendFileSync, mkdirSync, renameSync, unlinkSync, openSync, closeSync, readSync, writeSync, fsyncSync, rmSync };
