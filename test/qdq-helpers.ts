/**
 * Running a qdq.onnx file (src/export/onnx-qdq.ts) in onnxruntime at a chosen graph optimisation
 * level, with every value of the integer graph as an extra output, read back as integers; and
 * the op types of the model onnxruntime optimised. Shared by test/cpu/onnx-qdq.test.ts and
 * test/gpu/onnx-qdq-zoo.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import type { IntGraph } from '../src/export/graph.js';

const { onnx } = onnxProto;

export const LEVELS = ['disabled', 'basic', 'extended', 'all'] as const;
export type Level = (typeof LEVELS)[number];

/** The exponent of each value's scale in the qdq file: its fl, a max pool's output keeping its input's. */
export function qdqExponents(g: IntGraph): Map<string, number> {
  const fl = new Map(g.values.map((v) => [v.name, v.fl]));
  const e = new Map([[g.input.name, g.input.fl]]);
  for (const n of g.nodes) e.set(n.output, n.op === 'maxpool' ? e.get(n.input)! : fl.get(n.output)!);
  return e;
}

/** A session at `level`, quiet (onnxruntime warns when it saves a level-'all' model). */
export function qdqSession(model: Uint8Array, level: Level, optimizedModelFilePath?: string): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(model, { executionProviders: ['cpu'], graphOptimizationLevel: level, logSeverityLevel: 3, ...(optimizedModelFilePath ? { optimizedModelFilePath } : {}) });
}

/**
 * Runs the qdq file on normalised images x at `level` with every value but the input as an
 * output: 8-bit values as their quantised tensors `q/<v>`, int32 values as reals `r/<v>` times
 * 2^e (integers again), the graph output as `logits`.
 */
export async function runQdqValues(bytes: Uint8Array, g: IntGraph, x: Float32Array, n: number, level: Level): Promise<Map<string, number[]>> {
  const m = onnx.ModelProto.decode(bytes);
  const e = qdqExponents(g);
  const T = { int8: 3, uint8: 2, int32: 1 } as const;
  const name = (v: IntGraph['values'][number]): string => (v.name === g.output.name ? 'logits' : v.dtype === 'int32' ? `r/${v.name}` : `q/${v.name}`);
  for (const v of g.values) if (v.name !== g.input.name && v.name !== g.output.name) m.graph!.output!.push({ name: name(v), type: { tensorType: { elemType: T[v.dtype] } } });
  const s = await qdqSession(onnx.ModelProto.encode(m).finish(), level);
  const r = await s.run({ input: new ort.Tensor('float32', x, [n, ...g.input.shape]) });
  const out = new Map<string, number[]>();
  for (const v of g.values) {
    if (v.name === g.input.name) continue;
    const data = Array.from(r[name(v)].data as ArrayLike<number>);
    out.set(v.name, v.dtype === 'int32' && v.name !== g.output.name ? data.map((d) => d * 2 ** e.get(v.name)!) : data);
  }
  await s.release();
  return out;
}

/** Op types (domain-qualified outside the default domain) of the model onnxruntime optimised at `level`, with their counts. */
export async function optimizedOps(bytes: Uint8Array, level: Level): Promise<Map<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'f8net-qdq-'));
  try {
    const file = join(dir, `${level}.onnx`);
    await (await qdqSession(bytes, level, file)).release();
    const m = onnx.ModelProto.decode(readFileSync(file));
    const ops = new Map<string, number>();
    for (const nd of m.graph!.node!) {
      const t = nd.domain ? `${nd.domain}.${nd.opType}` : nd.opType!;
      ops.set(t, (ops.get(t) ?? 0) + 1);
    }
    return ops;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Largest |difference| of each compared value, and how many elements differ. */
export function lsbDiff(want: Map<string, Int32Array>, got: Map<string, number[]>, only?: Set<string>): { maxLsb: number; differing: number; total: number; worst: string } {
  let maxLsb = 0;
  let differing = 0;
  let total = 0;
  let worst = '';
  for (const [k, w] of want) {
    const gv = got.get(k);
    if (!gv || (only && !only.has(k))) continue;
    for (let i = 0; i < w.length; i++) {
      const d = Math.abs(w[i] - gv[i]);
      total++;
      if (d) differing++;
      if (d > maxLsb) [maxLsb, worst] = [d, k];
    }
  }
  return { maxLsb, differing, total, worst };
}
