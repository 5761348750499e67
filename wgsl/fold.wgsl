// F8Net conv-BN folding (F8NET.md §3), per output channel o, forward and backward:
//   r[o] = 1 / sqrt(var[o] + eps)
//   k[o] = gamma[o] * r[o] * s_in / s_next          (w_f = k[o] * w[o, ...])
//   b[o] = (beta[o] - gamma[o] * mean[o] * r[o]) / s_next
// Without BN (linear layers, convs with a bias): k[o] = s_in / s_next, b[o] = bias[o] / s_next,
// where `beta` holds the bias. s_in is a one-element tensor; s_next has one element, or one per
// output channel when the following layer has per-channel input lengths (sn_pc = 1).
// Launch: one thread per output channel; the scalar gradients (s_in, s_next) are summed over
// channels by a single thread in a second entry point, so the order is fixed (deterministic).

struct Params { o: u32, eps: f32, sn_pc: u32, n_in: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> variance: array<f32>;
@group(0) @binding(5) var<storage, read> s_in: array<f32>;
@group(0) @binding(6) var<storage, read> s_next: array<f32>;
@group(0) @binding(7) var<storage, read_write> k_out: array<f32>;
@group(0) @binding(8) var<storage, read_write> b_out: array<f32>;
// backward
@group(0) @binding(9) var<storage, read> gk: array<f32>;
@group(0) @binding(10) var<storage, read> gb: array<f32>;
@group(0) @binding(11) var<storage, read_write> g_gamma: array<f32>;
@group(0) @binding(12) var<storage, read_write> g_beta: array<f32>;
@group(0) @binding(13) var<storage, read_write> g_mean: array<f32>;
@group(0) @binding(14) var<storage, read_write> g_var: array<f32>;
@group(0) @binding(15) var<storage, read_write> g_s_in: array<f32>;
@group(0) @binding(16) var<storage, read_write> g_s_next: array<f32>;

fn sn(o: u32) -> f32 {
  return s_next[select(0u, o, p.sn_pc == 1u)];
}

@compute @workgroup_size(64) fn fold_bn(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x;
  if (o >= p.o) { return; }
  let r = inverseSqrt(variance[o] + p.eps);
  k_out[o] = gamma[o] * r * s_in[0] / sn(o);
  b_out[o] = (beta[o] - gamma[o] * mean[o] * r) / sn(o);
}

// The paper's operation order (fold_order paper, evaluation only: models/fix_quant_ops.py of the
// F8Net code): t[o] = gamma[o] / sqrt(var[o] + eps) into k_out, b[o] = (beta[o] - t[o] * mean[o]) / s_next;
// the caller forms w_f = ((t[o] * w) * s_in) / s_next elementwise, in that order. Every step is
// one f32 operation rounded as torch rounds it on the CPU (sqrt and / correctly rounded on lavapipe).
@compute @workgroup_size(64) fn fold_bn_paper(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x;
  if (o >= p.o) { return; }
  let t = gamma[o] / sqrt(variance[o] + p.eps);
  k_out[o] = t;
  b_out[o] = (beta[o] - t * mean[o]) / sn(o);
}

@compute @workgroup_size(64) fn fold_plain(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x;
  if (o >= p.o) { return; }
  k_out[o] = s_in[0] / sn(o);
  b_out[o] = beta[o] / sn(o);
}

// The BN backward is three entry points so that none reaches more than 9 storage buffers:
// WebGPU guarantees 8 per stage and adapters such as Chromium's SwiftShader offer 10, where one
// entry point reading and writing all 12 fails to build its pipeline.
@compute @workgroup_size(64) fn fold_bn_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x;
  if (o >= p.o) { return; }
  let s = sn(o);
  let r = inverseSqrt(variance[o] + p.eps);
  let r3 = r * r * r;
  g_gamma[o] = gk[o] * r * s_in[0] / s - gb[o] * mean[o] * r / s;
  g_var[o] = -0.5 * r3 * gamma[o] * (gk[o] * s_in[0] - gb[o] * mean[o]) / s;
}

@compute @workgroup_size(64) fn fold_bn_backward_shift(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x;
  if (o >= p.o) { return; }
  let s = sn(o);
  let r = inverseSqrt(variance[o] + p.eps);
  g_beta[o] = gb[o] / s;
  g_mean[o] = -gb[o] * gamma[o] * r / s;
}

// Per-channel s_next only (sn_pc = 1).
@compute @workgroup_size(64) fn fold_bn_backward_snext(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x;
  if (o >= p.o) { return; }
  let s = sn(o);
  let r = inverseSqrt(variance[o] + p.eps);
  let k = gamma[o] * r * s_in[0] / s;
  let b = (beta[o] - gamma[o] * mean[o] * r) / s;
  g_s_next[o] = -(gk[o] * k + gb[o] * b) / s;
}

@compute @workgroup_size(64) fn fold_plain_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x;
  if (o >= p.o) { return; }
  g_beta[o] = gb[o] / sn(o);
  if (p.sn_pc == 1u) {
    g_s_next[o] = -(gk[o] * s_in[0] + gb[o] * beta[o]) / (sn(o) * sn(o));
  }
}

// g_s_in = sum_o gk[o] * dk/ds_in;  g_s_next = -sum_o (gk[o] k[o] + gb[o] b[o]) / s_next (per
// channel, the backward entry point writes it instead)
@compute @workgroup_size(1) fn fold_bn_scalars() {
  var a = 0.0;
  var c = 0.0;
  for (var o = 0u; o < p.o; o++) {
    let s = sn(o);
    let r = inverseSqrt(variance[o] + p.eps);
    let k = gamma[o] * r * s_in[0] / s;
    let b = (beta[o] - gamma[o] * mean[o] * r) / s;
    a += gk[o] * gamma[o] * r / s;
    c += gk[o] * k + gb[o] * b;
  }
  g_s_in[0] = a;
  if (p.sn_pc == 0u) {
    g_s_next[0] = -c / s_next[0];
  }
}

@compute @workgroup_size(1) fn fold_plain_scalars() {
  var a = 0.0;
  var c = 0.0;
  for (var o = 0u; o < p.o; o++) {
    let s = sn(o);
    a += gk[o] / s;
    c += (gk[o] * s_in[0] + gb[o] * beta[o]) / s;
  }
  g_s_in[0] = a;
  if (p.sn_pc == 0u) {
    g_s_next[0] = -c / s_next[0];
  }
}

// Bias on the accumulator grid (F8NET.md §5): bias_q[o] = round(bias[o] * 2^fl) / 2^fl, rounding
// half to even, with fl = fl_in + fl_w[o] the accumulator's fractional length (fl_w one value, or
// one per output channel when sn_pc = 1; fl_in one value, or n_in per-channel input lengths of which
// the largest, the accumulator's finest grid, is taken), clamped at +-2^31. The fake-quant layer then adds the
// integer model's int32 bias B = bias_q * 2^fl exactly. ldexp scales by powers of two exactly.
@group(0) @binding(17) var<storage, read> bias_in: array<f32>;
@group(0) @binding(18) var<storage, read> fl_in: array<i32>;
@group(0) @binding(19) var<storage, read> fl_w: array<i32>;
@group(0) @binding(20) var<storage, read_write> bias_q: array<f32>;

@compute @workgroup_size(64) fn quantize_bias(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x;
  if (o >= p.o) { return; }
  var fin = fl_in[0];
  for (var c = 1u; c < p.n_in; c++) { fin = max(fin, fl_in[c]); }
  let fl = fin + fl_w[select(0u, o, p.sn_pc == 1u)];
  let q = clamp(round(ldexp(bias_in[o], fl)), -2147483648.0, 2147483648.0);
  bias_q[o] = ldexp(q, -fl);
}
