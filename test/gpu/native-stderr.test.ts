import { it, expect } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { gpuDescribe } from '../helpers.js';
import { NATIVE_NOISE, runsInProcess } from '../../src/cli/native-stderr.js';

const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/entry.ts', ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });

it("recognises exactly Dawn's two limit warnings as noise", () => {
  expect(NATIVE_NOISE.test('Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\n')).toBe(true);
  expect(NATIVE_NOISE.test('Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\n')).toBe(true);
  expect(NATIVE_NOISE.test('Warning: something else from Dawn\n')).toBe(false);
  expect(NATIVE_NOISE.test('f8net: maxDynamicUniformBuffersPerPipelineLayout artificially reduced\n')).toBe(false);
  expect(runsInProcess(['node', 'f8net', 'info', '--verbose'], {})).toBe(true);
  expect(runsInProcess(['node', 'f8net', 'info'], {})).toBe(false);
});

gpuDescribe('native stderr of the command line', () => {
  it('keeps Dawn limit warnings off stderr unless --verbose; output, errors and exit codes pass through', () => {
    const quiet = cli(['info', '--json']);
    expect(quiet.status, quiet.stderr).toBe(0);
    expect(JSON.parse(quiet.stdout).description).toBeTypeOf('string');
    expect(quiet.stderr).not.toMatch(/artificially reduced/);
    const verbose = cli(['info', '--json', '--verbose']);
    expect(verbose.status).toBe(0);
    // Adapters that do not clamp print nothing either way; where Dawn prints them, only --verbose shows them.
    if (/artificially reduced/.test(verbose.stderr)) expect(verbose.stderr.match(/artificially reduced/g)!.length).toBe(2);
    const bad = cli(['train', '--set', 'lr=-1', '--quiet']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^f8net: .*lr = -1 is invalid/);
    expect(bad.stderr).not.toMatch(/artificially reduced/);
  });

  it('a SIGINT to the command reaches the work process once and its status comes back', async () => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/entry.ts', 'train', '--set', 'dataset=synthetic', '--set', 'max_train_samples=60000', '--quiet', '--out', '/tmp/f8net-sigint-never'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    await new Promise((r) => setTimeout(r, 4000));
    p.kill('SIGINT');
    const code = await new Promise<number | null>((r) => p.on('close', (c) => r(c)));
    expect(code, err).toBe(130);
  }, 60_000);
});
