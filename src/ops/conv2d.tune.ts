/**
 * Search spaces of the f32 convolutions' knobs (conv2dKnobs, depthwiseKnobs in ./conv2d.ts) for
 * the tuner (src/runtime/tuner.ts); their check and timed problems are kernel cases
 * (src/cases/conv.ts). Tiles stay at most 128 accumulators (f32 conv) and 192 (weight
 * gradient): past that the loops stop unrolling on lavapipe and the tile spills (see
 * conv2dKnobs).
 */
import type { TuneSpace } from '../runtime/tuner.js';
import { conv2dKnobs, depthwiseKnobs } from './conv2d.js';

export const conv2dFwdTune: TuneSpace = {
  name: 'conv2d.fwd',
  knobs: conv2dKnobs,
  space: { OCB: [8, 16, 32], PW: [1, 2, 4, 8], WG: [32, 64, 128, 256], subgroups: [true, false], SMEM: [false, true] },
  candidates(e, quick) {
    if (quick) return [{ OCB: 16, PW: 4 }];
    // SMEM: the shared-memory implicit GEMM real GPUs prefer (issue 16); timed like the rest.
    return [{ OCB: 16, PW: 8 }, { OCB: 32, PW: 2 }, { OCB: 16, PW: 4 }, { OCB: 8, PW: 8 }, { WG: 128 }, { WG: 32 }, ...(e.gpu.hasSubgroups ? [{ subgroups: false }] : []), { SMEM: true }];
  },
};

export const conv2dWgradTune: TuneSpace = {
  name: 'conv2d.wgrad',
  knobs: conv2dKnobs,
  space: { winOCL: [1, 2, 4, 8], winCB: [8, 16, 32], wgradSMEM: [false, true] },
  candidates(e, quick) {
    if (quick) return [{ winOCL: 2, winCB: 16 }];
    // 2 x 32 and 8 x 8 (also 192 accumulators) spilled on lavapipe: 25x and 14x slower.
    // wgradSMEM: the shared-memory tiled GEMM real GPUs prefer (issue 16).
    return [{ winOCL: 2, winCB: 16 }, { winOCL: 4, winCB: 8 }, { winOCL: 2, winCB: 8 }, { winOCL: 1, winCB: 32 }, { wgradSMEM: true }];
  },
};

export const depthwiseFwdTune: TuneSpace = {
  name: 'depthwise.fwd',
  knobs: depthwiseKnobs,
  space: { R: [1, 2, 4, 8], P: [1, 2, 4, 8], SMEM: [false, true] },
  candidates(e, quick) {
    if (quick) return [{ R: 2, P: 4 }];
    // SMEM: the shared-memory halo tile real GPUs prefer (issue 16).
    return [{ R: 2, P: 8 }, { R: 4, P: 4 }, { R: 2, P: 4 }, { R: 1, P: 8 }, { SMEM: true }];
  },
};
