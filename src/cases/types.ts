/**
 * A kernel case: one problem of one kernel family, in the shape of llm.c's dev/cuda harness.
 * It holds the shapes, builds seeded inputs, computes the CPU reference, runs the GPU kernel
 * and says how close the two must be. The tests (test/gpu/cases.test.ts), `f8net selftest`,
 * the browser page (runKernelCases) and the bench and tuner checks draw on the same cases.
 */
import type { Tolerance } from '../runtime/compare.js';

export type { Tolerance };

export interface KernelCase<I = unknown> {
  /** Kernel family, e.g. 'conv2d.fwd', 'int8.conv' (selftest prints one line per family). */
  family: string;
  /** The problem in words, unique within the family. */
  name: string;
  shapes: Record<string, readonly number[]>;
  tolerance: Tolerance;
  /** Seeded input data (the same on every call). */
  inputs(): I;
  /** CPU reference outputs, in the order gpu() returns them. */
  reference(i: I): ArrayLike<number>[];
  /** Runs the kernel on the current engine and reads its outputs back; tensors it makes are freed by the caller's tidy scope. */
  gpu(i: I): Promise<ArrayLike<number>[]>;
  /**
   * Tuned families' cases (the tuner's check and timed problems, src/cases/tune.ts): uploads the
   * inputs once and returns a function that dispatches the kernel without reading back.
   */
  prepare?(i: I): () => unknown;
}

/** Builds a case with its input type inferred. */
export const kernelCase = <I>(c: KernelCase<I>): KernelCase<I> => c;

export interface CaseResult {
  family: string;
  name: string;
  tolerance: Tolerance;
  ok: boolean;
  /** Largest |GPU - CPU| over the case's outputs. */
  maxError: number;
  /** Why it failed: the output and its first mismatches, or the error it threw. */
  detail?: string;
}
