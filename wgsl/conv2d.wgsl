// conv2d, NCHW f32: forward, backward w.r.t. input, backward w.r.t. weight, bias gradient.
// Depthwise convs have their own kernels in wgsl/depthwise.wgsl.
//
// Backward w.r.t. input reuses fwd: the gradient is a stride-1 conv of gy with the transposed,
// flipped weights. For stride s > 1 it is split into s_h * s_w phases (the input rows
// ih = a (mod s_h) only see the taps kh with a + ph - kh*dh = 0 (mod s_h)); each phase is a
// stride-1 conv with a sub-kernel, written to every s-th element of gx (ysh, ysw, yoh0, yow0).
//
// Layouts: x [N, C, H, W], w [O, CG, KH, KW] (CG = C / groups), y [N, O, OH, OW], all row-major.
// Weights are repacked per call (pack_w) into blocks of OCB output channels:
//   wp[((((g*NOB + ob)*CG + c)*KH + kh)*KW + kw)*OCB + j] = w[g*OG + ob*OCB + j, c, kh, kw]
// (zero where ob*OCB + j >= OG), so that one (c, kh, kw) step reads OCB contiguous weights.
//
// Why this shape (measured on lavapipe, see bench/conv2d.bench.ts): llvmpipe executes every
// storage-buffer load lane by lane, even at a uniform address (~5 FMAs each; a vec4 load costs
// ~7 scalar loads), while subgroup shuffles and FMAs are cheap. So each thread keeps an OCB x PW
// tile of outputs in registers (up to 128 accumulators; more and the loops stop unrolling), x is
// read once per row segment and slid along kw (SHIFT), and with SUBGROUPS the 8 lanes of a
// subgroup each load one of 8 weights and share them with subgroupShuffle instead of each lane
// loading all of them. No barriers, no workgroup memory.
// The 8-lane groups assume subgroup_invocation_id = local_invocation_id.x mod the subgroup size
// (true of every implementation we know) and a subgroup size that is a multiple of 8.
//
// Launch of fwd: one thread per (n, oh, PW-wide run of ow) "tile"; workgroup index (x, y) over
// tiles (folded past 65535), z over (group, output-channel block).
// Control flow that reaches a shuffle depends only on uniforms, so all lanes take part; lanes
// past the last tile compute a clamped tile and skip the store.
#if ${SUBGROUPS}
enable subgroups;
#endif // SUBGROUPS
#include "common"
#include "conv_tile"

struct Params {
  N: u32, C: u32, H: u32, W: u32, O: u32, OH: u32, OW: u32, KH: u32, KW: u32,
  sh: u32, sw: u32, ph: i32, pw: i32, dh: u32, dw: u32,
  cg: u32, og: u32, nob: u32, owt: u32, tiles: u32,
  transpose: u32, count: u32, splits: u32, rows_per_split: u32, ocb_n: u32, cb_n: u32, has_bias: u32,
  // output placement: y[n, o, yoh0 + oh*ysh, yow0 + ow*ysw] in a [N, O, YH, YW] tensor
  ysh: u32, ysw: u32, yoh0: u32, yow0: u32, YH: u32, YW: u32,
  // weight taps for pack_w: source tap (bh + sgh*kh, bw + sgw*kw) of a KHs x KWs kernel
  KHs: u32, KWs: u32, bh: i32, sgh: i32, bw: i32, sgw: i32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wp: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> w: array<f32>;
@group(0) @binding(6) var<storage, read_write> wout: array<f32>;
@group(0) @binding(7) var<storage, read> gy: array<f32>;
@group(0) @binding(8) var<storage, read_write> part: array<f32>;

// Packs w into wp (layout above) for a conv with p.cg input and p.og output channels per group
// and a KH x KW kernel whose tap (kh, kw) is the source tap (bh + sgh*kh, bw + sgw*kw) of the
// KHs x KWs source kernel. transpose = 1 packs the transposed conv (backward w.r.t. input): the
// source is then w[g*cg + c', o', ...] with this conv's (cg, og) = the forward conv's (og, cg).
// Launch: 1-D over count = groups * nob * cg * KH * KW * OCB elements.
@compute @workgroup_size(256) fn pack_w(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  if (i >= p.count) { return; }
  let taps = p.KH * p.KW;
  let j = i % ${OCB}u;
  let tap = (i / ${OCB}u) % taps;
  let c = (i / (${OCB}u * taps)) % p.cg;
  let gb = i / (${OCB}u * taps * p.cg);
  let ob = gb % p.nob;
  let g = gb / p.nob;
  let o = ob * ${OCB}u + j;
  let stap = u32(p.bh + p.sgh * i32(tap / p.KW)) * p.KWs + u32(p.bw + p.sgw * i32(tap % p.KW));
  var v = 0.0;
  if (o < p.og) {
    if (p.transpose == 0u) {
      v = w[((g * p.og + o) * p.cg + c) * p.KHs * p.KWs + stap];
    } else {
      v = w[((g * p.cg + c) * p.og + o) * p.KHs * p.KWs + stap];
    }
  }
  wout[i] = v;
}

// x at (row start xrow, column iw), zero outside the row or the image.
fn load_x(xrow: i32, iw: i32, rowok: bool) -> f32 {
  let Wi = i32(p.W);
  let ok = rowok && iw >= 0 && iw < Wi;
  return select(0.0, x[u32(max(xrow + clamp(iw, 0, Wi - 1), 0))], ok);
}

// y[n, o, oh, ow0 .. ow0+PW) for OCB output channels o, = bias + sum over (c, kh, kw).
@compute @workgroup_size(${WG}) fn fwd(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
#if ${SUBGROUPS}
  @builtin(subgroup_invocation_id) sid: u32,
#endif // SUBGROUPS
) {
  let tl = conv_tile(lid, wid, nwg);
  let n = tl.n;
  let g = tl.g;
  let ob = tl.ob;
  let ow0 = tl.ow0;
  var acc: array<f32, ${ACC}>;
  var xr: array<f32, ${PW}>;
  let iw0 = tl.iw0;
  let sw = i32(p.sw);
  let dw = i32(p.dw);
#if ${SUBGROUPS}
  let lane0 = sid & ~7u;
  var wb = ((g * p.nob + ob) * p.cg) * p.KH * p.KW * ${OCB}u + (sid & 7u);
#else // each lane reads every weight
  var wb = ((g * p.nob + ob) * p.cg) * p.KH * p.KW * ${OCB}u;
#endif // SUBGROUPS
  for (var c = 0u; c < p.cg; c++) {
    let xc = i32((n * p.C + g * p.cg + c) * p.H * p.W);
    for (var kh = 0u; kh < p.KH; kh++) {
      let ih = tl.ih0 + i32(kh * p.dh);
      let rowok = ih >= 0 && ih < i32(p.H);
      let xrow = xc + ih * i32(p.W);
#if ${SHIFT}
      // unit stride and dilation: slide a PW-wide window along kw, one new load per step.
      for (var q = 1u; q < ${PW}u; q++) { xr[q] = load_x(xrow, iw0 + i32(q) - 1, rowok); }
#endif // SHIFT
      for (var kw = 0u; kw < p.KW; kw++) {
#if ${SHIFT}
        for (var q = 0u; q + 1u < ${PW}u; q++) { xr[q] = xr[q + 1u]; }
        xr[${PW}u - 1u] = load_x(xrow, iw0 + ${PW} - 1 + i32(kw), rowok);
#else // any stride and dilation
        for (var q = 0u; q < ${PW}u; q++) { xr[q] = load_x(xrow, iw0 + i32(q) * sw + i32(kw) * dw, rowok); }
#endif // SHIFT
        for (var h = 0u; h < ${OCB}u / 8u; h++) {
#if ${SUBGROUPS}
          let wl = wp[wb + h * 8u];
#endif // SUBGROUPS
          for (var j = 0u; j < 8u; j++) {
#if ${SUBGROUPS}
            let wj = subgroupShuffle(wl, lane0 + j);
#else // direct
            let wj = wp[wb + h * 8u + j];
#endif // SUBGROUPS
            for (var q = 0u; q < ${PW}u; q++) { acc[(h * 8u + j) * ${PW}u + q] += xr[q] * wj; }
          }
        }
        wb += ${OCB}u;
      }
    }
  }
  if (tl.tix >= p.tiles) { return; }
  for (var j = 0u; j < ${OCB}u; j++) {
    let o = ob * ${OCB}u + j;
    if (o >= p.og) { break; }
    let oo = g * p.og + o;
    // Without a bias the op binds some other buffer here and has_bias = 0.
    let b = select(0.0, bias[min(oo, arrayLength(&bias) - 1u)], p.has_bias == 1u);
    let base = ((n * p.O + oo) * p.YH + p.yoh0 + tl.oh * p.ysh) * p.YW + p.yow0;
    for (var q = 0u; q < ${PW}u; q++) {
      if (ow0 + q < p.OW) { y[base + (ow0 + q) * p.ysw] = acc[j * ${PW}u + q] + b; }
    }
  }
}

// The thread of a weight-gradient kernel (bww, bww_win): its 8-lane group gi runs over
// groups * ocb_n * cb_n * inner (inner = the taps for bww, KH for bww_win; k = the index in
// it), clamped past the end (valid = false: compute, store nothing), and owns output channels
// o0 .. o0+OCL and input channels c0 .. c0+CB of group g.
struct BwwThread { valid: bool, k: u32, g: u32, o0: u32, c0: u32 }

fn bww_thread(lid: vec3<u32>, wid: vec3<u32>, nwg: vec3<u32>, inner: u32) -> BwwThread {
  let lane = lid.x & 7u;
  let gidx = (wid.x + wid.y * nwg.x) * (${WG}u / 8u) + lid.x / 8u;
  let ngroups = p.O / p.og;
  let total = ngroups * p.ocb_n * p.cb_n * inner;
  var th: BwwThread;
  th.valid = gidx < total;
  let gi = min(gidx, total - 1u);
  th.k = gi % inner;
  let cbk = (gi / inner) % p.cb_n;
  let obk = (gi / (inner * p.cb_n)) % p.ocb_n;
  th.g = gi / (inner * p.cb_n * p.ocb_n);
  th.o0 = (obk * 8u + lane) * ${OCL}u;
  th.c0 = cbk * ${CB}u;
  return th;
}

// Row r = (n, oh) of a weight-gradient kernel at tap row kh: the gy row offsets of output
// channels o0 .. o0+OCL (clamped into group g), the offset xb of x row ih (clamped into the
// image) of the group's first channel, and whether ih lies inside the image.
struct BwwRow { gyb: array<u32, ${OCL}>, xb: u32, rowok: bool }

fn bww_row(r: u32, kh: u32, g: u32, o0: u32) -> BwwRow {
  let n = r / p.OH;
  let oh = r % p.OH;
  let ih = i32(oh * p.sh) - p.ph + i32(kh * p.dh);
  let ihc = u32(clamp(ih, 0, i32(p.H) - 1));
  var row: BwwRow;
  row.rowok = ih >= 0 && ih < i32(p.H);
  for (var i = 0u; i < ${OCL}u; i++) {
    row.gyb[i] = ((n * p.O + g * p.og + min(o0 + i, p.og - 1u)) * p.OH + oh) * p.OW;
  }
  row.xb = ((n * p.C + g * p.cg) * p.H + ihc) * p.W;
  return row;
}

// Backward w.r.t. the weight: gw[o, c, kh, kw] = sum over (n, oh, ow) of
//   gy[n, o, oh, ow] * x[n, g*CG + c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw].
// A thread owns OCL output channels x CB input channels at one tap (kh, kw); the 8 lanes of a
// group hold 8 consecutive blocks of OCL output channels and share the CB x values of each step
// (lane j loads channel j, SUBGROUPS shuffles them). The (n, oh) rows are split into p.splits
// slices (one per workgroup z) so small weights still fill the machine; slice s writes
// part[s * count + index] and reduce_splits adds the slices (splits = 1 writes gw directly).
// Launch: x over lane groups of 8 (WG/8 per workgroup) = groups * ocb_n * cb_n * KH * KW, z = splits.
@compute @workgroup_size(${WG}) fn bww(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
#if ${SUBGROUPS}
  @builtin(subgroup_invocation_id) sid: u32,
#endif // SUBGROUPS
) {
  let taps = p.KH * p.KW;
  let th = bww_thread(lid, wid, nwg, taps);
  let tap = th.k;
  let kh = tap / p.KW;
  let kw = tap % p.KW;
  let g = th.g;
  let o0 = th.o0;
  let c0 = th.c0;
  var acc: array<f32, ${ACC}>;
  let rows = p.N * p.OH;
  let r0 = wid.z * p.rows_per_split;
  let r1 = min(r0 + p.rows_per_split, rows);
  let Wi = i32(p.W);
  let plane_y = p.OH * p.OW;
  let plane_x = p.H * p.W;
#if ${SUBGROUPS}
  let lane0 = sid & ~7u;
#endif // SUBGROUPS
  for (var r = r0; r < r1; r++) {
    let row = bww_row(r, kh, g, o0);
    let rowok = row.rowok;
    let xb = row.xb;
    for (var ow = 0u; ow < p.OW; ow++) {
      let iw = i32(ow * p.sw) - p.pw + i32(kw * p.dw);
      let ok = rowok && iw >= 0 && iw < Wi;
      let iwc = u32(clamp(iw, 0, Wi - 1));
      var gv: array<f32, ${OCL}>;
      for (var i = 0u; i < ${OCL}u; i++) { gv[i] = gy[row.gyb[i] + ow]; }
      for (var h = 0u; h < ${CB}u / 8u; h++) {
#if ${SUBGROUPS}
        let cl = min(c0 + h * 8u + (sid & 7u), p.cg - 1u);
        let xl = select(0.0, x[xb + cl * plane_x + iwc], ok);
#endif // SUBGROUPS
        for (var j = 0u; j < 8u; j++) {
#if ${SUBGROUPS}
          let xv = subgroupShuffle(xl, lane0 + j);
#else // direct
          let xv = select(0.0, x[xb + min(c0 + h * 8u + j, p.cg - 1u) * plane_x + iwc], ok);
#endif // SUBGROUPS
          for (var i = 0u; i < ${OCL}u; i++) { acc[i * ${CB}u + h * 8u + j] += gv[i] * xv; }
        }
      }
    }
  }
  if (!th.valid) { return; }
  let count = p.O * p.cg * taps;
  let out0 = wid.z * count;
  for (var i = 0u; i < ${OCL}u; i++) {
    let o = o0 + i;
    if (o >= p.og) { break; }
    for (var j = 0u; j < ${CB}u; j++) {
      let c = c0 + j;
      if (c >= p.cg) { break; }
      part[out0 + ((g * p.og + o) * p.cg + c) * taps + tap] = acc[i * ${CB}u + j];
    }
  }
}

// bww for unit stride and dilation along w with KW == KWIN (compiled in): a thread owns OCL x CB
// channels at one kh and all KWIN taps kw, sliding a KWIN-wide x window along ow, so each x is
// loaded (and shuffled) once per step instead of once per tap. Launch as bww but x over
// groups * ocb_n * cb_n * KH lane groups.
@compute @workgroup_size(${WG}) fn bww_win(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
#if ${SUBGROUPS}
  @builtin(subgroup_invocation_id) sid: u32,
#endif // SUBGROUPS
) {
  let th = bww_thread(lid, wid, nwg, p.KH);
  let kh = th.k;
  let g = th.g;
  let o0 = th.o0;
  let c0 = th.c0;
  var acc: array<f32, ${ACC}>;
  var xw: array<f32, ${XWIN}>;
  let rows = p.N * p.OH;
  let r0 = wid.z * p.rows_per_split;
  let r1 = min(r0 + p.rows_per_split, rows);
  let Wi = i32(p.W);
  let plane_x = p.H * p.W;
#if ${SUBGROUPS}
  let lane0 = sid & ~7u;
  let myc = sid & 7u;
#endif // SUBGROUPS
  for (var r = r0; r < r1; r++) {
    let row = bww_row(r, kh, g, o0);
    let rowok = row.rowok;
    let xb = row.xb;
    // window slot k holds x at iw = ow - pw + k; fill slots 1..KWIN-1 for ow = -1.
    for (var k = 1u; k < ${KWIN}u; k++) {
      let iw = i32(k) - 1 - p.pw;
      let ok = rowok && iw >= 0 && iw < Wi;
      let iwc = u32(clamp(iw, 0, Wi - 1));
      for (var h = 0u; h < ${CB}u / 8u; h++) {
#if ${SUBGROUPS}
        let xl = select(0.0, x[xb + min(c0 + h * 8u + myc, p.cg - 1u) * plane_x + iwc], ok);
#endif // SUBGROUPS
        for (var j = 0u; j < 8u; j++) {
#if ${SUBGROUPS}
          xw[(h * 8u + j) * ${KWIN}u + k] = subgroupShuffle(xl, lane0 + j);
#else // direct
          xw[(h * 8u + j) * ${KWIN}u + k] = select(0.0, x[xb + min(c0 + h * 8u + j, p.cg - 1u) * plane_x + iwc], ok);
#endif // SUBGROUPS
        }
      }
    }
    for (var ow = 0u; ow < p.OW; ow++) {
      let iw = i32(ow) - p.pw + ${KWIN} - 1;
      let ok = rowok && iw >= 0 && iw < Wi;
      let iwc = u32(clamp(iw, 0, Wi - 1));
      var gv: array<f32, ${OCL}>;
      for (var i = 0u; i < ${OCL}u; i++) { gv[i] = gy[row.gyb[i] + ow]; }
      for (var h = 0u; h < ${CB}u / 8u; h++) {
#if ${SUBGROUPS}
        let xl = select(0.0, x[xb + min(c0 + h * 8u + myc, p.cg - 1u) * plane_x + iwc], ok);
#endif // SUBGROUPS
        for (var j = 0u; j < 8u; j++) {
          let cc = h * 8u + j;
          for (var k = 0u; k + 1u < ${KWIN}u; k++) { xw[cc * ${KWIN}u + k] = xw[cc * ${KWIN}u + k + 1u]; }
#if ${SUBGROUPS}
          xw[cc * ${KWIN}u + ${KWIN}u - 1u] = subgroupShuffle(xl, lane0 + j);
#else // direct
          xw[cc * ${KWIN}u + ${KWIN}u - 1u] = select(0.0, x[xb + min(c0 + cc, p.cg - 1u) * plane_x + iwc], ok);
#endif // SUBGROUPS
          for (var i = 0u; i < ${OCL}u; i++) {
            for (var k = 0u; k < ${KWIN}u; k++) { acc[(i * ${CB}u + cc) * ${KWIN}u + k] += gv[i] * xw[cc * ${KWIN}u + k]; }
          }
        }
      }
    }
  }
  if (!th.valid) { return; }
  let taps = p.KH * p.KW;
  let count = p.O * p.cg * taps;
  let out0 = wid.z * count;
  for (var i = 0u; i < ${OCL}u; i++) {
    let o = o0 + i;
    if (o >= p.og) { break; }
    for (var j = 0u; j < ${CB}u; j++) {
      let c = c0 + j;
      if (c >= p.cg) { break; }
      for (var k = 0u; k < ${KWIN}u; k++) {
        part[out0 + ((g * p.og + o) * p.cg + c) * taps + kh * p.KW + k] = acc[(i * ${CB}u + j) * ${KWIN}u + k];
      }
    }
  }
}

// y[i] = sum over s < splits of x[s * count + i]. Launch: 1-D over count.
@compute @workgroup_size(256) fn reduce_splits(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 256u);
  if (i >= p.count) { return; }
  var s = 0.0;
  for (var k = 0u; k < p.splits; k++) { s += x[k * p.count + i]; }
  y[i] = s;
}

// Bias gradient, first pass: part[s * O + o] = sum of gy[n, o, :, :] over the rows
// (n, oh) of slice s. Launch: 1-D over O * splits threads.
@compute @workgroup_size(64) fn bias_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 64u);
  if (i >= p.O * p.splits) { return; }
  let o = i % p.O;
  let s = i / p.O;
  let rows = p.N * p.OH;
  let r0 = s * p.rows_per_split;
  let r1 = min(r0 + p.rows_per_split, rows);
  var a0 = 0.0;
  var a1 = 0.0;
  for (var r = r0; r < r1; r++) {
    let base = ((r / p.OH * p.O + o) * p.OH + r % p.OH) * p.OW;
    var ow = 0u;
    for (; ow + 1u < p.OW; ow += 2u) {
      a0 += gy[base + ow];
      a1 += gy[base + ow + 1u];
    }
    if (ow < p.OW) { a0 += gy[base + ow]; }
  }
  part[i] = a0 + a1;
}
