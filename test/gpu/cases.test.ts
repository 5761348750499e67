import { it, expect } from 'vitest';
import { gpuDescribe } from '../helpers.js';
import { KERNEL_CASES, runKernelCase, summarizeCases, kernelCase, type CaseResult } from '../../src/cases/index.js';

const FAMILIES = [
  'conv2d.fwd', 'conv2d.bwd-input', 'conv2d.bwd-weight', 'depthwise.fwd', 'matmul', 'batchnorm', 'elementwise', 'reduce', 'pool', 'loss', 'sgd', 'image',
  'fake_quant', 'fraclen', 'fold', 'qconv', 'requant', 'int8.conv', 'int8.depthwise', 'int8.linear', 'int8.add', 'int8.pool', 'int8.requant',
];

it('the registry covers every kernel family, with unique names', () => {
  expect([...new Set(KERNEL_CASES.map((c) => c.family))].sort()).toEqual([...FAMILIES].sort());
  const ids = KERNEL_CASES.map((c) => `${c.family}: ${c.name}`);
  expect(new Set(ids).size).toBe(ids.length);
});

gpuDescribe('kernel cases', () => {
  const results: CaseResult[] = [];
  for (const c of KERNEL_CASES) {
    it(`${c.family}: ${c.name}`, async () => {
      const r = await runKernelCase(c);
      results.push(r);
      expect(r.detail ?? '').toBe('');
      expect(r.ok).toBe(true);
    });
  }

  it('a case whose kernel is wrong fails, naming the output and the mismatch', async () => {
    const base = KERNEL_CASES.find((c) => c.family === 'int8.conv')!;
    const broken = kernelCase({ ...base, gpu: async (i) => (await base.gpu(i)).map((o, k) => (k === 1 ? Int32Array.from(o, (v, j) => (j === 3 ? v + 1 : v)) : o)) });
    const r = await runKernelCase(broken);
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(/^output 1: 1 of \d+ outside bit-exact: \[3\] got/);
    const s = summarizeCases([...results, r]).find((f) => f.family === 'int8.conv')!;
    expect(s.failed).toBe(1);
  });
});
