/** tfjs on f8net's device: moved to src/bench/tfjs-peer.ts (used by `f8net bench --compare tfjs`). */
export { tfjsOnEngine, tfjsSync, type Tf } from '../src/node/tfjs-peer.js';
