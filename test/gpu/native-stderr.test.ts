import { it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
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

  it('a SIGINT to the command reaches the work process once and its status comes back', () => {
    // The command is started and interrupted by a plain node parent, as a shell would: spawned
    // straight from the vitest worker the SIGINT was observed never to reach the command (the
    // worker's own signal set-up; cause not pinned down), while from any plain parent it does.
    const driver = `
      const { spawn } = require('node:child_process');
      const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/entry.ts', 'train', '--set', 'dataset=synthetic', '--set', 'max_train_samples=60000', '--quiet', '--out', ${JSON.stringify(join(tmpdir(), `f8net-sigint-${process.pid}`))}], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (d) => (err += d));
      setTimeout(() => p.kill('SIGINT'), 4000);
      p.on('close', (c) => { process.stdout.write(JSON.stringify({ code: c, err })); });`;
    const r = spawnSync(process.execPath, ['-e', driver], { encoding: 'utf8', timeout: 55_000 });
    const { code, err } = JSON.parse(r.stdout || '{"code":null,"err":"no result"}');
    expect(code, err).toBe(130);
  }, 60_000);
});
