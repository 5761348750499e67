// Depthwise conv2d (groups == C, O = C * M), NCHW f32: forward, backward w.r.t. input (the same
// kernel with flipped taps, summing the M gradients of each input channel; for stride > 1 one
// launch per phase with a sub-kernel, as in wgsl/conv2d.wgsl), backward w.r.t. weight.
// Layouts: x [N, C, H, W], w [O, 1, KHs, KWs], y [N, O, OH, OW].
//
// The kernel geometry (KH, KW, strides SH, SW, dilations DH, DW) is compiled in: each thread
// keeps an R x P output tile in registers and reads each input row of the tile's window once into
// a register array whose indices must be constants on lavapipe (a runtime index would send the
// array to scratch memory, read lane by lane; so would a whole-window array, measured 4x slower).
// Sizes and padding are uniforms.
// Launch of dw_fwd: one thread per (plane n*O + o, R-row band, P-column band), 1-D folded.
#include "common"
#include "dw_tile"

struct DwParams {
  N: u32, C: u32, H: u32, W: u32, O: u32, OH: u32, OW: u32, ph: i32, pw: i32,
  div: u32, mi: u32, w_by_in: u32, tr: u32, tc: u32, count: u32,
  M: u32, rows_per_split: u32, splits: u32, has_bias: u32,
  // weight tap (kh, kw) = source tap (bh + sgh*kh, bw + sgw*kw) of the KHs x KWs kernel
  KHs: u32, KWs: u32, bh: i32, sgh: i32, bw: i32, sgw: i32,
  // output placement: y[n, o, yoh0 + oh*ysh, yow0 + ow*ysw] in a [N, O, YH, YW] tensor
  ysh: u32, ysw: u32, yoh0: u32, yow0: u32, YH: u32, YW: u32,
}
@group(0) @binding(0) var<uniform> p: DwParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> gy: array<f32>;
@group(0) @binding(6) var<storage, read_write> part: array<f32>;

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

// Input row ih of plane xp (offset of its first element) at the SPAN columns iw0 .., zero
// outside the image. Called with constant loop indices, so the array stays in registers.
fn load_row(xp: i32, ih: i32, iw0: i32) -> array<f32, SPAN> {
  let Wi = i32(p.W);
  let rowok = ih >= 0 && ih < i32(p.H);
  let xrow = xp + ih * Wi;
  var xs: array<f32, SPAN>;
  for (var b = 0u; b < SPAN; b++) {
    let iw = iw0 + i32(b);
    let ok = rowok && iw >= 0 && iw < Wi;
    xs[b] = select(0.0, x[u32(max(xrow + clamp(iw, 0, Wi - 1), 0))], ok);
  }
  return xs;
}

// y[n, co, oh, ow] = bias[co] + sum over j < mi, (kh, kw) of
//   x[n, ci, oh*SH - ph + kh*DH, ow*SW - pw + kw*DW] * w[wc, bh + sgh*kh, bw + sgw*kw] with
//   ci = (co / div) * mi + j, wc = w_by_in ? ci : co.
// Forward: div = M, mi = 1, w_by_in = 0, taps as they are. Backward w.r.t. input (x = gy,
// stride 1, per phase): div = 1, mi = M, w_by_in = 1, taps reversed (sgh, sgw < 0).
@compute @workgroup_size(64) fn dw_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 64u);
  if (i >= p.count) { return; }
  let tl = dw_tile(i, p.O);
  let co = tl.plane;
  let n = tl.n;
  let ow0 = tl.ow0;
  var acc: array<f32, R * P>;
  for (var j = 0u; j < p.mi; j++) {
    let ci = (co / p.div) * p.mi + j;
    let wc = select(co, ci, p.w_by_in == 1u);
    var wr: array<f32, KH * KW>;
    for (var t = 0u; t < KH * KW; t++) {
      wr[t] = w[(wc * p.KHs + u32(p.bh + p.sgh * i32(t / KW))) * p.KWs + u32(p.bw + p.sgw * i32(t % KW))];
    }
    let xp = i32((n * p.C + ci) * p.H * p.W);
    for (var a = 0u; a < ROWS; a++) {
      let xs = load_row(xp, tl.ih0 + i32(a), tl.iw0);
      // Input row a feeds output row r through tap row kh when r*SH + kh*DH == a; all of
      // these are constants, so the loops unroll to exactly the pairs that exist.
      for (var r = 0u; r < R; r++) {
        for (var kh = 0u; kh < KH; kh++) {
          if (r * SH + kh * DH == a) {
            for (var q = 0u; q < P; q++) {
              for (var kw = 0u; kw < KW; kw++) { acc[r * P + q] += xs[q * SW + kw * DW] * wr[kh * KW + kw]; }
            }
          }
        }
      }
    }
  }
  // Without a bias the op binds some other buffer here and has_bias = 0.
  let b = select(0.0, bias[min(co, arrayLength(&bias) - 1u)], p.has_bias == 1u);
  for (var r = 0u; r < R; r++) {
    let oh = tl.oh0 + r;
    if (oh >= p.OH) { break; }
    let base = ((n * p.O + co) * p.YH + p.yoh0 + oh * p.ysh) * p.YW + p.yow0;
    for (var q = 0u; q < P; q++) {
      if (ow0 + q < p.OW) { y[base + (ow0 + q) * p.ysw] = acc[r * P + q] + b; }
    }
  }
}

// Backward w.r.t. the weight, first pass: part[(s * O + o) * KH*KW + tap] = sum over the rows
// (n, oh) of slice s and all ow of gy[n, o, oh, ow] * x[n, o / M, oh*SH - ph + kh*DH, ow*SW - pw + kw*DW].
// A thread owns one (o, s) and all KH*KW taps; it walks each row in P-wide bands, reading the
// x window of a band once per kh. Launch: 1-D over count = O * splits.
@compute @workgroup_size(64) fn dw_bww(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 64u);
  if (i >= p.count) { return; }
  let o = i % p.O;
  let s = i / p.O;
  let c = o / p.M;
  var acc: array<f32, KH * KW>;
  let rows = p.N * p.OH;
  let r0 = s * p.rows_per_split;
  let r1 = min(r0 + p.rows_per_split, rows);
  for (var r = r0; r < r1; r++) {
    let n = r / p.OH;
    let oh = r % p.OH;
    let gyrow = ((n * p.O + o) * p.OH + oh) * p.OW;
    let xp = i32((n * p.C + c) * p.H * p.W);
    for (var ow0 = 0u; ow0 < p.OW; ow0 += P) {
      var g: array<f32, P>;
      for (var q = 0u; q < P; q++) { g[q] = select(0.0, gy[gyrow + min(ow0 + q, p.OW - 1u)], ow0 + q < p.OW); }
      let iw0 = i32(ow0 * SW) - p.pw;
      for (var kh = 0u; kh < KH; kh++) {
        let xs = load_row(xp, i32(oh * SH) - p.ph + i32(kh * DH), iw0);
        for (var kw = 0u; kw < KW; kw++) {
          var a = 0.0;
          for (var q = 0u; q < P; q++) { a += g[q] * xs[q * SW + kw * DW]; }
          acc[kh * KW + kw] += a;
        }
      }
    }
  }
  for (var t = 0u; t < KH * KW; t++) { part[(s * p.O + o) * KH * KW + t] = acc[t]; }
}
