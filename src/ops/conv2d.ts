/**
 * 2-D convolution, NCHW f32 (wgsl/conv2d.wgsl, depthwise kernels in wgsl/depthwise.wgsl), with
 * its backward beside it. CPU references: ./conv2d.ref.ts.
 *
 * Options follow PyTorch's Conv2d: stride, padding (symmetric, zeros), dilation, groups; a
 * number means the same value for height and width.
 *
 * @example
 *   const y = conv2d(x, w, b, { padding: 1 });            // x [8,64,32,32], w [64,64,3,3] -> [8,64,32,32]
 *   const d = conv2d(x, wd, null, { groups: 64, stride: 2, padding: 1 }); // depthwise, wd [64,1,3,3]
 */
import { Engine, type Kernel } from '../runtime/engine.js';
import { defineKnobs } from '../runtime/tuning.js';
import { F8Error } from '../runtime/errors.js';
import { Tensor } from '../tensor.js';
import { record } from '../autograd/tape.js';
import { fillInPlace } from './elementwise.js';

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
}

/** Options with every pair spelled out ([height, width]). */
export interface ConvGeometry {
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  dh: number;
  dw: number;
  groups: number;
}

/**
 * Tile sizes and thresholds of the kernels (a tuner may change them; each distinct tile is a
 * separate compiled pipeline). Forward: a thread computes up to OCB output channels (multiple of
 * 8) x PW output pixels of a row. Weight gradient: up to OCL x 8 output channels per 8 lanes x CB
 * input channels (multiple of 8) per thread at one tap; for kernel widths in winKW with unit
 * stride and dilation along w, winOCL x winCB channels at one kh and all kw (a sliding window).
 * Tiles shrink to the layer's channel counts. On lavapipe the largest tiles that still unroll
 * measured fastest (128 accumulators forward, 192 for the windowed weight gradient): they need
 * fewer lane-by-lane loads per FMA; one step larger fell off a cliff (the loops stop unrolling
 * and the tile goes to scratch memory, 15-30x slower).
 * minLanes: the weight and bias gradients split their reduction until about this many threads
 * run. subgroups: use subgroup shuffles where the adapter has them (>= 8 lanes).
 */
export const conv2dKnobs = defineKnobs('conv2d', { WG: 64, OCB: 32, PW: 4, OCL: 4, CB: 32, winKW: [3], winOCL: 4, winCB: 16, minLanes: 2048, subgroups: true, SMEM: false, wgradSMEM: false });
/** The engine's conv2d knobs (per adapter; the defaults until tuned). Writes change what the conv picks. */
export const conv2dTuning = (e: Engine = Engine.get()) => e.tuning.get(conv2dKnobs);

// Tiles are powers of two so that layers of many sizes share a few pipelines (a cold compile
// of the largest tile takes ~1 s on lavapipe).
const pow2Ceil = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));
const pow2Floor = (n: number): number => 2 ** Math.floor(Math.log2(Math.max(1, n)));
/** A channel tile: a power of two >= 8 covering n, at most max. */
const tile8 = (n: number, max: number): number => Math.max(8, Math.min(max, pow2Ceil(n)));

function pair(v: number | [number, number] | undefined, d: number, what: string): [number, number] {
  const r: [number, number] = v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (!r.every((n) => Number.isInteger(n))) throw new F8Error('BAD_CONFIG', `conv2d: ${what} must be integers, got ${JSON.stringify(v)}`);
  return r;
}

/** Normalises and checks the options. */
export function convGeometry(opts: Conv2dOptions = {}): ConvGeometry {
  const [sh, sw] = pair(opts.stride, 1, 'stride');
  const [ph, pw] = pair(opts.padding, 0, 'padding');
  const [dh, dw] = pair(opts.dilation, 1, 'dilation');
  const groups = opts.groups ?? 1;
  if (sh < 1 || sw < 1) throw new F8Error('BAD_CONFIG', `conv2d: stride must be >= 1, got [${sh}, ${sw}]`);
  if (dh < 1 || dw < 1) throw new F8Error('BAD_CONFIG', `conv2d: dilation must be >= 1, got [${dh}, ${dw}]`);
  if (ph < 0 || pw < 0) throw new F8Error('BAD_CONFIG', `conv2d: padding must be >= 0, got [${ph}, ${pw}]`);
  if (!Number.isInteger(groups) || groups < 1) throw new F8Error('BAD_CONFIG', `conv2d: groups must be a positive integer, got ${groups}`);
  return { sh, sw, ph, pw, dh, dw, groups };
}

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/**
 * The output shape [N, O, OH, OW] of conv2d on input xShape [N, C, H, W] with weights
 * wShape [O, C/groups, KH, KW]; throws SHAPE_MISMATCH naming the shapes when they do not fit.
 */
export function conv2dOutputShape(xShape: readonly number[], wShape: readonly number[], opts: Conv2dOptions = {}): number[] {
  const g = convGeometry(opts);
  if (xShape.length !== 4) throw new F8Error('SHAPE_MISMATCH', `conv2d: input ${fmt(xShape)} must be 4-D [N, C, H, W]`);
  if (wShape.length !== 4) throw new F8Error('SHAPE_MISMATCH', `conv2d: weight ${fmt(wShape)} must be 4-D [O, C/groups, KH, KW]`);
  const [N, C, H, W] = xShape;
  const [O, CG, KH, KW] = wShape;
  if (C % g.groups !== 0) throw new F8Error('SHAPE_MISMATCH', `conv2d: input ${fmt(xShape)} has ${C} channels, not divisible by groups=${g.groups}`);
  if (O % g.groups !== 0) throw new F8Error('SHAPE_MISMATCH', `conv2d: weight ${fmt(wShape)} has ${O} output channels, not divisible by groups=${g.groups}`);
  if (CG !== C / g.groups) {
    throw new F8Error('SHAPE_MISMATCH', `conv2d: weight ${fmt(wShape)} has ${CG} input channels per group; input ${fmt(xShape)} with groups=${g.groups} needs ${C / g.groups}`);
  }
  const OH = Math.floor((H + 2 * g.ph - g.dh * (KH - 1) - 1) / g.sh) + 1;
  const OW = Math.floor((W + 2 * g.pw - g.dw * (KW - 1) - 1) / g.sw) + 1;
  if (OH <= 0 || OW <= 0 || KH <= 0 || KW <= 0 || N <= 0) {
    throw new F8Error(
      'SHAPE_MISMATCH',
      `conv2d: input ${fmt(xShape)} with weight ${fmt(wShape)}, padding [${g.ph}, ${g.pw}], dilation [${g.dh}, ${g.dw}], stride [${g.sh}, ${g.sw}] gives output size ${OH}x${OW}; it must be at least 1x1`,
    );
  }
  return [N, O, OH, OW];
}

/** True for the depthwise case (each input channel convolved on its own, O = C * multiplier). */
export function isDepthwise(xShape: readonly number[], wShape: readonly number[], groups: number): boolean {
  return groups > 1 && groups === xShape[1] && wShape[1] === 1;
}

// ---- dispatch helpers --------------------------------------------------------------------------

/** Whether the subgroup kernels may run: tuned on (conv2dTuning(e).subgroups) and the adapter has them (Gpu.hasSubgroups). */
export function useSubgroups(e: Engine): boolean {
  return conv2dTuning(e).subgroups && e.gpu.hasSubgroups;
}

/** The conv2d.wgsl pipeline for `entry`; defines an entry does not read are pinned. */
function kernel(e: Engine, entry: 'pack_w' | 'fwd' | 'bww' | 'bww_win' | 'reduce_splits' | 'bias_grad', d: { OCB?: number; PW?: number; SHIFT?: number; OCL?: number; CB?: number; KWIN?: number } = {}): Kernel {
  const t = conv2dTuning(e);
  const sg = useSubgroups(e) ? 1 : 0;
  const defs = { WG: 64, OCB: 8, PW: 1, ACC: 1, OCL: 1, CB: 8, SUBGROUPS: 0, SHIFT: 0, KWIN: 1, XWIN: 1 };
  if (entry === 'pack_w') defs.OCB = d.OCB!;
  if (entry === 'fwd') Object.assign(defs, { WG: t.WG, SUBGROUPS: sg, OCB: d.OCB, PW: d.PW, SHIFT: d.SHIFT, ACC: d.OCB! * d.PW! });
  if (entry === 'bww') Object.assign(defs, { WG: t.WG, SUBGROUPS: sg, OCL: d.OCL, CB: d.CB, ACC: d.OCL! * d.CB! });
  if (entry === 'bww_win') Object.assign(defs, { WG: t.WG, SUBGROUPS: sg, OCL: d.OCL, CB: d.CB, KWIN: d.KWIN, ACC: d.OCL! * d.CB! * d.KWIN!, XWIN: d.CB! * d.KWIN! });
  return e.kernel('conv2d.wgsl', entry, defs);
}

/** The parameter object of a uniform struct: every field, zero unless given. */
function fill(fields: string, v: Partial<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of fields.split(' ')) out[k] = v[k] ?? 0;
  return out;
}
const CONV_FIELDS = 'N C H W O OH OW KH KW sh sw ph pw dh dw cg og nob owt tiles transpose count splits rows_per_split ocb_n cb_n has_bias ysh ysw yoh0 yow0 YH YW KHs KWs bh sgh bw sgw';
const DW_FIELDS = 'N C H W O OH OW ph pw div mi w_by_in tr tc count M rows_per_split splits has_bias KHs KWs bh sgh bw sgw ysh ysw yoh0 yow0 YH YW';
const params = (v: Partial<Record<string, number>>) => fill(CONV_FIELDS, v);

function checkF32(op: string, ...ts: (Tensor | null)[]): void {
  for (const t of ts) if (t && t.dtype !== 'f32') throw new F8Error('UNSUPPORTED', `${op}: f32 tensors expected, got ${t.dtype} (${t})`);
}

/**
 * Which taps of a kernel to use and in which order: tap k of the (sub-)kernel is source tap
 * b + sg*k along each axis. The forward conv uses all taps as they are (b = 0, sg = 1).
 */
interface TapMap {
  KH: number;
  KW: number;
  bh: number;
  sgh: number;
  bw: number;
  sgw: number;
}

/** Packs w for a conv with (cg, og) channels per group; transpose packs the transposed conv. */
function packWeights(e: Engine, w: Tensor, groups: number, cg: number, og: number, taps: TapMap, transpose: boolean, OCB: number): Tensor {
  const nob = Math.ceil(og / OCB);
  const count = groups * nob * cg * taps.KH * taps.KW * OCB;
  const wp = Tensor.empty([Math.max(count, 1)]);
  const [, , KHs, KWs] = w.shape;
  if (count > 0) e.dispatch(kernel(e, 'pack_w', { OCB }), { w, wout: wp }, params({ cg, og, nob, ...taps, KHs, KWs, transpose: transpose ? 1 : 0, count }), e.grid1d(count, 256));
  return wp;
}

/** One launch of the direct conv: sizes, geometry and where the output goes. */
interface ConvCall {
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  OH: number;
  OW: number;
  KH: number;
  KW: number;
  ph: number;
  pw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  groups: number;
  /** output [N, O, YH, YW]; this launch writes y[., ., yoh0 + oh*ysh, yow0 + ow*ysw] */
  YH: number;
  YW: number;
  yoh0: number;
  yow0: number;
  ysh: number;
  ysw: number;
}

/** Runs the direct conv kernel from x [N, C, H, W] and packed weights into y. */
function directConv(e: Engine, x: Tensor, wp: Tensor, bias: Tensor | null, y: Tensor, c: ConvCall, OCB: number): void {
  const t = conv2dTuning(e);
  // Keep about OCB*PW accumulators when the channel block is small, up to 8 pixels.
  const PW = pow2Floor(Math.min(c.OW, Math.max(t.PW, Math.min(8, Math.floor((t.OCB * t.PW) / OCB)))));
  const cg = c.C / c.groups;
  const og = c.O / c.groups;
  const nob = Math.ceil(og / OCB);
  const owt = Math.ceil(c.OW / PW);
  const tiles = c.N * c.OH * owt;
  const SHIFT = c.sw === 1 && c.dw === 1 ? 1 : 0;
  const [gx, gy] = e.grid1d(tiles, t.WG);
  // Without a bias the packed weights stand in for the binding (has_bias = 0: never read).
  e.dispatch(kernel(e, 'fwd', { OCB, PW, SHIFT }), { x, wp, y, bias: bias ?? wp }, params({ ...c, cg, og, nob, owt, tiles, has_bias: bias ? 1 : 0 }), [gx, gy ?? 1, c.groups * nob]);
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * The phases of the backward pass w.r.t. the input along one axis (size: the input size, s, p,
 * d, k: stride, padding, dilation, kernel size of the forward conv). Phase a covers the input
 * positions a, a + s, ...; they see the taps kh = kh0, kh0 + L, ... (a + p - kh*d divisible by
 * s), i.e. a stride-1 conv of gy with T reversed taps at dilation D and padding pad.
 */
function phases(size: number, s: number, p: number, d: number, k: number): { a: number; n: number; T: number; b: number; sg: number; D: number; pad: number }[] {
  const out = [];
  const L = s / gcd(s, d);
  const D = d / gcd(s, d);
  for (let a = 0; a < Math.min(s, size); a++) {
    const taps: number[] = [];
    for (let kh = 0; kh < k; kh++) if ((((a + p - kh * d) % s) + s) % s === 0) taps.push(kh);
    const n = Math.ceil((size - a) / s);
    if (taps.length === 0) {
      out.push({ a, n, T: 0, b: 0, sg: 1, D, pad: 0 });
      continue;
    }
    const T = taps.length;
    const m0 = (a + p - taps[0] * d) / s;
    out.push({ a, n, T, b: taps[0] + (T - 1) * L, sg: -L, D, pad: (T - 1) * D - m0 });
  }
  return out;
}

// ---- depthwise (wgsl/depthwise.wgsl) -----------------------------------------------------------

/**
 * Depthwise tiles: R rows x P columns of outputs per thread (forward and backward input);
 * bwwP output columns per step of the weight gradient.
 */
export const depthwiseKnobs = defineKnobs('depthwise', { R: 4, P: 8, bwwP: 4, minLanes: 2048, SMEM: false });
/** The engine's depthwise knobs (per adapter). */
export const depthwiseTuning = (e: Engine = Engine.get()) => e.tuning.get(depthwiseKnobs);

function dwKernel(e: Engine, entry: 'dw_fwd' | 'dw_bww', KH: number, KW: number, sh: number, sw: number, dh: number, dw: number): Kernel {
  const { R, P, bwwP } = depthwiseTuning(e);
  const tile = entry === 'dw_fwd' ? { R, P } : { R: 1, P: bwwP };
  return e.kernel('depthwise.wgsl', entry, { KH, KW, SH: sh, SW: sw, DH: dh, DW: dw, ...tile });
}

/** One launch of dw_fwd (see ConvCall; map: how output channels read input channels). */
function dwDirect(e: Engine, x: Tensor, w: Tensor, bias: Tensor | null, y: Tensor, c: ConvCall, taps: TapMap, map: { div: number; mi: number; wByIn: boolean }): void {
  const [, , KHs, KWs] = w.shape;
  const { R, P } = depthwiseTuning(e);
  const tr = Math.ceil(c.OH / R);
  const tc = Math.ceil(c.OW / P);
  const count = c.N * c.O * tr * tc;
  e.dispatch(
    dwKernel(e, 'dw_fwd', taps.KH, taps.KW, c.sh, c.sw, c.dh, c.dw),
    { x, w, y, bias: bias ?? w },
    fill(DW_FIELDS, { ...c, ...taps, KHs, KWs, div: map.div, mi: map.mi, w_by_in: map.wByIn ? 1 : 0, tr, tc, count, has_bias: bias ? 1 : 0 }),
    e.grid1d(count, 64),
  );
}

/** Whether wgsl/depthwise_smem.wgsl holds the halo (48 x 48) and the kernel (64 taps) of `c`, and z fits N * O. */
function dwSmemFits(c: ConvCall): boolean {
  const th = 15 * c.sh + (c.KH - 1) * c.dh + 1;
  const tw = 15 * c.sw + (c.KW - 1) * c.dw + 1;
  return th <= 48 && tw <= 48 && c.KH * c.KW <= 64 && c.N * c.O <= 65535;
}

/** Depthwise forward in the shared-memory form (the tuner's SMEM variant of depthwise.fwd). */
function dwSmem(e: Engine, x: Tensor, w: Tensor, bias: Tensor | null, y: Tensor, c: ConvCall): void {
  const k = e.kernel('depthwise_smem.wgsl', 'dw_smem', { BIAS: bias !== null });
  const ps = { N: c.N, C: c.C, H: c.H, W: c.W, O: c.O, OH: c.OH, OW: c.OW, KH: c.KH, KW: c.KW, sh: c.sh, sw: c.sw, ph: c.ph, pw: c.pw, dh: c.dh, dw: c.dw, div: c.O / c.C };
  e.dispatch(k, { x, w, ...(bias ? { bias } : {}), y }, ps, [Math.ceil(c.OW / 16), Math.ceil(c.OH / 16), c.N * c.O]);
}

/** Splits of a reduction over `rows` rows so that about minLanes threads run. */
function splitsFor(lanes: number, rows: number, minLanes: number): { splits: number; rowsPerSplit: number } {
  const want = Math.max(1, Math.min(rows, Math.ceil(minLanes / Math.max(1, lanes))));
  const rowsPerSplit = Math.ceil(rows / want);
  return { splits: Math.ceil(rows / rowsPerSplit), rowsPerSplit };
}

/** Sums `splits` partial results of `count` values each into a new tensor of `shape`. */
function reduceSplits(e: Engine, part: Tensor, splits: number, count: number, shape: readonly number[]): Tensor {
  if (splits === 1) return part.reshape(shape);
  const out = Tensor.empty(shape);
  e.dispatch(kernel(e, 'reduce_splits'), { x: part, y: out }, params({ count, splits }), e.grid1d(count, 256));
  part.dispose();
  return out;
}

// ---- raw kernels -------------------------------------------------------------------------------

/** y = conv2d(x, w) + bias, no tape. */
export function conv2dForward(x: Tensor, w: Tensor, bias: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  checkF32('conv2d', x, w, bias);
  const [N, O, OH, OW] = conv2dOutputShape(x.shape, w.shape, opts);
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== O)) throw new F8Error('SHAPE_MISMATCH', `conv2d: bias ${fmt(bias.shape)} must be [${O}] for weight ${fmt(w.shape)}`);
  const g = convGeometry(opts);
  const [, C, H, W] = x.shape;
  const [, , KH, KW] = w.shape;
  const e = Engine.get();
  const y = Tensor.empty([N, O, OH, OW]);
  const call: ConvCall = { N, C, H, W, O, OH, OW, KH, KW, ...g, YH: OH, YW: OW, yoh0: 0, yow0: 0, ysh: 1, ysw: 1 };
  const taps: TapMap = { KH, KW, bh: 0, sgh: 1, bw: 0, sgw: 1 };
  if (isDepthwise(x.shape, w.shape, g.groups)) {
    if (depthwiseTuning(e).SMEM && dwSmemFits(call)) dwSmem(e, x, w, bias, y, call);
    else dwDirect(e, x, w, bias, y, call, taps, { div: O / C, mi: 1, wByIn: false });
    return y;
  }
  if (conv2dTuning(e).SMEM && Math.ceil((N * OH * OW) / 64) <= 65535) {
    smemConv(e, x, w, bias, y, call);
    return y;
  }
  const OCB = tile8(O / g.groups, conv2dTuning(e).OCB);
  const wp = packWeights(e, w, g.groups, C / g.groups, O / g.groups, taps, false, OCB);
  directConv(e, x, wp, bias, y, call, OCB);
  wp.dispose();
  return y;
}

/**
 * The forward pass as a shared-memory tiled implicit GEMM (wgsl/conv2d_smem.wgsl; the tuner's
 * SMEM variant of conv2d.fwd, for adapters with real workgroup memory; stride-1 backward passes
 * w.r.t. the input take it too): the weights as they are,
 * the input gathered per tile, 64 x 64 output blocks per workgroup, one z slice per group.
 */
function smemConv(e: Engine, x: Tensor, w: Tensor, bias: Tensor | null, y: Tensor, c: ConvCall): void {
  const cg = c.C / c.groups;
  const og = c.O / c.groups;
  const k = e.kernel('conv2d_smem.wgsl', 'fwd_smem', { BIAS: bias !== null, TRANSPOSE: false });
  const params = { N: c.N, C: c.C, H: c.H, W: c.W, O: c.O, OH: c.OH, OW: c.OW, KH: c.KH, KW: c.KW, sh: c.sh, sw: c.sw, ph: c.ph, pw: c.pw, dh: c.dh, dw: c.dw, cg, og, has_bias: bias ? 1 : 0 };
  e.dispatch(k, { x, w, ...(bias ? { bias } : {}), y }, params, [Math.ceil((c.N * c.OH * c.OW) / 64), Math.ceil(og / 64), c.groups]);
}

/**
 * dL/dx [N, C, H, W] from dL/dy gy [N, O, OH, OW]: the transposed convolution, computed as
 * stride-1 convs of gy with the flipped, transposed weights, one per stride phase.
 */
export function conv2dBackwardInput(gy: Tensor, w: Tensor, xShape: readonly number[], opts: Conv2dOptions = {}): Tensor {
  checkF32('conv2dBackwardInput', gy, w);
  const yShape = conv2dOutputShape(xShape, w.shape, opts);
  if (gy.shape.length !== 4 || gy.shape.some((d, i) => d !== yShape[i])) {
    throw new F8Error('SHAPE_MISMATCH', `conv2dBackwardInput: gradient ${fmt(gy.shape)} must be ${fmt(yShape)} for input ${fmt(xShape)} and weight ${fmt(w.shape)}`);
  }
  const g = convGeometry(opts);
  const [N, C, H, W] = xShape;
  const [O, , KH, KW] = w.shape;
  const [, , OH, OW] = yShape;
  const e = Engine.get();
  const depthwise = isDepthwise(xShape, w.shape, g.groups);
  const gx = Tensor.empty([N, C, H, W]);
  if (conv2dTuning(e).SMEM && !depthwise && g.sh === 1 && g.sw === 1 && Math.ceil((N * H * W) / 64) <= 65535) {
    // Stride 1: one forward conv of gy with the transposed, flipped weights (wgsl/conv2d_smem.wgsl
    // TRANSPOSE), the same choice as the forward pass (the tuner times the forward).
    const cg = C / g.groups;
    const og = O / g.groups;
    const k = e.kernel('conv2d_smem.wgsl', 'fwd_smem', { BIAS: false, TRANSPOSE: true });
    const ps = { N, C: O, H: OH, W: OW, O: C, OH: H, OW: W, KH, KW, sh: 1, sw: 1, ph: g.dh * (KH - 1) - g.ph, pw: g.dw * (KW - 1) - g.pw, dh: g.dh, dw: g.dw, cg: og, og: cg, has_bias: 0 };
    e.dispatch(k, { x: gy, w, y: gx }, ps, [Math.ceil((N * H * W) / 64), Math.ceil(cg / 64), g.groups]);
    return gx;
  }
  const rows = phases(H, g.sh, g.ph, g.dh, KH);
  const cols = phases(W, g.sw, g.pw, g.dw, KW);
  // Positions no tap reaches (possible with stride > kernel extent) stay zero.
  if (rows.some((r) => r.T === 0) || cols.some((c) => c.T === 0)) fillInPlace(gx, 0);
  const cg = C / g.groups;
  const og = O / g.groups;
  const OCB = tile8(cg, conv2dTuning(e).OCB);
  for (const r of rows) {
    for (const c of cols) {
      if (r.T === 0 || c.T === 0) continue;
      const taps: TapMap = { KH: r.T, KW: c.T, bh: r.b, sgh: r.sg, bw: c.b, sgw: c.sg };
      const call: ConvCall = {
        ...{ N, C: O, H: OH, W: OW, O: C, OH: r.n, OW: c.n, KH: r.T, KW: c.T, groups: g.groups },
        ...{ ph: r.pad, pw: c.pad, sh: 1, sw: 1, dh: r.D, dw: c.D },
        ...{ YH: H, YW: W, yoh0: r.a, yow0: c.a, ysh: g.sh, ysw: g.sw },
      };
      if (depthwise) {
        dwDirect(e, gy, w, null, gx, call, taps, { div: 1, mi: O / C, wByIn: true });
        continue;
      }
      const wp = packWeights(e, w, g.groups, og, cg, taps, true, OCB);
      directConv(e, gy, wp, null, gx, call, OCB);
      wp.dispose();
    }
  }
  return gx;
}

/** dL/dw [O, C/groups, KH, KW] from the input x and dL/dy gy. */
export function conv2dBackwardWeight(x: Tensor, gy: Tensor, wShape: readonly number[], opts: Conv2dOptions = {}): Tensor {
  checkF32('conv2dBackwardWeight', x, gy);
  const yShape = conv2dOutputShape(x.shape, wShape, opts);
  if (gy.shape.length !== 4 || gy.shape.some((d, i) => d !== yShape[i])) {
    throw new F8Error('SHAPE_MISMATCH', `conv2dBackwardWeight: gradient ${fmt(gy.shape)} must be ${fmt(yShape)} for input ${fmt(x.shape)} and weight ${fmt(wShape)}`);
  }
  const g = convGeometry(opts);
  const e = Engine.get();
  const [N, C, H, W] = x.shape;
  const [O, cg, KH, KW] = wShape;
  const [, , OH, OW] = yShape;
  const count = O * cg * KH * KW;
  if (isDepthwise(x.shape, wShape, g.groups)) {
    const { splits, rowsPerSplit } = splitsFor(O, N * OH, depthwiseTuning(e).minLanes);
    const part = Tensor.empty(splits === 1 ? wShape : [splits * count]);
    e.dispatch(
      dwKernel(e, 'dw_bww', KH, KW, g.sh, g.sw, g.dh, g.dw),
      { x, gy, part },
      fill(DW_FIELDS, { N, C, H, W, O, OH, OW, ph: g.ph, pw: g.pw, M: O / C, rows_per_split: rowsPerSplit, splits, count: O * splits }),
      e.grid1d(O * splits, 64),
    );
    return reduceSplits(e, part, splits, count, wShape);
  }
  const t = conv2dTuning(e);
  const og = O / g.groups;
  if (t.wgradSMEM && Math.ceil((cg * KH * KW) / 64) <= 65535) {
    // The shared-memory tiled GEMM (wgsl/conv2d_smem.wgsl wgrad_smem): one pass, no split.
    const dw = Tensor.empty([...wShape]);
    const k = e.kernel('conv2d_smem.wgsl', 'wgrad_smem', { BIAS: false, TRANSPOSE: false });
    const ps = { N, C, H, W, O, OH, OW, KH, KW, sh: g.sh, sw: g.sw, ph: g.ph, pw: g.pw, dh: g.dh, dw: g.dw, cg, og, has_bias: 0 };
    e.dispatch(k, { x, gy, dwt: dw }, ps, [Math.ceil((cg * KH * KW) / 64), Math.ceil(og / 64), g.groups]);
    return dw;
  }
  const win = t.winKW.includes(KW) && g.sw === 1 && g.dw === 1;
  const OCL = Math.min(win ? t.winOCL : t.OCL, pow2Ceil(Math.ceil(og / 8)));
  const CB = tile8(cg, win ? t.winCB : t.CB);
  const ocb_n = Math.ceil(og / (8 * OCL));
  const cb_n = Math.ceil(cg / CB);
  const groups8 = g.groups * ocb_n * cb_n * KH * (win ? 1 : KW);
  const { splits, rowsPerSplit } = splitsFor(groups8 * 8, N * OH, t.minLanes);
  const part = Tensor.empty(splits === 1 ? wShape : [splits * count]);
  const [gx, gyy] = e.grid1d(groups8 * 8, t.WG);
  e.dispatch(
    win ? kernel(e, 'bww_win', { OCL, CB, KWIN: KW }) : kernel(e, 'bww', { OCL, CB }),
    { x, gy, part },
    params({ N, C, H, W, O, OH, OW, KH, KW, ...g, cg, og, splits, rows_per_split: rowsPerSplit, ocb_n, cb_n }),
    [gx, gyy ?? 1, splits],
  );
  return reduceSplits(e, part, splits, count, wShape);
}

/** dL/dbias [O]: gy [N, O, OH, OW] summed over N, OH, OW. */
export function conv2dBackwardBias(gy: Tensor): Tensor {
  checkF32('conv2dBackwardBias', gy);
  if (gy.shape.length !== 4) throw new F8Error('SHAPE_MISMATCH', `conv2dBackwardBias: gradient ${fmt(gy.shape)} must be 4-D [N, O, OH, OW]`);
  const e = Engine.get();
  const [N, O, OH, OW] = gy.shape;
  const { splits, rowsPerSplit } = splitsFor(O, N * OH, conv2dTuning(e).minLanes);
  const part = Tensor.empty([splits * O]);
  e.dispatch(kernel(e, 'bias_grad'), { gy, part }, params({ N, O, OH, OW, splits, rows_per_split: rowsPerSplit }), e.grid1d(O * splits, 64));
  return reduceSplits(e, part, splits, O, [O]);
}

// ---- the differentiable op ---------------------------------------------------------------------

/**
 * conv2d(x [N, C, H, W], w [O, C/groups, KH, KW], bias [O] | null) -> [N, O, OH, OW].
 * Records on the tape; the backward computes only the gradients whose input requires one.
 */
export function conv2d(x: Tensor, w: Tensor, bias: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  const y = conv2dForward(x, w, bias, opts);
  return record(y, 'conv2d', [x, w, bias], (gy) => [
    x.requiresGrad ? conv2dBackwardInput(gy, w, x.shape, opts) : null,
    w.requiresGrad ? conv2dBackwardWeight(x, gy, w.shape, opts) : null,
    bias?.requiresGrad ? conv2dBackwardBias(gy) : null,
  ]);
}
