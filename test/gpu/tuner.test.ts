import { it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpuDescribe } from '../helpers.js';
import { Engine } from '../../src/runtime/engine.js';
import { resetTuning, defaultChoices as choicesOf, tunerTestHooks, type TuneReport, type TuningCache } from '../../src/runtime/tuner.js';
import { TUNE_FAMILIES } from '../../src/cases/tune.js';
import { ensureTuning, readTuningCache } from '../../src/node/tuning-cache.js';
import { matmulTiles } from '../../src/ops/matmul.js';
import { conv2dTuning, depthwiseTuning } from '../../src/ops/conv2d.js';
import { int8Tuning } from '../../src/ops/int8.js';

// Every search here is quick (tiny problems, two candidates per family); the cache lives in a
// temporary folder, never the user's.
let cacheDir: string;
const saved = process.env.F8NET_CACHE_DIR;
beforeAll(() => {
  cacheDir = mkdtempSync(join(tmpdir(), 'f8net-tuner-'));
  process.env.F8NET_CACHE_DIR = cacheDir;
});
afterAll(() => {
  if (saved === undefined) delete process.env.F8NET_CACHE_DIR;
  else process.env.F8NET_CACHE_DIR = saved;
  rmSync(cacheDir, { recursive: true, force: true });
});
afterEach(() => {
  delete tunerTestHooks.corrupt;
  resetTuning();
});

const quick = { quick: true } as const;
const defaultChoices = () => choicesOf(TUNE_FAMILIES);
const live = (): Record<string, Record<string, unknown>> => ({ conv2dTuning: conv2dTuning(), depthwiseTuning: depthwiseTuning(), matmulTiles: matmulTiles(), int8Tuning: int8Tuning() }) as never;
const TARGET: Record<string, string> = { 'conv2d.fwd': 'conv2dTuning', 'conv2d.wgrad': 'conv2dTuning', 'depthwise.fwd': 'depthwiseTuning', matmul: 'matmulTiles', 'int8.conv': 'int8Tuning', 'int8.depthwise': 'int8Tuning' };

/** Each family's choice is set in its tuning object. */
function expectApplied(r: TuneReport): void {
  for (const f of r.families) for (const [k, v] of Object.entries(f.choice)) expect(live()[TARGET[f.name]][k], `${f.name} ${k}`).toEqual(v);
}
const readJson = (f: string): TuningCache => JSON.parse(readFileSync(f, 'utf8'));
const fam = (c: { families: TuneReport['families'] }, name: string) => c.families.find((f) => f.name === name)!;

function f8net(args: string[], env: Record<string, string>): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/entry.ts', ...args], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, ...env } });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

gpuDescribe('kernel tuner', () => {
  let first: TuneReport;

  it('without a cache: searches, checks every candidate, writes the cache and applies the choice', async () => {
    first = await ensureTuning(Engine.get(), { ...quick, cacheDir });
    expect(first.source).toBe('search');
    expect(first.warnings).toEqual([]);
    expect(first.families.map((f) => f.name)).toEqual(Object.keys(TARGET));
    for (const f of first.families) {
      expect(f.candidates.length, f.name).toBe(2);
      for (const c of f.candidates) {
        expect(c.verified, `${f.name} ${JSON.stringify(c.setting)}`).toBe(true);
        expect(c.ms).toBeGreaterThan(0);
      }
      const chosen = f.candidates.find((c) => JSON.stringify(c.setting) === JSON.stringify(f.choice))!;
      // The fastest, or the default (first) unless another was 10% faster (and won the rematch).
      const fastest = Math.min(...f.candidates.map((c) => c.ms));
      if (chosen !== f.candidates[0]) expect(chosen.ms).toBe(fastest);
      if (chosen !== f.candidates[0]) expect(chosen.ms).toBeLessThanOrEqual(0.9 * f.candidates[0].ms);
    }
    expectApplied(first);
    expect(existsSync(first.cacheFile)).toBe(true);
    expect(first.cacheFile.startsWith(cacheDir)).toBe(true);
    const c = readJson(first.cacheFile);
    expect(c.families).toEqual(JSON.parse(JSON.stringify(first.families)));
    expect(c.adapterKey).toBe(first.adapterKey);
  });

  it('with a valid cache: applies it without running anything', async () => {
    // Put a non-default choice in the cache so that applying it is visible.
    const c = readJson(first.cacheFile);
    const m = fam(c, 'matmul');
    m.choice = { ...m.choice, TM: 8, TN: 4, WGX: 32, B4: false };
    m.candidates.push({ setting: m.choice, ms: 0.1, verified: true, maxError: 0 });
    writeFileSync(first.cacheFile, JSON.stringify(c));
    const e = Engine.get();
    const before = e.dispatchCount;
    const r = await ensureTuning(e, { ...quick, cacheDir });
    expect(r.source).toBe('cache');
    expect(r.warnings).toEqual([]);
    expect(e.dispatchCount).toBe(before);
    expect(matmulTiles()).toMatchObject({ TM: 8, TN: 4, WGX: 32, B4: false });
    expectApplied(r);
    // search: false also uses it.
    resetTuning();
    expect((await ensureTuning(e, { ...quick, cacheDir, search: false })).source).toBe('cache');
    expect(matmulTiles().WGX).toBe(32);
  });

  for (const field of ['f8netVersion', 'wgslHash', 'adapterKey'] as const) {
    it(`a stale cache (other ${field}) is ignored with a warning and searched again`, async () => {
      const c = readJson(first.cacheFile);
      const good = c[field];
      writeFileSync(first.cacheFile, JSON.stringify({ ...c, [field]: 'something else' }));
      const r = await ensureTuning(Engine.get(), { ...quick, cacheDir });
      expect(r.warnings.length).toBe(1);
      expect(r.warnings[0]).toContain(first.cacheFile);
      expect(r.warnings[0]).toMatch(/stale/);
      expect(r.source).toBe('search');
      expect(readJson(first.cacheFile)[field]).toBe(good);
    });
  }

  it('a corrupt cache is ignored with a warning; without search the defaults stay', async () => {
    for (const text of ['{"format": "f8net-tuning", "adap', JSON.stringify({ ...readJson(first.cacheFile), families: [{ name: 'matmul', choice: { TM: 'big' } }] })]) {
      writeFileSync(first.cacheFile, text);
      Object.assign(matmulTiles(), { TM: 4 });
      const r = await ensureTuning(Engine.get(), { ...quick, cacheDir, search: false });
      expect(r.source).toBe('defaults');
      expect(r.warnings.length).toBe(1);
      expect(r.warnings[0]).toContain(first.cacheFile);
      expect(r.warnings[0]).toMatch(/corrupt/);
      const d = defaultChoices();
      for (const f of r.families) expect(f.choice).toEqual(d[f.name]);
      expectApplied(r);
      expect(readFileSync(first.cacheFile, 'utf8')).toBe(text);
    }
    const again = await ensureTuning(Engine.get(), { ...quick, cacheDir });
    expect(again.source).toBe('search');
    expect(again.warnings[0]).toMatch(/corrupt/);
  });

  it('retune searches even with a valid cache and rewrites it', async () => {
    expect((await ensureTuning(Engine.get(), { ...quick, cacheDir })).source).toBe('cache');
    const t0 = statSync(first.cacheFile).mtimeMs;
    const written = readJson(first.cacheFile).written;
    await new Promise((r) => setTimeout(r, 20));
    const r = await ensureTuning(Engine.get(), { ...quick, cacheDir, retune: true });
    expect(r.source).toBe('search');
    expect(r.warnings).toEqual([]);
    expect(readJson(first.cacheFile).written).not.toBe(written);
    expect(statSync(first.cacheFile).mtimeMs).toBeGreaterThan(t0);
  });

  it('never chooses a candidate whose result is wrong', async () => {
    const d = defaultChoices();
    // The default matmul tile gives a wrong result: the other candidate must win.
    tunerTestHooks.corrupt = (family, s) => family === 'matmul' && s.TM === d.matmul.TM;
    const r = await ensureTuning(Engine.get(), { ...quick, cacheDir, retune: true });
    const m = fam(r, 'matmul');
    const bad = m.candidates.find((c) => c.setting.TM === d.matmul.TM)!;
    expect(bad.verified).toBe(false);
    expect(bad.ms).toBe(-1);
    expect(bad.maxError).toBeGreaterThan(0.5);
    expect(m.choice.TM).not.toBe(d.matmul.TM);
    expect(matmulTiles().TM).toBe(m.choice.TM);
    expect(readTuningCache(r.cacheFile, { adapterKey: r.adapterKey, f8netVersion: readJson(r.cacheFile).f8netVersion, wgslHash: readJson(r.cacheFile).wgslHash, quick: true })).toHaveProperty('cache');

    // Every int8 conv candidate wrong: defaults stay, nothing is cached.
    tunerTestHooks.corrupt = (family) => family === 'int8.conv';
    rmSync(r.cacheFile);
    const r2 = await ensureTuning(Engine.get(), { ...quick, cacheDir });
    expect(fam(r2, 'int8.conv').candidates.every((c) => !c.verified)).toBe(true);
    expect(fam(r2, 'int8.conv').choice).toEqual(d['int8.conv']);
    expect(r2.warnings.join('\n')).toMatch(/no candidate of int8.conv passed/);
    expect(existsSync(r2.cacheFile)).toBe(false);
    expectApplied(r2);
  });

  it('command line: f8net tune reads the cache; other commands warn about a corrupt one; F8NET_TUNE=0 turns it off', async () => {
    await ensureTuning(Engine.get(), { ...quick, cacheDir });
    const env = { F8NET_CACHE_DIR: cacheDir, F8NET_TUNE: '1' };
    const t = f8net(['tune', '--quick', '--json'], env);
    expect(t.code, t.err).toBe(0);
    const r = JSON.parse(t.out) as TuneReport;
    expect(r.source).toBe('cache');
    expect(r.cacheFile).toBe(first.cacheFile);

    writeFileSync(first.cacheFile, 'not json');
    const info = f8net(['info', '--json'], env);
    expect(info.code, info.err).toBe(0);
    expect(info.err).toMatch(new RegExp(`f8net: warning: ${first.cacheFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: tuning cache ignored \\(corrupt: not valid JSON`));
    expect(readFileSync(first.cacheFile, 'utf8')).toBe('not json');
    const off = f8net(['info', '--json'], { ...env, F8NET_TUNE: '0' });
    expect(off.code).toBe(0);
    expect(off.err).not.toMatch(/tuning/);
  });
});
