// Integer-only conv2d of the exported model (F8NET.md §5): int8 x int8 (or uint8 x int8)
// products accumulated in i32, then the fused epilogue
//   v = sat(acc + bias[o]);  v = relu ? max(v, 0) : v;  out = clamp(shift_rhe(v, n[o]), lo, hi)
// written as packed 8-bit codes for the next layer, or as raw i32 (n = 0, lo/hi = -+(2^31 - 1)).
// CPU reference: src/ops/int8.ref.ts (refInt8Conv2d), matched bit for bit.
//
// Layouts (words are u32, four int8 in a word, little end first; include/int8_pack.wgsl):
//   x  [N, C4, H, W] words, C4 = ceil(C / 4): channels packed in blocks of 4, zero-padded.
//   w  conv: [O, CG4, TS] words (CG4 = ceil(CG / 4), CG = C / groups: packed along the input
//      channels of the group, zero-padded; TS = the KH*KW taps, padded to a multiple of 4 when
//      more than one, see TPAD); dwconv: [O4, KH, KW] words (4 channels a word).
//   wsum [O] i32: sum of each output channel's weights (the offset correction, int8_pack).
//   bias [O] i32, shift [O] i32 (per channel) or p.shift0 (per layer).
//   y  packed: [N, O4, OH, OW] words (channels >= O are 0); raw: i32 [N, O, OH, OW].
//
// conv (the general kernel, groups included), shaped by measurements on lavapipe (llvmpipe:
// a subgroup is 8 lanes of one AVX register; storage loads run lane by lane; see
// bench/int8.bench.ts): a thread keeps OCB output channels x PW output columns of one row; one
// iteration of its loop takes one 4-channel block k with all KH x KW taps (the geometry KH, KW,
// SW, DW is compiled in), so one x word feeds OCB 4-channel dots and each accumulator is updated
// once per 4 * KH * KW products. The 8 lanes of a subgroup each load the weight words of one of
// 8 output channels (vec4 loads with WVEC) and share them by subgroupShuffle. The channel loops
// stay rolled and the tile lives in memory: fully unrolled variants with the tile in registers
// measured 1.3x slower (the code outgrows the instruction cache), and so did two channel
// blocks per iteration and per-tap updates.
// With DOT4 a 4-channel dot is dot4I8Packed; without, unpacked multiply-adds of zero-extended
// activation bytes by sign-extended weight bytes, which llvmpipe compiles to 16-bit
// multiply-adds (vpmaddwd) where its lowering of dot4I8Packed sign-extends both sides and uses
// 32-bit multiplies: on lavapipe the unpacked form is faster (the op picks it there).
// When a group starts inside a 4-channel block (ALIGN = 0: C / groups not a multiple of 4) the
// group's blocks are funnel-shifted out of two neighbouring words; the extra bytes meet zero
// weights.
// Launch: one thread per (n, oh, PW-wide run of ow) tile, workgroups (x, y) over tiles (folded
// past 65535), z over (group, block of OCB output channels). Lanes past the last tile compute a
// clamped tile and skip the store (shuffles need every lane).
//
// dwconv (depthwise, groups = C = O): no channel reduction, so the 4 channels of a word are 4
// independent lanes of vec4<i32> multiply-adds; the geometry is compiled in (KH, KW, SH, SW, DH,
// DW) and each thread keeps an R x P output tile, as wgsl/depthwise.wgsl.
// Launch: 1-D over N * O4 * row bands * column bands.
#if ${SUBGROUPS}
enable subgroups;
#endif // SUBGROUPS
#if ${DOT4}
requires packed_4x8_integer_dot_product;
#endif // DOT4
#include "common"
#include "int8_pack"
#include "conv_tile"
#include "dw_tile"

struct Params {
  N: u32, C4: u32, H: u32, W: u32, O: u32, O4: u32, OH: u32, OW: u32, KH: u32, KW: u32,
  sh: u32, sw: u32, ph: i32, pw: i32, dh: u32, dw: u32,
  cg: u32, cg4: u32, og: u32, nob: u32, owt: u32, tiles: u32, tr: u32, tc: u32, count: u32,
  // x enters the dot as x ^ xor_x; fix * wsum[o] corrects the sum (include/int8_pack.wgsl)
  xor_x: u32, fix: i32,
  // epilogue
  has_bias: u32, relu: u32, per_channel: u32, shift0: i32, lo: i32, hi: i32, packed: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(7) var<storage, read> w4: array<vec4<u32>>;  // the same weights, as vec4 (WVEC)
@group(0) @binding(3) var<storage, read> wsum: array<i32>;
@group(0) @binding(4) var<storage, read> bias: array<i32>;
@group(0) @binding(5) var<storage, read> shift: array<i32>;
@group(0) @binding(6) var<storage, read_write> y: array<u32>;

// The epilogue constants of output channels o .. o+3: unsigned-input offset fix * sum(w), bias,
// shift. Without a bias or per-channel shifts the op binds some other buffer there and the flag
// keeps it unread; channels past the end are clamped (computed, never stored).
struct Epi { fix: vec4<i32>, bias: vec4<i32>, n: vec4<i32> }

fn epi_of(o: u32) -> Epi {
  var e: Epi;
  for (var l = 0u; l < 4u; l++) {
    e.fix[l] = p.fix * wsum[min(o + l, arrayLength(&wsum) - 1u)];
    e.bias[l] = select(0, bias[min(o + l, arrayLength(&bias) - 1u)], p.has_bias == 1u);
    e.n[l] = select(p.shift0, shift[min(o + l, arrayLength(&shift) - 1u)], p.per_channel == 1u);
  }
  return e;
}

fn epilogue(e: Epi, a: vec4<i32>) -> vec4<i32> {
  return i8_requant4(i8_add_sat4(a + e.fix, e.bias), p.relu == 1u, e.n, p.lo, p.hi);
}

// Kernel geometry, compiled in (sizes and padding are uniforms): conv uses KH, KW, SW, DW (its
// vertical stride and dilation are uniforms), dwconv all of them.
const KH = ${KH}u;
const KW = ${KW}u;
const SH = ${SH}u;
const SW = ${SW}u;
const DH = ${DH}u;
const DW = ${DW}u;
const R = ${R}u;
const P = ${P}u;
const ROWS = (R - 1u) * SH + (KH - 1u) * DH + 1u;  // input rows an R-row band reads
const SPAN = (P - 1u) * SW + (KW - 1u) * DW + 1u;  // input columns a P-column band reads
const CSPAN = (${PW}u - 1u) * SW + (KW - 1u) * DW + 1u;  // input columns a conv tile reads
// Weight words per (output channel, channel block): the taps, padded to a multiple of 4 for
// kernels of more than one tap (TPAD, the layout int8Weights writes) so that with subgroups
// (WVEC) a lane fetches them as TQ vec4 loads (a vec4 load costs about 2 scalar ones).
const TQ = (KH * KW + 3u) / 4u;
#if ${TPAD}
const TS = TQ * 4u;
#else // one tap: no padding
const TS = KH * KW;
#endif // TPAD

// The x word of group-local channel block k (plane offset xb of its first channel block) at
// (row offset, column iw), zero outside the image; xs = byte offset of the group in its block.
fn load_x(xb: i32, iw: i32, rowok: bool, xs: u32) -> I8Vec {
  let Wi = i32(p.W);
  let ok = rowok && iw >= 0 && iw < Wi;
  let i = u32(max(xb + clamp(iw, 0, Wi - 1), 0));
#if ${ALIGN}
  let v = select(0u, x[i], ok);
#else // funnel-shift the group's 4 channels out of two words
  let lo = x[i];
  let hi = x[min(i + p.H * p.W, arrayLength(&x) - 1u)];
  let v = select(0u, select((lo >> (8u * xs)) | (hi << (32u - 8u * xs)), lo, xs == 0u), ok);
#endif // ALIGN
  return i8_x(v, p.xor_x);
}

@compute @workgroup_size(${WG}) fn conv(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
#if ${SUBGROUPS}
  @builtin(subgroup_invocation_id) sid: u32,
#endif // SUBGROUPS
) {
  let tl = conv_tile(lid, wid, nwg);
  let n = tl.n;
  let oh = tl.oh;
  let g = tl.g;
  let ob = tl.ob;
  var acc: array<array<array<i32, ${PW}>, 8>, ${OCB} / 8>;
  let c0 = g * p.cg;      // first input channel of the group
  let xsh = c0 % 4u;
  // Weight rows: lane l of an 8-lane group loads output channel ob*OCB + h*8 + l (clamped into
  // the group; the extra channels are computed and never stored).
  var wrow: array<u32, ${OCB} / 8>;
  for (var h = 0u; h < ${OCB}u / 8u; h++) {
#if ${SUBGROUPS}
    let o = min(ob * ${OCB}u + h * 8u + (sid & 7u), p.og - 1u);
#else // each lane reads every weight; wrow is unused
    let o = min(ob * ${OCB}u + h * 8u, p.og - 1u);
#endif // SUBGROUPS
    wrow[h] = (g * p.og + o) * p.cg4 * TS;
  }
#if ${SUBGROUPS}
  let lane0 = sid & ~7u;
#endif // SUBGROUPS
  for (var k = 0u; k < p.cg4; k++) {
    let xc = i32((n * p.C4 + c0 / 4u + k) * p.H * p.W);
    var xs: array<array<I8Vec, CSPAN>, KH>;
    for (var kh = 0u; kh < KH; kh++) {
      let ih = tl.ih0 + i32(kh * p.dh);
      let rowok = ih >= 0 && ih < i32(p.H);
      for (var c = 0u; c < CSPAN; c++) { xs[kh][c] = load_x(xc + ih * i32(p.W), tl.iw0 + i32(c), rowok, xsh); }
    }
    let st = k * TS;
    for (var h = 0u; h < ${OCB}u / 8u; h++) {
      var wl: array<u32, KH * KW>;
#if ${WVEC}
      var wv: array<vec4<u32>, TQ>;
      for (var i = 0u; i < TQ; i++) { wv[i] = w4[(wrow[h] + st) / 4u + i]; }
      for (var t = 0u; t < KH * KW; t++) { wl[t] = wv[t / 4u][t % 4u]; }
#elif ${SUBGROUPS}
      for (var t = 0u; t < KH * KW; t++) { wl[t] = w[wrow[h] + st + t]; }
#else // each lane reads every weight below
      for (var t = 0u; t < KH * KW; t++) { wl[t] = st + t; }
#endif // SUBGROUPS
      for (var j = 0u; j < 8u; j++) {
        var wj: array<I8Vec, KH * KW>;
        for (var t = 0u; t < KH * KW; t++) {
#if ${SUBGROUPS}
          wj[t] = i8_w(subgroupShuffle(wl[t], lane0 + j));
#else // direct: channel h*8 + j, clamped into the group
          wj[t] = i8_w(w[(g * p.og + min(ob * ${OCB}u + h * 8u + j, p.og - 1u)) * p.cg4 * TS + wl[t]]);
#endif // SUBGROUPS
        }
        for (var q = 0u; q < ${PW}u; q++) {
          var d = 0;
          for (var kh = 0u; kh < KH; kh++) {
            for (var kw = 0u; kw < KW; kw++) { d += i8_dot(xs[kh][q * SW + kw * DW], wj[kh * KW + kw]); }
          }
          acc[h][j][q] += d;
        }
      }
    }
  }
  if (tl.tix >= p.tiles) { return; }
  let nch = min(${OCB}u, p.og - ob * ${OCB}u);
  for (var o = 0u; o < nch; o += 4u) {
    let h = o / 8u;
    let j0 = o % 8u;
    let oo = g * p.og + ob * ${OCB}u + o;
    let e = epi_of(oo);
    let valid = vec4<u32>(o) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(nch);
    for (var q = 0u; q < ${PW}u; q++) {
      let ow = tl.ow0 + q;
      let v = epilogue(e, vec4<i32>(acc[h][j0][q], acc[h][j0 + 1u][q], acc[h][j0 + 2u][q], acc[h][j0 + 3u][q]));
      if (ow < p.OW) {
        if (p.packed == 1u) {
          // Packed output needs og % 4 == 0 or one group (the op checks): a word is one thread's.
          y[((n * p.O4 + oo / 4u) * p.OH + oh) * p.OW + ow] = i8_pack(select(vec4<i32>(0), v, valid));
        } else {
          for (var l = 0u; l < 4u; l++) {
            if (valid[l]) { y[((n * p.O + oo + l) * p.OH + oh) * p.OW + ow] = bitcast<u32>(v[l]); }
          }
        }
      }
    }
  }
}

// Depthwise: y[n, c, oh, ow] = epilogue(sum over (kh, kw) of x[n, c, ih, iw] * w[c, kh, kw]).
// x codes enter exactly (signed: zero-extended s ^ 0x80 minus 128), so no weight sums are needed.
@compute @workgroup_size(64) fn dwconv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 64u);
  if (i >= p.count) { return; }
  let tl = dw_tile(i, p.O4);
  let cb = tl.plane;
  let n = tl.n;
  var acc: array<vec4<i32>, R * P>;
  var wr: array<vec4<i32>, KH * KW>;
  for (var t = 0u; t < KH * KW; t++) { wr[t] = i8_unpack(w[cb * KH * KW + t]); }
  // Exact codes: xor_x = I8_OFFSET for signed codes (then zero-extended bytes are s + 128).
  let xoff = vec4<i32>(select(0, -128, p.xor_x != 0u));
  let Wi = i32(p.W);
  let xp = i32((n * p.C4 + cb) * p.H * p.W);
  for (var a = 0u; a < ROWS; a++) {
    let ih = tl.ih0 + i32(a);
    let rowok = ih >= 0 && ih < i32(p.H);
    let xrow = xp + ih * Wi;
    var xv: array<vec4<i32>, SPAN>;
    for (var b = 0u; b < SPAN; b++) {
      let iw = tl.iw0 + i32(b);
      let ok = rowok && iw >= 0 && iw < Wi;
      xv[b] = select(vec4<i32>(0), u8_unpack(x[u32(max(xrow + clamp(iw, 0, Wi - 1), 0))] ^ p.xor_x) + xoff, ok);
    }
    // Input row a feeds output row r through tap row kh when r*SH + kh*DH == a (constants: the
    // loops unroll to the pairs that exist).
    for (var r = 0u; r < R; r++) {
      for (var kh = 0u; kh < KH; kh++) {
        if (r * SH + kh * DH == a) {
          for (var q = 0u; q < P; q++) {
            for (var kw = 0u; kw < KW; kw++) { acc[r * P + q] += xv[q * SW + kw * DW] * wr[kh * KW + kw]; }
          }
        }
      }
    }
  }
  let c0 = cb * 4u;
  let valid = vec4<u32>(c0) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.O);
  let e = epi_of(c0);
  for (var r = 0u; r < R; r++) {
    let oh = tl.oh0 + r;
    for (var q = 0u; q < P; q++) {
      let ow = tl.ow0 + q;
      let v = epilogue(e, acc[r * P + q]);
      if (oh < p.OH && ow < p.OW) {
        if (p.packed == 1u) {
          y[((n * p.O4 + cb) * p.OH + oh) * p.OW + ow] = i8_pack(select(vec4<i32>(0), v, valid));
        } else {
          for (var l = 0u; l < 4u; l++) {
            if (valid[l]) { y[((n * p.O + c0 + l) * p.OH + oh) * p.OW + ow] = bitcast<u32>(v[l]); }
          }
        }
      }
    }
  }
}
