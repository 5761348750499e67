/**
 * Builds the integer graph (./graph.ts) of an F8Net network from its fixed-point layers
 * (F8NET.md §5). The network's forward is the definition: `fromTrace` replays the steps of a
 * traced evaluation pass (src/nn/trace.ts) in order, and the builder turns each into integer
 * nodes:
 *
 *  - input(L):        the network input as codes for L (the image quantiser is the input spec);
 *  - layer(L, x):     conv/linear of codes x for L: acc = sum X * W + B at fl_acc = fl_in + fl_w,
 *                     a raw int32 value in the units of L's reader (§4); per-channel weight
 *                     lengths are aligned to the largest fl_acc by saturating left shifts;
 *  - codesFor(v, L):  re-quantisation of a raw value to L's 8-bit input: shift fl_v - fl_in(L),
 *                     clamp to [-127, 127] or [0, 255] (the clamp at 0 is L's ReLU);
 *  - maxPool(v):      on raw values or codes (max commutes with the monotone re-quantisation);
 *  - identity(x, E, N) and add(a, b): a residual sum in N's units (§5 "Residual add"): the
 *                     identity operand is x, rectified if E reads unsigned, whose fractional length
 *                     in N's units is fl_x - fl_E + fl_N because E and N share one clipping level;
 *  - globalPool(v, R): ReLU, sum over k x k, fl + s (src/nn/qpool.ts), re-quantised for R;
 *  - output(v):       the logits.
 * Then `finish()` fuses each re-quantisation into the node that produced its input where that
 * node has no other reader (conv -> requant becomes one conv with an 8-bit epilogue), and moves
 * a max pool after the re-quantisation it feeds (exact: both are monotone), so that pooling
 * runs on 8-bit codes.
 */
import { F8Error } from '../runtime/errors.js';
import { roundHalfEven } from '../quant/fixed-format.js';
import { clampInt32 } from '../quant/int-requant.js';
import { QConv2d, QLinear, LEGACY_HEAD_FORM, type QLayer } from '../nn/qlayers.js';
import { poolFold } from '../nn/qpool.js';
import type { ForwardTrace } from '../nn/trace.js';
import { INT_MODEL_FORMAT, INT_MODEL_VERSION, nodeInputs, type IntDType, type IntEpilogue, type IntGraph, type IntNode, type IntValueInfo, type SumPoolNode } from './graph.js';

/** What the fixed-point forward pass of one layer computed (read back after an eval forward). */
export interface LayerCapture {
  /** Fake-quantised folded weight w_q (values q / 2^fl_w). */
  wq: Float32Array;
  wShape: number[];
  /** Folded bias b_f, per output channel. */
  bias: Float32Array;
  /** Weight fractional lengths (one, or one per output channel). */
  weightFl: number[];
  /** Input fractional length used in evaluation. */
  inputFl: number;
  /** |alpha| of the layer's clipping level (the master's when shared). */
  alpha: number;
}

/** A value of the graph under construction. */
export interface Val {
  name: string;
  dtype: IntDType;
  shape: number[];
  fl: number;
}

/** An operand of a residual add: a value, maybe rectified, read at a fractional length. */
export interface Operand {
  val: Val;
  relu: boolean;
  fl: number;
}

const isCodes = (v: Val): boolean => v.dtype !== 'int32';
const outSize = (h: number, k: number, s: number, p: number, d: number): number => Math.floor((h + 2 * p - d * (k - 1) - 1) / s) + 1;
const epi = (out: IntDType, shift: number[] = [0], relu = false): IntEpilogue => ({ relu, shift, out });

export class IntGraphBuilder {
  private readonly nodes: IntNode[] = [];
  private readonly values: IntValueInfo[] = [];
  private readonly tensors: IntGraph['tensors'] = {};
  private readonly names = new Set<string>();
  private inputVal: Val | null = null;
  private outputVal: Val | null = null;
  private inputSpec: IntGraph['input'] | null = null;
  /** The linear layer that produced each linear node's value (the output's classifier form). */
  private readonly linearOf = new Map<string, QLinear>();

  constructor(
    private readonly captures: Map<QLayer, LayerCapture>,
    private readonly layerNames: Map<QLayer, string>,
    private readonly data: { shape: [number, number, number]; mean: number[]; std: number[] },
  ) {}

  private cap(L: QLayer): LayerCapture {
    const c = this.captures.get(L);
    if (!c) throw new F8Error('UNSUPPORTED', `export: layer ${this.nameOf(L)} did not run in the forward pass, so its integer form is unknown`);
    return c;
  }

  private nameOf(L: QLayer): string {
    return this.layerNames.get(L) ?? L.layerName;
  }

  private unique(base: string): string {
    let n = base;
    for (let i = 1; this.names.has(n); i++) n = `${base}_${i}`;
    this.names.add(n);
    return n;
  }

  private emit(node: IntNode, v: Omit<Val, 'name'>): Val {
    const val = { name: node.output, ...v };
    this.nodes.push(node);
    this.values.push({ name: val.name, dtype: val.dtype, shape: [...val.shape], fl: val.fl });
    return val;
  }

  /** The fractional length of L's 8-bit input. */
  inputFl(L: QLayer): number {
    return this.cap(L).inputFl;
  }

  private codeType(L: QLayer): IntDType {
    if (L.inputWl !== 8) throw new F8Error('UNSUPPORTED', `export: layer ${this.nameOf(L)} reads ${L.inputWl}-bit inputs; the integer model has 8-bit codes`);
    return L.inputSigned ? 'int8' : 'uint8';
  }

  /** The network input as codes for `first` (the layer that reads the image). */
  input(first: QLayer): Val {
    if (this.inputVal) throw new F8Error('BAD_CONFIG', 'export: the network input was declared twice');
    const c = this.cap(first);
    const dtype = this.codeType(first) as 'int8' | 'uint8';
    const levels = 2 ** (first.inputWl - (first.inputSigned ? 1 : 0)) - 1;
    const headForm = first.headForm ?? LEGACY_HEAD_FORM;
    // f8net_scaled quantises x / s_in at fl: code = x * 2^fl / s_in = x * levels / |alpha|; the
    // paper's forms quantise x itself at fl (weight_only: pixel / 256 at fl 8, the pixel byte).
    const scale = headForm === 'f8net_scaled' ? levels / c.alpha : 2 ** c.inputFl;
    this.names.add('input');
    this.inputSpec = { name: 'input', dtype, shape: [...this.data.shape], fl: c.inputFl, scale: [scale], mean: [...this.data.mean], std: [...this.data.std], headForm };
    this.inputVal = { name: 'input', dtype, shape: [...this.data.shape], fl: c.inputFl };
    this.values.push({ ...this.inputVal, shape: [...this.inputVal.shape] });
    return this.inputVal;
  }

  /** Re-quantises a raw value to L's 8-bit input (the identity for codes already in L's format). */
  codesFor(v: Val, L: QLayer): Val {
    const dtype = this.codeType(L);
    const fl = this.inputFl(L);
    if (isCodes(v)) {
      if (v.dtype !== dtype || v.fl !== fl) throw new F8Error('UNSUPPORTED', `export: ${v.name} (${v.dtype}, fl ${v.fl}) cannot feed ${this.nameOf(L)} (${dtype}, fl ${fl}) without a re-quantisation of 8-bit codes`);
      return v;
    }
    const name = this.unique(`${this.nameOf(L)}.quant`);
    return this.emit({ op: 'requant', name, input: v.name, output: `${name}.out`, epilogue: epi(dtype, [v.fl - fl], !L.inputSigned) }, { dtype, shape: v.shape, fl });
  }

  /** conv or linear of L on codes x: raw int32 accumulators at the layer's (largest) fl_acc. */
  layer(L: QLayer, x: Val): Val {
    const c = this.cap(L);
    const name = this.unique(this.nameOf(L));
    const dtype = this.codeType(L);
    if (x.dtype !== dtype || x.fl !== c.inputFl) {
      throw new F8Error('UNSUPPORTED', `export: ${name} reads ${x.name} as ${x.dtype} at fl ${x.fl}, but the layer quantises its input as ${dtype} at fl ${c.inputFl}`);
    }
    const O = c.wShape[0];
    const flW = c.weightFl.length === 1 ? Array(O).fill(c.weightFl[0]) : c.weightFl;
    const flAcc = flW.map((f) => f + c.inputFl);
    const top = Math.max(...flAcc);
    // int8 weights W = w_q * 2^fl_w (exact: w_q is a multiple of 2^-fl_w), int32 biases B = b_f * 2^fl_acc.
    const per = c.wq.length / O;
    const W = new Int8Array(c.wq.length);
    for (let i = 0; i < W.length; i++) {
      const q = c.wq[i] * 2 ** flW[Math.floor(i / per)];
      if (!Number.isInteger(q) || q < -127 || q > 127) throw new F8Error('BAD_INPUT', `export: ${name}: weight ${i} = ${c.wq[i]} is not an 8-bit code at fl ${flW[Math.floor(i / per)]}`);
      W[i] = q;
    }
    const B = Int32Array.from(c.bias, (b, o) => clampInt32(roundHalfEven(b * 2 ** flAcc[o])));
    this.tensors[`${name}.weight`] = { dtype: 'int8', shape: [...c.wShape], data: W };
    this.tensors[`${name}.bias`] = { dtype: 'int32', shape: [O], data: B };
    const shift = flAcc.every((f) => f === top) ? [0] : flAcc.map((f) => f - top);
    if (L instanceof QConv2d) {
      if (x.shape.length !== 3) throw new F8Error('SHAPE_MISMATCH', `export: ${name} is a conv, its input ${x.name} is [${x.shape.join(', ')}]`);
      const [, H, Wd] = x.shape;
      const [kh, kw] = [c.wShape[2], c.wShape[3]];
      const g = L.conv;
      const pair = (v: number | [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);
      const [stride, padding, dilation] = [pair(g.stride), pair(g.padding), pair(g.dilation)];
      const shape = [O, outSize(H, kh, stride[0], padding[0], dilation[0]), outSize(Wd, kw, stride[1], padding[1], dilation[1])];
      return this.emit(
        { op: 'conv', name, input: x.name, output: `${name}.out`, weight: `${name}.weight`, bias: `${name}.bias`, stride, padding, dilation, groups: g.groups, epilogue: epi('int32', shift) },
        { dtype: 'int32', shape, fl: top },
      );
    }
    if (L instanceof QLinear) {
      this.linearOf.set(`${name}.out`, L);
      return this.emit({ op: 'linear', name, input: x.name, output: `${name}.out`, weight: `${name}.weight`, bias: `${name}.bias`, epilogue: epi('int32', shift) }, { dtype: 'int32', shape: [O], fl: top });
    }
    throw new F8Error('UNSUPPORTED', `export: layer ${name} is neither a conv nor a linear layer`);
  }

  /** Max pooling (PyTorch's floor size; padded positions never win). */
  maxPool(v: Val, o: { kernel: number; stride?: number; padding?: number }): Val {
    const s = o.stride ?? o.kernel;
    const p = o.padding ?? 0;
    const name = this.unique('maxpool');
    const [C, H, W] = v.shape;
    return this.emit(
      { op: 'maxpool', name, input: v.name, output: `${name}.out`, kernel: [o.kernel, o.kernel], stride: [s, s], padding: [p, p] },
      { dtype: v.dtype, shape: [C, outSize(H, o.kernel, s, p, 1), outSize(W, o.kernel, s, p, 1)], fl: v.fl },
    );
  }

  /** A raw value as an operand of a residual add. */
  operand(v: Val): Operand {
    if (isCodes(v)) throw new F8Error('UNSUPPORTED', `export: residual operand ${v.name} must be raw int32`);
    return { val: v, relu: false, fl: v.fl };
  }

  /**
   * The identity shortcut of a block: its input x (raw, in the units of the block's entry layer
   * E), as an operand in the units of N, the layer that reads the block output.
   */
  identity(x: Val, entry: QLayer, next: QLayer): Operand {
    // identityAdd 'paper' (src/nn/residual.ts): the raw block input is added as it is (its value in N's units is X / 2^fl_x).
    if (entry.quant.identityAdd === 'paper') return { val: x, relu: !entry.inputSigned, fl: x.fl };
    if (entry.alphaOwner !== next.alphaOwner) {
      throw new F8Error('UNSUPPORTED', `export: the identity shortcut from ${this.nameOf(entry)} to ${this.nameOf(next)} joins two clipping levels; their ratio is not a power of two (no integer shift)`);
    }
    return { val: x, relu: !entry.inputSigned, fl: x.fl - this.inputFl(entry) + this.inputFl(next) };
  }

  /** The residual sum a + b at the larger fractional length, raw int32. */
  add(a: Operand, b: Operand): Val {
    const fl = Math.max(a.fl, b.fl);
    if (a.val.shape.join() !== b.val.shape.join()) throw new F8Error('SHAPE_MISMATCH', `export: residual add of [${a.val.shape}] and [${b.val.shape}]`);
    const name = this.unique('add');
    return this.emit(
      { op: 'add', name, inputs: [a.val.name, b.val.name], output: `${name}.out`, relu: [a.relu, b.relu], shifts: [fl - a.fl, fl - b.fl], epilogue: epi('int32') },
      { dtype: 'int32', shape: a.val.shape, fl },
    );
  }

  /**
   * ReLU, the global sum pool and the re-quantisation for `reader` (src/nn/qpool.ts): the sum read
   * at fl + s (pool form folded), or divided by its H * W positions in the rounding (paper; a
   * power-of-two H * W is the same shift).
   */
  globalPool(v: Val, reader: QLinear): Val {
    const [C, H, W] = v.shape;
    const positions = H * W;
    const { s, c } = poolFold(positions);
    const paper = (reader.quant.poolForm ?? 'folded') === 'paper' && c !== 1;
    if (paper && positions > 65536) throw new F8Error('UNSUPPORTED', `export: the paper's pool form over ${H} x ${W} positions; the integer model divides by at most 65536`);
    const r = this.unique('relu');
    const rv = this.emit({ op: 'requant', name: r, input: v.name, output: `${r}.out`, epilogue: epi('int32', [0], true) }, { dtype: 'int32', shape: v.shape, fl: v.fl });
    const dtype = this.codeType(reader);
    const fl = this.inputFl(reader);
    const name = this.unique('avgpool');
    const node: SumPoolNode = { op: 'sumpool', name, input: rv.name, output: `${name}.out`, epilogue: epi(dtype, [v.fl + (paper ? 0 : s) - fl], !reader.inputSigned) };
    if (paper) node.divisor = positions;
    return this.emit(node, { dtype, shape: [C], fl });
  }

  /** ReLU of a raw value, as a node (where no reader clamps at 0 for it). */
  relu(v: Val): Val {
    if (isCodes(v)) {
      if (v.dtype === 'uint8') return v;
      throw new F8Error('UNSUPPORTED', `export: a ReLU of the int8 codes ${v.name} has no integer form here (put it before their re-quantisation)`);
    }
    const r = this.unique('relu');
    return this.emit({ op: 'requant', name: r, input: v.name, output: `${r}.out`, epilogue: epi('int32', [0], true) }, { dtype: 'int32', shape: v.shape, fl: v.fl });
  }

  /**
   * Replays a traced forward pass (src/nn/trace.ts) into integer nodes. A ReLU is kept as a mark
   * on its value (max pooling keeps it: the two commute) and becomes a node only where the
   * reader does not clamp at 0 itself: an unsigned layer input, an unsigned block entry's
   * identity operand and the global pool all do.
   */
  fromTrace(trace: ForwardTrace): void {
    type Entry = { kind: 'input' } | { kind: 'val'; val: Val; rectified: boolean } | { kind: 'operand'; op: Operand };
    const vals: Entry[] = [];
    const get = (i: number, what: string): Entry => {
      const e = vals[i];
      if (!e) throw new F8Error('UNSUPPORTED', `export: ${what} reads a value the trace did not make`);
      return e;
    };
    /** A plain raw value or codes; the ReLU made a node unless the reader clamps (`clamps`). */
    const plain = (i: number, what: string, clamps: boolean): Val => {
      const e = get(i, what);
      if (e.kind === 'input') throw new F8Error('UNSUPPORTED', `export: ${what} reads the network input; only a conv or linear layer may read it`);
      if (e.kind === 'operand') throw new F8Error('UNSUPPORTED', `export: ${what} reads an identity shortcut; only a residual add may`);
      return e.rectified && !clamps ? this.relu(e.val) : e.val;
    };
    let input: Val | null = null;
    for (const st of trace.steps) {
      switch (st.op) {
        case 'input':
          vals[st.out] = { kind: 'input' };
          break;
        case 'layer': {
          const L = st.layer;
          const e = get(st.input, this.nameOf(L));
          const x = e.kind === 'input' ? (input ??= this.input(L)) : plain(st.input, this.nameOf(L), !L.inputSigned);
          vals[st.out] = { kind: 'val', val: this.layer(L, this.codesFor(x, L)), rectified: false };
          break;
        }
        case 'maxpool': {
          const e = get(st.input, st.name);
          const v = plain(st.input, st.name, true);
          vals[st.out] = { kind: 'val', val: this.maxPool(v, st), rectified: e.kind === 'val' && e.rectified };
          break;
        }
        case 'relu': {
          vals[st.out] = { kind: 'val', val: plain(st.input, 'a ReLU', true), rectified: true };
          break;
        }
        case 'globalpool': {
          if (!(st.reader instanceof QLinear)) throw new F8Error('UNSUPPORTED', `export: the global pool feeds ${this.nameOf(st.reader)}, not a linear layer`);
          vals[st.out] = { kind: 'val', val: this.globalPool(plain(st.input, 'the global pool', true), st.reader), rectified: false };
          break;
        }
        case 'identity': {
          const what = `the identity shortcut of ${this.nameOf(st.entry)}`;
          vals[st.out] = { kind: 'operand', op: this.identity(plain(st.input, what, !st.entry.inputSigned), st.entry, st.next) };
          break;
        }
        case 'add': {
          const [a, b] = st.inputs.map((i) => {
            const e = get(i, st.name);
            return e.kind === 'operand' ? e.op : this.operand(plain(i, st.name, false));
          });
          vals[st.out] = { kind: 'val', val: this.add(a, b), rectified: false };
          break;
        }
        case 'output':
          this.output(plain(st.input, 'the network output', false));
          break;
      }
    }
  }

  /** Declares the logits. */
  output(v: Val): void {
    if (v.dtype !== 'int32' || v.shape.length !== 1) throw new F8Error('UNSUPPORTED', `export: the output ${v.name} must be int32 [classes]`);
    this.outputVal = v;
  }

  /** The optimised graph. */
  finish(meta: { producer: string; model: IntGraph['model']; layers: IntGraph['layers'] }): IntGraph {
    if (!this.inputSpec || !this.outputVal) throw new F8Error('BAD_CONFIG', 'export: the model declared no input or no output');
    const g: IntGraph = {
      format: INT_MODEL_FORMAT,
      version: INT_MODEL_VERSION,
      producer: meta.producer,
      model: meta.model,
      input: this.inputSpec,
      output: { name: this.outputVal.name, fl: this.outputVal.fl, classifierForm: this.linearOf.get(this.outputVal.name)?.classifierForm ?? 'folded' },
      values: this.values,
      nodes: this.nodes,
      tensors: this.tensors,
      layers: meta.layers,
    };
    optimize(g);
    return g;
  }
}

function readers(g: IntGraph): Map<string, IntNode[]> {
  const m = new Map<string, IntNode[]>();
  for (const n of g.nodes) for (const i of nodeInputs(n)) m.set(i, [...(m.get(i) ?? []), n]);
  return m;
}

/**
 * Rewrites g in place: max pool -> requant becomes requant -> max pool; a requant whose input
 * comes from a node with an int32 epilogue and no other reader is merged into that epilogue
 * (relu(shift(v, a)) then shift b = shift(relu(v), a + b) for a <= 0, the alignment shifts).
 */
function optimize(g: IntGraph): void {
  const vals = new Map(g.values.map((v) => [v.name, v]));
  let changed = true;
  while (changed) {
    changed = false;
    const rd = readers(g);
    const producer = new Map(g.nodes.map((n) => [n.output, n]));
    for (const q of g.nodes) {
      if (q.op !== 'requant') continue;
      const p = producer.get(q.input);
      if (!p || (rd.get(q.input)?.length ?? 0) !== 1 || q.input === g.output.name) continue;
      if (p.op === 'maxpool') {
        // requant(maxpool(v)) = maxpool(requant(v)): swap the two nodes and their values.
        const src = p.input;
        const pIdx = g.nodes.indexOf(p);
        const qIdx = g.nodes.indexOf(q);
        const pooled = vals.get(p.output)!;
        const quant = vals.get(q.output)!;
        const srcInfo = vals.get(src)!;
        const mid = `${q.name}.pre`;
        const midInfo: IntValueInfo = { name: mid, dtype: quant.dtype, shape: [...srcInfo.shape], fl: quant.fl };
        q.input = src;
        q.output = mid;
        p.input = mid;
        p.output = quant.name;
        g.values = g.values.filter((v) => v.name !== pooled.name);
        g.values.push(midInfo);
        g.nodes.splice(qIdx, 1);
        g.nodes.splice(pIdx, 0, q);
        vals.delete(pooled.name);
        vals.set(mid, midInfo);
        changed = true;
        break;
      }
      if (p.epilogue.out !== 'int32') continue;
      const a = p.epilogue.shift;
      const b = q.epilogue.shift;
      if (a.some((s) => s > 0)) continue;
      const C = Math.max(a.length, b.length);
      const shift = Array.from({ length: C }, (_, c) => (a.length === 1 ? a[0] : a[c]) + (b.length === 1 ? b[0] : b[c]));
      p.epilogue = { relu: p.epilogue.relu || q.epilogue.relu, shift: shift.every((s) => s === shift[0]) ? [shift[0]] : shift, out: q.epilogue.out };
      // p now produces q's output value.
      g.values = g.values.filter((v) => v.name !== p.output);
      vals.delete(p.output);
      p.output = q.output;
      g.nodes.splice(g.nodes.indexOf(q), 1);
      changed = true;
      break;
    }
  }
  // Node order stays a valid schedule: every rewrite keeps producers before readers.
}
