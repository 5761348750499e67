/**
 * The tuned kernel families: each search space (declared beside its op, src/ops/<op>.tune.ts)
 * with the kernel case that checks it (one of the registry's cases, so tests, selftest and the
 * tuner check the same problem with the same tolerance) and the case that times it (a layer of
 * the model zoo). The tuner (src/runtime/tuner.ts) runs them in this order.
 *
 * Check sizes miss every tile (odd channel counts and widths) yet keep the tuned tile intact
 * (channels >= the largest tile, width >= 8), so check and timing share one pipeline and each
 * candidate compiles once.
 */
import { F8Error } from '../runtime/errors.js';
import type { TuneFamily, TuneCase, TuneSpace } from '../runtime/tuner.js';
import { conv2dFwdTune, conv2dWgradTune, depthwiseFwdTune } from '../ops/conv2d.tune.js';
import { matmulTune } from '../ops/matmul.tune.js';
import { int8ConvTune, int8DepthwiseTune } from '../ops/int8.tune.js';
import { convCases, convForwardCase, convWeightGradCase } from './conv.js';
import { floatCases, matmulCase } from './float.js';
import { int8Cases, int8ConvCase } from './int8.js';
import type { KernelCase } from './types.js';

const ALL: readonly KernelCase[] = [...convCases, ...floatCases, ...int8Cases];

function timed(c: KernelCase): TuneCase {
  if (!c.prepare) throw new F8Error('UNSUPPORTED', `kernel case ${c.family}: ${c.name} has no prepare(): it cannot check or time a tuned family`);
  return c as TuneCase;
}
/** The registry's case `family: name`, as a tuner problem. */
function registered(family: string, name: string): TuneCase {
  const c = ALL.find((k) => k.family === family && k.name === name);
  if (!c) throw new F8Error('BAD_CONFIG', `TUNE_FAMILIES: no kernel case '${family}: ${name}' in the registry`);
  return timed(c);
}
const family = (space: TuneSpace, check: TuneCase, time: KernelCase): TuneFamily => ({ ...space, check, time: timed(time) });

export const TUNE_FAMILIES: readonly TuneFamily[] = [
  family(conv2dFwdTune, registered('conv2d.fwd', 'odd sizes 3x3 pad 1'), convForwardCase('conv2d.fwd', { name: 'zoo 64x64 3x3 on 32x32', x: [4, 64, 32, 32], w: [64, 64, 3, 3], opts: { padding: 1 } })),
  family(conv2dWgradTune, registered('conv2d.bwd-weight', 'odd sizes 3x3 pad 1'), convWeightGradCase({ name: 'zoo 64x64 3x3 on 32x32', x: [4, 64, 32, 32], w: [64, 64, 3, 3], opts: { padding: 1 } })),
  family(depthwiseFwdTune, registered('depthwise.fwd', 'x1 3x3 pad 1'), convForwardCase('depthwise.fwd', { name: 'zoo 96 3x3 on 56x56', x: [8, 96, 56, 56], w: [96, 1, 3, 3], opts: { padding: 1, groups: 96 } })),
  family(matmulTune, registered('matmul', '37x44x29'), matmulCase(256, 512, 512)),
  family(int8ConvTune, registered('int8.conv', 'odd sizes 3x3 pad 1'), int8ConvCase('zoo 64x64 3x3 on 32x32', [8, 64, 32, 32], [64, 64, 3, 3], { padding: 1 })),
  family(int8DepthwiseTune, registered('int8.depthwise', 'depthwise 3x3 pad 1'), int8ConvCase('zoo 96 3x3 on 56x56', [8, 96, 56, 56], [96, 1, 3, 3], { padding: 1, groups: 96 })),
];
