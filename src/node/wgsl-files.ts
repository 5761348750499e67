/**
 * The WGSL loader of the Node platform: kernel files from the package's wgsl/ folder, and each
 * specialised kernel written to $F8NET_DUMP_WGSL=<dir> when that is set.
 */
import { readFileSync, mkdirSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { F8Error } from '../runtime/errors.js';
import type { Defines, WgslLoader } from '../runtime/wgsl-source.js';
import { writeFileAtomic } from './files.js';

/** wgsl/ of this package, found relative to this file in src/ and in dist/src/. */
export const WGSL_DIR = (() => {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      readFileSync(join(d, 'wgsl', 'include', 'common.wgsl'));
      return join(d, 'wgsl');
    } catch {
      d = dirname(d);
    }
  }
  throw new F8Error('IO', 'cannot find the wgsl/ folder of f8net next to its sources');
})();

function dumpKernel(file: string, defines: Defines, code: string): void {
  const dump = process.env.F8NET_DUMP_WGSL;
  if (!dump) return;
  mkdirSync(dump, { recursive: true });
  const tag = Object.entries(defines)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const name = `${file.replace(/^.*[\\/]/, '').replace(/\.wgsl$/, '')}${tag ? `.${tag.replace(/[^\w=,.-]/g, '_')}` : ''}.wgsl`;
  writeFileAtomic(join(dump, name), [new TextEncoder().encode(code)]);
}

export const wgslFileLoader: WgslLoader = {
  read(rel) {
    try {
      return readFileSync(resolve(WGSL_DIR, rel), 'utf8');
    } catch {
      return null;
    }
  },
  dump: dumpKernel,
};
