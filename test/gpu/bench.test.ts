// The benchmark suite in --quick mode, in-process: every row ran, matched its CPU reference and
// produced a positive figure (no speed is asserted); GPU timing through timestamp queries where
// the adapter has them; and `bench diff` on two small result files (no GPU).
import { it, expect, describe } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpuDescribe } from '../helpers.js';
import { Engine } from '../../src/runtime/engine.js';
import { Tensor } from '../../src/tensor.js';
import { conv2dForward } from '../../src/ops/conv2d.js';
import { runBench, allRows, selectRows, type BenchResult, type RowResult } from '../../src/bench/suite.js';
import { markdownTable } from '../../src/bench/report.js';
import { writeJsonAtomic, writeRooflinePng } from '../../src/node/bench-files.js';
import { diffResults, diffTable } from '../../src/bench/diff.js';
import { readBenchJson } from '../../src/node/bench-files.js';

const dir = mkdtempSync(join(tmpdir(), 'f8net-bench-'));

gpuDescribe('f8net bench --quick', () => {
  it('GPU timing sums the timed passes and leaves untimed work alone', async () => {
    const e = Engine.get();
    if (!e.canTimeGpu) {
      expect(() => e.beginGpuTiming()).toThrow(/timestamp-query/);
      return;
    }
    const x = Tensor.from(new Float32Array(2 * 8 * 16 * 16).fill(1), [2, 8, 16, 16]);
    const w = Tensor.from(new Float32Array(8 * 8 * 9).fill(0.5), [8, 8, 3, 3]);
    e.beginGpuTiming();
    expect(() => e.beginGpuTiming()).toThrow(/already running/);
    for (let i = 0; i < 3; i++) e.tidy(() => void conv2dForward(x, w, null, { padding: 1 }));
    const t = await e.endGpuTiming();
    expect(t.passes).toBeGreaterThanOrEqual(1);
    expect(t.ns).toBeGreaterThanOrEqual(0);
    await expect(e.endGpuTiming()).rejects.toThrow(/not running/);
    // Untimed work after the end still runs and reads back.
    const y = conv2dForward(x, w, null, { padding: 1 });
    expect(((await y.read()) as Float32Array)[0]).toBe(0.5 * 8 * 4);
    for (const a of [x, w, y]) a.dispose();
  });

  it('runs every row, checks it against its reference and produces a figure', async () => {
    const e = Engine.get();
    const lines: string[] = [];
    const res = await runBench(e, { quick: true, tuning: 'both', search: false, tuningCacheDir: dir, log: (l) => lines.push(l) });
    const ids = allRows(true, e.gpu.hasDot4I8).map((r) => r.id);
    expect(res.rows.map((r) => r.id)).toEqual(ids);
    // Every family of the issue has rows.
    for (const fam of ['conv2d.fwd', 'conv2d.bwd_input', 'conv2d.bwd_weight', 'depthwise.', 'matmul.', 'bn.stats', 'fakequant', 'fraclen', 'int8.conv', 'int8.linear', 'requant', 'pool.max', 'pool.global_avg', 'int8.maxpool', 'int8.sumpool', 'sgd.step', 'model.train.float', 'model.train.fixed', 'model.infer.float', 'model.infer.int']) {
      expect(ids.some((id) => id.startsWith(fam)), fam).toBe(true);
    }
    const bad = res.rows.filter((r) => !r.verified || r.error).map((r) => `${r.id}: ${r.error}`);
    expect(bad, lines.join('\n')).toEqual([]);
    for (const r of res.rows) {
      expect(r.maxError, r.id).toBeLessThanOrEqual(r.tolerance);
      for (const v of ['default', 'tuned'] as const) {
        const m = r.results[v]!;
        expect(m, `${r.id} ${v}`).toBeDefined();
        expect(m.verified).toBe(true);
        expect(m.figure, `${r.id} ${v} figure`).toBeGreaterThan(0);
        expect(Number.isFinite(m.figure)).toBe(true);
        expect(m.rooflineShare).toBeGreaterThan(0);
        expect(m.time.samples).toBeGreaterThanOrEqual(2);
        expect(m.time.minMs).toBeLessThanOrEqual(m.time.medianMs);
        expect(m.time.medianMs).toBeLessThanOrEqual(m.time.maxMs);
        expect(m.method).toBe(r.unit === 'images/s' || !e.canTimeGpu || m.note ? 'wall' : 'timestamp');
      }
    }
    expect(res.peaks.f32Gflops).toBeGreaterThan(0);
    expect(res.peaks.int8Gops).toBeGreaterThan(0);
    expect(res.peaks.copyGBs).toBeGreaterThan(0);
    expect(res.adapter.description.length + res.adapter.vendor.length).toBeGreaterThan(0);
    expect(res.versions.f8net).toMatch(/^\d+\.\d+/);
    expect(res.versions.node).toBe(process.version);

    // Outputs: table, JSON (atomic, readable by diff), PNG.
    const table = markdownTable(res);
    for (const id of ids) expect(table).toContain(`| ${id} |`);
    const jf = join(dir, 'quick.json');
    writeJsonAtomic(jf, res);
    expect(readBenchJson(jf).rows.length).toBe(ids.length);
    const pf = join(dir, 'quick.png');
    await writeRooflinePng(res, pf);
    expect(readFileSync(pf).subarray(1, 4).toString()).toBe('PNG');
  }, 240_000);

  it('filters rows by a regular expression and rejects a bad one', async () => {
    expect(selectRows(allRows(true), 'int8\\.(conv|linear)').every((r) => /^int8\.(conv|linear)\//.test(r.id))).toBe(true);
    expect(() => selectRows(allRows(true), '(')).toThrow(/not a regular expression/);
    await expect(runBench(Engine.get(), { quick: true, tuning: 'default', filter: 'no-such-row' })).rejects.toThrow(/matches no row/);
  });
});

describe('f8net bench diff', () => {
  const row = (id: string, ms: number | null): RowResult => ({
    id,
    family: 'f',
    shape: 's',
    unit: 'GFLOP/s',
    flop: 1e6,
    bytes: 0,
    peak: 'f32',
    verified: true,
    maxError: 0,
    tolerance: 0,
    results:
      ms === null
        ? {}
        : { tuned: { method: 'wall', time: { medianMs: ms, minMs: ms, maxMs: ms, samples: 3 }, wall: { medianMs: ms, minMs: ms, maxMs: ms, samples: 3 }, verified: true, maxError: 0, tolerance: 0, figure: 1 / ms, rooflineShare: 0.1 } },
    peers: {},
  });
  const file = (name: string, rows: RowResult[], adapter: string): string => {
    const r = { format: 'f8net-bench', version: 1, date: '2025-01-01', adapter: { description: adapter, vendor: 'v' }, versions: { f8net: '0.1.0' }, rows } as unknown as BenchResult;
    const f = join(dir, name);
    writeFileSync(f, JSON.stringify(r));
    return f;
  };

  it('matches rows by id, gives B / A, and lists rows present in one file only', () => {
    const a = file('a.json', [row('x', 2), row('y', 4), row('only-a', 1), row('unmeasured', null)], 'gpu A');
    const b = file('b.json', [row('y', 1), row('x', 3), row('only-b', 5), row('unmeasured', 2)], 'gpu B');
    const d = diffResults(readBenchJson(a), readBenchJson(b));
    const by = Object.fromEntries(d.rows.map((r) => [r.id, r]));
    expect(by.x.ratio).toBeCloseTo(1.5);
    expect(by.y.ratio).toBeCloseTo(0.25);
    expect(by['only-a'].status).toBe('only A');
    expect(by['only-b'].status).toBe('only B');
    expect(by['only-b'].b?.ms).toBe(5);
    expect(Number.isNaN(by.unmeasured.ratio)).toBe(true);
    expect(d.geomean).toBeCloseTo(Math.sqrt(1.5 * 0.25));
    const t = diffTable(d);
    expect(t).toContain('| x | 2.00 | wall | 3.00 | wall | 1.50x |');
    expect(t).toContain('| only-a | 1.00 | wall | - | - | only A |');
    expect(t).toContain('| unmeasured | - | - | 2.00 | wall | not measured |');
    expect(t).toMatch(/^A: gpu A/);
  });

  it('rejects files that are not bench results', () => {
    const f = join(dir, 'bad.json');
    writeFileSync(f, '{"rows": 3}');
    expect(() => readBenchJson(f)).toThrow(/not an f8net bench result/);
    expect(() => readBenchJson(join(dir, 'missing.json'))).toThrow(/cannot read/);
    expect(existsSync(join(dir, 'missing.json'))).toBe(false);
  });
});
