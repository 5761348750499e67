// conv2d forward, NCHW f32, as the classic shared-memory tiled implicit GEMM that GPUs with real
// on-chip memory prefer (the tuner's SMEM variant of conv2d.fwd; conv2d.wgsl is the default):
//   per group g:  Y[o, col] = sum_k W[o, k] * X[k, col] (+ bias[o])
//   o < og, k = (c, kh, kw) < cg * KH * KW (the weight's own row-major layout, no repacking),
//   col = (n, oh, ow) < N * OH * OW, X[k, col] = x[n, g*cg + c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw]
//   (0 outside the image: the padding), gathered while staging, never materialised (no im2col).
// A workgroup of 16 x 16 threads owns a 64 (o) x 64 (col) block; per step of 16 along k it stages
// the 64 x 16 weight block and the 16 x 64 gathered input block in workgroup memory, and each
// thread accumulates a 4 x 4 register tile (o = ty + 16 i, col = tx + 16 j).
// Launch: workgroups (ceil(N*OH*OW / 64), ceil(og / 64), groups).
//
// wgrad_smem, the weight gradient (the tuner's wgradSMEM variant of conv2d.wgrad) as the same
// tiled GEMM with the reduction over col:  dW[g*og + o, k] = sum_col GY[o, col] * X[k, col],
// GY[o, col] = gy[n, g*og + o, oh, ow]; 64 (o) x 64 (k) blocks, 16 cols per step, no split of the
// reduction. Launch: workgroups (ceil(cg*KH*KW / 64), ceil(og / 64), groups).
// TRANSPOSE: the backward pass w.r.t. the input of a stride-1 conv, as this forward conv of gy
// with the transposed, flipped weights (indexed in place) and padding dh*(KH-1) - ph (negative
// padding is a crop).
// On lavapipe the barriers and workgroup traffic cost more than they save (see matmul_smem.wgsl).
// (Directives carry trailing comments and comments avoid the hash sign: see matmul.wgsl.)
struct Params {
  N: u32, C: u32, H: u32, W: u32, O: u32, OH: u32, OW: u32, KH: u32, KW: u32,
  sh: u32, sw: u32, ph: i32, pw: i32, dh: u32, dw: u32, cg: u32, og: u32, has_bias: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> gy: array<f32>;
@group(0) @binding(6) var<storage, read_write> dwt: array<f32>;

const BM = 64u;
const BN = 64u;
const BK = 16u;
var<workgroup> Ws: array<f32, 1024>; // [BK][BM]
var<workgroup> Xs: array<f32, 1024>; // [BK][BN]

fn loadW(g: u32, o: u32, k: u32, K: u32) -> f32 {
  if (o >= p.og || k >= K) { return 0.0; }
#if ${TRANSPOSE}
  // Backward w.r.t. input (stride 1): this conv runs on gy with the transposed, flipped weights
  // W'[g*og + o, (c, kh, kw)] = w[g*cg + c, o, KH-1-kh, KW-1-kw], read in place (cg, og here are
  // the forward conv's og, cg).
  let taps = p.KH * p.KW;
  let c = k / taps;
  let kh = (k / p.KW) % p.KH;
  let kw = k % p.KW;
  return w[((g * p.cg + c) * p.og + o) * taps + (p.KH - 1u - kh) * p.KW + (p.KW - 1u - kw)];
#else // forward: the weight's own layout
  return w[(g * p.og + o) * K + k];
#endif // TRANSPOSE
}

fn loadX(g: u32, k: u32, col: u32, K: u32, cols: u32) -> f32 {
  if (k >= K || col >= cols) { return 0.0; }
  let taps = p.KH * p.KW;
  let c = k / taps;
  let kh = (k / p.KW) % p.KH;
  let kw = k % p.KW;
  let ow = col % p.OW;
  let oh = (col / p.OW) % p.OH;
  let n = col / (p.OW * p.OH);
  let ih = i32(oh * p.sh + kh * p.dh) - p.ph;
  let iw = i32(ow * p.sw + kw * p.dw) - p.pw;
  if (ih < 0 || iw < 0 || ih >= i32(p.H) || iw >= i32(p.W)) { return 0.0; }
  return x[((n * p.C + g * p.cg + c) * p.H + u32(ih)) * p.W + u32(iw)];
}

@compute @workgroup_size(16, 16) fn fwd_smem(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let g = wid.z;
  let o0 = wid.y * BM;
  let col0 = wid.x * BN;
  let K = p.cg * p.KH * p.KW;
  let cols = p.N * p.OH * p.OW;
  let tx = lid.x;
  let ty = lid.y;
  let t = ty * 16u + tx;
  var acc: array<vec4<f32>, 4>;
  for (var k0 = 0u; k0 < K; k0 += BK) {
    for (var q = 0u; q < 4u; q++) {
      let e = t + q * 256u;
      // Weights: consecutive threads along k (contiguous in w); inputs: along col (contiguous in x rows).
      let wo = e / BK;
      let wk = e % BK;
      Ws[wk * BM + wo] = loadW(g, o0 + wo, k0 + wk, K);
      let xc = e % BN;
      let xk = e / BN;
      Xs[xk * BN + xc] = loadX(g, k0 + xk, col0 + xc, K, cols);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let xv = vec4<f32>(Xs[kk * BN + tx], Xs[kk * BN + tx + 16u], Xs[kk * BN + tx + 32u], Xs[kk * BN + tx + 48u]);
      for (var i = 0u; i < 4u; i++) {
        acc[i] = fma(vec4<f32>(Ws[kk * BM + ty + 16u * i]), xv, acc[i]);
      }
    }
    workgroupBarrier();
  }
  let S = p.OH * p.OW;
  for (var i = 0u; i < 4u; i++) {
    let o = o0 + ty + 16u * i;
    if (o >= p.og) { continue; }
    let oc = g * p.og + o;
#if ${BIAS}
    let b = bias[oc];
#else // no bias
    let b = 0.0;
#endif // BIAS
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + tx + 16u * j;
      if (col >= cols) { continue; }
      y[((col / S) * p.O + oc) * S + col % S] = acc[i][j] + b;
    }
  }
}

fn loadGY(g: u32, o: u32, col: u32, cols: u32) -> f32 {
  if (o >= p.og || col >= cols) { return 0.0; }
  let S = p.OH * p.OW;
  return gy[((col / S) * p.O + g * p.og + o) * S + col % S];
}

@compute @workgroup_size(16, 16) fn wgrad_smem(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let g = wid.z;
  let o0 = wid.y * BM;
  let kb = wid.x * BN;
  let K = p.cg * p.KH * p.KW;
  let cols = p.N * p.OH * p.OW;
  let tx = lid.x;
  let ty = lid.y;
  let t = ty * 16u + tx;
  var acc: array<vec4<f32>, 4>;
  for (var c0 = 0u; c0 < cols; c0 += BK) {
    for (var q = 0u; q < 4u; q++) {
      let e = t + q * 256u;
      // Both along col, the contiguous axis of gy and x rows.
      let go = e / BK;
      let gc = e % BK;
      Ws[gc * BM + go] = loadGY(g, o0 + go, c0 + gc, cols);
      let xk = e / BK;
      let xc = e % BK;
      Xs[xc * BN + xk] = loadX(g, kb + xk, c0 + xc, K, cols);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let xv = vec4<f32>(Xs[kk * BN + tx], Xs[kk * BN + tx + 16u], Xs[kk * BN + tx + 32u], Xs[kk * BN + tx + 48u]);
      for (var i = 0u; i < 4u; i++) {
        acc[i] = fma(vec4<f32>(Ws[kk * BM + ty + 16u * i]), xv, acc[i]);
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let o = o0 + ty + 16u * i;
    if (o >= p.og) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let k = kb + tx + 16u * j;
      if (k < K) { dwt[(g * p.og + o) * K + k] = acc[i][j]; }
    }
  }
}
