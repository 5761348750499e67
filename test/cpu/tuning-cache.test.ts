import { describe, it, expect, afterEach } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync, readdirSync, cpSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join } from 'node:path';
import { resetTuning, defaultChoices as choicesOf, TUNING_FORMAT, type TuningCache, type CacheExpectation } from '../../src/runtime/tuner.js';
import { Tuning } from '../../src/runtime/tuning.js';
import { TUNE_FAMILIES as FAMILIES } from '../../src/cases/tune.js';
import { readTuningCache, writeTuningCache, tuningCacheDir, tuningCacheFile, wgslSourceHash } from '../../src/node/tuning-cache.js';
import { WGSL_DIR } from '../../src/node/wgsl-files.js';
import { matmulKnobs } from '../../src/ops/matmul.js';
import { conv2dKnobs } from '../../src/ops/conv2d.js';
import { int8Knobs } from '../../src/ops/int8.js';

const defaultChoices = () => choicesOf(FAMILIES);

const want: CacheExpectation = { adapterKey: 'acme/gpu9/dev/Acme GPU 9 driver 1.2 (vulkan)', f8netVersion: '0.1.0', wgslHash: 'abcdef0123456789', quick: false };

/** A valid cache for `want`: every family at its default, checked, timed. */
function validCache(): TuningCache {
  const d = defaultChoices();
  return {
    format: TUNING_FORMAT,
    ...want,
    written: '2025-01-01T00:00:00.000Z',
    families: FAMILIES.map((f) => ({ name: f.name, choice: d[f.name], candidates: [{ setting: d[f.name], ms: 1.5, verified: true, maxError: 0 }] })),
  };
}

const dir = () => mkdtempSync(join(tmpdir(), 'f8net-tuning-'));
function fileWith(content: string | object): string {
  const f = join(dir(), 'tuning-test.json');
  writeFileSync(f, typeof content === 'string' ? content : JSON.stringify(content));
  return f;
}
function warningOf(f: string, w: CacheExpectation = want): string {
  const r = readTuningCache(f, w);
  if (!('warning' in r)) expect.fail(`expected a warning, got ${JSON.stringify(r).slice(0, 200)}`);
  expect(r.warning).toContain(f);
  return r.warning;
}

describe('tuning cache', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
    resetTuning();
  });

  it('lives in F8NET_CACHE_DIR, else XDG_CACHE_HOME/f8net, else ~/.cache/f8net', () => {
    process.env.F8NET_CACHE_DIR = '/x/cache';
    process.env.XDG_CACHE_HOME = '/y/xdg';
    expect(tuningCacheDir()).toBe('/x/cache');
    delete process.env.F8NET_CACHE_DIR;
    expect(tuningCacheDir()).toBe(join('/y/xdg', 'f8net'));
    delete process.env.XDG_CACHE_HOME;
    if (process.platform !== 'win32') expect(tuningCacheDir()).toBe(join(homedir(), '.cache', 'f8net'));
  });

  it('has one file per adapter key', () => {
    const a = tuningCacheFile('a (vulkan)', '/c');
    expect(a).toMatch(/^\/c\/tuning-[0-9a-f]{16}\.json$/);
    expect(tuningCacheFile('a (vulkan)', '/c')).toBe(a);
    expect(tuningCacheFile('a (metal)', '/c')).not.toBe(a);
  });

  it('reports a missing file as missing, without a warning', () => {
    expect(readTuningCache(join(dir(), 'none.json'), want)).toEqual({ missing: true });
  });

  it('writes atomically and reads back what it wrote', () => {
    const f = join(dir(), 'sub', 'folder', 'tuning-x.json');
    writeTuningCache(f, validCache());
    expect(readdirSync(join(f, '..'))).toEqual(['tuning-x.json']);
    const r = readTuningCache(f, want);
    expect('cache' in r && r.cache).toEqual(validCache());
  });

  it('ignores corrupt files with a warning naming the file and why', () => {
    expect(warningOf(fileWith('{"format": "f8net-tuning", '))).toMatch(/corrupt: not valid JSON/);
    expect(warningOf(fileWith('[1, 2]'))).toMatch(/corrupt: not an f8net-tuning file/);
    expect(warningOf(fileWith({ ...validCache(), f8netVersion: 7 }))).toMatch(/corrupt: 'f8netVersion' is 7, not a string/);
    expect(warningOf(fileWith({ ...validCache(), quick: 'no' }))).toMatch(/corrupt: 'quick' is "no"/);
    expect(warningOf(fileWith({ ...validCache(), families: {} }))).toMatch(/corrupt: 'families' is \{\}, not a list/);
  });

  it('ignores wrong types and values outside each knob\'s range', () => {
    const bad = (edit: (c: TuningCache) => void): string => {
      const c = validCache();
      edit(c);
      return warningOf(fileWith(c));
    };
    const fam = (c: TuningCache, name: string) => c.families.find((f) => f.name === name)!;
    expect(bad((c) => (fam(c, 'matmul').choice.TM = '16'))).toMatch(/corrupt: matmul TM = "16" is not one of 4, 8, 16/);
    expect(bad((c) => (fam(c, 'conv2d.fwd').choice.OCB = 64))).toMatch(/corrupt: conv2d.fwd OCB = 64 is not one of 8, 16, 32/);
    expect(bad((c) => (fam(c, 'int8.conv').choice.dot4 = 1))).toMatch(/corrupt: int8.conv dot4 = 1/);
    expect(bad((c) => (fam(c, 'matmul').choice = { ...fam(c, 'matmul').choice, TK: 4 }))).toMatch(/corrupt: matmul has an unknown knob 'TK'/);
    expect(bad((c) => (c.families = c.families.filter((f) => f.name !== 'depthwise.fwd')))).toMatch(/corrupt: family depthwise.fwd is missing/);
    expect(bad((c) => ((fam(c, 'matmul').candidates[0] as unknown as Record<string, unknown>).ms = '1.5'))).toMatch(/corrupt: matmul has a malformed candidate/);
    expect(bad((c) => (fam(c, 'matmul').candidates[0].verified = false))).toMatch(/corrupt: matmul chose .* not a candidate that passed its check/);
  });

  it('ignores stale files: other f8net version, other kernels, other adapter, quick search', () => {
    const c = validCache();
    expect(warningOf(fileWith({ ...c, f8netVersion: '0.0.9' }))).toMatch(/stale: written by f8net 0.0.9, this is 0.1.0/);
    expect(warningOf(fileWith({ ...c, wgslHash: '0000000000000000' }))).toMatch(/stale: the kernels in wgsl\/ changed/);
    expect(warningOf(fileWith({ ...c, adapterKey: 'other' }))).toMatch(/stale: written for adapter 'other'/);
    expect(warningOf(fileWith({ ...c, quick: true }))).toMatch(/stale: made by a quick search/);
    // A quick cache serves a quick run (tests).
    const q = readTuningCache(fileWith({ ...c, quick: true }), { ...want, quick: true });
    expect('cache' in q).toBe(true);
  });

  it('hashes the kernel sources: a copy hashes alike, an edit changes the hash', () => {
    const copy = join(dir(), 'wgsl');
    cpSync(WGSL_DIR, copy, { recursive: true });
    const h = wgslSourceHash(copy);
    expect(h).toMatch(/^[0-9a-f]{16}$/);
    expect(wgslSourceHash(WGSL_DIR)).toBe(h);
    const f = join(copy, 'include', 'common.wgsl');
    writeFileSync(f, `${readFileSync(f, 'utf8')}\n`);
    expect(wgslSourceHash(copy)).not.toBe(h);
  });

  it('resetTuning restores every knob', () => {
    // The knobs of one engine (an adapter), without a GPU: what Engine.tuning holds.
    const tuning = new Tuning();
    const resetTuning = () => tuning.reset();
    const [matmulTiles, conv2dTuning, int8Tuning] = [tuning.get(matmulKnobs), tuning.get(conv2dKnobs), tuning.get(int8Knobs)];
    const before = [structuredClone(matmulTiles), structuredClone(conv2dTuning), structuredClone(int8Tuning)];
    Object.assign(matmulTiles, { TM: 4, WGX: 64 });
    conv2dTuning.OCB = 8;
    int8Tuning.dot4 = true;
    resetTuning();
    expect([matmulTiles, conv2dTuning, int8Tuning]).toEqual(before);
  });
});
