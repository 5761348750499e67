/**
 * Fuzzing the integer model reader: thousands of damaged model files made from small valid ones
 * (byte flips and truncations of model.json and weights.bin, and JSON-level edits: deleted keys,
 * values of the wrong type, huge / negative / non-integer numbers, names swapped for other names,
 * duplicated and reordered array entries). Each must either be refused with a one-line
 * F8Error('BAD_INPUT') naming one of the two files, or parse into a graph that runIntCpu runs on
 * one image without any error, quickly. Seeded: a failure prints its case and reproduces.
 */
import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { Rng } from '../../src/runtime/rng.js';
import { parseIntModel, serializeIntModel } from '../../src/export/format.js';
import { runIntCpu } from '../../src/export/run-cpu.js';
import { F8Error } from '../../src/runtime/errors.js';
import { sampleGraphs, randomCodes } from '../int-graphs.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = (string | number)[];

const CASES_PER_MODEL = 3000;
const MAX_CASE_MS = 2000;

/** Every path into the document (not the root). */
function paths(v: Json, at: Path = [], out: Path[] = []): Path[] {
  if (Array.isArray(v)) v.forEach((e, i) => (out.push([...at, i]), paths(e, [...at, i], out)));
  else if (v !== null && typeof v === 'object') for (const [k, e] of Object.entries(v)) out.push([...at, k]), paths(e, [...at, k], out);
  return out;
}
function strings(v: Json, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) v.forEach((e) => strings(e, out));
  else if (v !== null && typeof v === 'object') Object.values(v).forEach((e) => strings(e, out));
  return out;
}
const parentOf = (doc: Json, p: Path): Json => p.slice(0, -1).reduce<Json>((o, k) => (o as Record<string, Json>)[k as string], doc);

const WEIRD: Json[] = [null, true, false, '', 'x', '__proto__', 'constructor', 'NaN', 0, -1, 1, 2, 3, 2.5, -0.5, 31, 32, -32, 127, 128, -128, 255, 256, 1e9, -1e9, 2 ** 31, -(2 ** 31), 2 ** 53, 1e308, [], [1], [1e9, 1e9], [0, 0], {}, { a: 1 }];

/** Applies one random JSON-level edit to doc in place; returns its description. */
function editJson(rng: Rng, doc: Json): string {
  const all = paths(doc);
  const p = all[rng.nextInt(all.length)];
  const parent = parentOf(doc, p) as Record<string | number, Json>;
  const key = p[p.length - 1];
  const old = parent[key];
  const where = p.join('.');
  switch (rng.nextInt(6)) {
    case 0:
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      return `delete ${where}`;
    case 1: {
      const v = WEIRD[rng.nextInt(WEIRD.length)];
      parent[key] = structuredClone(v);
      return `set ${where} = ${JSON.stringify(v)}`;
    }
    case 2: {
      if (typeof old !== 'number') {
        const ss = strings(doc);
        const s = ss[rng.nextInt(ss.length)];
        parent[key] = s;
        return `set ${where} = ${JSON.stringify(s)} (another name)`;
      }
      const ops: [string, (x: number) => number][] = [
        ['+1', (x) => x + 1],
        ['-1', (x) => x - 1],
        ['*2', (x) => x * 2],
        ['neg', (x) => -x],
        ['+0.5', (x) => x + 0.5],
        ['*1e6', (x) => x * 1e6],
      ];
      const [name, f] = ops[rng.nextInt(ops.length)];
      parent[key] = f(old);
      return `${where} ${name} (${old} -> ${parent[key]})`;
    }
    case 3: {
      // Duplicate an array entry (duplicate names) or an object entry under a new key.
      if (Array.isArray(parent)) {
        parent.splice(key as number, 0, structuredClone(old));
        return `duplicate ${where}`;
      }
      parent[`${String(key)}_copy`] = structuredClone(old);
      return `add ${where}_copy`;
    }
    case 4: {
      // Swap with another entry of the same array (reorder nodes, values, shapes).
      if (!Array.isArray(parent) || parent.length < 2) return editJson(rng, doc);
      const j = rng.nextInt(parent.length);
      [parent[key as number], parent[j]] = [parent[j], parent[key as number]];
      return `swap ${where} with [${j}]`;
    }
    default: {
      // Replace with a copy of another value of the document (right type, wrong place).
      const q = all[rng.nextInt(all.length)];
      const v = (parentOf(doc, q) as Record<string | number, Json>)[q[q.length - 1]];
      parent[key] = structuredClone(v);
      return `set ${where} = value of ${q.join('.')}`;
    }
  }
}

function flipBytes(rng: Rng, b: Uint8Array, what: string): { bytes: Uint8Array; desc: string } {
  const out = b.slice();
  const n = 1 + rng.nextInt(3);
  const at: string[] = [];
  for (let i = 0; i < n && out.length > 0; i++) {
    const k = rng.nextInt(out.length);
    const v = rng.nextInt(2) ? out[k] ^ (1 << rng.nextInt(8)) : rng.nextInt(256);
    at.push(`${k}: ${out[k]} -> ${v}`);
    out[k] = v;
  }
  return { bytes: out, desc: `${what} bytes ${at.join(', ')}` };
}

interface Case {
  desc: string;
  json: Uint8Array;
  bin: Uint8Array;
}

/** One damaged model from a valid (json, bin) pair. */
function makeCase(rng: Rng, json: string, bin: Uint8Array): Case {
  const jb = new TextEncoder().encode(json);
  const rehash = (doc: Json, b: Uint8Array): Uint8Array => {
    const w = (doc as Record<string, Record<string, Json>>).weights;
    w.sha256 = createHash('sha256').update(b).digest('hex');
    w.bytes = b.length;
    return new TextEncoder().encode(JSON.stringify(doc));
  };
  switch (rng.nextInt(7)) {
    case 0: {
      const f = flipBytes(rng, jb, 'model.json');
      return { desc: f.desc, json: f.bytes, bin };
    }
    case 1: {
      const k = rng.nextInt(jb.length);
      return { desc: `model.json truncated to ${k} bytes`, json: jb.slice(0, k), bin };
    }
    case 2: {
      const f = flipBytes(rng, bin, 'weights.bin');
      return { desc: f.desc, json: jb, bin: f.bytes };
    }
    case 3: {
      // Flipped weights with a matching hash: the values themselves are checked.
      const f = flipBytes(rng, bin, 'weights.bin');
      return { desc: `${f.desc} (rehashed)`, json: rehash(JSON.parse(json), f.bytes), bin: f.bytes };
    }
    case 4: {
      const k = rng.nextInt(bin.length + 8);
      const b = k <= bin.length ? bin.slice(0, k) : Uint8Array.from([...bin, ...new Array(k - bin.length).fill(0)]);
      const re = rng.nextInt(2) === 1;
      return { desc: `weights.bin resized to ${k} bytes${re ? ' (rehashed)' : ''}`, json: re ? rehash(JSON.parse(json), b) : jb, bin: b };
    }
    default: {
      const doc = JSON.parse(json) as Json;
      const n = 1 + rng.nextInt(3);
      const desc: string[] = [];
      for (let i = 0; i < n; i++) desc.push(editJson(rng, doc));
      return { desc: desc.join('; '), json: new TextEncoder().encode(JSON.stringify(doc)), bin };
    }
  }
}

describe('integer model reader under fuzzing', () => {
  const models = sampleGraphs().filter((m) => m.name === 'cnn' || m.name === 'residual');
  for (const { name, graph } of models) {
    it(`${name}: ${CASES_PER_MODEL} damaged files are refused with BAD_INPUT or parse and run`, () => {
      const { json, bin } = serializeIntModel(graph);
      const rng = new Rng(20240 + name.length);
      const failures: string[] = [];
      let parsed = 0;
      const refusedBy = new Map<string, number>();
      for (let i = 0; i < CASES_PER_MODEL; i++) {
        const c = makeCase(rng, json, bin);
        const t0 = performance.now();
        try {
          const g = parseIntModel(c.json, c.bin, 'model');
          parsed++;
          const logits = runIntCpu(g, randomCodes(g, 1, i), 1);
          if (logits.length !== g.model.classes) failures.push(`case ${i} (${c.desc}): ${logits.length} logits for ${g.model.classes} classes`);
        } catch (e) {
          const ok = e instanceof F8Error && e.code === 'BAD_INPUT' && /^model\/(model\.json|weights\.bin): /.test(e.message) && !e.message.includes('\n');
          if (!ok) failures.push(`case ${i} (${c.desc}): ${e instanceof F8Error ? `F8Error ${e.code}` : (e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
          else {
            // The reason without names and numbers.
            const kind = e.message
              .replace(/[0-9a-f]{64}/g, 'H')
              .replace(/"[^"]*"/g, 'S')
              .replace(/\b(tensor|node|value|layer|output|input|reads) [^\s:,]+/g, '$1 X')
              .replace(/-?\d+(\.\d+)?(e[+-]?\d+)?/g, 'N')
              .slice(0, 60);
            refusedBy.set(kind, (refusedBy.get(kind) ?? 0) + 1);
          }
        }
        const ms = performance.now() - t0;
        if (ms > MAX_CASE_MS) failures.push(`case ${i} (${c.desc}): took ${ms.toFixed(0)} ms`);
      }
      expect(failures.slice(0, 10)).toEqual([]);
      // The fuzzer reaches both outcomes, and refusals for many different reasons.
      expect(parsed).toBeGreaterThan(CASES_PER_MODEL / 50);
      expect(parsed).toBeLessThan(CASES_PER_MODEL / 2);
      expect(refusedBy.size).toBeGreaterThan(40);
    });
  }
});
