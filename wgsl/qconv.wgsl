// The fused backward of the F8Net conv-BN layer in training (F8NET.md §3; op src/ops/qconv.ts,
// CPU reference src/ops/qconv.ref.ts). With u = conv(x_q, w_s) (so y0 = s·u), the batch
// statistics of y0, the fold k, b and w_q = fakeQuant(k·w_s) (STE mask m), the layer's two weight
// gradients, m·k·Wg(x_q, g_y) and s·Wg(x_q, g_y0), are one weight-gradient pass over
//   g_c = k·g_y + s·g_y0 = A[o]·g_y + B[o]·u + C[o]          (coefs; batchnorm.wgsl chan_apply)
// minus k·G at the clipped weights only, G = Wg(x_q, g_y) computed entry by entry there
// (clip_grad). dL/dk needs Σ m·G·w_s = Σ_pos g_y·u − Σ_clipped G·w_s (chan_dot gives Σ g_y and
// Σ g_y·u per channel).
// Layouts: x_q NCHW [N, C, H, W]; g_y, u, g_c NCHW [N, O, OH, OW]; weights OIHW [O, C/groups, KH, KW];
// per-channel vectors [O]; s one element.

#include "common"
#include "fixed_point"

struct Params {
  N: u32, C: u32, H: u32, W: u32, O: u32, OH: u32, OW: u32, KH: u32, KW: u32,
  sh: u32, sw: u32, ph: u32, pw: u32, dh: u32, dw: u32, cg: u32, og: u32,
  count: u32,   // threads that do work (weight entries, elements, channels)
  M: f32,       // values per channel of y0: N * OH * OW
  has_g: u32,   // combine coefficients: 1 when the y path's gradient is there (else A = 0)
  flmax: i32,   // clip_grad: the weight format's largest fl (wl - 1), its integer bound hi (as f32)
  hi: f32,
  fl_pc: u32,   // clip_grad: 1 with one weight length per output channel
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(5) var<storage, read> u: array<f32>;
@group(0) @binding(6) var<storage, read_write> sums: array<f32>;
@group(0) @binding(7) var<storage, read> coef: array<f32>;
@group(0) @binding(9) var<storage, read> kf: array<f32>;
@group(0) @binding(10) var<storage, read> gmean: array<f32>;
@group(0) @binding(11) var<storage, read> gvar: array<f32>;
@group(0) @binding(12) var<storage, read> mu_u: array<f32>;
@group(0) @binding(13) var<storage, read> var_u: array<f32>;
@group(0) @binding(14) var<storage, read> sc: array<f32>;
@group(0) @binding(15) var<storage, read_write> out_a: array<f32>;
@group(0) @binding(16) var<storage, read_write> out_b: array<f32>;
@group(0) @binding(17) var<storage, read> wf: array<f32>;
@group(0) @binding(18) var<storage, read> flw: array<i32>;
@group(0) @binding(19) var<storage, read> ws: array<f32>;

// The y path's share of the weight gradient at the clipped weights, with the STE mask of
// w_q = fakeQuant(w_f, fl_w) computed here from w_f (signed: the mask passes where |r| < hi,
// r = roundHalfEven(w_f·2^fl), as fake_quant.wgsl): at a clipped entry e of channel o,
// G = Σ_{n,oh,ow} x_q[n, g·cg + c, oh·sh − ph + i·dh, ow·sw − pw + j·dw]·g_y[n, o, oh, ow], out_a[e] = −k[o]·G (dL/dw_s from the y node: the combined pass
// carries k·G everywhere) and out_b[e] = G·w_s[e] (for dL/dk); both 0 elsewhere. One thread per
// weight entry e = ((o·cg + c)·KH + i)·KW + j. Clipped weights are rare (the fl formula puts the
// clip beyond about 3 sigma), so almost every thread returns at once; a clipped one costs
// N·OH·OW multiply-adds, in a fixed order.
@compute @workgroup_size(64) fn clip_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = linear_index(gid, nwg, 64u);
  if (e >= p.count) { return; }
  let per = p.cg * p.KH * p.KW;
  let o = e / per;
  let f = clamp(flw[select(0u, o, p.fl_pc == 1u)], 0, p.flmax);
  let passes = fx_quant4(vec4<f32>(wf[e]), fx_pow2(f), -p.hi, p.hi).mask.x;
  if (passes) {
    out_a[e] = 0.0;
    out_b[e] = 0.0;
    return;
  }
  let j = e % p.KW;
  let i = (e / p.KW) % p.KH;
  let c = (e / (p.KW * p.KH)) % p.cg;
  let cin = (o / p.og) * p.cg + c;
  var acc = 0.0;
  for (var n = 0u; n < p.N; n++) {
    let xb = (n * p.C + cin) * p.H;
    let gb = (n * p.O + o) * p.OH;
    for (var oh = 0u; oh < p.OH; oh++) {
      let ih = i32(oh * p.sh + i * p.dh) - i32(p.ph);
      if (ih < 0 || ih >= i32(p.H)) { continue; }
      for (var ow = 0u; ow < p.OW; ow++) {
        let iw = i32(ow * p.sw + j * p.dw) - i32(p.pw);
        if (iw < 0 || iw >= i32(p.W)) { continue; }
        acc += x[(xb + u32(ih)) * p.W + u32(iw)] * gy[(gb + oh) * p.OW + ow];
      }
    }
  }
  out_a[e] = -kf[o] * acc;
  out_b[e] = acc * ws[e];
}

// Per output channel from chan_dot's sums and clip_grad's G·w_s (coef here): out_a[o] = dL/dk =
// Σ g_y·u − Σ_clipped G·w_s, out_b[o] = dL/db = Σ g_y. Fixed order.
@compute @workgroup_size(64) fn clip_reduce(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x;
  if (o >= p.O) { return; }
  let per = p.cg * p.KH * p.KW;
  var corr = 0.0;
  for (var t = 0u; t < per; t++) { corr += coef[o * per + t]; }
  out_a[o] = sums[p.O + o] - corr;
  out_b[o] = sums[o];
}

// Per output channel o: sums[o] = Σ g_y, sums[O + o] = Σ g_y·u over n, oh, ow. One workgroup per
// channel, a fixed tree, so the result is deterministic.
var<workgroup> red_g: array<f32, 64>;
var<workgroup> red_gu: array<f32, 64>;
@compute @workgroup_size(64) fn chan_dot(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let o = wid.x;
  let hw = p.OH * p.OW;
  var a = 0.0;
  var b = 0.0;
  for (var n = 0u; n < p.N; n++) {
    let base = (n * p.O + o) * hw;
    for (var t = l; t < hw; t += 64u) {
      let g = gy[base + t];
      a += g;
      b += g * u[base + t];
    }
  }
  red_g[l] = a;
  red_gu[l] = b;
  workgroupBarrier();
  for (var k = 32u; k > 0u; k >>= 1u) {
    if (l < k) {
      red_g[l] += red_g[l + k];
      red_gu[l] += red_gu[l + k];
    }
    workgroupBarrier();
  }
  if (l == 0u) {
    sums[o] = red_g[0];
    sums[p.O + o] = red_gu[0];
  }
}

// The combine coefficients from dL/dmean, dL/dvar of y0 = s·u (batch mean, biased variance over M):
// g_y0 = gmean/M + 2·gvar·(y0 − mean)/M, so s·g_y0 = B·u + C with B = 2s²·gvar/M and
// C = s·(gmean − 2·gvar·s·mu_u)/M; A = k (the y path, when present). Writes out_a [O] vec4
// (A, B, 0, C): the coefficients (k1, k2, m, k3) of batchnorm.wgsl's chan_apply, which forms
// g_c = A·g_y + B·(u − 0) + C with its division-free plane walk.
@compute @workgroup_size(64) fn coefs(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x;
  if (o >= p.O) { return; }
  let s0 = sc[0];
  out_a[4u * o] = select(0.0, kf[o], p.has_g == 1u);
  out_a[4u * o + 1u] = 2.0 * s0 * s0 * gvar[o] / p.M;
  out_a[4u * o + 2u] = 0.0;
  out_a[4u * o + 3u] = s0 * (gmean[o] - 2.0 * gvar[o] * s0 * mu_u[o]) / p.M;
}

// Statistics of y0 = s·u from those of u: mean = s·mu_u (out_a), biased variance = s²·var_u (out_b).
@compute @workgroup_size(64) fn scale_stats(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x;
  if (o >= p.O) { return; }
  let s0 = sc[0];
  out_a[o] = s0 * mu_u[o];
  out_b[o] = s0 * s0 * var_u[o];
}

// dL/ds through y0 = s·u: Σ g_y0·u = Σ_o gmean[o]·mu_u[o] + 2·gvar[o]·s·var_u[o]; one thread, fixed order.
@compute @workgroup_size(1) fn scale_grad() {
  var acc = 0.0;
  let s0 = sc[0];
  for (var o = 0u; o < p.O; o++) {
    acc += gmean[o] * mu_u[o] + 2.0 * gvar[o] * s0 * var_u[o];
  }
  out_a[0] = acc;
}
