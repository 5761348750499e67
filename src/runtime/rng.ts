/**
 * Seedable PRNG for everything random on the CPU side (shuffling, augmentation, init).
 * xoshiro128** 1.1 (Blackman & Vigna): 128-bit state, 32-bit outputs, fast with Math.imul.
 * The whole state is four uint32 words, so getState()/setState() resume a run exactly.
 * The seed is expanded into the state by a splitmix-style counter passed through murmur3's
 * fmix32; fmix32 is a bijection and the four counters differ, so at most one word is zero and
 * the all-zero state (a fixed point of xoshiro) cannot arise. setState() rejects it.
 *
 * @example
 *   const rng = new Rng(42);
 *   const saved = rng.getState();
 *   const a = rng.nextU32();
 *   rng.setState(saved);
 *   rng.nextU32() === a; // true
 */
import { F8Error } from './errors.js';

/** The four xoshiro128 state words, plain numbers so the state can be written as JSON. */
export type RngState = [number, number, number, number];

/** Anything a Fisher-Yates shuffle can permute in place. */
export interface Shuffleable {
  length: number;
  [i: number]: unknown;
}

const TWO_POW_32 = 4294967296;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Mixes several 32-bit numbers into one well-spread seed, e.g. `mixSeed(epochSeed, batch)`. */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) h = fmix32((h ^ fmix32(p >>> 0)) + 0x7f4a7c15);
  return h;
}

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  constructor(seed = 0) {
    let z = seed >>> 0;
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      z = (z + 0x9e3779b9) >>> 0;
      words.push(fmix32(z));
    }
    this.setState(words as RngState);
  }

  /** Next uniform uint32 in [0, 2^32). */
  nextU32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform float in [0, 1) with 32 random bits. */
  nextFloat(): number {
    return this.nextU32() / TWO_POW_32;
  }

  /** Uniform integer in [0, n) without modulo bias; n must be in [1, 2^32]. */
  nextInt(n: number): number {
    if (!(n >= 1 && n <= TWO_POW_32) || !Number.isInteger(n)) {
      throw new F8Error('BAD_CONFIG', `Rng.nextInt: n = ${n}, expected an integer in [1, 2^32]`);
    }
    // Reject the top partial block of 2^32 so every residue is equally likely.
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /**
   * Standard normal sample (Box-Muller). One value per call, no cached spare, so the state is
   * exactly the four words getState() returns.
   */
  normal(): number {
    // 1 - u lies in (0, 1], so the log is finite.
    const u = 1 - this.nextFloat();
    const v = this.nextFloat();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Fisher-Yates shuffle in place; returns the same array. */
  shuffle<T extends Shuffleable>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const x = a[i];
      a[i] = a[j];
      a[j] = x;
    }
    return a;
  }

  getState(): RngState {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  setState(state: RngState): void {
    if (state.length !== 4 || state.some((w) => !Number.isInteger(w) || w < 0 || w >= TWO_POW_32)) {
      throw new F8Error('BAD_INPUT', `Rng state ${JSON.stringify(state)}, expected four uint32 words`);
    }
    if (state.every((w) => w === 0)) {
      throw new F8Error('BAD_INPUT', 'Rng state is all zero, expected at least one non-zero word');
    }
    [this.s0, this.s1, this.s2, this.s3] = state.map((w) => w | 0);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** `n` seeded floats in [lo, hi) (inputs of kernel cases, benches and the tuner). */
export function uniformArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r.nextFloat();
  return out;
}

/** `n` seeded integers in [lo, hi] (codes, biases, shifts of kernel cases, benches and the tuner). */
export function intArray(n: number, seed: number, lo: number, hi: number): Int32Array {
  const r = new Rng(seed);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + r.nextInt(hi - lo + 1);
  return out;
}
