import { it, expect } from 'vitest';
import { gpuDescribe, expectExact } from '../helpers.js';
import { Engine } from '../../src/runtime/engine.js';
import { IntGpuRunner, runIntGpu } from '../../src/export/run-gpu.js';
import { runIntCpu } from '../../src/export/run-cpu.js';
import { INT_MODEL_FORMAT, INT_MODEL_VERSION, type IntDType, type IntEpilogue, type IntGraph, type IntNode, type IntValueInfo } from '../../src/export/graph.js';
import { sampleGraphs, randomCodes, GraphBuilder } from '../int-graphs.js';
import { Rng } from '../../src/runtime/rng.js';
import { F8Error } from '../../src/runtime/errors.js';
import { gpuBatchFor } from '../../src/export/gpu-limits.js';
import { int8Tuning } from '../../src/ops/int8.js';

/** Both dot paths where the adapter has dot4I8Packed, the fallback alone otherwise. */
const paths = (): boolean[] => (Engine.get().gpu.hasDot4I8 ? [true, false] : [false]);
const ep = (out: IntDType, shift: number[] = [0], relu = false): IntEpilogue => ({ relu, shift, out });

/** Small deterministic integers in [lo, hi]. */
function ints(n: number, seed: number, lo: number, hi: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + (s % (hi - lo + 1));
  });
}

/**
 * A hand-built graph for what the samples do not stress: a linear layer straight on the network
 * input [5, 3, 3] (flattened, C and H*W odd), a max pool on signed codes, an add of two code
 * operands both shifted (the common shift applied after the clamp) whose sum saturates, then a
 * saturating left shift in its int32 epilogue, per-channel negative shifts on an int32 output,
 * and a linear layer on a [C] of codes.
 */
function handGraph(): IntGraph {
  const values: IntValueInfo[] = [{ name: 'x', dtype: 'int8', shape: [5, 3, 3], fl: 5 }];
  const nodes: IntNode[] = [];
  const tensors: IntGraph['tensors'] = {};
  const v = (name: string, dtype: IntDType, shape: number[], fl = 0): string => {
    values.push({ name, dtype, shape, fl });
    return name;
  };
  const w = (name: string, shape: number[], seed: number): string => {
    tensors[name] = { dtype: 'int8', shape, data: Int8Array.from(ints(shape.reduce((a, b) => a * b, 1), seed, -127, 127)) };
    return name;
  };
  tensors.b1 = { dtype: 'int32', shape: [6], data: Int32Array.from(ints(6, 3, -4000, 4000)) };
  nodes.push({ op: 'linear', name: 'fc0', input: 'x', output: v('h', 'int8', [6]), weight: w('w0', [6, 45], 1), bias: 'b1', epilogue: ep('int8', [9, 10, 8, 11, 9, 12], false) });
  nodes.push({ op: 'maxpool', name: 'mp', input: 'x', output: v('m', 'int8', [5, 2, 2]), kernel: [2, 2], stride: [2, 2], padding: [1, 1] });
  nodes.push({ op: 'linear', name: 'fc1', input: 'm', output: v('g', 'int32', [6]), weight: w('w1', [6, 20], 2), bias: null, epilogue: ep('int32', [-3, 2, 0, -30, 1, 5], true) });
  nodes.push({ op: 'add', name: 'add', inputs: ['h', 'h'], output: v('s', 'uint8', [6]), relu: [true, false], shifts: [2, 3], epilogue: ep('uint8', [4], true) });
  nodes.push({ op: 'add', name: 'add2', inputs: ['s', 'g'], output: v('t', 'int32', [6]), relu: [false, false], shifts: [25, 1], epilogue: ep('int32', [-1]) });
  nodes.push({ op: 'requant', name: 'rq', input: 't', output: v('u', 'uint8', [6]), epilogue: ep('uint8', [23], false) });
  nodes.push({ op: 'linear', name: 'fc2', input: 'u', output: v('y', 'int32', [3]), weight: w('w2', [3, 6], 3), bias: null, epilogue: ep('int32') });
  return {
    format: INT_MODEL_FORMAT,
    version: INT_MODEL_VERSION,
    producer: 'f8net test',
    model: { name: 'hand', args: {}, dataset: 'synthetic', classes: 3, checkpoint: '-' },
    input: { name: 'x', dtype: 'int8', shape: [5, 3, 3], fl: 5, scale: [40], mean: [0.5], std: [0.25] },
    output: { name: 'y', fl: 0 },
    values,
    nodes,
    tensors,
    layers: [],
  };
}

/**
 * Residual sums of the shapes run() fuses (IntGpuRunner.planFusions): s read by a requant and raw
 * by the next add (the requant becomes the add's second output); s3 read by two requants only
 * (both become its outputs, the raw sum is never written); s4 with a ReLU epilogue read by a
 * requant to codes (fused) and one to int32 (reads the raw sum); the last sum read raw by the sum
 * pool only.
 */
function fusionGraph(): IntGraph {
  const b = new GraphBuilder(new Rng(15), 'fusion', { dtype: 'int8', shape: [6, 7, 7], fl: 6 });
  const t = b.conv('input', 6, 3, { padding: 1, epilogue: ep('int32', [0]) });
  const c1 = b.conv(b.requant(t, ep('uint8', [8], true)), 6, 3, { padding: 1, epilogue: ep('int32', [0]) });
  const s = b.addNode(c1, t, [false, true], [0, 1], ep('int32'));
  const rqA = b.requant(s, ep('uint8', [9], true));
  const s3 = b.addNode(b.conv(rqA, 6, 1, { epilogue: ep('int32', [0]) }), s, [false, false], [2, 0], ep('int32'));
  const rqB = b.requant(s3, ep('uint8', [10], true));
  const rqC = b.requant(s3, ep('int8', [9, 10, 11, 9, 8, 12]));
  const s4 = b.addNode(b.conv(rqB, 6, 3, { padding: 1, epilogue: ep('int32', [0]) }), b.conv(rqC, 6, 1, { epilogue: ep('int32', [0]) }), [false, false], [0, 0], ep('int32', [0], true));
  const s5 = b.addNode(b.conv(b.requant(s4, ep('uint8', [9])), 6, 1, { epilogue: ep('int32', [0]) }), b.requant(s4, ep('int32', [1])), [false, true], [0, 0], ep('int32'));
  return b.finish(b.linear(b.sumpool(s5, ep('uint8', [12], true)), 4, ep('int32')));
}

function graphs(): { name: string; graph: IntGraph }[] {
  return [{ name: 'hand', graph: handGraph() }, { name: 'fusion', graph: fusionGraph() }, ...sampleGraphs()];
}

async function checkAll(r: IntGpuRunner, g: IntGraph, codes: Int32Array, n: number, what: string): Promise<void> {
  const ref = runIntCpu(g, codes, n, true);
  const got = await r.runAll(codes, n);
  expect([...got.keys()].sort()).toEqual([...ref.keys()].sort());
  for (const [name, v] of ref) expectExact(got.get(name)!, v, `${what} value ${name}`);
}

gpuDescribe('IntGpuRunner', () => {
  it('every graph, both dot paths: logits and every value equal runIntCpu; n = 1 and n = 7 in chunks of 3', async () => {
    for (const { name, graph } of graphs()) {
      for (const dot4 of paths()) {
        const r = new IntGpuRunner(graph, { dot4, batch: 3 });
        try {
          for (const n of [1, 7]) {
            const codes = randomCodes(graph, n, 100 + n);
            expectExact(await r.run(codes, n), runIntCpu(graph, codes, n), `${name} dot4=${dot4} n=${n} logits`);
          }
          await checkAll(r, graph, randomCodes(graph, 4, 5), 4, `${name} dot4=${dot4}`);
        } finally {
          r.dispose();
        }
      }
    }
  });

  it('fuses residual sums with their re-quantisations, bit-exact, one command buffer per chunk', async () => {
    const g = fusionGraph();
    const r = new IntGpuRunner(g, { batch: 8 });
    try {
      const rq = g.nodes.filter((x) => x.op === 'requant').map((x) => x.name);
      // s: its requant; s3: both of its requants; s4: the one to codes (the other re-quantises to int32, read raw).
      expect(r.fusedRequants).toEqual([rq[1], rq[2], rq[3], rq[4]]);
      const e = Engine.get();
      const codes = randomCodes(g, 5, 77);
      const ref = runIntCpu(g, codes, 5);
      // A runner's first chunk runs node by node in error scopes (one submission each), later ones in one.
      const s00 = e.submitCount;
      expectExact(await r.run(codes, 5), ref, 'fused run, checked');
      expect(e.submitCount - s00).toBeGreaterThanOrEqual(g.nodes.length - r.fusedRequants.length);
      const [d0, s0] = [e.dispatchCount, e.submitCount];
      expectExact(await r.run(codes, 5), ref, 'fused run');
      const [fusedDispatches, submits] = [e.dispatchCount - d0, e.submitCount - s0];
      expect(submits).toBe(1);
      const d1 = e.dispatchCount;
      await checkAll(r, g, codes, 5, 'unfused runAll');
      // runAll runs every node and also unpacks each value; the fused run has 4 fewer passes than its node count implies.
      expect(fusedDispatches).toBeLessThan(e.dispatchCount - d1);
      expectExact(await r.run(randomCodes(g, 20, 78), 20), runIntCpu(g, randomCodes(g, 20, 78), 20), 'fused run, 3 chunks');
    } finally {
      r.dispose();
    }
  });

  it('the hand graph exercises what it claims (saturated sums and left shifts, unsaturated ones, varied codes)', () => {
    const g = handGraph();
    const all = runIntCpu(g, randomCodes(g, 7, 101), 7, true);
    const t = all.get('t')!;
    expect(t.some((v) => v === 2147483647)).toBe(true);
    expect(t.some((v) => v > 0 && v < 2147483647)).toBe(true);
    expect(new Set(all.get('u')).size).toBeGreaterThan(3);
    expect(new Set(all.get('y')).size).toBeGreaterThan(5);
  });

  it('runIntGpu with default options; large n in default chunks frees every chunk', async () => {
    const { graph } = sampleGraphs()[0];
    const n = 70;
    const codes = randomCodes(graph, n, 9);
    expectExact(await runIntGpu(graph, codes, n), runIntCpu(graph, codes, n), 'default options n=70');
    const pool = Engine.get().pool;
    const before = pool.stats().inUseBytes;
    const r = new IntGpuRunner(graph, { batch: 16 });
    const weights = pool.stats().inUseBytes;
    expect(weights).toBeGreaterThan(before);
    await r.run(codes, n);
    expect(pool.stats().inUseBytes).toBe(weights);
    expect((await r.run(new Int32Array(0), 0)).length).toBe(0);
    r.dispose();
    expect(pool.stats().inUseBytes).toBe(before);
    await expect(r.run(codes, n)).rejects.toThrow(/after dispose/);
  });

  it('rejects bad graphs and inputs with messages naming them', async () => {
    const g = handGraph();
    const r = new IntGpuRunner(g);
    await expect(r.run(new Int32Array(10), 1)).rejects.toThrow(/10 input codes for 1 images of \[5, 3, 3\]/);
    r.dispose();
    const bad = handGraph();
    (bad.nodes[1] as { output: string }).output = 'h2';
    expect(() => new IntGpuRunner(bad)).toThrow(/unknown value h2/);
    const wrongOut = handGraph();
    wrongOut.nodes[0] = { ...(wrongOut.nodes[0] as IntNode & { op: 'linear' }), epilogue: ep('uint8', [7]) };
    expect(() => new IntGpuRunner(wrongOut)).toThrow(/fc0 writes uint8 into h, declared int8/);
    const shifts = handGraph();
    shifts.nodes[0] = { ...(shifts.nodes[0] as IntNode & { op: 'linear' }), epilogue: ep('int8', [1, 2]) };
    expect(() => new IntGpuRunner(shifts)).toThrow(/2 shifts for 6 channels/);
    const rq = handGraph();
    rq.nodes[5] = { ...(rq.nodes[5] as IntNode & { op: 'requant' }), input: 'm' };
    expect(() => new IntGpuRunner(rq)).toThrow(/rq produces \[5, 2, 2\] per image, its output u declares \[6\]/);
    const fc = handGraph();
    fc.nodes[6] = { ...(fc.nodes[6] as IntNode & { op: 'linear' }), input: 't' };
    expect(() => new IntGpuRunner(fc)).toThrow(/fc2 \(linear\) reads int32 t/);
    expect(() => new IntGpuRunner(g, { batch: 0 })).toThrow(/batch 0/);
    if (!Engine.get().gpu.hasDot4I8) expect(() => new IntGpuRunner(g, { dot4: true })).toThrow(/dot4 forced/);
  });
});

gpuDescribe('IntGpuRunner: GPU errors and adapter limits (issue 17 point 3)', () => {
  const oneLine = async (p: Promise<unknown>, code: string, re: RegExp): Promise<void> => {
    const err = await p.then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(F8Error);
    expect((err as F8Error).code).toBe(code);
    expect((err as F8Error).message).not.toContain('\n');
    expect((err as F8Error).message).toMatch(re);
  };

  it('a kernel the GPU refuses (a conv of dilation and padding 1000, built past the validator) is one line naming the node, every time', async () => {
    const g = structuredClone(sampleGraphs()[0].graph);
    const conv = g.nodes.find((n) => n.op === 'conv') as IntNode & { op: 'conv' };
    conv.dilation = [1000, 1000];
    conv.padding = [1000, 1000];
    const codes = randomCodes(g, 2, 1);
    // The CPU definition runs it; the GPU's compile error must name conv's node, not a later one.
    expect(runIntCpu(g, codes, 2).length).toBe(2 * g.model.classes);
    for (let i = 0; i < 2; i++) {
      const r = new IntGpuRunner(g);
      await oneLine(r.run(codes, 2), 'WGSL_COMPILE', new RegExp(`^integer model: node ${conv.name}: kernel int8_conv\\.conv \\(wgsl/int8_conv\\.wgsl\\): `));
      r.dispose();
    }
    // The engine is usable afterwards: the valid graph runs and matches the CPU.
    const ok = sampleGraphs()[0].graph;
    expectExact(await runIntGpu(ok, codes, 2), runIntCpu(ok, codes, 2), 'after the error');
  });

  it("refuses before uploading a model whose one image exceeds the adapter's largest binding, naming the node", () => {
    const lim = Engine.get().device.limits;
    const bind = Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
    // One channel of H x W codes takes H * W words packed; the first conv's int32 output 4 bytes each.
    const side = Math.ceil(Math.sqrt(bind / 4)) + 8;
    if (side * side > 2 ** 26) return; // an adapter with bindings over 256 MiB: the validator's bound is lower
    const b = new GraphBuilder(new Rng(5), 'big', { dtype: 'uint8', shape: [1, side, side], fl: 8 });
    const x = b.conv('input', 4, 1, { epilogue: ep('uint8', [7]) });
    const g = b.finish(b.linear(b.sumpool(x, ep('uint8', [12])), 2, ep('int32')));
    expect(() => new IntGpuRunner(g)).toThrow(new RegExp(`^integer model: node input: the input input needs ${side * side * 4} bytes per image on the GPU, more than this adapter's max\\w+ of ${bind} bytes; run it with --runner cpu$`));
  });

  it('runs a model too large for a chunk of 64 in the chunk that fits, equal to the CPU', async () => {
    const lim = Engine.get().device.limits;
    const bind = Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
    // An int32 [2, side, side] value of about bind / 40 bytes per image: a chunk of 64 does not fit.
    const side = Math.floor(Math.sqrt(bind / 40 / 8));
    const b = new GraphBuilder(new Rng(6), 'chunks', { dtype: 'uint8', shape: [1, side, side], fl: 8 });
    const x = b.conv('input', 2, 1, { epilogue: ep('int32', [3]) });
    const g = b.finish(b.linear(b.sumpool(b.requant(x, ep('uint8', [4])), ep('uint8', [14])), 3, ep('int32')));
    const r = new IntGpuRunner(g);
    expect(r.batch).toBeLessThan(64);
    expect(r.batch).toBeGreaterThan(1);
    expect(r.batch).toBe(gpuBatchFor(g, lim, 64, int8Tuning().OCB));
    // Two images (chunks crossing is covered above; a full chunk here would be a binding's worth of work).
    const codes = randomCodes(g, 2, 9);
    expectExact(await r.run(codes, 2), runIntCpu(g, codes, 2), 'smaller chunk');
    r.dispose();
  });
});
