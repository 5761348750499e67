/**
 * The GPU integer runner's adapter-limit check (src/export/gpu-limits.ts, issue 17 point 3): with
 * the limits of a small adapter, a model whose one image does not fit a binding, whose weights do
 * not, or whose grouped conv launches too many workgroups is refused with one line naming the node,
 * the buffer and the limit; a model that fits one image but not a whole chunk runs in smaller chunks.
 */
import { describe, it, expect } from 'vitest';
import { gpuBatchFor, type GpuRunnerLimits } from '../../src/export/gpu-limits.js';
import { validateGraph } from '../../src/export/validate.js';
import { F8Error } from '../../src/runtime/errors.js';
import { sizeClass } from '../../src/runtime/pool.js';
import { GraphBuilder, sampleGraphs } from '../int-graphs.js';
import { Rng } from '../../src/runtime/rng.js';

const MiB = 2 ** 20;
const limits = (bind: number, wg = 65535): GpuRunnerLimits => ({ maxStorageBufferBindingSize: bind, maxBufferSize: 4 * bind, maxComputeWorkgroupsPerDimension: wg });
const ep = (out: 'int8' | 'uint8' | 'int32', shift = [0], relu = false) => ({ relu, shift, out });

function refused(f: () => unknown, re: RegExp): void {
  let err: unknown = null;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(F8Error);
  expect((err as F8Error).code).toBe('UNSUPPORTED');
  expect((err as F8Error).message).not.toContain('\n');
  expect((err as F8Error).message).toMatch(re);
}

/** input [C, H, W] uint8 -> 1x1 conv to O channels (out dtype) -> sum pool -> linear 3. */
function wide(C: number, H: number, W: number, O: number, out: 'uint8' | 'int32', groups = 1) {
  const b = new GraphBuilder(new Rng(3), 'wide', { dtype: 'uint8', shape: [C, H, W], fl: 8 });
  const x = b.conv('input', O, 1, { groups, epilogue: ep(out, [7]) });
  const g = b.finish(b.linear(b.sumpool(x, ep('uint8', [12])), 3, ep('int32')));
  validateGraph(g, 'wide');
  return g;
}

describe('gpuBatchFor', () => {
  it('keeps the requested chunk where everything fits (the sample models on a 128 MiB adapter)', () => {
    for (const { graph } of sampleGraphs()) expect(gpuBatchFor(graph, limits(128 * MiB), 64)).toBe(64);
  });

  it('shrinks the chunk to the largest that fits a binding, buffer size classes included', () => {
    // Output int32 [8, 256, 256]: 2 MiB per image; a 16 MiB binding holds 8 images at most.
    const g = wide(4, 256, 256, 8, 'int32');
    const b = gpuBatchFor(g, limits(16 * MiB), 64);
    expect(b).toBeLessThan(64);
    expect(sizeClass(b * 2 * MiB)).toBeLessThanOrEqual(16 * MiB);
    expect(sizeClass((b + 1) * 2 * MiB)).toBeGreaterThan(16 * MiB);
    // Packed codes take a word per 4 channels: uint8 [8, 256, 256] is 512 KiB per image.
    expect(gpuBatchFor(wide(4, 256, 256, 8, 'uint8'), limits(16 * MiB), 64)).toBe(32);
  });

  it('refuses a model whose one image does not fit, naming the node, the value and the limit', () => {
    refused(() => gpuBatchFor(wide(4, 512, 512, 8, 'int32'), limits(4 * MiB), 64), /^integer model: node conv\S* \(conv\): its output conv\S*\.out needs 8388608 bytes per image on the GPU, more than this adapter's maxStorageBufferBindingSize of 4194304 bytes; run it with --runner cpu$/);
    // The input alone: one channel still takes a whole word per position.
    refused(() => gpuBatchFor(wide(1, 1100, 1000, 4, 'uint8'), limits(4 * MiB), 64), /node input: the input input needs 4400000 bytes per image/);
  });

  it('refuses weights larger than a binding', () => {
    // linear [3, K] after a flatten is small; a 1x1 conv of 4096 -> 1024 channels has 4 MiB of weights.
    const g = wide(4096, 1, 1, 1024, 'uint8');
    refused(() => gpuBatchFor(g, limits(2 * MiB), 1), /node conv\S* \(conv\): its weights conv\S*\.weight needs 4194304 bytes on the GPU, more than/);
  });

  it('refuses a grouped conv that launches more workgroups along z than the adapter allows', () => {
    // 64 groups of 16 output channels: 64 * ceil(16 / 16) = 64 workgroups along z.
    const g = wide(64, 2, 2, 1024, 'int32', 64);
    expect(gpuBatchFor(g, limits(128 * MiB, 65535), 4, 16)).toBe(4);
    refused(() => gpuBatchFor(g, limits(128 * MiB, 63), 4, 16), /node conv\S* \(conv\): groups = 64 with 16 output channels each launch 64 workgroups along z, more than this adapter's maxComputeWorkgroupsPerDimension of 63/);
  });
});
