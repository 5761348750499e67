// Tuned knobs live on the engine (src/runtime/tuning.ts): one set per adapter, not module globals.
import { describe, it, expect } from 'vitest';
import { Tuning, defineKnobs } from '../../src/runtime/tuning.js';
import { matmulKnobs } from '../../src/ops/matmul.js';

describe('engine tuning', () => {
  it('keeps one independent set per engine, starting at the op\'s defaults', () => {
    const [a, b] = [new Tuning(), new Tuning()];
    a.get(matmulKnobs).TM = 4;
    expect(a.get(matmulKnobs).TM).toBe(4);
    expect(b.get(matmulKnobs)).toEqual(matmulKnobs.defaults);
    expect(matmulKnobs.defaults.TM).toBe(16);
  });
  it('hands out live objects that reset keeps valid; defaults cannot be written', () => {
    const t = new Tuning();
    const k = defineKnobs('test.knobs', { WG: 64, list: [3] });
    const live = t.get(k);
    live.WG = 128;
    live.list.push(5);
    t.reset();
    expect(live).toEqual({ WG: 64, list: [3] });
    expect(t.get(k)).toBe(live);
    expect(() => ((k.defaults as { WG: number }).WG = 1)).toThrow(TypeError);
  });
});
