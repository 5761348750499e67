/**
 * The GPU integer runner: an IntGraph (./graph.ts) on the int8 ops of src/ops/int8.ts, bit for
 * bit equal to the CPU definition runIntCpu (./run-cpu.ts).
 *
 * Values live on the GPU as the int8 ops pass them: 8-bit codes ('int8' / 'uint8') as packed
 * Int8Act [n, C, ...] (four channels a word), 'int32' values as i32 tensors [n, ...shape]. Each
 * node is one op (a linear layer whose input has spatial axes first flattens it, int8Flatten):
 *   conv -> int8Conv2d   linear -> int8Linear   maxpool -> int8MaxPool2d   sumpool -> int8SumPool
 *   add  -> int8Add      requant -> int8Requant
 * with the node's epilogue fused: out 'int8' / 'uint8' re-quantises to packed codes, out
 * 'int32' keeps i32 values (shifted where the shift is not 0). A residual add whose int32 sum is
 * re-quantised by a requant node (the next block's conv input) and also read raw (the next
 * identity shortcut), or re-quantised twice (a conv and its projection shortcut), runs as one
 * int8AddDual pass that writes both (run() only; runAll keeps every node separate so that every
 * value of the graph can be read). Weights, biases and per-channel
 * shifts are uploaded once, in the constructor; images run in chunks of `batch` inside a tidy
 * scope, each value freed after its last reader, so memory stays bounded whatever n is.
 *
 * @example
 *   await Engine.open();
 *   const r = new IntGpuRunner(graph);                  // uploads the weights
 *   const logits = await r.run(codes, n);               // Int32Array [n, classes] at graph.output.fl
 *   r.dispose();
 */
import { Engine } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';
import { Tensor } from '../tensor.js';
import { conv2dOutputShape } from '../ops/conv2d.js';
import {
  int8Tuning, int8Activation, int8Weights, int8Conv2d, int8Linear, int8Flatten, int8Add, int8AddDual, int8Requant, int8MaxPool2d, int8SumPool,
  int8UsesDot4, readInt8, type Int8Act, type Int8Epilogue, type Int8Weights,
} from '../ops/int8.js';
import { nodeInputs, valueMap, type IntEpilogue, type IntGraph, type IntNode, type IntValueInfo } from './graph.js';
import { gpuBatchFor } from './gpu-limits.js';

/** A value on the GPU: packed codes, or i32 values. */
type GpuValue = Int8Act | Tensor;

export interface IntGpuOptions {
  /** Force dot4I8Packed (true) or the unpacked products (false); default: the op's choice (int8Tuning.dot4). */
  dot4?: boolean;
  /** Images per chunk (default 64). */
  batch?: number;
  /** Fuse residual sums with their re-quantisations in run() (default true; false: one pass per node, for A/B timing). */
  fuse?: boolean;
}

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;
const isCodes = (v: IntValueInfo): boolean => v.dtype !== 'int32';

function owner(v: GpuValue): Tensor {
  const t = v instanceof Tensor ? v : v.data;
  return t.viewOf ?? t;
}

async function readValue(v: GpuValue): Promise<Int32Array> {
  return v instanceof Tensor ? ((await v.read()) as Int32Array) : readInt8(v);
}

/** One node, ready to run on a chunk: its op with the uploaded constants bound. */
interface Step {
  node: IntNode;
  run: (inputs: GpuValue[]) => GpuValue;
  /** A residual add fused with the requant node(s) of its sum: returns the add's value and leaves theirs in `pending`. */
  fused?: (inputs: GpuValue[], pending: Map<string, GpuValue>) => GpuValue;
}

/** The requant nodes an add writes in its own pass: `second` always, `first` instead of the raw sum. */
interface AddFusion {
  second: IntNode & { op: 'requant' };
  first?: IntNode & { op: 'requant' };
}

/**
 * The integer model on the GPU: its constants uploaded once, then `run` on batches of codes.
 * Gives the same int32 logits as runIntCpu, bit for bit.
 *
 * @example
 *   import { Engine, IntGpuRunner, quantizeImages } from 'f8net/int';
 *   await Engine.open();
 *   const r = new IntGpuRunner(g);              // g: readIntModel(dir) or parseIntModel(json, bin, name)
 *   const logits = await r.run(quantizeImages(g, pixels, n), n);
 *   r.dispose();
 *   await Engine.get().close();
 */
export class IntGpuRunner {
  private readonly e: Engine;
  private readonly steps: Step[] = [];
  /** The requant nodes that run() computes inside the pass of the add before them. */
  get fusedRequants(): string[] {
    return [...this.fusedAway];
  }

  /** Index of the last step that reads each value (values read by none: -1). */
  private readonly lastUse = new Map<string, number>();
  private readonly owned: Tensor[] = [];
  /** Images per chunk: the requested batch, shrunk until every buffer fits the adapter (./gpu-limits.ts). */
  readonly batch: number;
  /**
   * Whether a chunk has run node by node in error scopes (see forward): the first chunk does, so a
   * GPU error (a kernel that does not compile, a binding over a limit, memory) names its node.
   */
  private checkedOnce = false;
  private readonly values: Map<string, IntValueInfo>;
  /** Requant nodes computed by the pass of the add before them (see AddFusion). */
  private readonly fusedAway = new Set<string>();
  private disposed = false;

  constructor(
    readonly graph: IntGraph,
    opts: IntGpuOptions = {},
  ) {
    this.e = Engine.get();
    const batch = opts.batch ?? 64;
    if (!Number.isInteger(batch) || batch < 1) throw new F8Error('BAD_CONFIG', `IntGpuRunner: batch ${opts.batch} must be a positive integer`);
    // The adapter's buffer and dispatch limits, before anything is uploaded.
    this.batch = gpuBatchFor(graph, this.e.device.limits, batch, int8Tuning(this.e).OCB);
    // Fails early where dot4 is forced on an adapter without it.
    if (opts.dot4 !== undefined) int8UsesDot4(opts.dot4, this.e);
    const g = graph;
    this.values = valueMap(g);
    const input = this.info(g.input.name, 'input');
    if (input.dtype !== g.input.dtype || fmt(input.shape) !== fmt(g.input.shape)) {
      throw new F8Error('BAD_INPUT', `integer model: input value ${g.input.name} is ${input.dtype} ${fmt(input.shape)}, the input spec says ${g.input.dtype} ${fmt(g.input.shape)}`);
    }
    const known = new Set([g.input.name]);
    const fusions = opts.fuse === false ? new Map<string, AddFusion>() : this.planFusions();
    try {
      g.nodes.forEach((node, i) => {
        for (const name of nodeInputs(node)) {
          if (!known.has(name)) throw new F8Error('BAD_INPUT', `integer model: node ${node.name} reads ${name} before it is computed`);
          this.lastUse.set(name, i);
        }
        const f = fusions.get(node.name);
        try {
          this.steps.push({ node, run: this.compile(node, opts.dot4), ...(f && node.op === 'add' ? { fused: this.compileFused(node, f) } : {}) });
        } catch (err) {
          throw nodeError(node.name, err);
        }
        known.add(node.output);
      });
      this.info(g.output.name, 'output');
      if (!known.has(g.output.name)) throw new F8Error('BAD_INPUT', `integer model: output ${g.output.name} is computed by no node`);
    } catch (err) {
      this.dispose();
      throw err;
    }
  }

  /**
   * Which adds take over which requant nodes. Candidates: an add with an int32 output that is not
   * the graph output, read by a requant to codes. The first such requant becomes the second output;
   * where the sum has exactly two readers, both requants to codes, and the add's own epilogue is the
   * identity, the other requant replaces the raw output.
   */
  private planFusions(): Map<string, AddFusion> {
    const g = this.graph;
    const readersOf = new Map<string, IntNode[]>();
    for (const n of g.nodes) for (const i of new Set(nodeInputs(n))) readersOf.set(i, [...(readersOf.get(i) ?? []), n]);
    const out = new Map<string, AddFusion>();
    for (const p of g.nodes) {
      if (p.op !== 'add' || p.epilogue.out !== 'int32' || p.output === g.output.name) continue;
      const rd = readersOf.get(p.output) ?? [];
      const q = rd.filter((n): n is IntNode & { op: 'requant' } => n.op === 'requant' && n.epilogue.out !== 'int32' && n.output !== g.output.name);
      if (!q.length) continue;
      const identity = !p.epilogue.relu && p.epilogue.shift.every((x) => x === 0);
      const both = identity && rd.length === 2 && q.length === 2;
      out.set(p.name, both ? { second: q[0], first: q[1] } : { second: q[0] });
      this.fusedAway.add(q[0].name);
      if (both) this.fusedAway.add(q[1].name);
    }
    return out;
  }

  /** The fused pass of an add (see planFusions); validation as in compile(). */
  private compileFused(node: IntNode & { op: 'add' }, f: AddFusion): (inputs: GpuValue[], pending: Map<string, GpuValue>) => GpuValue {
    const a = this.info(node.inputs[0], node.name);
    const C = a.shape[0];
    const sumInfo = this.info(node.output, node.name);
    const second = this.epilogue(f.second, f.second.epilogue, this.info(f.second.output, f.second.name), C);
    const first = f.first ? this.epilogue(f.first, f.first.epilogue, this.info(f.first.output, f.first.name), C) : this.epilogue(node, node.epilogue, sumInfo, C);
    const opts = { shifts: node.shifts, operandRelu: node.relu, ...first };
    return ([x, y], pending) => {
      const r = int8AddDual(x, y, opts, second as Parameters<typeof int8AddDual>[3]);
      pending.set(f.second.output, r.second);
      if (f.first) pending.set(f.first.output, r.first);
      // With f.first the sum itself is not computed: its readers are the two fused requants, which
      // take their values from `pending`; the entry only keeps the schedule's bookkeeping alive.
      return r.first;
    };
  }

  private info(name: string, node: string): IntValueInfo {
    const v = this.values.get(name);
    if (!v) throw new F8Error('BAD_INPUT', `integer model: node ${node} reads unknown value ${name}`);
    return v;
  }

  /** A tensor owned by the runner (out of every tidy scope, freed by dispose). */
  private own(t: Tensor): Tensor {
    this.owned.push(this.e.keep(t));
    return t;
  }

  private upload(w: Int8Weights): Int8Weights {
    this.own(w.data);
    this.own(w.sums);
    return w;
  }

  private tensor(name: string, dtype: 'int8' | 'int32', node: IntNode): { data: Int8Array | Int32Array; shape: number[] } {
    const t = this.graph.tensors[name];
    if (!t) throw new F8Error('BAD_INPUT', `integer model: node ${node.name} uses unknown tensor ${name}`);
    if (t.dtype !== dtype || t.data.length !== size(t.shape)) throw new F8Error('BAD_INPUT', `integer model: tensor ${name} of node ${node.name} must be ${dtype} with ${size(t.shape)} values, got ${t.dtype} with ${t.data.length}`);
    return t;
  }

  private bias(node: IntNode & { bias: string | null }, O: number): Tensor | null {
    if (!node.bias) return null;
    const b = this.tensor(node.bias, 'int32', node);
    if (b.data.length !== O) throw new F8Error('SHAPE_MISMATCH', `integer model: bias ${node.bias} of node ${node.name} has ${b.data.length} values for ${O} output channels`);
    return this.own(Tensor.from(b.data, [O], 'i32'));
  }

  /** The op options of an epilogue whose output is `out` with `channels` channels (axis 0 per image). */
  private epilogue(node: IntNode, ep: IntEpilogue, out: IntValueInfo, channels: number): Int8Epilogue {
    if (ep.out !== out.dtype) throw new F8Error('BAD_INPUT', `integer model: node ${node.name} writes ${ep.out} into ${out.name}, declared ${out.dtype}`);
    if (!ep.shift.every((v) => Number.isInteger(v))) throw new F8Error('BAD_INPUT', `integer model: node ${node.name} has non-integer shifts`);
    if (ep.shift.length !== 1 && ep.shift.length !== channels) throw new F8Error('SHAPE_MISMATCH', `integer model: node ${node.name} has ${ep.shift.length} shifts for ${channels} channels (1 or one per channel)`);
    const shift = ep.shift.length === 1 ? ep.shift[0] : this.own(Tensor.from(Int32Array.from(ep.shift), [channels], 'i32'));
    if (ep.out === 'int32') return { relu: ep.relu, shift };
    return { relu: ep.relu, requant: { shift, signed: ep.out === 'int8' } };
  }

  private expectShape(node: IntNode, out: IntValueInfo, shape: readonly number[]): void {
    if (fmt(shape) !== fmt(out.shape)) throw new F8Error('SHAPE_MISMATCH', `integer model: node ${node.name} produces ${fmt(shape)} per image, its output ${out.name} declares ${fmt(out.shape)}`);
  }

  private codesInput(node: IntNode, name: string): IntValueInfo {
    const v = this.info(name, node.name);
    if (!isCodes(v)) throw new F8Error('UNSUPPORTED', `integer model: node ${node.name} (${node.op}) reads int32 ${name}; its input must be 8-bit codes`);
    return v;
  }

  /** Validates a node against its values and uploads its constants; returns its op. */
  private compile(node: IntNode, dot4: boolean | undefined): (inputs: GpuValue[]) => GpuValue {
    const out = this.info(node.output, node.name);
    switch (node.op) {
      case 'conv': {
        const xi = this.codesInput(node, node.input);
        const w = this.tensor(node.weight, 'int8', node);
        if (w.shape.length !== 4 || xi.shape.length !== 3) throw new F8Error('SHAPE_MISMATCH', `integer model: conv ${node.name} needs input [C, H, W] and weight [O, C/groups, KH, KW], got ${fmt(xi.shape)} and ${fmt(w.shape)}`);
        const geo = { stride: node.stride, padding: node.padding, dilation: node.dilation, groups: node.groups };
        this.expectShape(node, out, conv2dOutputShape([1, ...xi.shape], w.shape, geo).slice(1));
        const O = w.shape[0];
        const weights = this.upload(int8Weights(w.data, w.shape, node.groups));
        const bias = this.bias(node, O);
        const ep = this.epilogue(node, node.epilogue, out, O);
        return ([x]) => int8Conv2d(x as Int8Act, weights, bias, { ...geo, ...ep, dot4 });
      }
      case 'linear': {
        const xi = this.codesInput(node, node.input);
        const w = this.tensor(node.weight, 'int8', node);
        const K = size(xi.shape);
        if (w.shape.length !== 2 || w.shape[1] !== K) throw new F8Error('SHAPE_MISMATCH', `integer model: linear ${node.name} weight ${fmt(w.shape)} does not fit its input ${fmt(xi.shape)} (${K} values)`);
        const O = w.shape[0];
        this.expectShape(node, out, [O]);
        const weights = this.upload(int8Weights(w.data, [O, K]));
        const bias = this.bias(node, O);
        const ep = this.epilogue(node, node.epilogue, out, O);
        return ([x]) => int8Linear(int8Flatten(x as Int8Act), weights, bias, { ...ep, dot4 });
      }
      case 'maxpool': {
        const xi = this.info(node.input, node.name);
        if (out.dtype !== xi.dtype) throw new F8Error('BAD_INPUT', `integer model: maxpool ${node.name} turns ${xi.dtype} into ${out.dtype}; it keeps the dtype`);
        if (xi.shape.length !== 3) throw new F8Error('SHAPE_MISMATCH', `integer model: maxpool ${node.name} needs input [C, H, W], got ${fmt(xi.shape)}`);
        const [C, H, W] = xi.shape;
        const [[kh, kw], [sh, sw], [ph, pw]] = [node.kernel, node.stride, node.padding];
        this.expectShape(node, out, [C, Math.floor((H + 2 * ph - kh) / sh) + 1, Math.floor((W + 2 * pw - kw) / sw) + 1]);
        const opts = { kernel: node.kernel, stride: node.stride, padding: node.padding };
        return ([x]) => int8MaxPool2d(x, opts);
      }
      case 'sumpool': {
        const xi = this.info(node.input, node.name);
        if (xi.shape.length !== 3) throw new F8Error('SHAPE_MISMATCH', `integer model: sumpool ${node.name} needs input [C, H, W], got ${fmt(xi.shape)}`);
        const C = xi.shape[0];
        this.expectShape(node, out, [C]);
        const ep = { ...this.epilogue(node, node.epilogue, out, C), divisor: node.divisor };
        return ([x]) => int8SumPool(x, ep);
      }
      case 'add': {
        const [a, b] = node.inputs.map((name) => this.info(name, node.name));
        if (fmt(a.shape) !== fmt(b.shape)) throw new F8Error('SHAPE_MISMATCH', `integer model: add ${node.name} of ${fmt(a.shape)} and ${fmt(b.shape)}; operands must have one shape`);
        if (!node.shifts.every((s) => Number.isInteger(s) && s >= 0)) throw new F8Error('BAD_INPUT', `integer model: add ${node.name} shifts [${node.shifts.join(', ')}] must be integers >= 0`);
        this.expectShape(node, out, a.shape);
        const ep = this.epilogue(node, node.epilogue, out, a.shape[0]);
        const opts = { shifts: node.shifts, operandRelu: node.relu, ...ep };
        // A per-image [C] operand is [n, C]: the op's [N, C, ...] with no spatial axes.
        return ([x, y]) => int8Add(x, y, opts);
      }
      case 'requant': {
        // Defined on int32 input; codes are taken too, as runIntCpu does.
        const xi = this.info(node.input, node.name);
        this.expectShape(node, out, xi.shape);
        const ep = this.epilogue(node, node.epilogue, out, xi.shape[0]);
        return ([x]) => int8Requant(x, ep);
      }
    }
  }

  /**
   * Runs the steps on one chunk of b images; returns the values still alive (all with keepAll).
   * The runner's first chunk runs each node in Engine.checked (its own error scopes, submitted and
   * waited for), so that Dawn's asynchronous validation errors are thrown as one line naming the
   * node that caused them rather than a later node or the read-back.
   */
  private async forward(codes: Int32Array, b: number, keepAll: boolean): Promise<Map<string, GpuValue>> {
    const checked = !this.checkedOnce;
    const g = this.graph;
    const signed = g.input.dtype === 'int8';
    const env = new Map<string, GpuValue>([[g.input.name, int8Activation(codes, [b, ...g.input.shape], signed)]]);
    // Fusions only where intermediate values are not read back (keepAll reads every value).
    const fuse = !keepAll;
    const pending = new Map<string, GpuValue>();
    for (let i = 0; i < this.steps.length; i++) {
      const { node, run, fused } = this.steps[i];
      const ins = nodeInputs(node).map((name) => env.get(name)!);
      const step = (): GpuValue => {
        if (fuse && fused) return fused(ins, pending);
        if (fuse && this.fusedAway.has(node.name)) {
          const v = pending.get(node.output)!;
          pending.delete(node.output);
          return v;
        }
        return run(ins);
      };
      let y: GpuValue;
      try {
        y = checked ? await this.e.checked(step) : step();
      } catch (err) {
        throw nodeError(node.name, err);
      }
      const out = this.values.get(node.output)!;
      const got = y.shape;
      if (fmt(got) !== fmt([b, ...out.shape])) throw new F8Error('SHAPE_MISMATCH', `integer model: node ${node.name} produced ${fmt(got)}, expected ${fmt([b, ...out.shape])}`);
      env.set(node.output, y);
      if (keepAll) continue;
      for (const name of new Set(nodeInputs(node))) {
        if (this.lastUse.get(name) === i && name !== g.output.name) {
          const t = owner(env.get(name)!);
          env.delete(name);
          // A fused add's entry can be the same tensor as a requant output still to be read.
          if (![...env.values()].some((v) => owner(v) === t)) t.dispose();
        }
      }
    }
    this.checkedOnce = true;
    return env;
  }

  private check(codes: Int32Array, n: number): void {
    if (this.disposed) throw new F8Error('DISPOSED', 'IntGpuRunner: run after dispose()');
    if (!Number.isInteger(n) || n < 0) throw new F8Error('BAD_INPUT', `IntGpuRunner: image count ${n} must be an integer >= 0`);
    const per = size(this.graph.input.shape);
    if (!(codes instanceof Int32Array) || codes.length !== n * per) {
      throw new F8Error('SHAPE_MISMATCH', `integer model: ${codes.length} input codes for ${n} images of ${fmt(this.graph.input.shape)}`);
    }
  }

  /**
   * Runs the graph on input codes [n, ...input.shape] (8-bit codes as Int32Array, as runIntCpu)
   * and returns the output value [n, ...] (int32 logits [n, classes] at graph.output.fl).
   */
  async run(codes: Int32Array, n: number): Promise<Int32Array> {
    this.check(codes, n);
    const per = size(this.graph.input.shape);
    const outInfo = this.values.get(this.graph.output.name)!;
    const outPer = size(outInfo.shape);
    const result = new Int32Array(n * outPer);
    // One command buffer per chunk: the engine's dispatch-count flush is lifted while the chunk is
    // recorded (the uniform ring still flushes when full; F8NET_VALIDATE's batches of one stay).
    const saved = this.e.batchSize;
    if (saved > 1) this.e.batchSize = Number.MAX_SAFE_INTEGER;
    try {
      for (let s = 0; s < n; s += this.batch) {
        const b = Math.min(this.batch, n - s);
        const part = await this.e.tidyAsync(async () => {
          const env = await this.forward(codes.subarray(s * per, (s + b) * per), b, false);
          return readValue(env.get(this.graph.output.name)!);
        });
        result.set(part, s * outPer);
      }
    } finally {
      this.e.batchSize = saved;
    }
    return result;
  }

  /** Every value of the graph (the input included) for images [n, ...], unpacked to NCHW Int32Array. */
  async runAll(codes: Int32Array, n: number): Promise<Map<string, Int32Array>> {
    this.check(codes, n);
    const per = size(this.graph.input.shape);
    const names = [this.graph.input.name, ...this.graph.nodes.map((x) => x.output)];
    const all = new Map(names.map((name) => [name, new Int32Array(n * size(this.values.get(name)!.shape))]));
    for (let s = 0; s < n; s += this.batch) {
      const b = Math.min(this.batch, n - s);
      await this.e.tidyAsync(async () => {
        const env = await this.forward(codes.subarray(s * per, (s + b) * per), b, true);
        for (const name of names) {
          const v = await readValue(env.get(name)!);
          all.get(name)!.set(v, s * (v.length / b));
        }
      });
    }
    return all;
  }

  /** Frees the uploaded weights, biases and shifts. */
  dispose(): void {
    for (const t of this.owned) t.dispose();
    this.owned.length = 0;
    this.disposed = true;
  }
}

/** One-shot: uploads g, runs it on codes [n, ...input.shape], frees it; returns the logits [n, classes]. */
export async function runIntGpu(g: IntGraph, codes: Int32Array, n: number, opts: IntGpuOptions = {}): Promise<Int32Array> {
  const r = new IntGpuRunner(g, opts);
  try {
    return await r.run(codes, n);
  } finally {
    r.dispose();
  }
}

/** A GPU error raised while compiling or dispatching a node, as one line naming the node. */
function nodeError(node: string, err: unknown): unknown {
  if (!(err instanceof F8Error) || err.message.includes(`node ${node}`)) return err;
  const msg = err.message.split('\n').map((l) => l.trim()).filter(Boolean).join(' | ').slice(0, 400);
  return new F8Error(err.code, `integer model: node ${node}: ${msg}`);
}
