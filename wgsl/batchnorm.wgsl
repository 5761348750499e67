// Batch normalisation, f32, NCHW ([N, C] is taken as H = W = 1): statistics, forward, backward.
//
// A unit is one vec4 of a plane when H*W % 4 == 0 (VEC4 = 1), else one value; finalisers are
// compiled with VEC4 = 0 (they read x as scalars).
//
// Reductions. A channel's M units (N planes) are split into P chunks of L units. Thread
// t = j*C + c reduces chunk j of channel c in registers (no barriers, no shared memory) and
// writes one partial to part[t]; one thread per channel then merges its P partials in chunk
// order, so results are deterministic. Statistics partials are (chunk mean - K, chunk M2) with
// K the channel's first value, from sums shifted by the chunk's first unit; the merge is Chan's
// formula in two levels. No E[x^2] - E[x]^2 cancellation: accurate for 1e6 values per channel
// around a large offset.
//
// Layouts:
//   part: [P][C] vec2   statistics: (chunk mean - K, chunk M2); gradients: (sum gy, sum gy*(x - mean))
//   st:   [2C]  vec4    st[c] = chan_apply coefficients of the forward,
//                       st[C + c] = (mean, invstd, var, 0) saved for the backward
//   coef: [C]   vec4    (k1, k2, m, k3): chan_apply writes out = k1*gy + k2*(x - m) + k3
//
// Launch (1-D, Engine.grid1d): *_partial over P*C threads, finalisers over C threads,
// chan_apply over N*C*S threads (S segments of R units per plane).
#include "common"

// (No commas in these comments: the engine splits the struct on them.)
struct Params {
  C: u32,        // channels
  HWv: u32,      // units per plane: H*W or H*W/4
  M: u32,        // units per channel (N*HWv)
  L: u32,        // units per chunk
  P: u32,        // chunks per channel
  V: u32,        // values per unit (1 or 4)
  hw: u32,       // values per plane
  NP: u32,       // planes: N*C (chan_apply)
  S: u32,        // segments per plane (chan_apply)
  R: u32,        // units per segment (chan_apply)
  mode: u32,     // 1: training-mode backward or var gradient; 0: eval-mode backward or mean gradient
  eps: f32,
  momentum: f32,
  unbias: f32,   // count / (count - 1)
  count: f32,    // values per channel: N*H*W
}
@group(0) @binding(0) var<uniform> p: Params;

#if ${VEC4}
alias VT = vec4<f32>;
fn hsum(v: VT) -> f32 { return v.x + v.y + v.z + v.w; }
fn lane0(v: VT) -> f32 { return v.x; }
#else // not VEC4
alias VT = f32;
fn hsum(v: VT) -> f32 { return v; }
fn lane0(v: VT) -> f32 { return v; }
#endif // VEC4

@group(0) @binding(1) var<storage, read> x: array<VT>;
@group(0) @binding(2) var<storage, read> gy: array<VT>;
@group(0) @binding(3) var<storage, read_write> part: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read_write> st: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> gamma: array<f32>;
@group(0) @binding(6) var<storage, read> beta: array<f32>;
@group(0) @binding(7) var<storage, read_write> rmean: array<f32>;
@group(0) @binding(8) var<storage, read_write> rvar: array<f32>;
@group(0) @binding(9) var<storage, read_write> mean: array<f32>;
@group(0) @binding(10) var<storage, read_write> vari: array<f32>;
@group(0) @binding(11) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(12) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(13) var<storage, read_write> coef: array<vec4<f32>>;
@group(0) @binding(14) var<storage, read> g: array<f32>;
@group(0) @binding(15) var<storage, read_write> out: array<VT>;

// First unit of chunk j of channel c: (address, position within its plane).
fn chunk_start(j: u32, c: u32) -> vec2<u32> {
  let u0 = j * p.L;
  let s = u0 % p.HWv;
  return vec2<u32>((u0 / p.HWv * p.C + c) * p.HWv + s, s);
}

// (mean - K, M2) of chunk j of channel c, K = the channel's first value (x[n=0, c, 0, 0]).
// The sums are shifted by the chunk's first unit (per lane), so M2 does not cancel; the mean is
// stored relative to K so that merging keeps the digits below a large common offset.
@compute @workgroup_size(${WG}) fn stats_partial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, ${WG}u);
  if (t >= p.P * p.C) { return; }
  let c = t % p.C;
  let j = t / p.C;
  let n = min(p.L, p.M - j * p.L);
  let start = chunk_start(j, c);
  var a = start.x;
  var s = start.y;
  let jump = (p.C - 1u) * p.HWv;
  let k = x[a];
  var s1 = VT(0.0);
  var s2 = VT(0.0);
  for (var u = 0u; u < n; u++) {
    let d = x[a] - k;
    s1 += d;
    s2 += d * d;
    a++;
    s++;
    if (s == p.HWv) { s = 0u; a += jump; }
  }
  let nf = f32(n);
  let lm = (k - VT(lane0(x[c * p.HWv]))) + s1 / nf; // per-lane means - K
  let lm2 = max(s2 - s1 * s1 / nf, VT(0.0));         // per-lane M2
  let m = hsum(lm) / f32(p.V);
  let dm = lm - VT(m);
  part[t] = vec2<f32>(m, hsum(lm2) + nf * hsum(dm * dm));
}

// Chan's merge of two (count, mean, M2) summaries.
fn chan(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
  let n = a.x + b.x;
  if (b.x == 0.0) { return a; }
  let d = b.y - a.y;
  let w = b.x / n;
  return vec3<f32>(n, a.y + d * w, a.z + b.z + d * d * (a.x * w));
}

// (mean, biased variance) of channel c from its P partials, merged in chunk order in blocks of
// 64 (two levels, so rounding grows with 64 + P/64 rather than P). Finalisers run with VEC4 = 0.
fn merge_stats(c: u32) -> vec2<f32> {
  var tot = vec3<f32>(0.0);
  for (var j0 = 0u; j0 < p.P; j0 += 64u) {
    var blk = vec3<f32>(0.0);
    for (var j = j0; j < min(j0 + 64u, p.P); j++) {
      let q = part[j * p.C + c];
      blk = chan(blk, vec3<f32>(f32(min(p.L, p.M - j * p.L) * p.V), q.x, q.y));
    }
    tot = chan(tot, blk);
  }
  return vec2<f32>(lane0(x[c * p.hw]) + tot.y, tot.z / tot.x);
}

// Training forward: batch statistics, chan_apply coefficients and the in-place running update.
@compute @workgroup_size(${WG}) fn bn_train_finalize(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = linear_index(gid, nwg, ${WG}u);
  if (c >= p.C) { return; }
  let mv = merge_stats(c);
  let invstd = 1.0 / sqrt(mv.y + p.eps);
  st[c] = vec4<f32>(0.0, gamma[c] * invstd, mv.x, beta[c]);
  st[p.C + c] = vec4<f32>(mv.x, invstd, mv.y, 0.0);
  rmean[c] = (1.0 - p.momentum) * rmean[c] + p.momentum * mv.x;
  rvar[c] = (1.0 - p.momentum) * rvar[c] + p.momentum * (mv.y * p.unbias);
}

// batchStats: mean and biased variance only.
@compute @workgroup_size(${WG}) fn stats_finalize(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = linear_index(gid, nwg, ${WG}u);
  if (c >= p.C) { return; }
  let mv = merge_stats(c);
  mean[c] = mv.x;
  vari[c] = mv.y;
}

// running = (1 - m) * running + m * batch (unbiased variance), in place.
@compute @workgroup_size(${WG}) fn running_update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = linear_index(gid, nwg, ${WG}u);
  if (c >= p.C) { return; }
  rmean[c] = (1.0 - p.momentum) * rmean[c] + p.momentum * mean[c];
  rvar[c] = (1.0 - p.momentum) * rvar[c] + p.momentum * (vari[c] * p.unbias);
}

// Eval forward: coefficients from the running statistics (snapshotted in st for the backward).
@compute @workgroup_size(${WG}) fn bn_eval_coef(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = linear_index(gid, nwg, ${WG}u);
  if (c >= p.C) { return; }
  let invstd = 1.0 / sqrt(rvar[c] + p.eps);
  st[c] = vec4<f32>(0.0, gamma[c] * invstd, rmean[c], beta[c]);
  st[p.C + c] = vec4<f32>(rmean[c], invstd, rvar[c], 0.0);
}

// Backward partials: (sum gy, sum gy * (x - mean)) of chunk j of channel c.
@compute @workgroup_size(${WG}) fn grad_partial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, ${WG}u);
  if (t >= p.P * p.C) { return; }
  let c = t % p.C;
  let j = t / p.C;
  let n = min(p.L, p.M - j * p.L);
  let start = chunk_start(j, c);
  var a = start.x;
  var s = start.y;
  let jump = (p.C - 1u) * p.HWv;
  let m = VT(st[p.C + c].x);
  var sg = VT(0.0);
  var sgx = VT(0.0);
  for (var u = 0u; u < n; u++) {
    let gg = gy[a];
    sg += gg;
    sgx += gg * (x[a] - m);
    a++;
    s++;
    if (s == p.HWv) { s = 0u; a += jump; }
  }
  part[t] = vec2<f32>(hsum(sg), hsum(sgx));
}

// Backward: dgamma, dbeta and the chan_apply coefficients of dx. Training mode (mode = 1):
//   dx = a*gy - a*invstd*dgamma/M * (x - mean) - a*dbeta/M,  a = gamma*invstd;
// eval mode (mode = 0): dx = a*gy. With P = 0 the sums are zero (only dx of an eval forward).
@compute @workgroup_size(${WG}) fn bn_bwd_finalize(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = linear_index(gid, nwg, ${WG}u);
  if (c >= p.C) { return; }
  // Blocked sums in chunk order, as in merge_stats.
  var tot = vec2<f32>(0.0);
  for (var j0 = 0u; j0 < p.P; j0 += 64u) {
    var blk = vec2<f32>(0.0);
    for (var j = j0; j < min(j0 + 64u, p.P); j++) { blk += part[j * p.C + c]; }
    tot += blk;
  }
  let sg = tot.x;
  let sgx = tot.y;
  let s = st[p.C + c];
  let invstd = s.y;
  let dg = sgx * invstd;
  dgamma[c] = dg;
  dbeta[c] = sg;
  let a = gamma[c] * invstd;
  if (p.mode == 1u) {
    coef[c] = vec4<f32>(a, -a * invstd * dg / p.count, s.x, -a * sg / p.count);
  } else {
    coef[c] = vec4<f32>(a, 0.0, 0.0, 0.0);
  }
}

// batchStats backward: mode 0: d mean -> dx = g/M; mode 1: d var -> dx = 2g/M * (x - mean).
@compute @workgroup_size(${WG}) fn stats_bwd_coef(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = linear_index(gid, nwg, ${WG}u);
  if (c >= p.C) { return; }
  if (p.mode == 1u) {
    coef[c] = vec4<f32>(0.0, 2.0 * g[c] / p.count, mean[c], 0.0);
  } else {
    coef[c] = vec4<f32>(0.0, 0.0, 0.0, g[c] / p.count);
  }
}

// out = k1[c]*gy + k2[c]*(x - m[c]) + k3[c]. Thread t handles units [s0, s0 + R) of plane
// q = t / S (a plane is cut into S segments), so the integer division that finds the channel is
// paid once per R units: a division per vec4 made this kernel 3-4x slower on lavapipe.
@compute @workgroup_size(${WG}) fn chan_apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, ${WG}u);
  if (t >= p.NP * p.S) { return; }
  let q = t / p.S;
  let s0 = (t - q * p.S) * p.R;
  let k = coef[q % p.C];
  let base = q * p.HWv;
  let end = base + min(s0 + p.R, p.HWv);
  for (var i = base + s0; i < end; i++) {
    var v = VT(k.w);
#if ${HAS_G}
    v += k.x * gy[i];
#endif // HAS_G
#if ${HAS_X}
    v += k.y * (x[i] - VT(k.z));
#endif // HAS_X
    out[i] = v;
  }
}
