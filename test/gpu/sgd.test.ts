import { describe, it, expect } from 'vitest';
import { gpuDescribe, rand, expectClose, expectExact } from '../helpers.js';
import { Engine } from '../../src/runtime/engine.js';
import { Tensor } from '../../src/tensor.js';
import { SGD, type SGDOptions } from '../../src/optim/sgd.js';
import { RefSGD } from '../../src/optim/sgd.ref.js';
import { cosineLr, stepLr, linearWarmup } from '../../src/optim/schedule.js';

const SIZES = [1, 7, 1027];

/** Runs `steps` steps of SGD on the GPU and of the reference, with fresh gradients each step. */
async function compare(opts: SGDOptions, steps: number, lrs?: number[]): Promise<void> {
  const e = Engine.get();
  const init = SIZES.map((n, i) => rand(n, 100 + i, -1, 1));
  const params = init.map((d) => e.keep(Tensor.from(d, [d.length])));
  const ref = init.map((d) => d.slice());
  const opt = new SGD(params, opts);
  const refOpt = new RefSGD(opts);
  const decays = params.map((p) => opts.weightDecayFilter?.(p) ?? true);
  for (let s = 0; s < steps; s++) {
    const grads = SIZES.map((n, i) => rand(n, 1000 * s + i, -2, 2));
    params.forEach((p, i) => (p.grad = e.keep(Tensor.from(grads[i], p.shape))));
    const lr = lrs?.[s];
    if (lr === undefined) opt.step();
    else opt.step(lr);
    refOpt.step(ref, grads, lr ?? opts.lr, decays);
    opt.zeroGrad();
    expect(params.every((p) => p.grad === null)).toBe(true);
  }
  for (let i = 0; i < params.length; i++) {
    expectClose((await params[i].read()) as Float32Array, ref[i], 1e-6, 1e-6, `param ${i} after ${steps} steps`);
  }
  const state = await opt.stateTensors();
  for (const [i, b] of refOpt.buffers) expectClose(state[`${i}.momentum_buffer`], b, 1e-6, 1e-6, `momentum buffer ${i}`);
  expect(Object.keys(state).length).toBe(refOpt.buffers.size);
  opt.dispose();
  params.forEach((p) => p.dispose());
}

gpuDescribe('sgd', () => {
  const configs: [string, SGDOptions][] = [
    ['plain', { lr: 0.1 }],
    ['momentum', { lr: 0.05, momentum: 0.9 }],
    ['momentum with dampening', { lr: 0.05, momentum: 0.9, dampening: 0.1 }],
    ['nesterov', { lr: 0.05, momentum: 0.9, nesterov: true }],
    ['weight decay', { lr: 0.1, weightDecay: 1e-2 }],
    ['nesterov + weight decay with a filter', { lr: 0.1, momentum: 0.8, nesterov: true, weightDecay: 5e-2, weightDecayFilter: (p) => p.size > 1 }],
  ];
  for (const [name, opts] of configs) {
    it(`5 steps match torch.optim.SGD semantics: ${name}`, async () => {
      await compare(opts, 5);
    });
  }

  it('takes the learning rate of each step from a schedule', async () => {
    await compare({ lr: 0.1, momentum: 0.9, weightDecay: 1e-3 }, 5, [0, 1, 2, 3, 4].map((s) => cosineLr(s, 5, 0.1, { warmupSteps: 2 })));
  });

  it('skips parameters without a gradient and creates no state for them', async () => {
    const e = Engine.get();
    const a = e.keep(Tensor.from(rand(5, 1), [5]));
    const b = e.keep(Tensor.from(rand(6, 2), [6]));
    const opt = new SGD([a, b], { lr: 0.5, momentum: 0.9, weightDecay: 0.1 });
    a.grad = e.keep(Tensor.from(rand(5, 3), [5]));
    opt.step();
    expectExact((await b.read()) as Float32Array, rand(6, 2), 'untouched parameter');
    expect(Object.keys(await opt.stateTensors())).toEqual(['0.momentum_buffer']);
    opt.zeroGrad();
    opt.dispose();
  });

  it('restores momentum buffers exactly from stateTensors', async () => {
    const e = Engine.get();
    const opts: SGDOptions = { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3 };
    const make = (): Tensor[] => [rand(7, 1), rand(1027, 2)].map((d) => e.keep(Tensor.from(d, [d.length])));
    const run = (opt: SGD, ps: Tensor[], from: number, to: number): void => {
      for (let s = from; s < to; s++) {
        ps.forEach((p, i) => (p.grad = e.keep(Tensor.from(rand(p.size, 50 * s + i), p.shape))));
        opt.step();
        opt.zeroGrad();
      }
    };
    const ps = make();
    const opt = new SGD(ps, opts);
    run(opt, ps, 0, 3);
    const saved = await opt.stateTensors();
    const savedParams = await Promise.all(ps.map(async (p) => (await p.read()) as Float32Array));
    run(opt, ps, 3, 5);
    // A fresh optimizer and parameters restored from the checkpoint continue identically.
    const ps2 = make();
    ps2.forEach((p, i) => p.write(savedParams[i]));
    const opt2 = new SGD(ps2, opts);
    opt2.loadStateTensors(saved);
    run(opt2, ps2, 3, 5);
    for (let i = 0; i < ps.length; i++) expectExact((await ps2[i].read()) as Float32Array, (await ps[i].read()) as Float32Array, `param ${i}`);
    expect(() => opt2.loadStateTensors({ 'nope.momentum_buffer': new Float32Array(7) })).toThrow(/matches no parameter/);
    expect(() => opt2.loadStateTensors({ '0.momentum_buffer': new Float32Array(3) })).toThrow(/has 3 values, the parameter 7/);
    for (const o of [opt, opt2]) o.dispose();
  });

  it('rejects invalid options with clear errors', () => {
    const p = Tensor.from(rand(3, 1), [3]);
    expect(() => new SGD([p], { lr: -1 })).toThrow(/invalid learning rate -1/);
    expect(() => new SGD([p], { lr: 0.1, nesterov: true })).toThrow(/Nesterov momentum requires momentum > 0/);
    expect(() => new SGD([p, p], { lr: 0.1 })).toThrow(/listed twice/);
    // Names need not be unique (every layer has a 'weight').
    const q = Tensor.from(rand(3, 2), [3]);
    p.name = q.name = 'weight';
    expect(() => new SGD([p, q], { lr: 0.1 })).not.toThrow();
  });
});

describe('learning-rate schedules', () => {
  it('cosine: start, middle, end, past the end', () => {
    expect(cosineLr(0, 100, 0.1)).toBeCloseTo(0.1, 12);
    expect(cosineLr(50, 100, 0.1)).toBeCloseTo(0.05, 12);
    expect(cosineLr(25, 100, 0.1)).toBeCloseTo(0.05 * (1 + Math.SQRT1_2), 12);
    expect(cosineLr(100, 100, 0.1)).toBeCloseTo(0, 12);
    expect(cosineLr(150, 100, 0.1, { minLr: 1e-3 })).toBeCloseTo(1e-3, 12);
    expect(cosineLr(50, 100, 0.1, { minLr: 0.02 })).toBeCloseTo(0.06, 12);
  });

  it('cosine with linear warm-up', () => {
    const o = { warmupSteps: 10, warmupStartLr: 0.01 };
    expect(cosineLr(0, 110, 0.1, o)).toBeCloseTo(0.01, 12);
    expect(cosineLr(5, 110, 0.1, o)).toBeCloseTo(0.055, 12);
    expect(cosineLr(10, 110, 0.1, o)).toBeCloseTo(0.1, 12);
    expect(cosineLr(60, 110, 0.1, o)).toBeCloseTo(0.05, 12);
    expect(cosineLr(110, 110, 0.1, o)).toBeCloseTo(0, 12);
    expect(() => cosineLr(0, 10, 0.1, { warmupSteps: 20 })).toThrow(/warmupSteps/);
  });

  it('step schedule by epoch milestones, and a warm-up wrapper', () => {
    const s = (step: number): number => stepLr(step, 100, 0.1, { milestones: [2, 4], gamma: 0.1 });
    expect(s(0)).toBeCloseTo(0.1, 12);
    expect(s(199)).toBeCloseTo(0.1, 12);
    expect(s(200)).toBeCloseTo(0.01, 12);
    expect(s(399)).toBeCloseTo(0.01, 12);
    expect(s(400)).toBeCloseTo(0.001, 12);
    expect(stepLr(250, 100, 1, { milestones: [2] })).toBeCloseTo(0.1, 12);
    const w = linearWarmup(s, 50, 0.02);
    expect(w(0)).toBeCloseTo(0.02, 12);
    expect(w(25)).toBeCloseTo(0.06, 12);
    expect(w(50)).toBeCloseTo(0.1, 12);
    expect(w(300)).toBeCloseTo(0.01, 12);
  });
});
