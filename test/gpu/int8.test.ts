import { it, expect } from 'vitest';
import { gpuDescribe, rand, expectExact } from '../helpers.js';
import { Engine } from '../../src/runtime/engine.js';
import { Tensor } from '../../src/tensor.js';
import {
  int8Activation, int8Weights, int8Conv2d, int8Linear, int8ResidualAdd, int8Add, int8AddDual, int8Requant, int8Flatten, int8MaxPool2d, int8SumPool,
  int8Pack, int8Unpack, readInt8, packInt8, unpackInt8, int8Tuning, type Int8Act, type Int8Requant,
} from '../../src/ops/int8.js';
import {
  refInt8Conv2d, refInt8Linear, refInt8ResidualAdd, refInt8Add, refInt8AddDual, refInt8Requant, refInt8MaxPool2d, refInt8SumPool, type RefRequant, type RefEpilogue,
} from '../../src/ops/int8.ref.js';
import type { Conv2dOptions } from '../../src/ops/conv2d.js';

const I32_MAX = 2147483647;
const prod = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** Random codes of a signedness, with the extremes (0/255 or -127/127, and 0) sprinkled in. */
function codes(n: number, seed: number, signed: boolean): Int32Array {
  const lo = signed ? -127 : 0;
  const hi = signed ? 127 : 255;
  const r = rand(n, seed, 0, 1);
  return Int32Array.from(r, (u, i) => (i % 7 === 0 ? lo : i % 11 === 0 ? hi : i % 13 === 0 ? 0 : lo + Math.floor(u * (hi - lo + 1))));
}
const ints = (n: number, seed: number, lo: number, hi: number): Int32Array => Int32Array.from(rand(n, seed, 0, 1), (u) => lo + Math.floor(u * (hi - lo + 1)));

/** The GPU result as plain codes / accumulators (NCHW). */
async function result(y: Int8Act | Tensor): Promise<Int32Array> {
  if (y instanceof Tensor) return (await y.read()) as Int32Array;
  return readInt8(y);
}

const hasDot4 = (): boolean => Engine.get().gpu.hasDot4I8;
/** Both dot paths where the adapter has dot4I8Packed, the fallback alone otherwise. */
const paths = (): boolean[] => (hasDot4() ? [true, false] : [false]);

interface ConvCase {
  name: string;
  x: number[];
  w: number[];
  opts: Conv2dOptions;
  signed: boolean;
  relu?: boolean;
  /** 'raw', a per-layer shift, or 'channel' (per-channel shifts, some negative). */
  out: 'raw' | number | 'channel';
  outSigned?: boolean;
  biasMag?: number;
}

async function checkConv(c: ConvCase, dot4s: boolean[]): Promise<void> {
  const [N, C] = c.x;
  const [O] = c.w;
  const xs = codes(prod(c.x), 1 + N + C, c.signed);
  const ws = codes(prod(c.w), 2 + O, true);
  const mag = c.biasMag ?? 3000;
  const bs = ints(O, 3 + O, -mag, mag);
  let shift: number | Int32Array | undefined;
  if (c.out === 'channel') shift = Int32Array.from({ length: O }, (_, i) => [1, 2, 0, -1, 3, 5, 8, -2][i % 8]);
  else if (typeof c.out === 'number') shift = c.out;
  const requant: Int8Requant | undefined = shift === undefined ? undefined : { shift, signed: c.outSigned ?? false };
  const ref = refInt8Conv2d(xs, c.x, ws, c.w, bs, { ...c.opts, relu: c.relu, requant: requant as RefRequant | undefined });
  const x = int8Activation(xs, c.x, c.signed);
  const w = int8Weights(ws, c.w, c.opts.groups ?? 1);
  const b = Tensor.from(bs, [O], 'i32');
  for (const dot4 of dot4s) {
    const y = int8Conv2d(x, w, b, { ...c.opts, relu: c.relu, requant, dot4 });
    expectExact(await result(y), ref, `${c.name} dot4=${dot4}`);
  }
}

gpuDescribe('int8 packing', () => {
  it('CPU pack/unpack round trip; GPU pack and unpack agree with it (C not a multiple of 4)', async () => {
    expect([...packInt8(Int8Array.of(1, -1, 2), [1, 3])]).toEqual([0x0002ff01]);
    for (const signed of [true, false]) {
      const shape = [2, 7, 3, 5];
      const v = codes(prod(shape), 5, signed);
      const words = packInt8(v, shape);
      expect(words.length).toBe(2 * 2 * 15);
      expectExact(unpackInt8(words, shape, signed), v, 'cpu round trip');
      const a = int8Activation(v, shape, signed);
      expectExact(new Uint32Array(((await a.data.read()) as Int8Array).slice().buffer), words, 'upload layout');
      const up = int8Unpack(a);
      expectExact(await up.read(), v, 'gpu unpack');
      const re = int8Pack(up, signed);
      expectExact(await readInt8(re), v, 'gpu pack');
      expectExact(new Uint32Array(((await re.data.read()) as Int8Array).slice().buffer), words, 'gpu pack layout (zero padding)');
    }
    expect(() => int8Activation(Int32Array.of(256), [1, 1], false)).toThrow(/not an integer in \[0, 255\]/);
  });
});

gpuDescribe('int8Conv2d', () => {
  const cases: ConvCase[] = [
    { name: '3x3 pad 1, signed in, raw i32 out', x: [2, 5, 7, 9], w: [12, 5, 3, 3], opts: { padding: 1 }, signed: true, out: 'raw' },
    { name: '3x3 pad 1, unsigned in (0 and 255), ReLU, requant unsigned', x: [2, 8, 6, 11], w: [16, 8, 3, 3], opts: { padding: 1 }, signed: false, relu: true, out: 9, outSigned: false },
    { name: 'batch 1, 1x1, C=3, O=10, requant signed, shift 2 (ties)', x: [1, 3, 5, 6], w: [10, 3, 1, 1], opts: {}, signed: true, out: 2, outSigned: true, biasMag: 5 },
    { name: 'stride 2, padding 2 (> 1), 5x3 kernel, per-channel shifts', x: [2, 6, 9, 10], w: [9, 6, 5, 3], opts: { stride: 2, padding: 2 }, signed: false, out: 'channel', outSigned: true },
    { name: 'stride 2, dilation 2, padding [1, 3], raw, ReLU', x: [1, 4, 11, 12], w: [8, 4, 3, 3], opts: { stride: 2, dilation: 2, padding: [1, 3] }, signed: true, relu: true, out: 'raw' },
    { name: 'O=40 (two channel blocks, last partial), W=13', x: [2, 9, 5, 13], w: [40, 9, 3, 3], opts: { padding: 1 }, signed: false, relu: true, out: 8, outSigned: false },
    { name: 'groups 2, C/groups=3 (groups straddle a word), og=3', x: [2, 6, 5, 7], w: [6, 3, 3, 3], opts: { padding: 1, groups: 2 }, signed: false, out: 'channel', outSigned: true },
    { name: 'groups 2, aligned (8 -> 16), raw', x: [1, 8, 6, 6], w: [16, 4, 3, 3], opts: { padding: 1, groups: 2 }, signed: true, out: 'raw' },
    { name: 'groups 3, C/groups=2, og=4, unsigned, packed', x: [1, 6, 6, 5], w: [12, 2, 3, 3], opts: { padding: 1, groups: 3, stride: [1, 2] }, signed: false, relu: true, out: 7, outSigned: false },
  ];
  for (const c of cases) it(c.name, async () => checkConv(c, paths()));

  it('depthwise 3x3 (C=10, not a multiple of 4): stride 1 and 2, unsigned/signed, per-channel and raw', async () => {
    await checkConv({ name: 'dw s1 unsigned per-channel', x: [2, 10, 9, 11], w: [10, 1, 3, 3], opts: { padding: 1, groups: 10 }, signed: false, relu: true, out: 'channel', outSigned: false }, [false]);
    await checkConv({ name: 'dw s2 signed raw', x: [1, 10, 9, 11], w: [10, 1, 3, 3], opts: { padding: 1, stride: 2, groups: 10 }, signed: true, out: 'raw' }, [false]);
    // channel multiplier 2 (not the depthwise kernel: the general grouped path)
    await checkConv({ name: 'groups=C, multiplier 2', x: [1, 5, 6, 6], w: [10, 1, 3, 3], opts: { padding: 1, groups: 5 }, signed: true, out: 3, outSigned: true }, paths());
  });

  it('bias saturation near +-2^31, negative accumulators with exact ties, negative (left) shifts', async () => {
    // Large biases push acc + bias past +-(2^31 - 1): the add saturates.
    await checkConv({ name: 'saturating bias', x: [1, 8, 4, 4], w: [8, 8, 3, 3], opts: { padding: 1 }, signed: false, out: 'raw', biasMag: I32_MAX }, paths());
    // Sums that land exactly on -2^31 (clamped to -(2^31 - 1)) or just inside / past the ends.
    {
      const xs = Int32Array.of(1, 2, 3, 0);
      const ws = Int32Array.of(-1, 1, -1, 1);
      const bs = Int32Array.of(-I32_MAX, I32_MAX, -I32_MAX + 1, I32_MAX - 1);
      const ref = refInt8Conv2d(xs, [1, 1, 1, 4], ws, [4, 1, 1, 1], bs);
      expect([...ref.slice(0, 4)]).toEqual([-I32_MAX, -I32_MAX, -I32_MAX, -I32_MAX]);
      const x = int8Activation(xs, [1, 1, 1, 4], true);
      const w = int8Weights(ws, [4, 1, 1, 1]);
      for (const dot4 of paths()) expectExact(await result(int8Conv2d(x, w, Tensor.from(bs, [4], 'i32'), { dot4 })), ref, `exact -2^31 dot4=${dot4}`);
    }
    // Shift 1 and 3 on signed data: about half / an eighth of the accumulators are ties.
    const xs = codes(2 * 4 * 5 * 5, 9, true);
    const ws = codes(8 * 4 * 9, 10, true);
    for (const shift of [1, 3, -3, -20]) {
      const requant = { shift, signed: true };
      const ref = refInt8Conv2d(xs, [2, 4, 5, 5], ws, [8, 4, 3, 3], null, { padding: 1, requant });
      const raw = refInt8Conv2d(xs, [2, 4, 5, 5], ws, [8, 4, 3, 3], null, { padding: 1 });
      if (shift > 0) expect(raw.filter((v) => v < 0 && ((v % (1 << shift)) + (1 << shift)) % (1 << shift) === 1 << (shift - 1)).length).toBeGreaterThan(3);
      const x = int8Activation(xs, [2, 4, 5, 5], true);
      const w = int8Weights(ws, [8, 4, 3, 3]);
      for (const dot4 of paths()) expectExact(await result(int8Conv2d(x, w, null, { padding: 1, requant, dot4 })), ref, `shift ${shift} dot4=${dot4}`);
    }
  });

  it('without subgroups (each lane loads every weight): 3x3 and grouped, both dot paths', async () => {
    const saved = int8Tuning().subgroups;
    int8Tuning().subgroups = false;
    try {
      await checkConv({ name: 'no subgroups 3x3', x: [1, 6, 5, 7], w: [12, 6, 3, 3], opts: { padding: 1 }, signed: false, relu: true, out: 'channel', outSigned: false }, paths());
      await checkConv({ name: 'no subgroups groups 2', x: [1, 6, 5, 5], w: [10, 3, 1, 1], opts: { groups: 2 }, signed: true, out: 'raw' }, paths());
    } finally {
      int8Tuning().subgroups = saved;
    }
  });

  it('DOT4 and the fallback agree on a larger layer (64 -> 32, 3x3, unsigned), per-channel shift as a tensor', async () => {
    const xShape = [2, 64, 8, 8];
    const wShape = [32, 64, 3, 3];
    const xs = codes(prod(xShape), 21, false);
    const ws = codes(prod(wShape), 22, true);
    const n = Int32Array.from({ length: 32 }, (_, i) => 10 + (i % 5));
    const ref = refInt8Conv2d(xs, xShape, ws, wShape, null, { padding: 1, relu: true, requant: { shift: n, signed: false } });
    const x = int8Activation(xs, xShape, false);
    const w = int8Weights(ws, wShape);
    const shift = Tensor.from(n, [32], 'i32');
    for (const dot4 of paths()) expectExact(await result(int8Conv2d(x, w, null, { padding: 1, relu: true, requant: { shift, signed: false }, dot4 })), ref, `dot4=${dot4}`);
  });
});

gpuDescribe('int8Linear', () => {
  it('raw logits and re-quantised codes, K and O not multiples of 4, N = 1 and 3', async () => {
    for (const [N, K, O, signed] of [[3, 13, 7, true], [1, 70, 10, false]] as [number, number, number, boolean][]) {
      const xs = codes(N * K, K, signed);
      const ws = codes(O * K, O, true);
      const bs = ints(O, 4, -5000, 5000);
      const x = int8Activation(xs, [N, K], signed);
      const w = int8Weights(ws, [O, K]);
      const b = Tensor.from(bs, [O], 'i32');
      for (const dot4 of paths()) {
        expectExact(await result(int8Linear(x, w, b, { dot4 })), refInt8Linear(xs, [N, K], ws, [O, K], bs), `raw N=${N} dot4=${dot4}`);
        const requant = { shift: 6, signed: !signed };
        const y = int8Linear(x, w, b, { relu: true, requant, dot4 });
        expect(y.shape).toEqual([N, O]);
        expectExact(await result(y), refInt8Linear(xs, [N, K], ws, [O, K], bs, { relu: true, requant }), `requant N=${N} dot4=${dot4}`);
      }
    }
  });
});

gpuDescribe('int8ResidualAdd', () => {
  it('i32 + i32 near +-2^31 (clamp), i32 + packed, packed + packed; fl alignment both ways; ReLU; requant', async () => {
    const shape = [2, 6, 3, 5];
    const n = prod(shape);
    const big = Int32Array.from(rand(n, 31, -1, 1), (u, i) => (i % 5 === 0 ? (u < 0 ? -I32_MAX : I32_MAX) : i % 5 === 1 ? (u < 0 ? -(2 ** 31) : I32_MAX - 3) : Math.round(u * 2 ** 30)));
    const mid = ints(n, 32, -(2 ** 24), 2 ** 24);
    const su = codes(n, 33, false);
    const ss = codes(n, 34, true);
    const i32 = (v: Int32Array) => Tensor.from(v, shape, 'i32');
    const combos: [string, Int32Array, Int8Act | Tensor, number, Int32Array, Int8Act | Tensor, number][] = [
      ['i32+i32 same fl (saturates)', big, i32(big), 10, big, i32(big), 10],
      ['i32 + i32 shifted by 1 (2^30 << 1 + -2^31 is exact)', big, i32(big), 9, mid, i32(mid), 10],
      ['i32 + unsigned packed, fl 12 vs 5', mid, i32(mid), 12, su, int8Activation(su, shape, false), 5],
      ['signed packed + i32, b shifted by 40 (saturates)', ss, int8Activation(ss, shape, true), 45, mid, i32(mid), 5],
      ['packed + packed', ss, int8Activation(ss, shape, true), 3, su, int8Activation(su, shape, false), 6],
    ];
    // Exact edges: sums of exactly -2^31 (-> -(2^31 - 1)), 2^31 (-> 2^31 - 1), and cancellations.
    const ea = Int32Array.of(-(2 ** 30), 2 ** 30, -(2 ** 30), -(2 ** 31), -(2 ** 31) + 5, I32_MAX, 2 ** 30, -1, 0, 0, 12345, -(2 ** 30));
    const eb = Int32Array.of(0, 0, -(2 ** 31), 0, -5, 1, -(2 ** 31), 1, -(2 ** 31), I32_MAX, -24690, 2 ** 31 - 1);
    const eshape = [1, 12];
    for (const [fa, fb] of [[9, 10], [10, 10], [10, 9], [0, 40]]) {
      const r = refInt8ResidualAdd(ea, fa, eb, fb, eshape);
      expectExact(await result(int8ResidualAdd(Tensor.from(ea, eshape, 'i32'), fa, Tensor.from(eb, eshape, 'i32'), fb)), r, `edges fl ${fa}/${fb}`);
    }
    expect([...refInt8ResidualAdd(ea, 9, eb, 10, eshape).slice(0, 2)]).toEqual([-I32_MAX, I32_MAX]);
    for (const [name, av, a, fa, bv, b, fb] of combos) {
      expectExact(await result(int8ResidualAdd(a, fa, b, fb)), refInt8ResidualAdd(av, fa, bv, fb, shape), `${name} raw`);
      expectExact(await result(int8ResidualAdd(a, fa, b, fb, { relu: true })), refInt8ResidualAdd(av, fa, bv, fb, shape, { relu: true }), `${name} relu`);
      for (const requant of [{ shift: 5, signed: false }, { shift: Int32Array.of(0, 3, 20, -2, 31, 1), signed: true }]) {
        const y = int8ResidualAdd(a, fa, b, fb, { relu: !requant.signed, requant });
        expectExact(await result(y), refInt8ResidualAdd(av, fa, bv, fb, shape, { relu: !requant.signed, requant }), `${name} requant`);
      }
    }
  });
});

gpuDescribe('int8 pooling', () => {
  it('max pool keeps codes (signed -127/127, unsigned 0/255), clipped windows, C=7', async () => {
    const shape = [2, 7, 9, 8];
    for (const signed of [true, false]) {
      const v = codes(prod(shape), 41, signed);
      const x = int8Activation(v, shape, signed);
      for (const [k, s, p] of [[3, 2, 1], [2, 2, 0], [3, 1, 1]]) {
        const y = int8MaxPool2d(x, { kernel: k, stride: s, padding: p });
        expect(y.signed).toBe(signed);
        expectExact(await readInt8(y), refInt8MaxPool2d(v, shape, [k, k], [s, s], [p, p]), `signed=${signed} k${k} s${s} p${p}`);
      }
    }
  });

  it('global sum pool: raw i32 and re-quantised (per layer, per channel)', async () => {
    const shape = [3, 6, 7, 7];
    for (const signed of [true, false]) {
      const v = codes(prod(shape), 51, signed);
      const x = int8Activation(v, shape, signed);
      expectExact(await result(int8SumPool(x)), refInt8SumPool(v, shape), `raw signed=${signed}`);
      for (const requant of [{ shift: 4, signed: false }, { shift: Int32Array.of(0, 1, 6, 7, -1, 12), signed: true }]) {
        expectExact(await result(int8SumPool(x, { relu: true, requant })), refInt8SumPool(v, shape, { relu: true, requant }), `requant signed=${signed}`);
      }
    }
  });
});

/** i32 values with the int32 extremes, powers of two and exact ties for small shifts mixed in. */
function wide(n: number, seed: number): Int32Array {
  const r = rand(n, seed, -1, 1);
  const special = [I32_MAX, -I32_MAX, -(2 ** 31), 0, 1, -1, 2, -2, 3, -3, 6, -6, 12, -12, 2 ** 30, -(2 ** 30), 5, -5];
  return Int32Array.from(r, (u, i) => (i % 3 === 0 ? special[(i / 3) % special.length] : Math.round(u * 2 ** (4 + (i % 27)))));
}

gpuDescribe('int8 epilogue with i32 output and shifts', () => {
  it('conv, depthwise and linear: raw i32 out shifted per layer (+/-) and per channel, saturating', async () => {
    const perCh = (O: number): Int32Array => Int32Array.from({ length: O }, (_, i) => [1, -2, 0, 3, -31, 2, 33, -1, 5][i % 9]);
    for (const [name, xShape, wShape, opts] of [
      ['3x3', [2, 5, 5, 6], [9, 5, 3, 3], { padding: 1 }],
      ['depthwise', [1, 6, 5, 7], [6, 1, 3, 3], { padding: 1, groups: 6 }],
    ] as [string, number[], number[], Conv2dOptions][]) {
      const [O] = wShape;
      const xs = codes(prod(xShape), 61, false);
      const ws = codes(prod(wShape), 62, true);
      const bs = ints(O, 63, -I32_MAX, I32_MAX);
      const x = int8Activation(xs, xShape, false);
      const w = int8Weights(ws, wShape, opts.groups ?? 1);
      const b = Tensor.from(bs, [O], 'i32');
      for (const shift of [1, 4, -1, -12, perCh(O)]) {
        for (const relu of [false, true]) {
          const ref = refInt8Conv2d(xs, xShape, ws, wShape, bs, { ...opts, relu, shift });
          if (typeof shift === 'number' && shift < 0) expect(ref.some((v) => Math.abs(v) === I32_MAX)).toBe(true);
          for (const dot4 of w.depthwise ? [false] : paths()) {
            expectExact(await result(int8Conv2d(x, w, b, { ...opts, relu, shift, dot4 })), ref, `${name} shift ${shift} relu=${relu} dot4=${dot4}`);
          }
        }
      }
    }
    const xs = codes(3 * 21, 64, true);
    const ws = codes(7 * 21, 65, true);
    const x = int8Activation(xs, [3, 21], true);
    const w = int8Weights(ws, [7, 21]);
    for (const shift of [3, -20, perCh(7)]) {
      for (const dot4 of paths()) {
        expectExact(await result(int8Linear(x, w, null, { shift, dot4 })), refInt8Linear(xs, [3, 21], ws, [7, 21], null, { shift }), `linear shift ${shift} dot4=${dot4}`);
      }
    }
    expect(() => int8Linear(x, w, null, { shift: 1, requant: { shift: 1, signed: true } })).toThrow(/not both/);
  });
});

gpuDescribe('int8Add (graph add: operand ReLU and explicit shifts)', () => {
  it('i32 and code operands, ReLU on either, shifts on either or both (common part after the clamp), epilogues', async () => {
    const shape = [2, 7, 3, 3];
    const n = prod(shape);
    const big = wide(n, 71);
    const mid = ints(n, 72, -(2 ** 20), 2 ** 20);
    const su = codes(n, 73, false);
    const ss = codes(n, 74, true);
    const i32 = (v: Int32Array) => Tensor.from(v, shape, 'i32');
    const operands: [string, Int32Array, Int8Act | Tensor][] = [
      ['i32 wide', big, i32(big)],
      ['i32 mid', mid, i32(mid)],
      ['unsigned codes', su, int8Activation(su, shape, false)],
      ['signed codes', ss, int8Activation(ss, shape, true)],
    ];
    const variants: { shifts: [number, number]; operandRelu: [boolean, boolean] }[] = [
      { shifts: [0, 0], operandRelu: [false, false] },
      { shifts: [0, 3], operandRelu: [true, false] },
      { shifts: [5, 0], operandRelu: [false, true] },
      { shifts: [2, 7], operandRelu: [true, true] },
      { shifts: [24, 24], operandRelu: [false, false] },
      { shifts: [31, 40], operandRelu: [false, true] },
      { shifts: [70, 1], operandRelu: [true, false] },
    ];
    const epilogues: RefEpilogue[] = [{}, { relu: true, shift: 3 }, { shift: Int32Array.of(1, -1, 0, 2, -30, 4, 31) }, { relu: true, requant: { shift: 6, signed: false } }, { requant: { shift: Int32Array.of(0, 2, 1, 9, 4, -1, 3), signed: true } }];
    for (const [an, av, a] of [operands[0], operands[2], operands[3]]) {
      for (const [bn, bv, b] of [operands[0], operands[1], operands[3]]) {
        for (const v of variants) {
          for (const ep of epilogues) {
            const ref = refInt8Add(av, bv, shape, { ...v, ...ep });
            const got = int8Add(a, b, { ...v, ...ep } as Parameters<typeof int8Add>[2]);
            expectExact(await result(got), ref, `${an} + ${bn} shifts ${v.shifts} relu ${v.operandRelu} ep ${JSON.stringify(ep)}`);
          }
        }
      }
    }
    // Both operands shifted: exact where clamping each shifted operand first would not be (2^30 * 16 - 2^31 * 8 = 0).
    const ea = Int32Array.of(2 ** 30, -(2 ** 30), 1, -1, 2 ** 27, 0);
    const eb = Int32Array.of(-(2 ** 31), 2 ** 30, -1, 1, -(2 ** 28), -1);
    const r = refInt8Add(ea, eb, [1, 6], { shifts: [4, 3] });
    expect([...r]).toEqual([0, -I32_MAX, 8, -8, 0, -8]);
    expectExact(await result(int8Add(Tensor.from(ea, [1, 6], 'i32'), Tensor.from(eb, [1, 6], 'i32'), { shifts: [4, 3] })), r, 'both shifted, cancelling');
    expect(() => int8Add(operands[0][2], operands[1][2], { shifts: [-1, 0] })).toThrow(/shifts \[-1, 0\]/);
  });
});

gpuDescribe('int8AddDual (residual add and a re-quantisation in one pass)', () => {
  it('both outputs equal int8Add then int8Requant: raw or packed first output, per-layer and per-channel second', async () => {
    const shape = [2, 7, 3, 3];
    const n = prod(shape);
    const big = wide(n, 91);
    const su = codes(n, 93, false);
    const ss = codes(n, 94, true);
    const operands: [string, Int32Array, Int8Act | Tensor][] = [
      ['i32 wide', big, Tensor.from(big, shape, 'i32')],
      ['unsigned codes', su, int8Activation(su, shape, false)],
      ['signed codes', ss, int8Activation(ss, shape, true)],
    ];
    const variants: { shifts: [number, number]; operandRelu: [boolean, boolean] }[] = [
      { shifts: [0, 0], operandRelu: [false, false] },
      { shifts: [0, 3], operandRelu: [false, true] },
      { shifts: [31, 40], operandRelu: [true, false] },
    ];
    const firsts: RefEpilogue[] = [{}, { relu: true, shift: -2 }, { shift: Int32Array.of(1, -1, 0, 2, -30, 4, 31) }, { requant: { shift: 4, signed: true } }];
    const seconds: RefEpilogue[] = [
      { relu: true, requant: { shift: 6, signed: false } },
      { requant: { shift: Int32Array.of(0, 2, 1, 9, 4, -1, 3), signed: true } },
      { relu: true, requant: { shift: -3, signed: false } },
    ];
    for (const [an, av, a] of operands) {
      for (const [bn, bv, b] of [operands[0], operands[2]]) {
        for (const v of variants) {
          for (const f of firsts) {
            for (const sec of seconds) {
              const ref = refInt8AddDual(av, bv, shape, { ...v, ...f }, sec);
              const got = int8AddDual(a, b, { ...v, ...f } as Parameters<typeof int8AddDual>[2], sec as Parameters<typeof int8AddDual>[3]);
              const what = `${an} + ${bn} ${JSON.stringify(v)} first ${JSON.stringify(f)} second ${JSON.stringify(sec)}`;
              expectExact(await result(got.first), ref.first, `${what}: first`);
              expectExact(await result(got.second), ref.second, `${what}: second`);
              expect(got.second.signed).toBe(!!(sec.requant as RefRequant).signed);
            }
          }
        }
      }
    }
    expect(() => int8AddDual(operands[0][2], operands[0][2], {}, {} as Parameters<typeof int8AddDual>[3])).toThrow(/give it a requant/);
  });
});

gpuDescribe('int8Requant, int8Flatten, pooling on i32', () => {
  it('requant: i32 (and codes) -> codes or i32, per layer and per channel, ties and saturation', async () => {
    for (const shape of [[2, 6, 5], [3, 5, 2, 3], [4, 9]]) {
      const C = shape[1];
      const v = wide(prod(shape), 81 + C);
      const x = Tensor.from(v, shape, 'i32');
      const perCh = Int32Array.from({ length: C }, (_, i) => [2, -3, 1, 31, 0, 12, -40, 3, 32][i % 9]);
      for (const ep of [{ shift: 1 }, { shift: -2, relu: true }, { shift: perCh }, { relu: true, requant: { shift: 3, signed: false } }, { requant: { shift: perCh, signed: true } }] as RefEpilogue[]) {
        expectExact(await result(int8Requant(x, ep as Parameters<typeof int8Requant>[1])), refInt8Requant(v, shape, ep), `[${shape}] ${JSON.stringify(ep)}`);
      }
      const c = codes(prod(shape), 85, false);
      const ep = { requant: { shift: 1, signed: true } };
      expectExact(await result(int8Requant(int8Activation(c, shape, false), ep)), refInt8Requant(c, shape, ep), `[${shape}] codes in`);
    }
  });

  it('flatten [N, C, H, W] packed codes to [N, C*H*W] (C = 7, H*W = 5) and a linear layer on it', async () => {
    const shape = [3, 7, 1, 5];
    const v = codes(prod(shape), 91, true);
    const f = int8Flatten(int8Activation(v, shape, true));
    expect(f.shape).toEqual([3, 35]);
    expectExact(await readInt8(f), v, 'flatten keeps NCHW order');
    const ws = codes(6 * 35, 92, true);
    for (const dot4 of paths()) {
      expectExact(await result(int8Linear(f, int8Weights(ws, [6, 35]), null, { dot4 })), refInt8Linear(v, [3, 35], ws, [6, 35], null), `linear on flattened dot4=${dot4}`);
    }
    const one = int8Flatten(int8Activation(v.subarray(0, 21), [3, 7, 1, 1], true));
    expectExact(await readInt8(one), v.subarray(0, 21), 'flatten of 1x1 (a view)');
  });

  it('max pool on i32 values (extremes, C = 7): clipped windows, i32 out', async () => {
    const shape = [2, 7, 7, 6];
    const v = wide(prod(shape), 95);
    const x = Tensor.from(v, shape, 'i32');
    for (const [k, s, p] of [[3, 2, 1], [2, 2, 0], [3, 1, 1], [2, 2, 1]]) {
      const y = int8MaxPool2d(x, { kernel: k, stride: s, padding: p });
      expect(y.dtype).toBe('i32');
      expectExact(await result(y), refInt8MaxPool2d(v, shape, [k, k], [s, s], [p, p]), `i32 k${k} s${s} p${p}`);
    }
  });

  it('sum pool on i32 values: wrapping sums (one lands on -2^31 and clamps), raw, shifted and re-quantised', async () => {
    const shape = [2, 5, 3, 3];
    const v = wide(prod(shape), 97);
    // Channel 0 of image 0 sums to exactly -2^31 (wrapping); channel 1 wraps past +2^31.
    v.set([-(2 ** 30), -(2 ** 30), 0, 0, 0, 0, 0, 0, 0], 0);
    v.set([I32_MAX, I32_MAX, 5, 0, 0, 0, 0, 0, 0], 9);
    const x = Tensor.from(v, shape, 'i32');
    const raw = refInt8SumPool(v, shape);
    expect(raw[0]).toBe(-I32_MAX);
    expect(raw[1]).toBe(3);
    for (const ep of [{}, { shift: 3, relu: true }, { shift: Int32Array.of(1, -4, 0, 2, 31) }, { requant: { shift: 20, signed: false } }, { relu: true, requant: { shift: Int32Array.of(24, 20, 2, 29, 0), signed: true } }] as RefEpilogue[]) {
      expectExact(await result(int8SumPool(x, ep as Parameters<typeof int8SumPool>[1])), refInt8SumPool(v, shape, ep), `i32 sum ${JSON.stringify(ep)}`);
    }
  });

  it("sum pool with a divisor (the paper's pool form): one exact rounding of sum 2^-n / d for shifts -31..31 and divisors 2..2^16, on i32 and codes", async () => {
    const shape = [3, 8, 3, 3];
    const v = wide(prod(shape), 98);
    v.set([-(2 ** 30), -(2 ** 30), 0, 0, 0, 0, 0, 0, 0], 0); // wraps to -2^31
    const x = Tensor.from(v, shape, 'i32');
    const perChannel = Int32Array.of(-31, -5, 0, 1, 7, 19, 30, 31);
    for (const d of [2, 3, 9, 49, 65535, 65536]) {
      for (const shift of [-31, -9, -1, 0, 1, 2, 5, 17, 30, 31, perChannel]) {
        for (const [relu, signed] of [[false, true], [true, false], [false, false]]) {
          const ep = { relu, requant: { shift, signed }, divisor: d };
          expectExact(await result(int8SumPool(x, ep)), refInt8SumPool(v, shape, ep), `i32 d=${d} n=${String(shift)} relu=${relu} signed=${signed}`);
        }
      }
    }
    const cshape = [3, 6, 7, 7];
    for (const signed of [true, false]) {
      const c = codes(prod(cshape), 52, signed);
      const xc = int8Activation(c, cshape, signed);
      for (const shift of [-2, 0, 3]) {
        const ep = { requant: { shift, signed: true }, divisor: 49 };
        expectExact(await result(int8SumPool(xc, ep)), refInt8SumPool(c, cshape, ep), `codes signed=${signed} n=${shift}`);
      }
    }
  });

  it('sum pool with a divisor rounds exact ties of both signs to even', async () => {
    // Channel c of image 0 sums to d 2^n (2m + 1) / 2 with m = c - 3, image 1 to its negation: every quotient is m + 1/2.
    for (const [d, n] of [[9, 1], [9, 2], [9, 5], [9, 12], [12, 0], [12, -1], [20, -1], [49, 3]]) {
      const C = 6;
      const shape = [2, C, 3, 3];
      const v = new Int32Array(prod(shape));
      const want: number[] = [];
      for (let img = 0; img < 2; img++) {
        for (let c = 0; c < C; c++) {
          const m = c - 3;
          const sign = img === 0 ? 1 : -1;
          const sum = (sign * d * 2 ** n * (2 * m + 1)) / 2;
          expect(Number.isInteger(sum)).toBe(true);
          v[(img * C + c) * 9] = sum;
          const r = Math.round(sign * (m + 0.5));
          want.push((r % 2 === 0 ? r : r - 1) + 0);
        }
      }
      const ep = { requant: { shift: n, signed: true }, divisor: d };
      const ref = refInt8SumPool(v, shape, ep);
      expect(Array.from(ref), `reference d=${d} n=${n}`).toEqual(want);
      expectExact(await result(int8SumPool(Tensor.from(v, shape, 'i32'), ep)), ref, `ties d=${d} n=${n}`);
    }
  });
});
