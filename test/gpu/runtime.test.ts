import { it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpuDescribe } from '../helpers.js';
import { Engine } from '../../src/runtime/engine.js';
import { Tensor } from '../../src/tensor.js';
import { full, add, scale } from '../../src/ops/elementwise.js';
import { sizeClass } from '../../src/runtime/pool.js';

const dir = mkdtempSync(join(tmpdir(), 'f8net-wgsl-'));
function kernelFile(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const GOOD = `#include "common"
struct Params { n: u32, v: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> unused_here: array<f32>;
@compute @workgroup_size(\${WG}) fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, \${WG}u);
#if \${TWICE}
  if (i < p.n) { out[i] = 2.0 * p.v; }
#else
  if (i < p.n) { out[i] = p.v; }
#endif
}
`;

gpuDescribe('runtime', () => {
  it('specialises kernels with defines and caches pipelines per variant, not per shape', async () => {
    const e = Engine.get();
    const f = kernelFile('good.wgsl', GOOD);
    const k1 = e.kernel(f, 'main', { WG: 64, TWICE: false });
    const k2 = e.kernel(f, 'main', { WG: 64, TWICE: true });
    expect(e.kernel(f, 'main', { WG: 64, TWICE: false })).toBe(k1);
    expect(k2).not.toBe(k1);
    // Only the bindings the entry point reaches are in its layout.
    expect(k1.bindings.map((b) => b.name)).toEqual(['p', 'out']);
    expect(k1.params!.map((x) => x.name)).toEqual(['n', 'v']);
    for (const n of [1, 100, 1000]) {
      const t = Tensor.empty([n]);
      e.dispatch(k2, { out: t }, { n, v: 1.5 }, e.grid1d(n, 64));
      expect([...(await t.read())]).toEqual(new Array(n).fill(3));
    }
    await e.compileCheck();
  });

  it('reports a WGSL compile error with the kernel file and line, through includes', async () => {
    const e = Engine.get();
    const bad = kernelFile('bad.wgsl', GOOD.replace('out[i] = p.v;', 'out[i] = p.v + undefined_name;'));
    e.kernel(bad, 'main', { WG: 64, TWICE: false });
    const line = GOOD.split('\n').findIndex((l) => l.includes('out[i] = p.v;')) + 1;
    await expect(e.compileCheck()).rejects.toThrow(new RegExp(`bad\\.wgsl:${line}: .*undefined_name`));
  });

  it('names the kernel for a missing define, binding or parameter', () => {
    const e = Engine.get();
    const f = kernelFile('good2.wgsl', GOOD);
    expect(() => e.kernel(f, 'main', { WG: 64 })).toThrow(/good2\.wgsl: define \$\{TWICE\} has no value/);
    const k = e.kernel(f, 'main', { WG: 64, TWICE: false });
    expect(() => e.dispatch(k, {}, { n: 1, v: 0 }, [1])).toThrow(/kernel good2\.main: binding 'out' is missing/);
    expect(() => e.dispatch(k, { out: Tensor.empty([1]) }, { n: 1 }, [1])).toThrow(/parameter 'v' is missing \(expects n, v\)/);
    expect(() => e.kernel(f, 'nope', { WG: 64, TWICE: false })).toThrow(/entry point 'nope' not found/);
    expect(() => e.kernel('no_such_family.wgsl', 'main')).toThrow(/wgsl\/no_such_family\.wgsl: kernel file not found/);
  });

  it('reports a GPU validation error with the name of the op that caused it', async () => {
    const e = Engine.get();
    const t = full([64], 1);
    // The same buffer bound read-only and writable in one dispatch breaks WebGPU's usage rules.
    e.dispatch(e.kernel('elementwise.wgsl', 'axpby', { WG: 256 }), { x: t, y: t, out: t }, { n4: 16, a: 1, b: 1 }, [1]);
    await expect(e.sync()).rejects.toThrow(/usage .* \(in a batch of: .*elementwise\.axpby/);
    // The engine stays usable afterwards.
    expect([...(await full([3], 2).read())]).toEqual([2, 2, 2]);
  });

  it('dumps the final WGSL when F8NET_DUMP_WGSL is set', () => {
    const out = mkdtempSync(join(tmpdir(), 'f8net-dump-'));
    process.env.F8NET_DUMP_WGSL = out;
    try {
      Engine.get().kernel(kernelFile('dumped.wgsl', GOOD), 'main', { WG: 32, TWICE: true });
    } finally {
      delete process.env.F8NET_DUMP_WGSL;
    }
    const files = readdirSync(out);
    expect(files.length).toBe(1);
    const text = readFileSync(join(out, files[0]), 'utf8');
    expect(text).toContain('@workgroup_size(32)');
    expect(text).toContain('2.0 * p.v');
    expect(text).not.toContain('#if');
    expect(text).toContain('fn linear_index');
  });

  it('launches past 65535 workgroups per dimension', async () => {
    const e = Engine.get();
    const k = e.kernel(kernelFile('wide.wgsl', GOOD), 'main', { WG: 4, TWICE: false });
    const n = 65535 * 4 + 4 * 1000 + 3; // 66536 workgroups of 4 threads
    const t = Tensor.empty([n]);
    const groups = e.grid1d(n, 4);
    expect(groups[1]).toBeGreaterThan(1);
    e.dispatch(k, { out: t }, { n, v: 5 }, groups);
    const v = await t.read();
    expect(v.every((x) => x === 5)).toBe(true);
    t.dispose();
  });

  it('refuses a tensor larger than the adapter can bind, naming both sizes', () => {
    const max = Engine.get().device.limits.maxStorageBufferBindingSize;
    expect(() => Tensor.empty([max / 4 + 1])).toThrow(/needs .* MiB; this adapter binds at most/);
  });

  it('disposes what a scope created, keeps what it returns, and refuses disposed tensors', async () => {
    const e = Engine.get();
    const x = e.keep(full([1000], 1));
    const before = e.pool.stats().inUseBytes;
    const y = e.tidy(() => {
      const a = add(x, x);
      const b = scale(a, 3);
      return add(b, x);
    });
    expect(e.pool.stats().inUseBytes - before).toBe(sizeClass(4000));
    expect((await y.read())[999]).toBe(7);
    y.dispose();
    expect(() => add(y, x)).toThrow(/disposed/);
    x.dispose();
  });

  it('keeps the work recorded before a copy when a dispatch follows it in the same batch', async () => {
    const a = full([100], 3);
    const b = Tensor.empty([100]);
    Engine.get().copy(a.buffer, 0, b.buffer, 0, a.bytes);
    const c = scale(b, 2); // a dispatch after the copy, before any submission
    expect([...(await c.read())].every((v) => v === 6)).toBe(true);
    expect([...(await b.read())].every((v) => v === 3)).toBe(true);
  });

  it('a lost device ends every later GPU call with DEVICE_LOST and the reason', async () => {
    // A separate engine, so that the shared one stays usable; Engine.open makes it current.
    const shared = Engine.get();
    const e = await Engine.open();
    try {
      const t = full([8], 1);
      e.gpu.lost = 'unknown: the driver reset the GPU';
      expect(() => scale(t, 2)).toThrow(/GPU device lost: unknown: the driver reset the GPU/);
      await expect(t.read()).rejects.toThrow(/GPU device lost/);
    } finally {
      e.gpu.lost = null;
      await e.close();
      Engine.use(shared);
    }
  });

  it('a device destroyed outside f8net is marked lost through device.lost; a pending read and later calls fail with DEVICE_LOST, none hangs', async () => {
    const shared = Engine.get();
    const e = await Engine.open();
    try {
      const t = full([1 << 16], 1);
      const y = scale(t, 2);
      const pending = y.read(); // submitted, not yet read back when the device goes
      e.gpu.device.destroy();
      await expect(pending).rejects.toThrow(/GPU device lost: the device was destroyed outside f8net/);
      expect(e.gpu.lost).toMatch(/destroyed outside f8net/);
      expect(() => scale(t, 2)).toThrow(/GPU device lost/);
      await expect(t.read()).rejects.toThrow(/GPU device lost/);
      await expect(e.sync()).rejects.toThrow(/GPU device lost/);
    } finally {
      await e.close();
      Engine.use(shared);
    }
    // close() (release) destroys the device too, and is not a loss.
    const e2 = await Engine.open();
    await e2.close();
    await e2.gpu.lostSeen;
    expect(e2.gpu.lost).toBeNull();
    Engine.use(shared);
  });

  it('size classes waste at most a quarter', () => {
    for (const b of [1, 4, 255, 256, 257, 1000, 4096, 5000, 1 << 20, (1 << 20) + 1, 123456789]) {
      const s = sizeClass(b);
      expect(s).toBeGreaterThanOrEqual(b);
      expect(s % 64 === 0 || s === 256).toBe(true);
      if (b > 256) expect(s / b).toBeLessThanOrEqual(1.25 + 1e-9);
    }
  });
});
