/**
 * Learning-rate schedules: pure functions of the iteration number (0-based), evaluated on the
 * CPU each step and passed to SGD.step(lr).
 *
 * @example
 *   opt.step(cosineLr(step, epochs * stepsPerEpoch, 0.1, { warmupSteps: 5 * stepsPerEpoch }));
 *   opt.step(stepLr(step, stepsPerEpoch, 0.1, { milestones: [30, 60, 90], gamma: 0.1 }));
 */
import { F8Error } from '../runtime/errors.js';

export interface CosineOptions {
  /** Linear warm-up iterations before the cosine (default 0). */
  warmupSteps?: number;
  /** Learning rate at step 0 of the warm-up (default 0). */
  warmupStartLr?: number;
  /** Learning rate at the end of the cosine (default 0). */
  minLr?: number;
}

function check(cond: boolean, msg: string): void {
  if (!cond) throw new F8Error('BAD_CONFIG', msg);
}

/**
 * Cosine annealing per iteration after a linear warm-up: warmupStartLr -> baseLr over
 * warmupSteps, then minLr + (baseLr - minLr) * (1 + cos(pi * t)) / 2 with
 * t = (step - warmupSteps) / (totalSteps - warmupSteps); minLr from totalSteps on.
 *
 * @example
 *   cosineLr(0, 100, 0.1) === 0.1; cosineLr(50, 100, 0.1) === 0.05; cosineLr(100, 100, 0.1) === 0
 */
export function cosineLr(step: number, totalSteps: number, baseLr: number, opts: CosineOptions = {}): number {
  const { warmupSteps = 0, warmupStartLr = 0, minLr = 0 } = opts;
  check(totalSteps > 0 && warmupSteps >= 0 && warmupSteps <= totalSteps, `cosineLr: need 0 <= warmupSteps (${warmupSteps}) <= totalSteps (${totalSteps}) and totalSteps > 0`);
  if (step < warmupSteps) return warmupStartLr + ((baseLr - warmupStartLr) * step) / warmupSteps;
  const span = totalSteps - warmupSteps;
  const t = span > 0 ? Math.min(1, Math.max(0, (step - warmupSteps) / span)) : 1;
  return minLr + ((baseLr - minLr) * (1 + Math.cos(Math.PI * t))) / 2;
}

export interface StepLrOptions {
  /** Epochs at which the rate is multiplied by gamma (PyTorch's MultiStepLR). */
  milestones: number[];
  /** Factor per milestone (default 0.1). */
  gamma?: number;
}

/**
 * baseLr * gamma^k where k counts the milestones <= the current epoch, floor(step / stepsPerEpoch).
 *
 * @example
 *   stepLr(3 * 100, 100, 0.1, { milestones: [2, 4], gamma: 0.1 }) // 0.01 (epoch 3)
 */
export function stepLr(step: number, stepsPerEpoch: number, baseLr: number, opts: StepLrOptions): number {
  check(stepsPerEpoch > 0, `stepLr: stepsPerEpoch must be > 0, got ${stepsPerEpoch}`);
  const epoch = Math.floor(step / stepsPerEpoch);
  const k = opts.milestones.filter((m) => m <= epoch).length;
  return baseLr * (opts.gamma ?? 0.1) ** k;
}

/**
 * Wraps a schedule with a linear warm-up: startLr -> schedule(warmupSteps) over the first
 * warmupSteps iterations, then schedule(step) unchanged (the schedule is not shifted).
 *
 * @example
 *   const lr = linearWarmup((s) => stepLr(s, 100, 0.1, { milestones: [30, 60] }), 500);
 *   opt.step(lr(step));
 */
export function linearWarmup(schedule: (step: number) => number, warmupSteps: number, startLr = 0): (step: number) => number {
  check(warmupSteps >= 0, `linearWarmup: warmupSteps must be >= 0, got ${warmupSteps}`);
  return (step) => {
    if (step >= warmupSteps) return schedule(step);
    return startLr + ((schedule(warmupSteps) - startLr) * step) / warmupSteps;
  };
}
