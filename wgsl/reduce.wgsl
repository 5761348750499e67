// Reductions and channel broadcasts, f32.
// Layout: a channel op sees x as [outer, C, inner] (C = shape[axis]); element j of channel c,
// j in [0, M) with M = outer * inner, lives at ((j / inner) * C + c) * inner + j % inner.
// Partial results are [rows, T] row-major (rows = 1 for a full sum, C for channel ops).
//
// Every reduction is a fixed tree: each thread sums a fixed block of consecutive inputs in a
// fixed order and writes one partial; the next pass sums blocks of partials, until one value
// per row is left. No atomics, no shared memory, no barriers (slow on lavapipe), and results are
// bitwise reproducible run to run. Within a block, 4 interleaved accumulators (rowsum) or
// 16-element sub-sums (chan_*) keep the f32 error near pairwise summation's.
// Variance: each thread takes the mean of its chunk, then the sum of squared deviations from it
// (a second read, from cache), and partials (count, mean, M2) are merged with Chan et al.'s
// formula, so large means do not cancel (N*H*W of 1e6 with mean 1e3 stays exact to ~1e-6).
// Launch: 1-D, one thread per output partial (Engine.grid1d, linear_index).
#include "common"

struct Params { rows: u32, T: u32, To: u32, B: u32, s: f32 }
struct ChanParams { C: u32, inner: u32, M: u32, T: u32, L: u32, s: f32 }
struct MergeParams { C: u32, T: u32, To: u32, B: u32, M: u32, span: u32, last: u32, s: f32 }
struct BcastParams { n4: u32, C: u32, inner: u32, a: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> q: ChanParams;
@group(0) @binding(2) var<uniform> g: MergeParams;
@group(0) @binding(3) var<uniform> w: BcastParams;
@group(0) @binding(4) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read> y: array<f32>;
@group(0) @binding(6) var<storage, read> mean_in: array<f32>;
@group(0) @binding(7) var<storage, read> m2_in: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<f32>;
@group(0) @binding(9) var<storage, read_write> m2_out: array<f32>;
@group(0) @binding(10) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read> cs: array<f32>;
@group(0) @binding(12) var<storage, read> cm: array<f32>;
@group(0) @binding(13) var<storage, read_write> out4: array<vec4<f32>>;

// Block t = id % cols of row id / cols of a reduction: elements [j0, j1) = [t*B, min((t+1)*B, n)).
struct Chunk { j0: u32, j1: u32 }

fn block_of(id: u32, cols: u32, B: u32, n: u32) -> Chunk {
  let j0 = (id - (id / cols) * cols) * B;
  return Chunk(j0, min(j0 + B, n));
}

// out[r, t] = s * sum(x[r, t*B .. min((t+1)*B, T)]), for rows r < rows and t < To.
@compute @workgroup_size(${WG}) fn rowsum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = linear_index(gid, nwg, ${WG}u);
  if (id >= p.rows * p.To) { return; }
  let base = (id / p.To) * p.T;
  let k = block_of(id, p.To, p.B, p.T);
  var s0 = 0.0;
  var s1 = 0.0;
  var s2 = 0.0;
  var s3 = 0.0;
  var j = k.j0;
  for (; j + 4u <= k.j1; j += 4u) {
    s0 += x[base + j];
    s1 += x[base + j + 1u];
    s2 += x[base + j + 2u];
    s3 += x[base + j + 3u];
  }
  for (; j < k.j1; j++) { s0 += x[base + j]; }
  out[id] = ((s0 + s1) + (s2 + s3)) * p.s;
}

// Offset of element j of channel c.
fn chan_offset(c: u32, j: u32) -> u32 {
  let o = j / q.inner;
  return (o * q.C + c) * q.inner + (j - o * q.inner);
}

// The chunk of chan_sum and chan_moments thread id: elements [t*L, min((t+1)*L, M)) of
// channel id / T, t = id % T.
fn chan_chunk(id: u32) -> Chunk {
  return block_of(id, q.T, q.L, q.M);
}

// Sum over chunk k of channel id / T, in 16-element sub-sums folded into the total, of
// x (MODE 0) or x * y (MODE 1) when sq is false, else of (x - mu)^2.
fn chunk_sum(id: u32, k: Chunk, sq: bool, mu: f32) -> f32 {
  var at = chan_offset(id / q.T, k.j0);
  var i = k.j0 % q.inner;
  let jump = (q.C - 1u) * q.inner;
  var total = 0.0;
  var part = 0.0;
  for (var j = k.j0; j < k.j1; j++) {
    if (sq) {
      let d = x[at] - mu;
      part += d * d;
    } else {
#if ${MODE}
      part += x[at] * y[at];
#else // plain sum
      part += x[at];
#endif // MODE
    }
    let flush = ((j - k.j0) & 15u) == 15u;
    total += select(0.0, part, flush);
    part = select(part, 0.0, flush);
    i++;
    at++;
    let wrap = i == q.inner;
    i = select(i, 0u, wrap);
    at += select(0u, jump, wrap);
  }
  return total + part;
}

// out[c, t] = s * sum over the chunk j in [t*L, min((t+1)*L, M)) of channel c of
// x (MODE 0) or x * y (MODE 1).
@compute @workgroup_size(${WG}) fn chan_sum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = linear_index(gid, nwg, ${WG}u);
  if (id >= q.C * q.T) { return; }
  out[id] = chunk_sum(id, chan_chunk(id), false, 0.0) * q.s;
}

// Chunk moments: out[c, t] = mean of the chunk, m2_out[c, t] = sum of squared deviations from it.
// Launched with MODE 0 only (the first pass sums x).
@compute @workgroup_size(${WG}) fn chan_moments(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = linear_index(gid, nwg, ${WG}u);
  if (id >= q.C * q.T) { return; }
  let k = chan_chunk(id);
  let mu = chunk_sum(id, k, false, 0.0) / f32(k.j1 - k.j0);
  out[id] = mu;
  m2_out[id] = chunk_sum(id, k, true, mu);
}

// Merges blocks of B partial moments (mean_in, m2_in: [C, T], partial t covering
// min(span, M - t*span) elements) into [C, To]; the last pass writes the mean and s * M2.
@compute @workgroup_size(${WG}) fn moments_merge(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = linear_index(gid, nwg, ${WG}u);
  if (id >= g.C * g.To) { return; }
  let c = id / g.To;
  let b = block_of(id, g.To, g.B, g.T);
  var n = 0.0;
  var mu = 0.0;
  var m2 = 0.0;
  for (var k = b.j0; k < b.j1; k++) {
    let nb = f32(min(g.span, g.M - k * g.span));
    let mb = mean_in[c * g.T + k];
    let d = mb - mu;
    let nn = n + nb;
    mu += d * (nb / nn);
    m2 += m2_in[c * g.T + k] + d * d * (n * nb / nn);
    n = nn;
  }
  out[id] = mu;
  m2_out[id] = select(m2, m2 * g.s, g.last != 0u);
}

// Channel broadcasts over x viewed as [outer, C, inner], four elements per thread (the last
// vec4 may run into the buffer's padding, which no tensor element occupies):
//   bcast_set:    out = a * cs[c]                (gradient of a channel sum / mean)
//   bcast_mul:    out = a * x * cs[c]            (mulChannel and its input gradient)
//   bcast_add:    out = x + cs[c]                (addChannel)
//   bcast_center: out = a * (x - cm[c]) * cs[c]  (gradient of a channel variance)
// Channels of elements 4*id .. 4*id+3: one division per thread, then stepped along.
fn channels4(id: u32) -> vec4<u32> {
  let j = id * 4u;
  let o = j / w.inner;
  var i = j - o * w.inner;
  var c = o % w.C;
  var cc: vec4<u32>;
  for (var e = 0u; e < 4u; e++) {
    cc[e] = c;
    i++;
    let wrap = i == w.inner;
    i = select(i, 0u, wrap);
    c = select(c, select(c + 1u, 0u, c + 1u == w.C), wrap);
  }
  return cc;
}

@compute @workgroup_size(${WG}) fn bcast_set(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = linear_index(gid, nwg, ${WG}u);
  if (id >= w.n4) { return; }
  let cc = channels4(id);
  out4[id] = w.a * vec4<f32>(cs[cc.x], cs[cc.y], cs[cc.z], cs[cc.w]);
}

@compute @workgroup_size(${WG}) fn bcast_mul(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = linear_index(gid, nwg, ${WG}u);
  if (id >= w.n4) { return; }
  let cc = channels4(id);
  out4[id] = w.a * x4[id] * vec4<f32>(cs[cc.x], cs[cc.y], cs[cc.z], cs[cc.w]);
}

@compute @workgroup_size(${WG}) fn bcast_add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = linear_index(gid, nwg, ${WG}u);
  if (id >= w.n4) { return; }
  let cc = channels4(id);
  out4[id] = x4[id] + vec4<f32>(cs[cc.x], cs[cc.y], cs[cc.z], cs[cc.w]);
}

@compute @workgroup_size(${WG}) fn bcast_center(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = linear_index(gid, nwg, ${WG}u);
  if (id >= w.n4) { return; }
  let cc = channels4(id);
  let m = vec4<f32>(cm[cc.x], cm[cc.y], cm[cc.z], cm[cc.w]);
  out4[id] = w.a * (x4[id] - m) * vec4<f32>(cs[cc.x], cs[cc.y], cs[cc.z], cs[cc.w]);
}
