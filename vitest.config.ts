import { defineConfig } from 'vitest/config';

// One forked process for all test files: GPU tests share one adapter and must not run in
// parallel processes (CI has 2 cores and a software Vulkan driver).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    poolOptions: { forks: { singleFork: true } },
    // Commands run by tests keep the default kernels: no search, no read of the user's tuning cache.
    env: { F8NET_TUNE: '0' },
    // The portable core gets Dawn, wgsl/ files and the data set readers from the Node platform.
    setupFiles: ['src/node/register.ts'],
    // The JSON report lets .ci/run print a plain 'N passed, N failed' line.
    reporters: ['default', ['json', { outputFile: 'test-results.json' }]],
  },
});
