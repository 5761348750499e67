/**
 * node:crypto in the browser bundle: createHash('sha256') only, synchronous as the code that
 * reaches it expects, on the core's own SHA-256 (src/runtime/sha256.ts).
 */
import { Sha256 } from '../../runtime/sha256.js';

export function createHash(alg: string): Sha256 {
  if (alg.toLowerCase() !== 'sha256') throw new Error(`createHash('${alg}'): the browser bundle has sha256 only`);
  return new Sha256();
}
export default { createHash };
