/**
 * ONNX files of the integer model (./graph.ts, F8NET.md §5), in the two forms of §5:
 *  - "integize" (toIntegizeOnnx): integer values held in float32 tensors, plain float operators
 *    (Conv, Gemm, MaxPool, ReduceSum, Mul, Round, Clip, Add, Relu). Input `input` is normalised
 *    images x [N, C, H, W]; the graph quantises them itself. Exact while every value and partial
 *    sum stays below 2^24 in magnitude (float32 holds those integers exactly).
 *  - "int_op_only" (toIntOnlyOnnx): integer tensors and integer operators only. Input `input` is
 *    the 8-bit codes [N, C, H, W] (int8 or uint8, per g.input.dtype). Equal to runIntCpu bit for
 *    bit, given accumulators that do not wrap (see docs/ONNX_EXPORT.md).
 * Both: output `logits` [N, classes] at g.output.fl, a dynamic batch axis 'N', the graph's
 * formats in metadata_props (ONNX_META); opset 13 (integize) or 18 (int_op_only, for BitwiseAnd). The op-by-op mapping is in docs/ONNX_EXPORT.md.
 *
 * @example
 *   writeFileSync('model.int.onnx', toIntOnlyOnnx(g));
 *   const { logits } = await runOnnx('model.int.onnx', codes, [n, ...g.input.shape]); // == runIntCpu(g, codes, n)
 */
import { F8Error } from '../runtime/errors.js';
import { INT32_MAX } from '../quant/int-requant.js';
import type { IntDType, IntEpilogue, IntGraph } from './graph.js';
import { Builder, channelConst, check, clampRange, convAttrs, encode, inputCodes, int, nodeOutputs, ONNX_DT, poolAttrs, shifts, size } from './onnx-build.js';

export { ONNX_META, ONNX_OPSET, type OnnxForm } from './onnx-meta.js';

// ---------------------------------------------------------------------------------------------
// integize: float32 tensors holding integers.

/**
 * The "integize" ONNX file of g: float input `input` (normalised images), float `logits`
 * holding integers at g.output.fl. Equal to runIntCpu(quantizeNormalized(x)) while values stay
 * below 2^24 in magnitude.
 */
export function toIntegizeOnnx(g: IntGraph): Uint8Array {
  const values = check(g);
  const b = new Builder();
  const tname = (v: string): string => (v === g.output.name ? 'logits' : `v/${v}`);
  inputCodes(b, g, tname(g.input.name));

  /**
   * clamp(round(v * 2^-n / divisor), lo, hi) in float: multiplying by a power of two and Round
   * (half to even) are exact; the division by a sumpool's divisor D is correctly rounded, which
   * decides the rounding as the exact quotient does while D * 2^n <= 2^16 (a quotient below 256
   * is then within its ulp / 2 of a half integer only when it is one).
   */
  const epilogue = (v: string, e: IntEpilogue, channels: number, rank: number, node: string, out: string, divisor = 1): void => {
    const n = shifts(e, channels, node);
    const [clo, chi] = clampRange(e);
    const factor = n.map((s) => (s > 0 ? 2 ** -Math.min(s, 60) : 2 ** Math.min(-s, 32)));
    if (factor.some((f) => f !== 1)) v = b.op('Mul', [v, channelConst(b, `${node}/scale`, 'float', factor, rank)], `${node}/shift`, `${node}/shifted`);
    if (divisor > 1) v = b.op('Div', [v, b.scalar('float', divisor)], `${node}/mean`, `${node}/mean`);
    if (n.some((s) => s > 0) || divisor > 1) v = b.op('Round', [v], `${node}/round`, `${node}/rounded`);
    b.op('Clip', [v, b.scalar('float', clo), b.scalar('float', chi)], `${node}/clamp`, out);
  };

  for (const { node, out, y, nm } of nodeOutputs(g, values, tname)) {
    switch (node.op) {
      case 'conv': {
        const w = g.tensors[node.weight];
        const inputs = [tname(node.input), b.tensor(`${nm}/weight`, 'float', w.shape, w.data)];
        if (node.bias) inputs.push(b.tensor(`${nm}/bias`, 'float', [w.shape[0]], g.tensors[node.bias].data));
        const acc = b.op('Conv', inputs, `${nm}/conv`, `${nm}/acc`, convAttrs(node, w.shape));
        epilogue(acc, node.epilogue, out.shape[0], out.shape.length, nm, y);
        break;
      }
      case 'linear': {
        const w = g.tensors[node.weight];
        const flat = b.op('Flatten', [tname(node.input)], `${nm}/flatten`, `${nm}/flat`, [int('axis', 1)]);
        const inputs = [flat, b.tensor(`${nm}/weight`, 'float', w.shape, w.data)];
        if (node.bias) inputs.push(b.tensor(`${nm}/bias`, 'float', [w.shape[0]], g.tensors[node.bias].data));
        const acc = b.op('Gemm', inputs, `${nm}/gemm`, `${nm}/acc`, [int('transB', 1)]);
        epilogue(acc, node.epilogue, out.shape[0], 1, nm, y);
        break;
      }
      case 'maxpool':
        b.op('MaxPool', [tname(node.input)], `${nm}/maxpool`, y, poolAttrs(node.kernel, node.stride, node.padding));
        break;
      case 'sumpool': {
        const s = b.op('ReduceSum', [tname(node.input), b.tensor('const/axes_hw', 'int64', [2], [2, 3], 'axes_hw')], `${nm}/sum`, `${nm}/acc`, [int('keepdims', 0)]);
        epilogue(s, node.epilogue, out.shape[0], 1, nm, y, node.divisor);
        break;
      }
      case 'add': {
        const operand = (i: 0 | 1): string => {
          let v = tname(node.inputs[i]);
          if (node.relu[i]) v = b.op('Relu', [v], `${nm}/relu${i}`, `${nm}/relu${i}`);
          if (node.shifts[i] !== 0) v = b.op('Mul', [v, b.scalar('float', 2 ** Math.min(node.shifts[i], 32))], `${nm}/align${i}`, `${nm}/aligned${i}`);
          return v;
        };
        const s = b.op('Add', [operand(0), operand(1)], `${nm}/add`, `${nm}/sum`);
        epilogue(s, node.epilogue, out.shape[0], out.shape.length, nm, y);
        break;
      }
      case 'requant':
        epilogue(tname(node.input), node.epilogue, out.shape[0], out.shape.length, nm, y);
        break;
    }
  }
  return encode(g, 'integize', b, 'float', 'float', values.get(g.output.name)!.shape[0]);
}

// ---------------------------------------------------------------------------------------------
// int_op_only: integer tensors and integer operators.

/** Largest magnitude a value of this dtype can hold (codes, or the symmetric int32 range plus the -2^31 of a wrapped sum). */
const MAX_ABS: Record<IntDType, number> = { int8: 127, uint8: 255, int32: 2 ** 31 };

/**
 * The "int_op_only" ONNX file of g: input `input` of 8-bit codes (g.input.dtype), output
 * `logits` int32. Bit for bit runIntCpu, accumulators that do not wrap assumed.
 *
 * Arithmetic is int32 where no intermediate can leave the int32 range (known from the dtypes,
 * weights and shifts at export time), else int64 with Add / Sub / Mul / Div / BitwiseAnd only, clamped
 * with Less / Greater / Where: onnxruntime's CPU Min, Max and Clip on int64 give wrong results
 * for some values (an Eigen code path, microsoft/onnxruntime PR 25280; here Clip(3, -2^31, 2^31)
 * returned 2^31).
 */
export function toIntOnlyOnnx(g: IntGraph): Uint8Array {
  const values = check(g);
  const b = new Builder();
  const outInfo = values.get(g.output.name)!;
  // The output value is `logits` itself when it is int32; otherwise a Cast makes it so.
  const tname = (v: string): string => (v === g.input.name ? 'input' : v === g.output.name && outInfo.dtype === 'int32' ? 'logits' : `v/${v}`);
  type Wide = 'int32' | 'int64';
  const k = (dt: Wide, v: number): string => b.scalar(dt, v);
  const cast = (v: string, to: IntDType | 'int64', name: string, out: string): string => b.op('Cast', [v], name, out, [int('to', ONNX_DT[to])]);

  /** clamp(v, lo, hi): Clip on int32; on int64 two Where selects (see above). */
  const clamp = (v: string, dt: Wide, lo: number, hi: number, nm: string, tag: string, out = `${nm}/${tag}`): string => {
    if (dt === 'int32') return b.op('Clip', [v, k(dt, lo), k(dt, hi)], `${nm}/${tag}`, out);
    const low = b.op('Where', [b.op('Less', [v, k(dt, lo)], `${nm}/${tag}_lt`, `${nm}/${tag}_lt`), k(dt, lo), v], `${nm}/${tag}_lo`, `${nm}/${tag}_lo`);
    return b.op('Where', [b.op('Greater', [low, k(dt, hi)], `${nm}/${tag}_gt`, `${nm}/${tag}_gt`), k(dt, hi), low], `${nm}/${tag}_hi`, out);
  };

  // ConvInteger / MatMulInteger as uint8 x uint8 with zero points (x + 128 for int8 codes,
  // w + 128 for the weights): onnxruntime's u8 x s8 kernels sum byte pairs in saturating int16
  // (VPMADDUBSW) on x86 without VNNI, which 255 * 127 * 2 overflows; its u8 x u8 kernels widen first.
  const u8 = new Map<string, { x: string; zp: string }>();
  const asU8 = (v: string): { x: string; zp: string } => {
    const hit = u8.get(v);
    if (hit) return hit;
    let r: { x: string; zp: string };
    if (values.get(v)!.dtype === 'uint8') r = { x: tname(v), zp: b.scalar('uint8', 0) };
    else {
      const p = `v/${v}/u8`;
      const s = b.op('Add', [cast(tname(v), 'int32', `${p}/widen`, `${p}/i32`), k('int32', 128)], `${p}/offset`, `${p}/offset`);
      r = { x: cast(s, 'uint8', `${p}/narrow`, p), zp: b.scalar('uint8', 128) };
    }
    u8.set(v, r);
    return r;
  };

  /**
   * The epilogue on v (int32 or int64 holding a value in [-2^31, 2^31 - 1]):
   * clamp(shiftRoundHalfEven(v, n), lo, hi), ReLU folded into lo. Left shifts multiply by
   * 2^min(-n, 32) in int64 (|v| <= 2^31: exact; the clamp saturates). Right shifts by
   * d = 2^min(n, 32), with the floor modulo taken from the two's complement bits (Mod is
   * several times slower in onnxruntime):
   *   rem = v & (d - 1); q = (v - rem) / d (exact); inc = (rem + d/2 - 1 + (q & 1)) / d in {0, 1}
   * so inc = 1 iff rem > d/2, or rem = d/2 and q is odd: round half to even for either sign.
   * Channels without a right shift get d = 1, rem = 0 and a zero parity mask. int32 when every n
   * is in [0, 30]; no intermediate overflows (|q d| <= 2^31, rem + d/2 < 2^31 * 1.5 in int64).
   */
  const epilogue = (v: string, vdt: Wide, e: IntEpilogue, channels: number, rank: number, nm: string, out: string, outDt: IntDType): void => {
    const n = shifts(e, channels, nm);
    const [clo, chi] = clampRange(e);
    const dt: Wide = n.some((s) => s < 0 || s > 30) ? 'int64' : 'int32';
    if (dt !== vdt) v = cast(v, dt, `${nm}/to_${dt}`, `${nm}/${dt}`);
    if (n.some((s) => s < 0)) v = b.op('Mul', [v, channelConst(b, `${nm}/lshift`, dt, n.map((s) => (s < 0 ? 2 ** Math.min(-s, 32) : 1)), rank)], `${nm}/lshift`, `${nm}/lshifted`);
    if (n.some((s) => s > 0)) {
      const r = n.map((s) => (s > 0 ? Math.min(s, 32) : 0));
      const d = channelConst(b, `${nm}/div`, dt, r.map((s) => 2 ** s), rank);
      const h = channelConst(b, `${nm}/half`, dt, r.map((s) => (s > 0 ? 2 ** (s - 1) - 1 : 0)), rank);
      const rem = b.op('BitwiseAnd', [v, channelConst(b, `${nm}/low_mask`, dt, r.map((s) => 2 ** s - 1), rank)], `${nm}/rem`, `${nm}/rem`);
      const q = b.op('Div', [b.op('Sub', [v, rem], `${nm}/floor`, `${nm}/floor`), d], `${nm}/quot`, `${nm}/quot`);
      const odd = b.op('BitwiseAnd', [q, channelConst(b, `${nm}/odd_mask`, dt, r.map((s) => (s > 0 ? 1 : 0)), rank)], `${nm}/odd`, `${nm}/odd`);
      const t = b.op('Add', [b.op('Add', [rem, h], `${nm}/rem_half`, `${nm}/rem_half`), odd], `${nm}/rem_half_odd`, `${nm}/rem_half_odd`);
      v = b.op('Add', [q, b.op('Div', [t, d], `${nm}/inc`, `${nm}/inc`)], `${nm}/round`, `${nm}/rounded`);
    }
    if (dt === outDt) clamp(v, dt, clo, chi, nm, 'clamp', out);
    else cast(clamp(v, dt, clo, chi, nm, 'clamp'), outDt, `${nm}/cast`, out);
  };

  /**
   * A sumpool's epilogue with divisor D > 1 (8-bit codes out): clamp(divRoundHalfEven(v, n, D))
   * in int64 with one n (src/quant/int-requant.ts). Left shifts multiply first (|v| 2^min(-n, 32)
   * < 2^63); then e = D 2^max(n, 0) and, with Mod's floor remainder (fmod 0, a positive divisor),
   *   rem = Mod(v, e); q = (v - rem) / e (exact); inc = (2 rem + (q & 1) + e - 1) / (2 e) in {0, 1}
   * so inc = 1 iff 2 rem > e, or 2 rem = e and q is odd. Every term stays below 2^50.
   */
  const divEpilogue = (v: string, e: IntEpilogue, D: number, channels: number, nm: string, out: string, outDt: IntDType): void => {
    const n = shifts(e, channels, nm);
    if (new Set(n).size !== 1) throw new F8Error('UNSUPPORTED', `onnx export: sumpool ${nm} divides with per-channel shifts`);
    const [clo, chi] = clampRange(e);
    v = cast(v, 'int64', `${nm}/to_int64`, `${nm}/int64`);
    if (n[0] < 0) v = b.op('Mul', [v, k('int64', 2 ** Math.min(-n[0], 32))], `${nm}/lshift`, `${nm}/lshifted`);
    const ev = D * 2 ** Math.max(n[0], 0);
    const rem = b.op('Mod', [v, k('int64', ev)], `${nm}/rem`, `${nm}/rem`, [int('fmod', 0)]);
    const q = b.op('Div', [b.op('Sub', [v, rem], `${nm}/floor`, `${nm}/floor`), k('int64', ev)], `${nm}/quot`, `${nm}/quot`);
    const odd = b.op('BitwiseAnd', [q, k('int64', 1)], `${nm}/odd`, `${nm}/odd`);
    const twice = b.op('Add', [b.op('Add', [rem, rem], `${nm}/rem2`, `${nm}/rem2`), odd], `${nm}/rem2_odd`, `${nm}/rem2_odd`);
    const inc = b.op('Div', [b.op('Add', [twice, k('int64', ev - 1)], `${nm}/rem2_odd_e`, `${nm}/rem2_odd_e`), k('int64', 2 * ev)], `${nm}/inc`, `${nm}/inc`);
    v = b.op('Add', [q, inc], `${nm}/round`, `${nm}/rounded`);
    cast(clamp(v, 'int64', clo, chi, nm, 'clamp'), outDt, `${nm}/cast`, out);
  };

  /** clampInt32(acc + bias): int32 when no sum can leave the range, else exact in int64 and clamped. */
  const addBias = (acc: string, bias: string | null, accMax: number, rank: number, nm: string): { v: string; dt: Wide } => {
    if (!bias) return { v: acc, dt: 'int32' }; // a wrapped -2^31 shifts and clamps like -(2^31 - 1)
    const t = g.tensors[bias];
    const dims = [t.shape[0], ...Array(rank - 1).fill(1)];
    const biasMax = Math.max(0, ...Array.from(t.data, Math.abs));
    if (accMax + biasMax <= INT32_MAX) return { v: b.op('Add', [acc, b.tensor(`${nm}/bias`, 'int32', dims, t.data)], `${nm}/bias_add`, `${nm}/biased`), dt: 'int32' };
    const s = b.op('Add', [cast(acc, 'int64', `${nm}/acc_i64`, `${nm}/acc_i64`), b.tensor(`${nm}/bias`, 'int64', dims, t.data)], `${nm}/bias_add`, `${nm}/biased`);
    return { v: clamp(s, 'int64', -INT32_MAX, INT32_MAX, nm, 'bias_sat'), dt: 'int64' };
  };

  for (const { node, out, y, nm } of nodeOutputs(g, values, tname)) {
    switch (node.op) {
      case 'conv': {
        const w = g.tensors[node.weight];
        const x = asU8(node.input);
        const acc = b.op('ConvInteger', [x.x, b.tensor(`${nm}/weight_u8`, 'uint8', w.shape, Array.from(w.data, (v) => v + 128)), x.zp, b.scalar('uint8', 128)], `${nm}/conv`, `${nm}/acc`, convAttrs(node, w.shape));
        const r = addBias(acc, node.bias, size(w.shape.slice(1)) * MAX_ABS[values.get(node.input)!.dtype] * 127, 3, nm);
        epilogue(r.v, r.dt, node.epilogue, out.shape[0], 3, nm, y, out.dtype);
        break;
      }
      case 'linear': {
        const w = g.tensors[node.weight];
        const [O, K] = w.shape;
        const x = asU8(node.input);
        const flat = b.op('Flatten', [x.x], `${nm}/flatten`, `${nm}/flat`, [int('axis', 1)]);
        const wt = new Uint8Array(K * O);
        for (let o = 0; o < O; o++) for (let i = 0; i < K; i++) wt[i * O + o] = w.data[o * K + i] + 128;
        const acc = b.op('MatMulInteger', [flat, b.tensor(`${nm}/weight_t_u8`, 'uint8', [K, O], wt), x.zp, b.scalar('uint8', 128)], `${nm}/matmul`, `${nm}/acc`);
        const r = addBias(acc, node.bias, K * MAX_ABS[values.get(node.input)!.dtype] * 127, 1, nm);
        epilogue(r.v, r.dt, node.epilogue, O, 1, nm, y, out.dtype);
        break;
      }
      case 'maxpool': {
        const xi = values.get(node.input)!;
        if (xi.dtype !== 'int32') {
          b.op('MaxPool', [tname(node.input)], `${nm}/maxpool`, y, poolAttrs(node.kernel, node.stride, node.padding));
          break;
        }
        // onnxruntime's MaxPool has no int32 kernel: the max of the window's strided slices of
        // the input padded with -2^31 (below every value, so padded positions never win).
        const [, H, W] = xi.shape;
        const [, OH, OW] = out.shape;
        const [k0, k1] = node.kernel;
        const [s0, s1] = node.stride;
        const [p0, p1] = node.padding;
        if (OH < 1 || OW < 1 || (OH - 1) * s0 + k0 > H + 2 * p0 || (OW - 1) * s1 + k1 > W + 2 * p1) {
          throw new F8Error('SHAPE_MISMATCH', `onnx export: maxpool ${nm} output [${out.shape.join(', ')}] does not fit its input [${xi.shape.join(', ')}]`);
        }
        let x = tname(node.input);
        if (p0 || p1) x = b.op('Pad', [x, b.tensor(`${nm}/pads`, 'int64', [8], [0, 0, p0, p1, 0, 0, p0, p1]), k('int32', -(2 ** 31))], `${nm}/pad`, `${nm}/padded`);
        const axes = b.tensor('const/axes_hw', 'int64', [2], [2, 3], 'axes_hw');
        const steps = b.tensor(`const/steps_${s0}_${s1}`, 'int64', [2], [s0, s1], `steps_${s0}_${s1}`);
        const taps: string[] = [];
        for (let i = 0; i < k0; i++)
          for (let j = 0; j < k1; j++) {
            const at = `${nm}/tap${i}_${j}`;
            const starts = b.tensor(`${at}/starts`, 'int64', [2], [i, j]);
            const ends = b.tensor(`${at}/ends`, 'int64', [2], [i + (OH - 1) * s0 + 1, j + (OW - 1) * s1 + 1]);
            taps.push(b.op('Slice', [x, starts, ends, axes, steps], at, at));
          }
        b.op(taps.length > 1 ? 'Max' : 'Identity', taps, `${nm}/max`, y);
        break;
      }
      case 'sumpool': {
        let x = tname(node.input);
        if (values.get(node.input)!.dtype !== 'int32') x = cast(x, 'int32', `${nm}/widen`, `${nm}/i32`);
        const s = b.op('ReduceSum', [x, b.tensor('const/axes_hw', 'int64', [2], [2, 3], 'axes_hw')], `${nm}/sum`, `${nm}/acc`, [int('keepdims', 0)]);
        if ((node.divisor ?? 1) > 1) divEpilogue(s, node.epilogue, node.divisor!, out.shape[0], nm, y, out.dtype);
        else epilogue(s, 'int32', node.epilogue, out.shape[0], 1, nm, y, out.dtype);
        break;
      }
      case 'add': {
        // clampInt32(r(a) 2^sa + r(b) 2^sb). int32 when it cannot overflow; else int64 with
        // m = min(sa, sb): the sum is 2^m (a 2^(sa-m) + b 2^(sb-m)); capping the relative shift
        // at 32, bounding the inner sum by +-2^31 and capping m at 31 keep every step below
        // 2^63 and change no clamped result.
        const [sa, sb] = node.shifts;
        const bound = MAX_ABS[values.get(node.inputs[0])!.dtype] * 2 ** sa + MAX_ABS[values.get(node.inputs[1])!.dtype] * 2 ** sb;
        const dt: Wide = bound <= INT32_MAX ? 'int32' : 'int64';
        const m = dt === 'int32' ? 0 : Math.min(sa, sb);
        const operand = (i: 0 | 1): string => {
          let v = tname(node.inputs[i]);
          if (values.get(node.inputs[i])!.dtype !== 'int32') v = cast(v, 'int32', `${nm}/in${i}_i32`, `${nm}/in${i}_i32`);
          if (node.relu[i]) v = b.op('Max', [v, k('int32', 0)], `${nm}/relu${i}`, `${nm}/relu${i}`);
          if (dt === 'int64') v = cast(v, 'int64', `${nm}/in${i}_i64`, `${nm}/in${i}_i64`);
          const rel = Math.min(node.shifts[i] - m, 32);
          return rel > 0 ? b.op('Mul', [v, k(dt, 2 ** rel)], `${nm}/align${i}`, `${nm}/aligned${i}`) : v;
        };
        let s = b.op('Add', [operand(0), operand(1)], `${nm}/add`, `${nm}/sum`);
        if (dt === 'int64') {
          if (m > 0) s = b.op('Mul', [clamp(s, dt, -(2 ** 31), 2 ** 31, nm, 'bound'), k(dt, 2 ** Math.min(m, 31))], `${nm}/align`, `${nm}/aligned`);
          s = clamp(s, dt, -INT32_MAX, INT32_MAX, nm, 'sat');
        }
        epilogue(s, dt, node.epilogue, out.shape[0], out.shape.length, nm, y, out.dtype);
        break;
      }
      case 'requant': {
        let x = tname(node.input);
        if (values.get(node.input)!.dtype !== 'int32') x = cast(x, 'int32', `${nm}/widen`, `${nm}/i32`);
        epilogue(x, 'int32', node.epilogue, out.shape[0], out.shape.length, nm, y, out.dtype);
        break;
      }
    }
  }
  if (outInfo.dtype !== 'int32') cast(tname(g.output.name), 'int32', 'output/cast', 'logits');
  return encode(g, 'int_op_only', b, g.input.dtype, 'int32', outInfo.shape[0]);
}
