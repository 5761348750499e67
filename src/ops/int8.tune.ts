/**
 * Search spaces of the int8 conv knobs (int8Knobs in ./int8.ts) for the tuner
 * (src/runtime/tuner.ts); their check (bit-exact) and timed problems are kernel cases
 * (src/cases/int8.ts).
 */
import type { TuneSpace } from '../runtime/tuner.js';
import { int8Knobs, int8UsesDot4 } from './int8.js';

export const int8ConvTune: TuneSpace = {
  name: 'int8.conv',
  knobs: int8Knobs,
  space: { OCB: [8, 16, 32], PW: [1, 2, 4, 8], WG: [32, 64, 128, 256], dot4: [true, false, 'auto'], subgroups: [true, false] },
  candidates(e, quick) {
    if (quick) return [{ OCB: 16, PW: 4 }];
    // The other dot path (dot4I8Packed or unpacked) where the adapter has both.
    const other = e.gpu.hasDot4I8 ? [{ dot4: !int8UsesDot4(undefined, e) }] : [];
    return [{ OCB: 16, PW: 4 }, { OCB: 16, PW: 8 }, { OCB: 8, PW: 8 }, { OCB: 32, PW: 2 }, { WG: 128 }, ...other, ...(e.gpu.hasSubgroups ? [{ subgroups: false }] : [])];
  },
};

// R x P = 4 x 8 compiled for 25 s on lavapipe: not a candidate.
export const int8DepthwiseTune: TuneSpace = {
  name: 'int8.depthwise',
  knobs: int8Knobs,
  space: { R: [1, 2, 4], P: [1, 2, 4, 8] },
  candidates(e, quick) {
    if (quick) return [{ R: 1, P: 8 }];
    return [{ R: 1, P: 8 }, { R: 2, P: 4 }, { R: 1, P: 4 }];
  },
};
