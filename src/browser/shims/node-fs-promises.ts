// node:fs/promises in the browser bundle: only reads of built-in files; everything else refuses.
import { readFileSync, readdirSync, statSync } from './node-fs.js';
import { F8Error } from '../../runtime/errors.js';

const refuse = (what: string) => async (): Promise<never> => {
  throw new F8Error('UNSUPPORTED', `${what}: the browser has no file system`);
};
export const readFile = async (p: string, enc?: string) => readFileSync(p, enc);
export const readdir = async (p: string, o?: { withFileTypes?: boolean }) => readdirSync(p, o);
export const stat = async (p: string) => statSync(p);
export const rename = refuse('rename');
export const unlink = refuse('unlink');
export const writeFile = refuse('writeFile');
export const mkdir = refuse('mkdir');
export default { readFile, readdir, stat, rename, unlink, writeFile, mkdir };
