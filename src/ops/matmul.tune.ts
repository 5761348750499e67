/**
 * Search space of the matmul tiles (matmulKnobs in ./matmul.ts) for the tuner
 * (src/runtime/tuner.ts); its check and timed problems are kernel cases (src/cases/float.ts).
 */
import type { TuneSpace } from '../runtime/tuner.js';
import { matmulKnobs } from './matmul.js';

export const matmulTune: TuneSpace = {
  name: 'matmul',
  knobs: matmulKnobs,
  space: { TM: [4, 8, 16], TN: [4, 8], WGX: [8, 16, 32, 64], B4: [true, false], SMEM: [false, true] },
  candidates(e, quick) {
    if (quick) return [{ TM: 8, TN: 4 }];
    // SMEM: the shared-memory tiled kernel real GPUs prefer (issue 16); timed like the rest.
    return [{ TM: 8, TN: 8 }, { TM: 16, TN: 4 }, { TM: 8, TN: 4 }, { WGX: 8 }, { WGX: 32 }, { B4: false }, { SMEM: true }];
  },
};
