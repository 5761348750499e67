import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { decodeOnnx, encodeOnnxInitializers } from '../../src/io/onnx-reader.js';
import { readOnnx } from '../../src/node/onnx-file.js';
import { typedData } from '../../src/io/safetensors.js';
import { writeSafetensors } from '../../src/node/safetensors-file.js';
import { readWeights } from '../../src/node/import-weights.js';

const dir = mkdtempSync(join(tmpdir(), 'f8net-onnx-'));

// Hand-made protobuf: varints, fields, messages.
function vint(x: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(x));
  const out: number[] = [];
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v ? b | 0x80 : b);
  } while (v);
  return out;
}
const fv = (f: number, x: number | bigint) => [...vint(f * 8), ...vint(x)];
const fl = (f: number, payload: number[] | Uint8Array, claim?: number | bigint) => [...vint(f * 8 + 2), ...vint(claim ?? payload.length), ...payload];
const str = (s: string) => [...Buffer.from(s)];
const f32bytes = (xs: number[]) => [...new Uint8Array(new Float32Array(xs).buffer)];
/** ModelProto { ir_version 8, graph { initializer: tensors } }. */
const model = (...tensors: number[][]) => new Uint8Array([...fv(1, 8), ...fl(7, tensors.flatMap((t) => fl(5, t)))]);
const tensor = (name: string, dims: number[], type: number, ...rest: number[][]) => [...dims.flatMap((d) => fv(1, d)), ...fv(2, type), ...fl(8, str(name)), ...rest.flat()];

describe('onnx reader', () => {
  it('round-trips initializers, inputs, outputs and metadata through the onnx-proto writer', () => {
    const w = new Float32Array([1, -2, 3.5, 4, 5e-8, -6]);
    const tensors = [
      { name: 'conv1.weight', dtype: 'F32' as const, shape: [2, 3], data: w },
      { name: 'steps', dtype: 'I64' as const, shape: [2], data: new BigInt64Array([-5n, 1n << 40n]) },
      { name: 'fl', dtype: 'I32' as const, shape: [1], data: new Int32Array([-7]) },
      { name: 'h', dtype: 'F16' as const, shape: [2], data: new Uint16Array([0x3c00, 0xc000]) },
      { name: 'empty', dtype: 'F32' as const, shape: [0, 4], data: new Float32Array(0) },
    ];
    const bytes = encodeOnnxInitializers(tensors, { inputs: ['x'], outputs: ['y'], metadata: { a: 'b', stage: 'float' } });
    const p = join(dir, 'rt.onnx');
    writeFileSync(p, bytes);
    const f = readOnnx(p);
    expect(f.irVersion).toBe(8);
    expect(f.producerName).toBe('f8net');
    expect(f.inputs).toEqual(['x']);
    expect(f.outputs).toEqual(['y']);
    expect(f.metadata).toEqual({ a: 'b', stage: 'float' });
    expect([...f.initializers.keys()]).toEqual(tensors.map((t) => t.name));
    expect(f.initializers.get('conv1.weight')!.shape).toEqual([2, 3]);
    expect([...typedData(f.initializers.get('conv1.weight')!)]).toEqual([...w]);
    const s = f.initializers.get('steps')!;
    expect([...new BigInt64Array(s.data.buffer.slice(s.data.byteOffset, s.data.byteOffset + 16))]).toEqual([-5n, 1n << 40n]);
    expect([...typedData(f.initializers.get('fl')!)]).toEqual([-7]);
    expect(f.initializers.get('h')!.dtype).toBe('F16');
    expect(f.initializers.get('empty')!.shape).toEqual([0, 4]);
    // The library reads the same names and dims.
    const lib = onnxProto.onnx.ModelProto.decode(bytes);
    expect(lib.graph!.initializer!.map((t) => [t.name, t.dims!.map(Number)])).toEqual(tensors.map((t) => [t.name, t.shape]));
    // float_data instead of raw_data (as some exporters write) gives the same values.
    const typed = decodeOnnx(encodeOnnxInitializers([tensors[0]], { typedFields: true }), 'typed.onnx');
    expect([...typedData(typed.initializers.get('conv1.weight')!)]).toEqual([...w]);
  });

  it('reads the typed fields, packed or not, of every supported type', () => {
    const f = decodeOnnx(
      model(
        tensor('f', [3], 1, [...vint(4 * 8 + 5), ...f32bytes([1.5])], fl(4, f32bytes([-2, 3]))),
        tensor('i8', [3], 3, fl(5, [...vint(-1), ...vint(127), ...vint(-128)])),
        tensor('i64', [2], 7, fv(7, -3), fv(7, 1n << 40n)),
        tensor('d', [1], 11, fl(10, [...new Uint8Array(new Float64Array([0.1]).buffer)])),
        tensor('bf', [1], 16, fv(5, 0x3f80)),
        tensor('u32', [1], 12, fv(11, 4000000000)),
      ),
      'typed.onnx',
    );
    expect([...typedData(f.initializers.get('f')!)]).toEqual([1.5, -2, 3]);
    expect([...typedData(f.initializers.get('i8')!)]).toEqual([-1, 127, -128]);
    const i64 = f.initializers.get('i64')!;
    expect([...new BigInt64Array(i64.data.buffer, i64.data.byteOffset, 2)]).toEqual([-3n, 1n << 40n]);
    const d = f.initializers.get('d')!;
    expect(new Float64Array(d.data.buffer, d.data.byteOffset, 1)[0]).toBe(0.1);
    const bf = f.initializers.get('bf')!;
    expect(bf.dtype).toBe('BF16');
    expect([...new Uint16Array(bf.data.buffer, bf.data.byteOffset, 1)]).toEqual([0x3f80]);
    expect([...typedData(f.initializers.get('u32')!)]).toEqual([4000000000]);
  });

  it('refuses hostile files with one clear line and without allocating their claims', () => {
    const good = encodeOnnxInitializers([{ name: 'w', dtype: 'F32', shape: [4], data: new Float32Array(4) }]);
    const big = model(...[0, 1, 2, 3, 4, 5].map((i) => tensor(`w${i}`, [100_000], 7, fl(7, new Array(100_000).fill(1)))));
    const cases: [Uint8Array, RegExp][] = [
      ...[5, 10, 20, 30].map((cut): [Uint8Array, RegExp] => [good.subarray(0, good.length - cut), /^evil\.onnx: not an ONNX model \(invalid protobuf: (field \d+ at byte \d+ claims \d+ bytes, \d+ remain|varint at byte \d+ runs past)/]),
      [new Uint8Array([...fv(1, 8), ...fl(7, [1, 2, 3], 1n << 40n)]), /claims 1099511627776 bytes, 3 remain/],
      [model(tensor('w', [1], 1, fl(9, [], 1n << 40n))), /claims 1099511627776 bytes/],
      [model(tensor('w', [2 ** 31, 2 ** 31, 2 ** 31], 1, fl(9, [0, 0, 0, 0]))), /initializer w: dims \[2147483648, 2147483648, 2147483648\] need more bytes than the file has/],
      [model(tensor('w', [-1], 1, fl(9, []))), /initializer w: dims \[-1\] are not non-negative integers/],
      [model(tensor('w', [3], 1, fl(9, f32bytes([1, 2])))), /initializer w: raw_data has 8 bytes, dims \[3\] FLOAT need 12/],
      [model(tensor('w', [4], 1, fl(4, f32bytes([1, 2, 3])))), /initializer w: has 3 values in float_data, dims \[4\] need 4/],
      [model(tensor('w', [2], 1, fl(9, f32bytes([1, 2])), fl(4, f32bytes([1, 2])))), /has both raw_data and float_data/],
      [model(tensor('w', [1], 1, fl(5, [1]))), /has 1 values in int32_data, but FLOAT data belongs in float_data/],
      [model(tensor('w', [4], 1, fv(14, 1), fl(13, [...fl(1, str('location')), ...fl(2, str('weights.bin'))]))), /initializer w: data is in an external file \("weights\.bin"\); save the model with its weights inside/],
      [model(tensor('w', [1], 99, fl(9, [0]))), /initializer w: data type 99 \(unknown\) is not supported; supported: FLOAT/],
      [model(tensor('w', [1], 8, fl(6, str('x')))), /data type STRING \(8\) is not supported/],
      [model(tensor('w', [1], 14, fl(9, new Array(8).fill(0)))), /data type COMPLEX64 \(14\) is not supported/],
      [model(tensor('w', [1], 1, fl(9, [0, 0, 0, 0])), tensor('w', [1], 1, fl(9, [0, 0, 0, 0]))), /initializer w appears twice/],
      [model(tensor('', [1], 1, fl(9, [0, 0, 0, 0]))), /initializer #0: has no name/],
      [new Uint8Array([...fv(1, 8), 0x38, ...new Array(11).fill(0xff), 1]), /varint at byte 3 is longer than 10 bytes/],
      [new Uint8Array([...fv(1, 8), 0x3b, 0]), /wire type 3 \(groups are not used by ONNX/],
      [new Uint8Array(fv(1, 8)), /not an ONNX model \(no graph\)/],
      [new Uint8Array(Buffer.from('hello, this is not an ONNX file\n')), /evil\.onnx: not an ONNX model/],
      [new Uint8Array(Buffer.from('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}')), /evil\.onnx: not an ONNX model/],
      [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]), /evil\.onnx: not an ONNX model/],
      [new Uint8Array(0), /not an ONNX model \(no ir_version\)/],
      [big, /initializer w2: decoded tensors would take more memory than the file's \d+ bytes allow/],
      [new Uint8Array([...fv(1, 8), ...fl(7, fl(15, []))]), /sparse initializers are not supported/],
    ];
    const before = process.memoryUsage().arrayBuffers;
    for (const [bytes, re] of cases) expect(() => decodeOnnx(bytes, 'evil.onnx')).toThrow(re);
    // Every refusal is one line.
    for (const [bytes] of cases) {
      try {
        decodeOnnx(bytes, 'evil.onnx');
      } catch (e) {
        expect((e as Error).message).not.toContain('\n');
        expect((e as { code?: string }).code).toBe('BAD_INPUT');
      }
    }
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(32 << 20);
  });

  it('reports a missing file', () => {
    expect(() => readOnnx(join(dir, 'nope.onnx'))).toThrow(/nope\.onnx: cannot read/);
    expect(() => readWeights(join(dir, 'nope.bin'))).toThrow(/nope\.bin: cannot read/);
  });

  it('weights files: safetensors or ONNX by extension, else by content', () => {
    const t = [{ name: 'w', dtype: 'F32' as const, shape: [1], data: new Float32Array([2]) }];
    writeSafetensors(join(dir, 'w.bin'), t);
    writeFileSync(join(dir, 'w.dat'), encodeOnnxInitializers(t));
    writeFileSync(join(dir, 'w.txt'), 'weights?');
    writeSafetensors(join(dir, 'st.onnx'), t);
    expect(readWeights(join(dir, 'w.bin')).format).toBe('safetensors');
    const o = readWeights(join(dir, 'w.dat'));
    expect(o.format).toBe('onnx');
    expect([...typedData(o.tensors.get('w')!)]).toEqual([2]);
    expect(() => readWeights(join(dir, 'w.txt'))).toThrow(/w\.txt: neither safetensors, ONNX nor a torch checkpoint/);
    expect(() => readWeights(join(dir, 'st.onnx'))).toThrow(/st\.onnx: not an ONNX model/);
  });
});
