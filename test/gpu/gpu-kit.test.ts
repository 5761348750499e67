// scripts/gpu-kit.sh end to end on this machine's adapter: pack the kit, copy only the tarball and
// its run script into a clean folder with no node_modules anywhere above it, run it (--quick, one
// bench row), and read the results folder: every step's exit code, the adapter, the tuning cache
// the bench used, a checked bench row. Needs bash, tar and a libvulkan1 .deb (F8NET_KIT_DEB, or
// apt-get download); skipped where those are missing.
import { it, expect } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, statSync, copyFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { gpuDescribe } from '../helpers.js';

const repo = resolve(dirname(new URL(import.meta.url).pathname), '../..');
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const deb = process.env.F8NET_KIT_DEB;
const canPack = process.platform === 'linux' && process.arch === 'x64' && has('bash') && has('tar') && (!!deb || has('apt-get'));

gpuDescribe('scripts/gpu-kit.sh', () => {
  it.skipIf(!canPack)('packs a kit that runs info, selftest, tune and bench from a clean folder', () => {
    const out = mkdtempSync(join(tmpdir(), 'f8net-kit-'));
    execFileSync('bash', [join(repo, 'scripts/gpu-kit.sh'), '--out', out, ...(deb ? ['--deb', deb] : [])], { stdio: 'pipe' });
    expect(readdirSync(out).sort()).toEqual(['f8net-gpu-kit.tar.gz', 'run-gpu-kit.sh']);
    const size = statSync(join(out, 'f8net-gpu-kit.tar.gz')).size + statSync(join(out, 'run-gpu-kit.sh')).size;
    expect(size).toBeLessThanOrEqual(64 * 2 ** 20);

    const clean = mkdtempSync(join(tmpdir(), 'f8net-kitrun-'));
    for (let d = clean; d !== dirname(d); d = dirname(d)) expect(existsSync(join(d, 'node_modules')), `${d}/node_modules`).toBe(false);
    for (const f of ['f8net-gpu-kit.tar.gz', 'run-gpu-kit.sh']) copyFileSync(join(out, f), join(clean, f));
    const res = join(clean, 'results');
    // A PATH without this repository's tools: the kit brings its own node.
    const r = spawnSync('bash', [join(clean, 'run-gpu-kit.sh'), '--results', res, '--quick', '--filter', '^matmul\\.fwd/'], {
      cwd: clean,
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin', HOME: clean },
    });
    expect(r.status, r.stderr).toBe(0);
    const summary = readFileSync(join(res, 'summary.txt'), 'utf8');
    for (const s of ['info', 'info-json', 'tune', 'bench']) expect(summary).toMatch(new RegExp(`^${s}: exit 0 `, 'm'));
    expect(summary).toMatch(/^selftest: (exit 0 |not in this build)/m);
    const info = JSON.parse(readFileSync(join(res, 'info.json'), 'utf8'));
    expect(JSON.stringify(info)).toMatch(/vulkan/);
    const bench = JSON.parse(readFileSync(join(res, 'bench.json'), 'utf8'));
    expect(bench.rows.length).toBeGreaterThan(0);
    expect(bench.rows.every((x: { id: string; verified: boolean }) => x.id.startsWith('matmul.fwd/') && x.verified)).toBe(true);
    // The bench used the tuning the tune step wrote into the results folder.
    expect(bench.tuning.cacheFile.startsWith(join(res, 'cache'))).toBe(true);
    expect(readFileSync(join(res, 'bench.md'), 'utf8')).toMatch(/\| matmul\.fwd\//);
    expect(existsSync(`${res}.tar.gz`)).toBe(true);
    // A second run reuses the unpacked kit and refuses to overwrite a results folder.
    const again = spawnSync('bash', [join(clean, 'run-gpu-kit.sh'), '--results', res], { cwd: clean, encoding: 'utf8', env: { PATH: '/usr/bin:/bin', HOME: clean } });
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/already exists/);
  }, 120_000);
});
