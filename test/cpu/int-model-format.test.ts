import { afterAll, describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleGraphs, randomCodes } from '../int-graphs.js';
import { parseIntModel, serializeIntModel } from '../../src/export/format.js';
import { readIntModel, writeIntModel } from '../../src/node/int-model-files.js';
import { validateGraph } from '../../src/export/validate.js';
import { quantizeImages, runIntCpu } from '../../src/export/run-cpu.js';
import { shiftRoundHalfEven } from '../../src/quant/int-requant.js';
import { F8Error } from '../../src/runtime/errors.js';
import type { IntGraph } from '../../src/export/graph.js';

const root = mkdtempSync(join(tmpdir(), 'f8net-intmodel-'));
let dirCount = 0;
const newDir = (): string => join(root, `m${dirCount++}`);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The sample graphs, plus one with layer formats and model args so every field round-trips. */
function graphs(): { name: string; graph: IntGraph }[] {
  const all = sampleGraphs();
  const g = structuredClone(all[0].graph);
  g.model.args = { width: 8, blocks: [1, 2], note: 'ünïcode', nested: { a: null } };
  g.layers = [
    { name: 'conv0', inputSigned: true, inputFl: 5, weightFl: [7, 6, 7, 7, 5, 7], alpha: 3.75 },
    { name: 'conv2', inputSigned: false, inputFl: 3, weightFl: [7], alpha: 1.5 },
  ];
  return [...all, { name: 'cnn+layers', graph: g }];
}
const base = (): IntGraph => sampleGraphs()[0].graph;

/** Expects fn to throw F8Error BAD_INPUT whose message matches re; returns the message. */
function expectBad(fn: () => unknown, re: RegExp, code = 'BAD_INPUT'): string {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected an error matching ${re}`).toBeInstanceOf(F8Error);
  const e = err as F8Error;
  expect(e.code).toBe(code);
  expect(e.message).toMatch(re);
  expect(e.message).not.toContain('\n');
  return e.message;
}

type Doc = Record<string, any>;

/**
 * The serialised base model with its JSON edited by `edit` and its weights by `editBin`;
 * `rehash` updates weights.sha256 so only the intended defect remains.
 */
function mutated(edit: (d: Doc) => void, editBin?: (b: Uint8Array) => Uint8Array, rehash = true): { json: string; bin: Uint8Array } {
  const { json, bin } = serializeIntModel(base());
  const d = JSON.parse(json) as Doc;
  edit(d);
  let b: Uint8Array = bin.slice();
  if (editBin) {
    b = editBin(b);
    if (rehash) d.weights.sha256 = createHash('sha256').update(b).digest('hex');
  }
  return { json: JSON.stringify(d), bin: b };
}
const parseMutated = (edit: (d: Doc) => void, editBin?: (b: Uint8Array) => Uint8Array, rehash = true): IntGraph => {
  const { json, bin } = mutated(edit, editBin, rehash);
  return parseIntModel(json, bin, 'model');
};
const nodeBy = (d: Doc, op: string): Doc => d.nodes.find((n: Doc) => n.op === op);

describe('integer model format: round trip', () => {
  for (const { name, graph } of graphs()) {
    it(`${name}: serialize -> parse and write -> read give the same graph and logits`, () => {
      const { json, bin } = serializeIntModel(graph);
      const g2 = parseIntModel(json, bin, 'mem');
      expect(g2).toStrictEqual(graph);
      // Deterministic bytes, and a fixed point of parse -> serialize.
      const again = serializeIntModel(g2);
      expect(again.json).toBe(json);
      expect(Buffer.from(again.bin).equals(Buffer.from(bin))).toBe(true);
      // Tensors back to back, 4-byte aligned, little-endian.
      const doc = JSON.parse(json) as Doc;
      for (const [tn, e] of Object.entries(doc.tensors as Record<string, Doc>)) {
        expect(e.offset % 4).toBe(0);
        const t = graph.tensors[tn];
        const dv = new DataView(bin.buffer, bin.byteOffset + e.offset, e.length);
        const first = t.dtype === 'int8' ? dv.getInt8(0) : dv.getInt32(0, true);
        expect(first).toBe(t.data[0]);
      }
      expect(bin.length % 4).toBe(0);

      const dir = newDir();
      writeIntModel(dir, graph);
      expect(readdirSync(dir).sort()).toEqual(['model.json', 'weights.bin']);
      const g3 = readIntModel(dir);
      expect(g3).toStrictEqual(graph);
      expect(readIntModel(join(dir, 'model.json'))).toStrictEqual(graph);
      const codes = randomCodes(graph, 3, 5);
      const want = runIntCpu(graph, codes, 3);
      expect(runIntCpu(g2, codes, 3)).toEqual(want);
      expect(runIntCpu(g3, codes, 3)).toEqual(want);
    });
  }

  it('overwrites an existing model in place', () => {
    const [a, b] = sampleGraphs();
    const dir = newDir();
    writeIntModel(dir, a.graph);
    writeIntModel(dir, b.graph);
    expect(readIntModel(dir)).toStrictEqual(b.graph);
    expect(readdirSync(dir).sort()).toEqual(['model.json', 'weights.bin']);
  });
});

describe('integer model format: hostile files', () => {
  it('truncated or padded weights.bin', () => {
    expectBad(() => parseMutated(() => {}, (b) => b.slice(0, b.length - 30), false), /^model\/model\.json: tensor linear4\.weight: offset 768 \+ length 50 exceeds weights\.bin \(810 bytes\)$/);
    expectBad(() => parseMutated(() => {}, (b) => b.slice(0, b.length - 2), false), /model\/model\.json: tensor linear4\.bias: offset 820 \+ length 20 exceeds weights\.bin \(838 bytes\)/);
    expectBad(() => parseMutated(() => {}, (b) => Uint8Array.from([...b, 0, 0, 0, 0]), false), /^model\/weights\.bin: has 844 bytes, the tensor table of model\.json declares 840$/);
    expectBad(() => parseIntModel(serializeIntModel(base()).json, new Uint8Array(0), 'model'), /exceeds weights\.bin \(0 bytes\)/);
  });

  it("a sum pool's divisor: an integer in [1, 2^16], above 1 with one shift and 8-bit codes out; files without it read", () => {
    const pool = (d: Doc) => nodeBy(d, 'sumpool');
    expect(parseMutated((d) => (pool(d).divisor = 9)).nodes.find((n) => n.op === 'sumpool')).toMatchObject({ divisor: 9 });
    expect(parseMutated(() => {}).nodes.find((n) => n.op === 'sumpool')).not.toHaveProperty('divisor');
    expectBad(() => parseMutated((d) => (pool(d).divisor = 0)), /node sumpool3: divisor is 0, expected an integer in \[1, 65536\]/);
    expectBad(() => parseMutated((d) => (pool(d).divisor = 1.5)), /node sumpool3: divisor is 1\.5, expected an integer/);
    expectBad(() => parseMutated((d) => (pool(d).divisor = 65537)), /node sumpool3: divisor is 65537/);
    expectBad(() => parseMutated((d) => (pool(d).divisor = '9')), /node sumpool3: divisor is "9"/);
    expectBad(() => parseMutated((d) => (pool(d).divisor = 9) && (pool(d).epilogue.shift = Array(10).fill(3))), /node sumpool3 \(sumpool\): divisor 9 with per-channel shifts; a divisor takes one shift/);
    expectBad(() => parseMutated((d) => (pool(d).divisor = 9) && (d.values[4].dtype = 'int32') && (pool(d).epilogue.out = 'int32')), /node sumpool3 \(sumpool\): divisor 9 with int32 output/);
  });

  it('format and version', () => {
    expectBad(() => parseMutated((d) => (d.version = 2)), /^model\/model\.json: integer model version 2 is not supported \(this f8net reads version 1\)$/);
    expectBad(() => parseMutated((d) => (d.version = '1')), /version "1" is not supported/);
    expectBad(() => parseMutated((d) => (d.format = 'onnx')), /not an f8net integer model \(format is "onnx", expected "f8net-int-model"\)/);
    expectBad(() => parseMutated((d) => delete d.format), /format is null/);
  });

  it('missing and unknown fields', () => {
    expectBad(() => parseMutated((d) => delete d.values), /the model: missing field "values"/);
    expectBad(() => parseMutated((d) => (d.extra = 1)), /the model: unknown field "extra"/);
    expectBad(() => parseMutated((d) => delete nodeBy(d, 'conv').stride), /node conv0: missing field "stride"/);
    expectBad(() => parseMutated((d) => (nodeBy(d, 'maxpool').groups = 1)), /node maxpool1: unknown field "groups"/);
    expectBad(() => parseMutated((d) => delete nodeBy(d, 'conv').epilogue.out), /node conv0: epilogue: missing field "out"/);
    expectBad(() => parseMutated((d) => delete d.weights.sha256), /weights: missing field "sha256"/);
  });

  it('missing tensors', () => {
    expectBad(() => parseMutated((d) => (nodeBy(d, 'conv').weight = 'nope')), /^model\/model\.json: node conv0: weight tensor "nope" is not in the tensor table$/);
    expectBad(() => parseMutated((d) => (nodeBy(d, 'linear').bias = 'conv0.weight.missing')), /node linear4: bias tensor .* is not in the tensor table/);
    // Removing a table entry leaves a hole in weights.bin.
    expectBad(() => parseMutated((d) => delete d.tensors['conv2.weight']), /tensor conv2\.bias: offset 728, expected 188/);
    expectBad(() => parseMutated((d) => delete d.tensors['linear4.bias']), /weights\.bytes is 840, the tensor table needs 820/);
  });

  it('offsets and lengths out of range, negative, non-integer or of the wrong type', () => {
    const t = (d: Doc): Doc => d.tensors['conv0.weight'];
    expectBad(() => parseMutated((d) => (t(d).offset = 4096)), /^model\/model\.json: tensor conv0\.weight: offset 4096 \+ length 162 exceeds weights\.bin \(840 bytes\)$/);
    expectBad(() => parseMutated((d) => (t(d).offset = -4)), /tensor conv0\.weight: offset is -4, expected a non-negative integer/);
    expectBad(() => parseMutated((d) => (t(d).offset = 2.5)), /offset is 2\.5, expected a non-negative integer/);
    expectBad(() => parseMutated((d) => (t(d).offset = '0')), /offset is "0", expected a non-negative integer/);
    expectBad(() => parseMutated((d) => (t(d).offset = 2)), /offset 2 is not a multiple of 4/);
    expectBad(() => parseMutated((d) => (t(d).length = 1e300)), /length is 1e\+300, expected a non-negative integer/);
    expectBad(() => parseMutated((d) => (t(d).length = -162)), /length is -162/);
    expectBad(() => parseMutated((d) => (d.tensors['conv0.bias'].offset = 160)), /tensor conv0\.bias: offset 160, expected 164 .*overlaps the previous/);
    expectBad(() => parseMutated((d) => (d.weights.bytes = 841)), /weights\.bytes is 841, the tensor table needs 840/);
  });

  it('NaN, null and strings where numbers belong', () => {
    const { json, bin } = serializeIntModel(base());
    expectBad(() => parseIntModel(json.replace('"fl":5', '"fl":NaN'), bin, 'model'), /^model\/model\.json: is not valid JSON \(/);
    // JSON.stringify writes NaN as null.
    expectBad(() => parseMutated((d) => (d.values[1].fl = NaN)), /value conv0\.out: fl is null, expected an integer in \[-64, 64\]/);
    expectBad(() => parseMutated((d) => (d.values[1].fl = '3')), /value conv0\.out: fl is "3", expected an integer/);
    expectBad(() => parseMutated((d) => (nodeBy(d, 'conv').stride = [1, '1'])), /node conv0: stride\[1\] is "1", expected an integer in \[1, 65535\]/);
    expectBad(() => parseMutated((d) => (nodeBy(d, 'conv').epilogue.shift = [9.5])), /node conv0: epilogue\.shift\[0\] is 9\.5, expected an integer in \[-31, 31\]/);
    expectBad(() => parseMutated((d) => (nodeBy(d, 'conv').epilogue.shift = [32])), /epilogue\.shift\[0\] is 32/);
    expectBad(() => parseMutated((d) => (d.input.scale = [60, 'x', 74])), /input\.scale\[1\] is "x", expected a finite number/);
    expectBad(() => parseMutated((d) => (d.input.std = [0.25, 0, 0.25])), /input\.std\[1\] is 0, expected > 0/);
    expectBad(() => parseMutated((d) => (d.input.mean = [0.5, 0.5])), /input\.mean has 2 entries, expected 1 or 3/);
    expectBad(() => parseMutated((d) => (d.model.classes = 1e400)), /model\.classes is null/);
    expectBad(() => parseMutated((d) => (nodeBy(d, 'conv').epilogue.relu = 1)), /epilogue\.relu is 1, expected true or false/);
  });

  it('weight values outside [-127, 127] and biases at -2^31', () => {
    // conv0.weight starts at byte 0; 0x80 is -128.
    expectBad(() => parseMutated(() => {}, (b) => ((b[5] = 0x80), b)), /^model\/model\.json: tensor conv0\.weight: value -128 at index 5 \(int8 values lie in \[-127, 127\]\)$/);
    expectBad(
      () => parseMutated(() => {}, (b) => (new DataView(b.buffer).setInt32(164 + 4, -2147483648, true), b)),
      /tensor conv0\.bias: value -2147483648 at index 1/,
    );
    // A flipped byte without a new hash: the pair is refused.
    expectBad(() => parseMutated(() => {}, (b) => ((b[5] ^= 1), b), false), /^model\/weights\.bin: SHA-256 [0-9a-f]{64} differs from weights\.sha256 in model\.json/);
    // In memory: an int8 tensor must be an Int8Array, a value outside int8 cannot hide in an Int32Array.
    const g = structuredClone(base());
    g.tensors['conv0.weight'].data = Int32Array.from(g.tensors['conv0.weight'].data, (v, i) => (i === 3 ? 300 : v));
    expectBad(() => validateGraph(g, 'mem'), /^mem: tensor conv0\.weight: data is not an Int8Array \(dtype int8\)$/);
  });

  it('shapes: product mismatch, huge shapes without allocation, inference', () => {
    expectBad(() => parseMutated((d) => (d.tensors['conv0.weight'].shape = [6, 3, 3, 2])), /tensor conv0\.weight: length 162 bytes, shape \[6, 3, 3, 2\] int8 needs 108/);
    const before = process.memoryUsage().arrayBuffers;
    expectBad(() => parseMutated((d) => (d.tensors['conv0.weight'].shape = [1e9, 1e9])), /tensor conv0\.weight: shape \[1000000000, 1000000000\] int8 needs more than its length of 162 bytes/);
    expectBad(() => parseMutated((d) => Object.assign(d.tensors['conv0.weight'], { shape: [1e9, 4], length: 4e9 })), /offset 0 \+ length 4000000000 exceeds weights\.bin \(840 bytes\)/);
    expectBad(() => parseMutated((d) => (d.values[1].shape = [1e9, 1e9])), /value conv0\.out: shape\[0\] is 1000000000, expected an integer in \[1, 67108864\]/);
    expectBad(() => parseMutated((d) => (d.values[1].shape = [1e4, 1e4, 1e4])), /value conv0\.out: shape \[10000, 10000, 10000\] has more than 67108864 elements/);
    expectBad(() => parseMutated((d) => (d.tensors['conv0.weight'].shape = [6, 3, 3, 3, 1])), /shape .* is not a list of 1 to 4 positive integers/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 2 ** 20);
    expectBad(() => parseMutated((d) => (d.values[1].shape = [6, 9, 8])), /^model\/model\.json: node conv0: output conv0\.out declares shape \[6, 9, 8\], the conv gives \[6, 9, 9\]$/);
    expectBad(() => parseMutated((d) => (nodeBy(d, 'conv').stride = [2, 2])), /node conv0: output conv0\.out declares shape \[6, 9, 9\], the conv gives \[6, 5, 5\]/);
    expectBad(() => parseMutated((d) => (nodeBy(d, 'conv').groups = 3)), /node conv0: weight \[6, 3, 3, 3\] has 3 input channels per group, the input \[3, 9, 9\] with groups = 3 needs 1/);
    expectBad(() => parseMutated((d) => (nodeBy(d, 'conv').groups = 2)), /3 input and 6 output channels are not both divisible by groups = 2/);
    expectBad(() => parseMutated((d) => (nodeBy(d, 'maxpool').padding = [2, 2])), /node maxpool1: padding \[2, 2\] exceeds half the kernel \[2, 2\]/);
    expectBad(() => parseMutated((d) => (nodeBy(d, 'maxpool').kernel = [20, 20])), /a 20x20 window .* does not fit the 9x9 input/);
    expectBad(() => parseMutated((d) => (d.tensors['linear4.weight'].shape = [10, 5])), /node linear4: weight linear4\.weight is int8 \[10, 5\], expected int8 \[O, 10\]/);
    expectBad(() => parseMutated((d) => (d.values[5].dtype = 'int8')), /output linear4\.out is int8 \[5\] fl 7, expected int32 \[5\]/);
    expectBad(() => parseMutated((d) => (d.input.shape = [3, 9, 10])), /value input is int8 \[3, 9, 9\] fl 5, the input spec says int8 \[3, 9, 10\] fl 5/);
    expectBad(() => parseMutated((d) => (nodeBy(d, 'conv').epilogue.shift = [1, 2])), /node conv0: epilogue\.shift has 2 entries, expected 1 or 6/);
  });

  it('unknown ops and dtypes', () => {
    expectBad(() => parseMutated((d) => (nodeBy(d, 'maxpool').op = 'avgpool')), /^model\/model\.json: node maxpool1: unknown op "avgpool" \(expected one of conv, linear, maxpool, sumpool, add, requant\)$/);
    expectBad(() => parseMutated((d) => (nodeBy(d, 'maxpool').op = 'toString')), /unknown op "toString"/);
    expectBad(() => parseMutated((d) => (d.tensors['conv0.weight'].dtype = 'float32')), /tensor conv0\.weight: unknown dtype "float32" \(expected "int8" or "int32"\)/);
    expectBad(() => parseMutated((d) => (d.values[2].dtype = 'int16')), /value maxpool1\.out: dtype "int16", expected one of int8, uint8, int32/);
    expectBad(() => parseMutated((d) => (nodeBy(d, 'conv').epilogue.out = 'int4')), /epilogue\.out is "int4"/);
    // conv and linear read 8-bit codes.
    expectBad(() => parseMutated((d) => (d.values[4].dtype = 'int32') && (nodeBy(d, 'sumpool').epilogue.out = 'int32')), /node linear4 \(linear\): the input is int32, expected 8-bit codes/);
  });

  it('undefined values, use before definition, cycles, duplicates', () => {
    expectBad(() => parseMutated((d) => (nodeBy(d, 'linear').input = 'ghost')), /^model\/model\.json: node linear4 reads ghost, which is not among the values$/);
    // Swapped nodes: conv2 reads maxpool1.out before maxpool1 runs.
    expectBad(() => parseMutated((d) => ([d.nodes[1], d.nodes[2]] = [d.nodes[2], d.nodes[1]])), /node conv2 reads maxpool1\.out before it is computed/);
    // A two-node cycle: conv0 reads conv2's output.
    expectBad(() => parseMutated((d) => (nodeBy(d, 'conv').input = 'conv2.out')), /node conv0 reads conv2\.out before it is computed/);
    expectBad(() => parseMutated((d) => (nodeBy(d, 'maxpool').input = 'maxpool1.out')), /node maxpool1 reads maxpool1\.out before it is computed/);
    expectBad(() => parseMutated((d) => d.values.push({ ...d.values[1] })), /value conv0\.out is declared twice/);
    expectBad(() => parseMutated((d) => (d.nodes[1].name = 'conv0')), /node name conv0 is used twice/);
    expectBad(() => parseMutated((d) => (d.nodes[3].output = 'conv2.out')), /node sumpool3: output conv2\.out is already produced by node conv2/);
    expectBad(() => parseMutated((d) => d.values.push({ name: 'orphan', dtype: 'int32', shape: [1], fl: 0 })), /value orphan is declared but no node produces it/);
    expectBad(() => parseMutated((d) => (nodeBy(d, 'conv').output = 'input')), /node conv0: output input is already produced by the input/);
    expectBad(() => parseMutated((d) => (d.values[1].name = '')), /values\[1\]: name "" must have 1 to 256 characters/);
  });

  it('model.json that is not JSON, not an object, or too large; missing files', () => {
    const { bin } = serializeIntModel(base());
    expectBad(() => parseIntModel('{"format": "f8net-int-model", ', bin, 'model'), /^model\/model\.json: is not valid JSON \(/);
    expectBad(() => parseIntModel('[1, 2]', bin, 'model'), /model\/model\.json: is \[1,2\], expected a JSON object/);
    expectBad(() => parseIntModel(Uint8Array.of(0x7b, 0xff, 0x7d), bin, 'model'), /is not valid UTF-8 text/);

    const dir = newDir();
    expectBad(() => readIntModel(dir), /no such integer model/);
    mkdirSync(dir);
    expectBad(() => readIntModel(dir), /model\.json: missing \(the graph of an integer model/);
    writeIntModel(dir, base());
    const good = readFileSync(join(dir, 'weights.bin'));
    writeFileSync(join(dir, 'weights.bin'), good.subarray(0, 170));
    expectBad(() => readIntModel(dir), /model\.json: tensor conv0\.bias: offset 164 \+ length 24 exceeds weights\.bin \(170 bytes\)/);
    // Sparse files: the sizes are refused from the file system, nothing is read.
    truncateSync(join(dir, 'weights.bin'), 3 * 2 ** 30);
    expectBad(() => readIntModel(dir), /weights\.bin: 3221225472 bytes exceed the 2147483648-byte limit/);
    writeFileSync(join(dir, 'weights.bin'), good);
    expect(readIntModel(dir)).toStrictEqual(base());
    const json = readFileSync(join(dir, 'model.json'));
    truncateSync(join(dir, 'model.json'), 65 * 2 ** 20);
    expectBad(() => readIntModel(dir), /model\.json: 68157440 bytes exceed the 67108864-byte limit/);
    writeFileSync(join(dir, 'model.json'), 'not json');
    expectBad(() => readIntModel(join(dir, 'model.json')), /model\.json: is not valid JSON/);
    writeFileSync(join(dir, 'model.json'), json);
    writeFileSync(join(dir, 'weights.bin'), '');
    expectBad(() => readIntModel(dir), /exceeds weights\.bin \(0 bytes\)/);
    const d2 = newDir();
    mkdirSync(d2);
    writeFileSync(join(d2, 'model.json'), json);
    expectBad(() => readIntModel(d2), /weights\.bin: missing \(the tensors of .*model\.json\)/);
  });
});

describe('integer model format: writing', () => {
  it('a failing write leaves the earlier model intact', () => {
    const [a, b] = sampleGraphs();
    const dir = newDir();
    writeIntModel(dir, a.graph);
    const before = [readFileSync(join(dir, 'model.json')), readFileSync(join(dir, 'weights.bin'))];

    // An invalid graph is refused before anything is written.
    const invalid = structuredClone(b.graph);
    invalid.nodes[0].name = invalid.nodes[1].name;
    expectBad(() => writeIntModel(dir, invalid), /model\.json \(not written\): node name .* is used twice/);

    // The temporary model.json cannot be created (a directory is in the way): weights.bin's
    // temporary file was written, and is removed again; the old files stay.
    const blocker = join(dir, `.model.json.${process.pid}.tmp`);
    mkdirSync(blocker);
    expectBad(() => writeIntModel(dir, b.graph), /model\.json\.\d+\.tmp: cannot write the integer model/, 'IO');
    expect(readdirSync(dir).sort()).toEqual([`.model.json.${process.pid}.tmp`, 'model.json', 'weights.bin']);
    expect(readFileSync(join(dir, 'model.json')).equals(before[0])).toBe(true);
    expect(readFileSync(join(dir, 'weights.bin')).equals(before[1])).toBe(true);
    expect(readIntModel(dir)).toStrictEqual(a.graph);

    // A crash between the two renames pairs new weights (same sizes: a retrained model) with
    // the old model.json: refused by the hash.
    const retrained = structuredClone(a.graph);
    retrained.tensors['conv0.weight'].data[0] = retrained.tensors['conv0.weight'].data[0] === 1 ? 2 : 1;
    const other = newDir();
    writeIntModel(other, retrained);
    writeFileSync(join(dir, 'weights.bin'), readFileSync(join(other, 'weights.bin')));
    expectBad(() => readIntModel(dir), /weights\.bin: SHA-256 [0-9a-f]{64} differs from weights\.sha256 in model\.json \(damaged, or not the weights of this model\.json\)$/);
  });

  it('a directory path that is a file is an IO error', () => {
    const file = join(root, 'plain-file');
    writeFileSync(file, 'x');
    expectBad(() => writeIntModel(file, base()), /cannot write the integer model/, 'IO');
    expect(existsSync(join(root, 'plain-file'))).toBe(true);
  });
});

describe('docs/INT_MODEL.md', () => {
  it('the worked example parses, and runs to the numbers the page gives', () => {
    const md = readFileSync(new URL('../../docs/INT_MODEL.md', import.meta.url), 'utf8');
    const json = /## Worked example[\s\S]*?```json\n([\s\S]*?)```/.exec(md)![1];
    const hex = /`weights\.bin` \(20 bytes, hex\): `([0-9a-f |]+)`/.exec(md)![1].replace(/[ |]/g, '');
    const g = parseIntModel(json, Buffer.from(hex, 'hex'), 'docs');
    const codes = quantizeImages(g, Uint8Array.of(0, 64, 191, 255), 1);
    expect([...codes]).toEqual([-64, -32, 32, 64]);
    const all = runIntCpu(g, codes, 1, true);
    expect([...all.get('conv1.out')!]).toEqual([26, 41]);
    expect([...all.get('logits')!]).toEqual([550, 2637]);
    // The rounding examples of the epilogue section.
    const ex = [[5, 1, 2], [7, 1, 4], [-5, 1, -2], [-7, 1, -4], [-6, 1, -3], [6, 2, 2], [-6, 2, -2], [10, 2, 2], [14, 2, 4]];
    for (const [x, n, y] of ex) expect(shiftRoundHalfEven(x, n)).toBe(y);
  });
});
