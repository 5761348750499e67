// node:child_process and node:readline in the browser bundle: only the PyTorch bench peer
// (src/bench/torch-peer.ts) uses them, and a page cannot start python; importing works, calling refuses.
import { F8Error } from '../../runtime/errors.js';

function refuse(): never {
  throw new F8Error('UNSUPPORTED', 'starting a process (the PyTorch bench peer) is Node-only');
}
export const spawn = refuse;
export const spawnSync = refuse;
export const createInterface = refuse;
export type ChildProcessWithoutNullStreams = never;
