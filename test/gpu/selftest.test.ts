import { it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { gpuDescribe } from '../helpers.js';
import { KERNEL_CASES } from '../../src/cases/index.js';

function f8net(args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/entry.ts', ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

gpuDescribe('f8net selftest', () => {
  it('runs every case through the CLI: one ok line per family, exit 0', () => {
    const r = f8net(['selftest']);
    expect(r.err).not.toMatch(/FAIL|differ/);
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    const families = [...new Set(KERNEL_CASES.map((c) => c.family))];
    expect(lines).toHaveLength(families.length);
    for (const [i, f] of families.entries()) expect(lines[i]).toMatch(new RegExp(`^ok   ${f.replace('.', '\\.')} +\\d+ cases? +(bit-exact|max error \\S+ \\(atol)`));
    expect(r.out).toMatch(/^ok   int8\.conv +2 cases +bit-exact$/m);
  });

  it('--json --filter gives one object per selected case', () => {
    const r = f8net(['selftest', '--json', '--filter', '^int8\\.(add|pool)']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { family: string; ok: boolean; maxError: number; tolerance: unknown }[];
    expect(j.map((x) => x.family)).toEqual(['int8.add', 'int8.pool']);
    expect(j.every((x) => x.ok && x.maxError === 0)).toBe(true);
    expect(j[0].tolerance).toEqual({ exact: true });
  });

  it('a filter that is not a regular expression or matches nothing is bad input (exit 2)', () => {
    const bad = f8net(['selftest', '--filter', '(']);
    expect(bad.code).toBe(2);
    expect(bad.err.trim().split('\n').at(-1)).toMatch(/^f8net: --filter '\(': not a regular expression/);
    const none = f8net(['selftest', '--filter', 'no-such-kernel']);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/matches no kernel case/);
  });
});
