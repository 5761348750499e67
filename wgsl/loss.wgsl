// Classification heads over logits x [N,K] (f32, row-major) and labels [N] (i32).
//   xent_rows:  loss[n] = logsumexp(x[n]) - sum_k t[n,k] x[n,k], t = (1-eps) onehot + eps/K;
//               lse[n] saved for the backward. Stable: the row max is subtracted before exp.
//   xent_grad:  dx[n,k] = (exp(x[n,k] - lse[n]) - t[n,k]) * g[0] * a   (a = 1/N for the mean)
//   topk_rows:  hit[n] = 1 if fewer than k logits of row n are ahead of the label's logit;
//               x[n,j] is ahead if x[n,j] > x[n,label], or == with j < label.
//   isum:       out[t] = sum of hits[t*B .. (t+1)*B) (counting the hits, a fixed tree of passes)
//   argmax_rows: out[n] = lowest index of the row's largest logit (NaN logits are skipped; an
//               all-NaN row gives 0).
// Labels outside [0, K) never index x: their loss and gradient rows are NaN (so a training
// loop's NaN check catches them) and they never count as a hit.
// Launch: 1-D; one thread per row (xent_rows, topk_rows, argmax_rows) or per element (xent_grad).
#include "common"

// nan: a quiet NaN from the host (WGSL has no NaN literal and folds constant bitcasts).
struct Params { N: u32, K: u32, eps: f32, a: f32, topk: u32, nan: f32 }
struct SumParams { T: u32, To: u32, B: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(9) var<uniform> q: SumParams;
@group(0) @binding(10) var<storage, read> hits: array<i32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read> lse: array<f32>;
@group(0) @binding(4) var<storage, read> g: array<f32>;
@group(0) @binding(5) var<storage, read_write> loss: array<f32>;
@group(0) @binding(6) var<storage, read_write> lse_out: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
@group(0) @binding(8) var<storage, read_write> idx: array<i32>;

// By the bits: comparisons with NaN may be folded by the driver's compiler.
fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

fn label_ok(l: i32) -> bool {
  return l >= 0 && u32(l) < p.K;
}

@compute @workgroup_size(${WG}) fn xent_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = linear_index(gid, nwg, ${WG}u);
  if (n >= p.N) { return; }
  let base = n * p.K;
  var mx = x[base];
  var sx = 0.0;
  for (var k = 0u; k < p.K; k++) {
    let v = x[base + k];
    mx = max(mx, v);
    sx += v;
  }
  var se = 0.0;
  for (var k = 0u; k < p.K; k++) { se += exp(x[base + k] - mx); }
  let l = mx + log(se);
  lse_out[n] = l;
  let lab = labels[n];
  if (label_ok(lab)) {
    let tgt = (1.0 - p.eps) * x[base + u32(lab)] + (p.eps / f32(p.K)) * sx;
    loss[n] = l - tgt;
  } else {
    loss[n] = p.nan;
  }
}

@compute @workgroup_size(${WG}) fn xent_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, ${WG}u);
  if (i >= p.N * p.K) { return; }
  let n = i / p.K;
  let k = i - n * p.K;
  let lab = labels[n];
  let t = select(0.0, 1.0 - p.eps, i32(k) == lab) + p.eps / f32(p.K);
  let v = (exp(x[i] - lse[n]) - t) * (g[0] * p.a);
  out[i] = select(p.nan, v, label_ok(lab));
}

@compute @workgroup_size(${WG}) fn topk_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = linear_index(gid, nwg, ${WG}u);
  if (n >= p.N) { return; }
  let lab = labels[n];
  var hit = 0;
  if (label_ok(lab)) {
    let base = n * p.K;
    let lv = x[base + u32(lab)];
    var ahead = 0u;
    for (var j = 0u; j < p.K; j++) {
      let v = x[base + j];
      ahead += select(0u, 1u, v > lv || (v == lv && j < u32(lab)));
    }
    // A NaN label logit has nothing ahead of it, but is never a hit.
    hit = select(0, 1, ahead < p.topk && !is_nan(lv));
  }
  idx[n] = hit;
}

@compute @workgroup_size(${WG}) fn isum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, ${WG}u);
  if (t >= q.To) { return; }
  let j1 = min((t + 1u) * q.B, q.T);
  var s = 0;
  for (var j = t * q.B; j < j1; j++) { s += hits[j]; }
  idx[t] = s;
}

@compute @workgroup_size(${WG}) fn argmax_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = linear_index(gid, nwg, ${WG}u);
  if (n >= p.N) { return; }
  let base = n * p.K;
  var best = 0u;
  var bv = x[base];
  for (var j = 1u; j < p.K; j++) {
    let v = x[base + j];
    // While the best so far is NaN (the first logit was), take any number instead.
    if (v > bv || (is_nan(bv) && !is_nan(v))) {
      best = j;
      bv = v;
    }
  }
  idx[n] = i32(best);
}
