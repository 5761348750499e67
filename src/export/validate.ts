/**
 * Structural check of an integer model (./graph.ts) with shape inference: the one gate that a
 * graph passes before it is written (./format.ts writeIntModel) and after it is read, so that
 * every runner may trust it. The graph is treated as untrusted data of unknown shape: every
 * field's type is checked here, not assumed from the TypeScript types.
 *
 * What a valid graph guarantees (docs/INT_MODEL.md, "Validity"):
 *  - names are non-empty printable strings of at most 256 characters; values, nodes, tensors
 *    and layers each have unique names;
 *  - nodes are in execution order: each reads the graph input or an earlier node's output, and
 *    each value other than the input is produced by exactly one node;
 *  - every declared value shape equals the shape inferred from the node that produces it;
 *  - conv and linear read 8-bit codes, with int8 weights in [-127, 127] and int32 biases [O];
 *  - shifts, fractional lengths and geometry are integers in the bounds below;
 *  - the output is an int32 value [classes] produced by a node; the input spec is consistent.
 *
 * Bounds, and why:
 *  - epilogue shifts in [-31, 31]: WGSL takes shift amounts mod 32, and beyond 31 every int32
 *    rounds to 0 (right) or saturates (left), so no useful layer needs more; the exporter's
 *    shifts are fl_in + fl_w - fl_next with fractional lengths in [0, 8] (F8NET.md §2);
 *  - add shifts in [0, 31] (left shifts that align two fractional lengths);
 *  - a sumpool divisor in [1, 2^16], above 1 only with one shift and 8-bit codes out (src/export/graph.ts);
 *  - fractional lengths in [-64, 64]: they only name the scale 2^-fl of a value;
 *  - at most 2^26 elements per image in any value or tensor (ImageNet ResNet-50's largest
 *    activation has 2^19.6), so element indices of a batch stay far inside i32 on the GPU and
 *    a hostile file cannot make a runner allocate gigabytes per image;
 *  - kernel, stride and dilation at most MAX_WINDOW (32; the zoo uses 7 at most): the GPU
 *    kernels specialise on them as pipeline constants and unroll the window, so a dilation of
 *    1000 makes an invalid pipeline rather than a slow one; a conv window of at most
 *    MAX_CONV_TAPS (49, 7x7) positions, since the unrolled window's compile time grows steeply
 *    with it (lavapipe: 3x3 about 1 s, 7x7 26 s, 11x11 197 s, 32x32 over 10 minutes, which would
 *    be a hang; pool windows are loops and keep MAX_WINDOW); padding at most the dilated kernel
 *    extent (dilation * (kernel - 1)) for convs, half the window for pools: more only adds
 *    rows of pure padding, which no trained network has.
 *
 * @example
 *   validateGraph(g, 'runs/x/int/model.json'); // throws F8Error('BAD_INPUT', 'runs/x/int/model.json: node conv1: ...')
 */
import { HEAD_FORMS, WEIGHT_ONLY_FL, type HeadForm } from '../quant/head-form.js';
import { CLASSIFIER_FORMS, type ClassifierForm } from '../quant/classifier-form.js';
import { F8Error } from '../runtime/errors.js';
import { INT_MODEL_FORMAT, INT_MODEL_VERSION, type IntGraph } from './graph.js';

export const MAX_ELEMENTS = 2 ** 26;
export const MAX_SHIFT = 31;
export const MAX_ADD_SHIFT = 31;
export const MAX_FL = 64;
export const MAX_GEOMETRY = 65535;
/** Largest kernel, stride or dilation both runners support (see above). */
export const MAX_WINDOW = 32;
/** Largest conv window (KH * KW) the GPU integer runner compiles in reasonable time (see above). */
export const MAX_CONV_TAPS = 49;
export const MAX_NAME = 256;

const VALUE_DTYPES = ['int8', 'uint8', 'int32'];
const CODE_DTYPES = ['int8', 'uint8'];
const OPS = ['conv', 'linear', 'maxpool', 'sumpool', 'add', 'requant'];

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown): string => {
  if (typeof v === 'number') return String(v);
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
};
const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;
const sizeOf = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** Why `name` is not a valid name, or null. */
export function badName(name: unknown): string | null {
  if (typeof name !== 'string') return `name ${show(name)} is not a string`;
  if (name.length === 0 || name.length > MAX_NAME) return `name ${show(name)} must have 1 to ${MAX_NAME} characters`;
  if (/[\u0000-\u001f\u007f]/.test(name)) return `name ${show(name)} contains a control character`;
  return null;
}

/** Integer in [lo, hi]. */
const isInt = (v: unknown, lo: number, hi: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;

/**
 * Checks g (see the header); throws F8Error('BAD_INPUT', `${where}: ...`) at the first problem.
 * @example validateGraph(g, 'model/model.json')
 */
export function validateGraph(g: IntGraph, where: string): void {
  const bad = (msg: string): never => {
    throw new F8Error('BAD_INPUT', `${where}: ${msg}`);
  };
  const name = (v: unknown, what: string): string => {
    const why = badName(v);
    if (why) bad(`${what}: ${why}`);
    return v as string;
  };
  const int = (v: unknown, lo: number, hi: number, what: string): number => {
    if (!isInt(v, lo, hi)) bad(`${what} is ${show(v)}, expected an integer in [${lo}, ${hi}]`);
    return v as number;
  };
  const str = (v: unknown, what: string): string => {
    if (typeof v !== 'string') bad(`${what} is ${show(v)}, expected a string`);
    return v as string;
  };
  const bool = (v: unknown, what: string): boolean => {
    if (typeof v !== 'boolean') bad(`${what} is ${show(v)}, expected true or false`);
    return v as boolean;
  };
  const obj = (v: unknown, what: string): Obj => {
    if (!isObj(v)) bad(`${what} is ${show(v)}, expected an object`);
    return v as Obj;
  };
  const arr = (v: unknown, what: string): unknown[] => {
    if (!Array.isArray(v)) bad(`${what} is ${show(v)}, expected an array`);
    return v as unknown[];
  };
  /** Array of `len` (or minLen..maxLen) integers in [lo, hi]. */
  const ints = (v: unknown, minLen: number, maxLen: number, lo: number, hi: number, what: string): number[] => {
    const a = arr(v, what);
    if (a.length < minLen || a.length > maxLen) bad(`${what} has ${a.length} entries, expected ${minLen === maxLen ? minLen : `${minLen} to ${maxLen}`}`);
    a.forEach((x, i) => int(x, lo, hi, `${what}[${i}]`));
    return a as number[];
  };
  const shape = (v: unknown, minRank: number, maxRank: number, what: string): number[] => {
    const s = ints(v, minRank, maxRank, 1, MAX_ELEMENTS, what);
    let n = 1;
    for (const d of s) {
      n *= d;
      if (n > MAX_ELEMENTS) bad(`${what} ${fmt(s)} has more than ${MAX_ELEMENTS} elements`);
    }
    return s;
  };
  const pair = (v: unknown, lo: number, what: string): [number, number] => ints(v, 2, 2, lo, MAX_GEOMETRY, what) as [number, number];

  // Header.
  if (!isObj(g)) bad('the model is not an object');
  if (g.format !== INT_MODEL_FORMAT) bad(`format is ${show(g.format)}, expected "${INT_MODEL_FORMAT}"`);
  if (g.version !== INT_MODEL_VERSION) bad(`version ${show(g.version)} is not supported (this f8net reads version ${INT_MODEL_VERSION})`);
  str(g.producer, 'producer');
  const model = obj(g.model, 'model');
  str(model.name, 'model.name');
  obj(model.args, 'model.args');
  str(model.dataset, 'model.dataset');
  const classes = int(model.classes, 1, MAX_ELEMENTS, 'model.classes');
  str(model.checkpoint, 'model.checkpoint');
  if (model.classNames !== undefined) {
    const cn = model.classNames;
    if (!Array.isArray(cn) || cn.length !== classes || !cn.every((x) => typeof x === 'string' && x.length <= 256)) {
      bad(`model.classNames is ${show(cn)}, expected ${classes} class names (strings of at most 256 characters)`);
    }
  }

  // Tensors.
  const tensors = obj(g.tensors, 'tensors');
  const tensorNames = Object.keys(tensors);
  for (const tn of tensorNames) {
    name(tn, 'tensors');
    const t = obj(tensors[tn], `tensor ${tn}`);
    if (t.dtype !== 'int8' && t.dtype !== 'int32') bad(`tensor ${tn}: dtype ${show(t.dtype)}, expected "int8" or "int32"`);
    const s = shape(t.shape, 1, 4, `tensor ${tn}: shape`);
    const want = t.dtype === 'int8' ? Int8Array : Int32Array;
    if (!(t.data instanceof want)) bad(`tensor ${tn}: data is not an ${want.name} (dtype ${t.dtype})`);
    const data = t.data as Int8Array | Int32Array;
    if (data.length !== sizeOf(s)) bad(`tensor ${tn}: ${data.length} values for shape ${fmt(s)} (${sizeOf(s)} expected)`);
    // Int8Array values are >= -128 and Int32Array values >= -2^31; only the most negative is out of range.
    const min = t.dtype === 'int8' ? -128 : -2147483648;
    const i = data.indexOf(min);
    if (i >= 0) bad(`tensor ${tn}: value ${min} at index ${i} (${t.dtype} values lie in [${t.dtype === 'int8' ? '-127, 127' : '-(2^31 - 1), 2^31 - 1'}])`);
  }
  const used = new Set<string>();
  const tensor = (tn: unknown, node: string, field: string): { dtype: string; shape: number[] } => {
    if (typeof tn !== 'string') bad(`node ${node}: ${field} is ${show(tn)}, expected a tensor name`);
    if (!Object.hasOwn(tensors, tn as string)) bad(`node ${node}: ${field} tensor ${show(tn)} is not in the tensor table`);
    used.add(tn as string);
    return tensors[tn as string] as { dtype: string; shape: number[] };
  };

  // Values.
  const values = new Map<string, { dtype: string; shape: number[]; fl: number }>();
  arr(g.values, 'values').forEach((raw, i) => {
    const v = obj(raw, `values[${i}]`);
    const vn = name(v.name, `values[${i}]`);
    if (values.has(vn)) bad(`value ${vn} is declared twice`);
    if (!VALUE_DTYPES.includes(v.dtype as string)) bad(`value ${vn}: dtype ${show(v.dtype)}, expected one of ${VALUE_DTYPES.join(', ')}`);
    const s = shape(v.shape, 1, 3, `value ${vn}: shape`);
    const fl = int(v.fl, -MAX_FL, MAX_FL, `value ${vn}: fl`);
    values.set(vn, { dtype: v.dtype as string, shape: s, fl });
  });

  // Input spec.
  const input = obj(g.input, 'input');
  const inName = name(input.name, 'input');
  if (input.dtype !== 'int8' && input.dtype !== 'uint8') bad(`input.dtype is ${show(input.dtype)}, expected "int8" or "uint8"`);
  const inShape = shape(input.shape, 3, 3, 'input.shape');
  const inFl = int(input.fl, -MAX_FL, MAX_FL, 'input.fl');
  const C = inShape[0];
  for (const key of ['scale', 'mean', 'std'] as const) {
    const a = arr(input[key], `input.${key}`);
    if (a.length !== 1 && a.length !== C) bad(`input.${key} has ${a.length} entries, expected 1 or ${C} (the channels)`);
    a.forEach((x, i) => {
      if (typeof x !== 'number' || !Number.isFinite(x)) bad(`input.${key}[${i}] is ${show(x)}, expected a finite number`);
      if (key !== 'mean' && (x as number) <= 0) bad(`input.${key}[${i}] is ${x}, expected > 0`);
    });
  }
  if (input.headForm !== undefined) {
    if (!HEAD_FORMS.includes(input.headForm as HeadForm)) bad(`input.headForm is ${show(input.headForm)}, expected one of ${HEAD_FORMS.map((f) => `"${f}"`).join(', ')}`);
    // weight_only feeds the pixel byte as the code at fl 8 (src/quant/head-form.ts).
    if (input.headForm === 'weight_only' && (input.dtype !== 'uint8' || inFl !== WEIGHT_ONLY_FL)) bad(`input: head form weight_only reads uint8 codes at fl ${WEIGHT_ONLY_FL}, the spec says ${show(input.dtype)} fl ${inFl}`);
  }
  const inValue = values.get(inName);
  if (!inValue) bad(`input ${inName} is not among the values`);
  if (inValue!.dtype !== input.dtype || !sameShape(inValue!.shape, inShape) || inValue!.fl !== inFl) {
    bad(`value ${inName} is ${inValue!.dtype} ${fmt(inValue!.shape)} fl ${inValue!.fl}, the input spec says ${input.dtype} ${fmt(inShape)} fl ${inFl}`);
  }

  // Output spec.
  const output = obj(g.output, 'output');
  const outName = name(output.name, 'output');
  const outFl = int(output.fl, -MAX_FL, MAX_FL, 'output.fl');
  if (output.classifierForm !== undefined && !CLASSIFIER_FORMS.includes(output.classifierForm as ClassifierForm)) {
    bad(`output.classifierForm is ${show(output.classifierForm)}, expected one of ${CLASSIFIER_FORMS.map((f) => `"${f}"`).join(', ')}`);
  }
  const outValue = values.get(outName);
  if (!outValue) bad(`output ${outName} is not among the values`);
  if (outValue!.dtype !== 'int32' || !sameShape(outValue!.shape, [classes]) || outValue!.fl !== outFl) {
    bad(`output ${outName} is ${outValue!.dtype} ${fmt(outValue!.shape)} fl ${outValue!.fl}, expected int32 [${classes}] (model.classes) fl ${outFl} (output.fl)`);
  }

  // Nodes, in order, with shape inference.
  const defined = new Map<string, string>([[inName, 'the input']]);
  const nodeNames = new Set<string>();
  const epilogue = (raw: unknown, node: string, channels: number): string => {
    const e = obj(raw, `node ${node}: epilogue`);
    bool(e.relu, `node ${node}: epilogue.relu`);
    const sh = arr(e.shift, `node ${node}: epilogue.shift`);
    if (sh.length !== 1 && sh.length !== channels) bad(`node ${node}: epilogue.shift has ${sh.length} entries, expected 1 or ${channels} (the output channels)`);
    sh.forEach((x, i) => int(x, -MAX_SHIFT, MAX_SHIFT, `node ${node}: epilogue.shift[${i}]`));
    if (!VALUE_DTYPES.includes(e.out as string)) bad(`node ${node}: epilogue.out is ${show(e.out)}, expected one of ${VALUE_DTYPES.join(', ')}`);
    return e.out as string;
  };
  arr(g.nodes, 'nodes').forEach((raw, idx) => {
    const n = obj(raw, `nodes[${idx}]`);
    const nn = name(n.name, `nodes[${idx}]`);
    if (nodeNames.has(nn)) bad(`node name ${nn} is used twice`);
    nodeNames.add(nn);
    if (!OPS.includes(n.op as string)) bad(`node ${nn}: unknown op ${show(n.op)} (expected one of ${OPS.join(', ')})`);
    const op = n.op as string;
    const read = (v: unknown, field: string): { dtype: string; shape: number[]; fl: number } => {
      const vn = name(v, `node ${nn}: ${field}`);
      const info = values.get(vn);
      if (!info) bad(`node ${nn} reads ${vn}, which is not among the values`);
      if (!defined.has(vn)) bad(`node ${nn} reads ${vn} before it is computed (values are produced by earlier nodes)`);
      return info!;
    };
    const codes = (x: { dtype: string }, field: string): void => {
      if (!CODE_DTYPES.includes(x.dtype)) bad(`node ${nn} (${op}): ${field} is ${x.dtype}, expected 8-bit codes (int8 or uint8)`);
    };
    const bias = (b: unknown, O: number): void => {
      if (b === null) return;
      const t = tensor(b, nn, 'bias');
      if (t.dtype !== 'int32' || !sameShape(t.shape, [O])) bad(`node ${nn}: bias ${b as string} is ${t.dtype} ${fmt(t.shape)}, expected int32 [${O}]`);
    };
    let outShape: number[];
    let outDtype: string;
    let outFlSame: number | null = null;
    switch (op) {
      case 'conv': {
        const x = read(n.input, 'input');
        codes(x, 'the input');
        if (x.shape.length !== 3) bad(`node ${nn} (conv): input ${fmt(x.shape)}, expected [C, H, W]`);
        const [Cin, H, W] = x.shape;
        const w = tensor(n.weight, nn, 'weight');
        if (w.dtype !== 'int8' || w.shape.length !== 4) bad(`node ${nn}: weight ${n.weight as string} is ${w.dtype} ${fmt(w.shape)}, expected int8 [O, C/groups, KH, KW]`);
        const [O, CG, KH, KW] = w.shape;
        const stride = pair(n.stride, 1, `node ${nn}: stride`);
        const padding = pair(n.padding, 0, `node ${nn}: padding`);
        const dilation = pair(n.dilation, 1, `node ${nn}: dilation`);
        for (const [v, what] of [[KH, 'kernel height'], [KW, 'kernel width'], [stride[0], 'stride'], [stride[1], 'stride'], [dilation[0], 'dilation'], [dilation[1], 'dilation']] as const) {
          if (v > MAX_WINDOW) bad(`node ${nn}: ${what} ${v} exceeds ${MAX_WINDOW}, the largest the integer runners support`);
        }
        if (KH * KW > MAX_CONV_TAPS) bad(`node ${nn}: kernel ${KH}x${KW} has ${KH * KW} positions, more than ${MAX_CONV_TAPS} (7x7), the largest the GPU integer runner compiles in reasonable time`);
        if (padding[0] > dilation[0] * (KH - 1) || padding[1] > dilation[1] * (KW - 1)) bad(`node ${nn}: padding ${fmt(padding)} exceeds the dilated kernel extent ${fmt([dilation[0] * (KH - 1), dilation[1] * (KW - 1)])}, expected at most dilation * (kernel - 1)`);
        const groups = int(n.groups, 1, MAX_ELEMENTS, `node ${nn}: groups`);
        if (Cin % groups !== 0 || O % groups !== 0) bad(`node ${nn}: ${Cin} input and ${O} output channels are not both divisible by groups = ${groups}`);
        if (CG !== Cin / groups) bad(`node ${nn}: weight ${fmt(w.shape)} has ${CG} input channels per group, the input ${fmt(x.shape)} with groups = ${groups} needs ${Cin / groups}`);
        bias(n.bias, O);
        const OH = Math.floor((H + 2 * padding[0] - dilation[0] * (KH - 1) - 1) / stride[0]) + 1;
        const OW = Math.floor((W + 2 * padding[1] - dilation[1] * (KW - 1) - 1) / stride[1]) + 1;
        if (OH < 1 || OW < 1) bad(`node ${nn}: a ${KH}x${KW} kernel (dilation ${fmt(dilation)}, padding ${fmt(padding)}) does not fit the ${H}x${W} input`);
        outShape = [O, OH, OW];
        outDtype = epilogue(n.epilogue, nn, O);
        break;
      }
      case 'linear': {
        const x = read(n.input, 'input');
        codes(x, 'the input');
        const w = tensor(n.weight, nn, 'weight');
        const K = sizeOf(x.shape);
        if (w.dtype !== 'int8' || w.shape.length !== 2 || w.shape[1] !== K) bad(`node ${nn}: weight ${n.weight as string} is ${w.dtype} ${fmt(w.shape)}, expected int8 [O, ${K}] (K = the input ${fmt(x.shape)} flattened)`);
        bias(n.bias, w.shape[0]);
        outShape = [w.shape[0]];
        outDtype = epilogue(n.epilogue, nn, w.shape[0]);
        break;
      }
      case 'maxpool': {
        const x = read(n.input, 'input');
        if (x.shape.length !== 3) bad(`node ${nn} (maxpool): input ${fmt(x.shape)}, expected [C, H, W]`);
        const kernel = pair(n.kernel, 1, `node ${nn}: kernel`);
        const stride = pair(n.stride, 1, `node ${nn}: stride`);
        if (Math.max(...kernel, ...stride) > MAX_WINDOW) bad(`node ${nn}: kernel ${fmt(kernel)} or stride ${fmt(stride)} exceeds ${MAX_WINDOW}, the largest the integer runners support`);
        const padding = pair(n.padding, 0, `node ${nn}: padding`);
        // Every window then holds at least one real position (padding never wins).
        if (2 * padding[0] > kernel[0] || 2 * padding[1] > kernel[1]) bad(`node ${nn}: padding ${fmt(padding)} exceeds half the kernel ${fmt(kernel)}`);
        const [Cx, H, W] = x.shape;
        const OH = Math.floor((H + 2 * padding[0] - kernel[0]) / stride[0]) + 1;
        const OW = Math.floor((W + 2 * padding[1] - kernel[1]) / stride[1]) + 1;
        if (OH < 1 || OW < 1) bad(`node ${nn}: a ${kernel[0]}x${kernel[1]} window (padding ${fmt(padding)}) does not fit the ${H}x${W} input`);
        outShape = [Cx, OH, OW];
        outDtype = x.dtype;
        outFlSame = x.fl;
        break;
      }
      case 'sumpool': {
        const x = read(n.input, 'input');
        if (x.shape.length !== 3) bad(`node ${nn} (sumpool): input ${fmt(x.shape)}, expected [C, H, W]`);
        outShape = [x.shape[0]];
        outDtype = epilogue(n.epilogue, nn, x.shape[0]);
        if (n.divisor !== undefined) {
          const d = int(n.divisor, 1, 65536, `node ${nn}: divisor`);
          if (d > 1 && outDtype === 'int32') bad(`node ${nn} (sumpool): divisor ${d} with int32 output; a divisor needs 8-bit codes out`);
          if (d > 1 && (obj(n.epilogue, `node ${nn}: epilogue`).shift as unknown[]).length !== 1) bad(`node ${nn} (sumpool): divisor ${d} with per-channel shifts; a divisor takes one shift`);
        }
        break;
      }
      case 'add': {
        const ins = arr(n.inputs, `node ${nn}: inputs`);
        if (ins.length !== 2) bad(`node ${nn}: inputs has ${ins.length} entries, expected 2`);
        const a = read(ins[0], 'inputs[0]');
        const b = read(ins[1], 'inputs[1]');
        if (!sameShape(a.shape, b.shape)) bad(`node ${nn}: adds ${fmt(a.shape)} and ${fmt(b.shape)}, expected one shape`);
        const relu = arr(n.relu, `node ${nn}: relu`);
        if (relu.length !== 2) bad(`node ${nn}: relu has ${relu.length} entries, expected 2`);
        relu.forEach((r, i) => bool(r, `node ${nn}: relu[${i}]`));
        ints(n.shifts, 2, 2, 0, MAX_ADD_SHIFT, `node ${nn}: shifts`);
        outShape = [...a.shape];
        outDtype = epilogue(n.epilogue, nn, a.shape[0]);
        break;
      }
      default: {
        // requant: graph.ts names an int32 input, but the epilogue is defined on codes too (the
        // sample graphs of test/int-graphs.ts requantise a uint8 sum pool), so any dtype is read.
        const x = read(n.input, 'input');
        outShape = [...x.shape];
        outDtype = epilogue(n.epilogue, nn, x.shape[0]);
      }
    }
    const on = name(n.output, `node ${nn}: output`);
    const out = values.get(on);
    if (!out) bad(`node ${nn}: output ${on} is not among the values`);
    if (defined.has(on)) bad(`node ${nn}: output ${on} is already produced by ${defined.get(on)}`);
    if (!sameShape(out!.shape, outShape)) bad(`node ${nn}: output ${on} declares shape ${fmt(out!.shape)}, the ${op} gives ${fmt(outShape)}`);
    if (out!.dtype !== outDtype) bad(`node ${nn}: output ${on} declares ${out!.dtype}, the ${op} gives ${outDtype}`);
    if (outFlSame !== null && out!.fl !== outFlSame) bad(`node ${nn}: output ${on} declares fl ${out!.fl}, a maxpool keeps its input's fl ${outFlSame}`);
    defined.set(on, `node ${nn}`);
  });
  for (const vn of values.keys()) if (!defined.has(vn)) bad(`value ${vn} is declared but no node produces it`);
  for (const tn of tensorNames) if (!used.has(tn)) bad(`tensor ${tn} is not used by any node`);

  // Layer formats (for people and ONNX metadata).
  const layerNames = new Set<string>();
  arr(g.layers, 'layers').forEach((raw, i) => {
    const l = obj(raw, `layers[${i}]`);
    const ln = name(l.name, `layers[${i}]`);
    if (layerNames.has(ln)) bad(`layer ${ln} is listed twice`);
    layerNames.add(ln);
    bool(l.inputSigned, `layer ${ln}: inputSigned`);
    int(l.inputFl, -MAX_FL, MAX_FL, `layer ${ln}: inputFl`);
    ints(l.weightFl, 1, MAX_ELEMENTS, -MAX_FL, MAX_FL, `layer ${ln}: weightFl`);
    if (typeof l.alpha !== 'number' || !Number.isFinite(l.alpha)) bad(`layer ${ln}: alpha is ${show(l.alpha)}, expected a finite number`);
  });
}
