import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors, typedData } from '../../src/io/safetensors.js';
import { writeSafetensors, readSafetensors } from '../../src/node/safetensors-file.js';

const dir = mkdtempSync(join(tmpdir(), 'f8net-st-'));

function header(h: unknown, data: Uint8Array = new Uint8Array(0), lenOverride?: bigint): Uint8Array {
  const json = Buffer.from(JSON.stringify(h));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lenOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('safetensors', () => {
  it('round-trips tensors and metadata', () => {
    const p = join(dir, 'a.safetensors');
    writeSafetensors(
      p,
      [
        { name: 'w', dtype: 'F32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, -6]) },
        { name: 'fl', dtype: 'I32', shape: [1], data: new Int32Array([-7]) },
        { name: 'q', dtype: 'I8', shape: [3], data: new Int8Array([-127, 0, 127]) },
      ],
      { format: 'x', note: 'ok' },
    );
    const f = readSafetensors(p);
    expect(f.metadata).toEqual({ format: 'x', note: 'ok' });
    expect([...typedData(f.tensors.get('w')!)]).toEqual([1, 2, 3, 4, 5, -6]);
    expect([...typedData(f.tensors.get('fl')!)]).toEqual([-7]);
    expect([...typedData(f.tensors.get('q')!)]).toEqual([-127, 0, 127]);
    // The data section starts 8-byte aligned.
    const hl = Number(readFileSync(p).readBigUInt64LE(0));
    expect((8 + hl) % 8).toBe(0);
  });

  it('refuses hostile headers with a clear message and without allocating their claims', () => {
    const cases: [Uint8Array, RegExp][] = [
      [new Uint8Array(3), /too short/],
      [header({}, new Uint8Array(0), 1n << 40n), /header claims \d+ bytes but the file has/],
      [header({ w: { dtype: 'F32', shape: [1 << 30, 1 << 30], data_offsets: [0, 4] } }, new Uint8Array(4)), /needs more bytes than the file's 4-byte data section/],
      [header({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 400] } }, new Uint8Array(4)), /lie outside the 4-byte data section/],
      [header({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, v: { dtype: 'F32', shape: [1], data_offsets: [2, 6] } }, new Uint8Array(8)), /overlaps/],
      [header({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /hole of 4 bytes/],
      [header({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(8)), /4 trailing bytes/],
      [header({ w: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)), /dtype "Q4" is not one of/],
      [header({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 0] } }), /not a list of non-negative integers/],
      [header({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, new Uint8Array(12)), /span 4 bytes, shape \[2\] F32 needs 8/],
      [header({ __metadata__: { a: 1 } }), /__metadata__\.a is not a string/],
      [header([1, 2]), /not a JSON object/],
      [new TextEncoder().encode('epochs: 3\nlr: 0.1\n'), /^evil\.safetensors: not a safetensors file \(.*starts with "epochs: 3\.lr"\)$/],
    ];
    for (const [bytes, re] of cases) expect(() => decodeSafetensors(bytes, 'evil.safetensors')).toThrow(re);
    const bad = header({});
    bad[9] = 0x7b; // corrupt JSON
    bad[10] = 0x7b;
    expect(() => decodeSafetensors(bad, 'evil.safetensors')).toThrow(/evil\.safetensors: header is not valid JSON/);
  });

  it('writes atomically: a failed write leaves the previous file intact', () => {
    const p = join(dir, 'keep.safetensors');
    writeSafetensors(p, [{ name: 'a', dtype: 'F32', shape: [1], data: new Float32Array([1]) }]);
    const before = readFileSync(p);
    // A tensor whose data is shorter than its shape fails before anything is written.
    expect(() => writeSafetensors(p, [{ name: 'a', dtype: 'F32', shape: [4], data: new Float32Array([1]) }])).toThrow(/needs 16/);
    expect(readFileSync(p).equals(before)).toBe(true);
    // Writing into a missing folder fails with a clear message.
    expect(() => writeSafetensors(join(dir, 'no', 'such', 'x.safetensors'), [])).toThrow(/cannot write/);
    expect(statSync(p).size).toBe(before.length);
  });

  it('reports a missing file', () => {
    expect(() => readSafetensors(join(dir, 'nope.safetensors'))).toThrow(/nope\.safetensors: cannot read/);
  });
});

describe('atomic writes under a kill', () => {
  it('a process killed while writing leaves the previous file or the complete new one, never a torn one', async () => {
    const { spawn } = await import('node:child_process');
    const p = join(dir, 'killed.safetensors');
    writeSafetensors(p, [{ name: 'a', dtype: 'F32', shape: [4], data: new Float32Array([1, 2, 3, 4]) }], { gen: 'old' });
    // A child writes a 64 MiB checkpoint over it; it is killed at a point that varies from run to
    // run (before the write, during it, or between write and rename).
    for (const delay of [5, 40, 120]) {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          '-e',
          `import('./src/io/safetensors.ts').then(({ writeSafetensors }) => writeSafetensors(${JSON.stringify(p)}, [{ name: 'a', dtype: 'F32', shape: [1 << 24], data: new Float32Array(1 << 24).fill(7) }], { gen: 'new' }))`,
        ],
        { stdio: 'ignore' },
      );
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      await new Promise((r) => child.on('exit', r));
      const f = readSafetensors(p); // throws if torn
      const gen = f.metadata.gen;
      expect(['old', 'new']).toContain(gen);
      const a = typedData(f.tensors.get('a')!);
      expect(a.length).toBe(gen === 'old' ? 4 : 1 << 24);
    }
  });
});
