import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { unzipSync, zipSync } from 'fflate';
import { decodeTorchCheckpoint, encodeTorchCheckpoint, OpaqueObject } from '../../src/io/torch-pt.js';
import { readTorchCheckpoint } from '../../src/node/torch-file.js';
import { paperNameMap, paperNameOf } from '../../src/io/paper-names.js';
import type { StTensor } from '../../src/io/safetensors.js';

const FIX = new URL('../fixtures/paper/', import.meta.url).pathname;
const enc = (s: string) => new TextEncoder().encode(s);
const pkl = (body: number[]) => zipSync({ 'archive/data.pkl': [Uint8Array.from([0x80, 2, ...body, 0x2e]), { level: 0 }] });

describe('torch zip checkpoints', () => {
  it('reads a torch.save file written by torch (fixture from tools/seed_roundtrip.py)', () => {
    const c = readTorchCheckpoint(`${FIX}tiny.pt`);
    expect(c.dropped.sort()).toEqual(['best_val', 'last_epoch', 'optimizer']);
    const w = c.tensors.get('module.head.0.conv.weight')!;
    expect(w.shape).toEqual([4, 3, 7, 7]);
    expect(w.dtype).toBe('F32');
    expect(c.tensors.get('module.head.0.alpha')!.shape).toEqual([]);
    expect(c.tensors.get('module.head.0.bn.num_batches_tracked')!.dtype).toBe('I64');
  });

  it("reads the paper's latest_checkpoint.pt form: optimizer, numpy best_val, meters (fixture resume.pt)", () => {
    const c = readTorchCheckpoint(`${FIX}resume.pt`);
    expect(c.tensors.size).toBe(172);
    expect(c.extras.get('last_epoch')).toBe(2);
    expect(c.extras.get('best_val')).toBe(0.625); // a numpy.float64 in the file
    const meters = c.extras.get('meters') as Map<string, unknown>[];
    expect(meters).toHaveLength(2);
    expect((meters[0] as unknown as Map<string, unknown>).get('loss')).toBeInstanceOf(OpaqueObject);
    const opt = c.extras.get('optimizer') as Map<string, unknown>;
    const state = opt.get('state') as Map<string, Map<string, StTensor>>;
    expect(state.size).toBe(87);
    const head = state.get('1')!.get('momentum_buffer')!; // parameter 1: head.0.conv.weight (0 is head.0.alpha)
    expect(head.shape).toEqual([16, 1, 3, 3]);
    expect((opt.get('param_groups') as Map<string, unknown>[])[0].get('nesterov')).toBe(true);
  });

  it('refuses NEWOBJ and REDUCE of classes outside the inert ones, and numpy scalars it cannot decode', () => {
    // NEWOBJ of collections.OrderedDict (allowed for REDUCE only) and of os.system
    refuse(pkl([0x63, ...enc('collections\nOrderedDict\n'), 0x29, 0x81]), /NEWOBJ of collections\.OrderedDict/);
    // REDUCE of the inert meter class (its __init__ would run)
    refuse(pkl([0x63, ...enc('myutils.meters\nScalarMeter\n'), 0x29, 0x52]), /REDUCE of myutils\.meters\.ScalarMeter/);
    // numpy scalar of an object dtype
    refuse(pkl([0x63, ...enc('numpy.core.multiarray\nscalar\n'), 0x63, ...enc('numpy\ndtype\n'), 0x8c, 2, ...enc('O8'), 0x85, 0x52, 0x43, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0x86, 0x52]), /numpy scalar other than/);
    // A list that holds itself twice per level: the walk of the extras is bounded.
    const dag: number[] = [0x7d, 0x8c, 5, ...enc('model'), 0x7d, 0x73, 0x8c, 1, ...enc('x'), 0x5d, 0x71, 0];
    for (let i = 1; i < 40; i++) dag.push(0x68, i - 1, 0x86, 0x71, i); // (L, L) of the level below, 2^39 leaves
    dag.push(0x73);
    refuse(pkl(dag), /deeper than|more values/);
  });

  it('write then read is the identity', () => {
    const ts: StTensor[] = [
      { name: 'a.weight', dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 4, 5, 6e-9]) },
      { name: 'a.alpha', dtype: 'F32', shape: [], data: Float32Array.from([8]) },
      { name: 'n', dtype: 'I64', shape: [1], data: BigInt64Array.from([70000n]) },
    ];
    const back = decodeTorchCheckpoint(encodeTorchCheckpoint(ts, { last_epoch: 70000 }), 'mem');
    expect([...back.tensors.keys()]).toEqual(['a.weight', 'a.alpha', 'n']);
    for (const t of ts) {
      const b = back.tensors.get(t.name)!;
      expect(b.shape).toEqual(t.shape);
      expect(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength)).toEqual(Buffer.from(t.data.buffer));
    }
    expect(back.dropped).toEqual(['last_epoch']);
  });

  const refuse = (buf: Uint8Array, re: RegExp) => expect(() => decodeTorchCheckpoint(buf, 'evil.pt')).toThrow(re);

  it('refuses globals and opcodes outside the whitelist', () => {
    // GLOBAL builtins.eval
    refuse(pkl([0x63, ...enc('builtins\neval\n')]), /evil\.pt: refused: global builtins\.eval/);
    // REDUCE of posix.system('echo'): refused at the GLOBAL, before any call
    refuse(pkl([0x63, ...enc('posix\nsystem\n'), 0x8c, 4, ...enc('echo'), 0x85, 0x52]), /global posix\.system/);
    // STACK_GLOBAL of os.system
    refuse(pkl([0x8c, 2, ...enc('os'), 0x8c, 6, ...enc('system'), 0x93]), /global os\.system/);
    // INST (runs code in Python)
    refuse(pkl([0x69, ...enc('os\nsystem\n')]), /opcode 0x69/);
    // REDUCE of a non-global
    refuse(pkl([0x8c, 1, 0x61, 0x29, 0x52]), /REDUCE of a value/);
  });

  it('refuses bad zips and sizes', () => {
    refuse(zipSync({ '../x/data.pkl': [Uint8Array.from([0x80, 2, 0x7d, 0x2e]), { level: 0 }] }), /outside the archive/);
    const good = encodeTorchCheckpoint([{ name: 'w', dtype: 'F32', shape: [4], data: new Float32Array(4) }]);
    refuse(good.subarray(0, good.length - 30), /truncated|not a readable zip/);
    // A storage whose bytes disagree with its declared numel.
    const t = { name: 'w', dtype: 'F32' as const, shape: [4], data: new Float32Array(4) };
    const bytes = encodeTorchCheckpoint([t]);
    const files = { 'archive/data.pkl': readZipEntry(bytes, 'archive/data.pkl'), 'archive/data/0': new Uint8Array(12) };
    refuse(zipSync(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, [v, { level: 0 }]]))), /storage 0 holds 12 bytes/);
    // Zip bomb: 64 MiB of zeros deflate to a few KB.
    refuse(zipSync({ 'archive/data.pkl': [new Uint8Array(64 << 20), { level: 9 }] }), /zip bomb/);
    // Legacy pickle
    refuse(Uint8Array.from([0x80, 2, 0x8a, 0x0a]), /legacy/);
  });
});

function readZipEntry(zip: Uint8Array, name: string): Uint8Array {
  return unzipSync(zip)[name];
}

describe("the paper's names", () => {
  const ours: Record<string, RegExp> = {
    resnet18: /^(conv1|fc|layer[1-4]\.\d\.(conv[1-3]|downsample))\.(weight|gamma|beta|running_mean|running_var|alpha|bias)$/,
    mobilenet_v1: /^(features\.0|features\.(1[0-3]|[1-9])\.(dw|pw)|classifier)\.(weight|gamma|beta|running_mean|running_var|alpha|bias)$/,
    mobilenet_v2: /^(features\.0|features\.18|features\.(1[0-7]|[1-9])\.conv\.[0-2]|classifier)\.(weight|gamma|beta|running_mean|running_var|alpha|bias)$/,
  };
  ours.resnet34 = ours.resnet18;
  ours.resnet50 = ours.resnet18;
  for (const net of Object.keys(ours)) {
    it(`maps every name of ${net} (from the paper's model) and back`, () => {
      const names = (JSON.parse(readFileSync(`${FIX}${net}.names.json`, 'utf8')) as [string, number[], string][]).map((x) => x[0]);
      const m = paperNameMap(names, net);
      const targets = [...m.values()].filter((v): v is string => v !== null);
      expect(new Set(targets).size).toBe(targets.length);
      for (const t of targets) expect(t).toMatch(ours[net]);
      expect([...m.values()].filter((v) => v === null).length).toBe(names.filter((n) => n.endsWith('num_batches_tracked')).length);
      for (const [from, to] of m) if (to) expect(`module.${paperNameOf(to, net)}`).toBe(from);
    });
  }
});
