/**
 * F8Net fixed-point primitives: the CPU reference ("living definition") every GPU kernel and
 * exporter is tested against. Formulas follow /work/shared/F8NET.md §1, §2 and §5; golden values
 * from PyTorch live in test/golden/quant.json (tools/golden_quant.py).
 *
 *   fixed-format.ts  roundHalfEven, Format, qBounds, flRange, ChannelLayout, quantize, fixScaling
 *   fraclen.ts       tensorStat, fraclenFromStat, fraclenFromTensor, gridSearchFraclen,
 *                    runningFraclen, evalFraclen
 *   int-requant.ts   shiftRoundHalfEven, requantize, clampInt32, alignAdd
 *
 * Non-finite conventions (kernels must match; WGSL guarantees nothing about NaN, so test for it):
 *   quantize: NaN -> q 0, mask 0; ±Inf -> hi / lo, mask 0.
 *   fl from a statistic m: m = 0 -> max fl; NaN or +Inf -> 0. Grid search over non-finite data -> 0.
 *
 * @example
 *   import { quantize, fraclenFromTensor } from './quant/fixed.js';
 *   const fl = fraclenFromTensor(w, { wl: 8, signed: true, metric: 'std' });
 *   const { q, value, mask } = quantize(w, fl, { wl: 8, signed: true });
 */
export * from './fixed-format.js';
export * from './fraclen.js';
export * from './int-requant.js';
