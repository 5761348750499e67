// Fractional lengths on the GPU (F8NET.md §2): the statistic of a tensor and the paper's formula,
// the grid search of the RMS quantisation error, the running value of activations and the fl
// used at evaluation. CPU reference: src/quant/fraclen.ts. Results stay in GPU buffers (i32 fl).
//
// Reductions (deterministic; no barriers, no shared memory, no atomics). A channel's M units
// (per layer: the whole tensor as one channel) are cut into P chunks of L consecutive units; a
// unit is one vec4 when VEC4 (per layer, or inner % 4 == 0) else one value. Thread t = j*C + c
// reduces chunk j of channel c in registers and writes one partial; *_merge threads fold F
// consecutive partials of a channel into one, in index order, until at most F are left; the
// *_final thread of a channel folds the rest and writes the result.
//
//   element of unit u of channel c: index (o*C + c)*innerU + k with o = u / innerU, k = u % innerU
//   VEC4 per layer: the last unit may hold lanes past n; they count as absent.
//
// Statistic partials (part: [P][C] vec4): (mean, M2, count, non-finite count). For std the values
// are shifted by the channel's first value, and a chunk is read twice (the second time from
// cache): its mean, then the corrected two-pass M2 around it; chunks merge by Chan's pairwise
// formula, so there is no E[x^2] - E[x]^2 cancellation. For mae and rms the "mean" is the mean
// of |x| or x^2 and M2 stays 0. The final thread takes std = sqrt(M2 / (n - 1)) (Bessel),
// mae = mean, rms = sqrt(mean), and fl = the number of k in [1, flmax] with m * 2^k <= c:
// the paper's clamp(floor(log2(c / m)), 0, flmax) without log2 (m = 0 -> flmax; NaN, Inf,
// non-finite data, fewer than 2 values for std -> 0).
//
// Grid partials (gpart: [P][C][2*NK + 2] f32), with v_k = fq(x, k) and d_k = x - v_k:
//   slot k in [0, NK)        sum d_k^2, the squared error of fl = k
//   slot NK + k              sum d_k^2 - d_0^2 = (v_0 - v_k) * (d_0 + d_k), the difference to fl = 0
//                            accumulated directly: it keeps the order of candidates where the f32
//                            errors coincide (|x| so large that x - v_k rounds to x for every k)
//   slot 2*NK, 2*NK + 1      count, non-finite count (any -> fl 0, as the reference where no error is finite)
// The final thread takes the least error, equal errors ordered by the difference, and equal
// both ways the largest fl: candidates whose values coincide everywhere (an all-underflow
// tensor, or one exactly representable at several fl) give bit-identical sums and tie.
//
// Launch (1-D, Engine.grid1d with WG): *_partial over P*C threads, *_merge over P2*C,
// *_final over C; running_update and eval_fraclen over the elements of the running value.
// (Every else and endif directive carries a comment: the preprocessor needs whitespace after it.)
#include "common"
#include "fixed_point"

// (No commas in these comments: the engine splits the struct on them.)
struct Params {
  C: u32,        // channels (1 per layer)
  innerU: u32,   // units per contiguous segment of a channel
  M: u32,        // units per channel
  L: u32,        // units per chunk
  P: u32,        // partials per channel (input of merge and final)
  P2: u32,       // partials per channel written by merge
  F: u32,        // partials folded per merge thread
  n: u32,        // elements of the tensor
  flmax: i32,    // wl - signed
  c: f32,        // the constant of the formula
  lo: f32,       // integer bounds (grid search)
  hi: f32,
}
@group(0) @binding(0) var<uniform> p: Params;

#if ${VEC4}
alias VT = vec4<f32>;
alias VB = vec4<bool>;
const NL = 4u;
fn lane(v: VT, l: u32) -> f32 { return v[l]; }
fn hsum(v: VT) -> f32 { return (v.x + v.y) + (v.z + v.w); }
fn unit_ok(idx: u32) -> VB { return (vec4<u32>(idx * 4u) + vec4<u32>(0u, 1u, 2u, 3u)) < vec4<u32>(p.n); }
fn non_finite(v: VT) -> VB { return fx_non_finite4(v); }
#else // one value per unit
alias VT = f32;
alias VB = bool;
const NL = 1u;
fn lane(v: VT, l: u32) -> f32 { return v; }
fn hsum(v: VT) -> f32 { return v; }
fn unit_ok(idx: u32) -> VB { return true; }
fn non_finite(v: VT) -> VB { return fx_non_finite(v); }
#endif // VEC4

@group(0) @binding(1) var<storage, read> x: array<VT>;
@group(0) @binding(2) var<storage, read> part: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> pout: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> stat: array<f32>;
@group(0) @binding(5) var<storage, read_write> flo: array<i32>;
@group(0) @binding(6) var<storage, read> gpart: array<f32>;
@group(0) @binding(7) var<storage, read_write> gout: array<f32>;
@group(0) @binding(8) var<storage, read_write> errs: array<f32>;

// Walks the units of one chunk: idx is the unit's index in x.
struct Cursor { idx: u32, k: u32 }

fn cursor_at(c: u32, u: u32) -> Cursor {
  let o = u / p.innerU;
  let k = u - o * p.innerU;
  return Cursor((o * p.C + c) * p.innerU + k, k);
}

fn cursor_next(cur: Cursor) -> Cursor {
  if (cur.k + 1u == p.innerU) { return Cursor(cur.idx + 1u + (p.C - 1u) * p.innerU, 0u); }
  return Cursor(cur.idx + 1u, cur.k + 1u);
}

// The chunk of partial thread t (t = j*C + c): units [u0, u1) of channel c with u0 = j*L and
// u1 = min(u0 + L, M).
struct Chunk { c: u32, u0: u32, u1: u32 }

fn chunk_of(t: u32) -> Chunk {
  let u0 = (t / p.C) * p.L;
  return Chunk(t % p.C, u0, min(u0 + p.L, p.M));
}

// ---- statistics ------------------------------------------------------------------------------

struct Acc { n: f32, mean: f32, m2: f32, bad: f32 }

// Chan et al.: merges (nb, mb, m2b) into a; empty partials change nothing.
fn chan(a: Acc, nb: f32, mb: f32, m2b: f32, badb: f32) -> Acc {
  if (nb == 0.0) { return Acc(a.n, a.mean, a.m2, a.bad + badb); }
  let n = a.n + nb;
  let w = nb / n;
  let d = mb - a.mean;
  return Acc(n, a.mean + d * w, a.m2 + m2b + d * d * (a.n * w), a.bad + badb);
}

// Sums over one chunk run in blocks of BLOCK units (a sum of block sums): the f32 rounding error
// grows with BLOCK + L / BLOCK instead of L.
const BLOCK = 16u;

@compute @workgroup_size(${WG}) fn stat_partial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, ${WG}u);
  if (t >= p.P * p.C) { return; }
  let ch = chunk_of(t);
  var cnt = VT(0.0);
  var bad = VT(0.0);
  var s1 = VT(0.0);
  var cur = cursor_at(ch.c, ch.u0);
  // mae, rms: the sum of |x| or x^2. std: the chunk's mean first (the chunk is re-read from cache),
  // all values shifted by the channel's first value K, so that means are small numbers whose
  // differences keep their bits when the data sit far from 0 (mean 100, std 0.01).
  let K = VT(lane(x[cursor_at(ch.c, 0u).idx], 0u));
  for (var u = ch.u0; u < ch.u1;) {
    let e = min(u + BLOCK, ch.u1);
    var b = VT(0.0);
    for (; u < e; u++) {
      let v = x[cur.idx];
      let ok = unit_ok(cur.idx);
      bad += select(VT(0.0), VT(1.0), ok & non_finite(v));
      cnt += select(VT(0.0), VT(1.0), ok);
#if ${IS_STD}
      b += select(VT(0.0), v - K, ok);
#elif ${IS_MAE}
      b += select(VT(0.0), abs(v), ok);
#else // rms
      b += select(VT(0.0), v * v, ok);
#endif // IS_STD
      cur = cursor_next(cur);
    }
    s1 += b;
  }
  let n = hsum(cnt);
  let mean = hsum(s1) / n;
#if ${IS_STD}
  // Corrected two-pass: M2 = sum (y - m)^2 - (sum (y - m))^2 / n around the chunk mean m of y = x - K.
  var sd = VT(0.0);
  var s2 = VT(0.0);
  cur = cursor_at(ch.c, ch.u0);
  for (var u = ch.u0; u < ch.u1;) {
    let e = min(u + BLOCK, ch.u1);
    var b1 = VT(0.0);
    var b2 = VT(0.0);
    for (; u < e; u++) {
      let d = select(VT(0.0), (x[cur.idx] - K) - VT(mean), unit_ok(cur.idx));
      b1 += d;
      b2 += d * d;
      cur = cursor_next(cur);
    }
    sd += b1;
    s2 += b2;
  }
  let d1 = hsum(sd);
  let m2 = hsum(s2) - d1 * d1 / n;
  pout[t] = vec4<f32>(mean + d1 / n, select(m2, 0.0, m2 < 0.0), n, hsum(bad));
#else // mae or rms
  pout[t] = vec4<f32>(mean, 0.0, n, hsum(bad));
#endif // IS_STD
}

// Folds partials [j*F, min(j*F + F, P)) of channel c.
fn stat_fold(j: u32, c: u32) -> Acc {
  var a = Acc(0.0, 0.0, 0.0, 0.0);
  let end = min(j * p.F + p.F, p.P);
  for (var i = j * p.F; i < end; i++) {
    let b = part[i * p.C + c];
    a = chan(a, b.z, b.x, b.y, b.w);
  }
  return a;
}

@compute @workgroup_size(${WG}) fn stat_merge(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, ${WG}u);
  if (t >= p.P2 * p.C) { return; }
  let a = stat_fold(t / p.C, t % p.C);
  pout[t] = vec4<f32>(a.mean, a.m2, a.n, a.bad);
}

// fl = clamp(floor(log2(c / m)), 0, flmax) as a count of exact power-of-two comparisons.
fn fraclen_of(m: f32) -> i32 {
  var f = 0;
  for (var k = 1; k <= p.flmax; k++) {
    if (m * fx_pow2(k) <= p.c) { f = k; }
  }
  return select(f, 0, fx_is_nan(m));
}

// A quiet NaN built at run time (a constant NaN is a WGSL compile error).
fn nan_() -> f32 {
  return bitcast<f32>(0x7fc00000u | (p.C & 0x00000000u));
}

@compute @workgroup_size(${WG}) fn stat_final(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = linear_index(gid, nwg, ${WG}u);
  if (c >= p.C) { return; }
  let a = stat_fold(0u, c);
#if ${IS_STD}
  var m = sqrt(a.m2 / (a.n - 1.0));
  if (a.n < 2.0) { m = nan_(); }
#elif ${IS_MAE}
  var m = a.mean;
  if (a.n == 0.0) { m = nan_(); }
#else // rms
  var m = sqrt(a.mean);
  if (a.n == 0.0) { m = nan_(); }
#endif // IS_STD
  stat[c] = m;
  flo[c] = select(fraclen_of(m), 0, a.bad > 0.0);
}

// ---- grid search -----------------------------------------------------------------------------

const S = 2u * ${NK}u + 2u;

// Fake-quant value at fl = k (NaN and ±Inf are handled by the non-finite count).
fn fq(v: VT, k: i32) -> VT {
  let r = round(v * fx_pow2(k));
  return clamp(r, VT(p.lo), VT(p.hi)) * fx_pow2(-k);
}

@compute @workgroup_size(${WG}) fn grid_partial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, ${WG}u);
  if (t >= p.P * p.C) { return; }
  let ch = chunk_of(t);
  var cur = cursor_at(ch.c, ch.u0);
  var err: array<VT, ${NK}>;
  var dif: array<VT, ${NK}>;
  for (var k = 0; k < ${NK}; k++) {
    err[k] = VT(0.0);
    dif[k] = VT(0.0);
  }
  var cnt = VT(0.0);
  var bad = VT(0.0);
  for (var u = ch.u0; u < ch.u1; u++) {
    let v = x[cur.idx];
    let ok = unit_ok(cur.idx);
    bad += select(VT(0.0), VT(1.0), ok & non_finite(v));
    cnt += select(VT(0.0), VT(1.0), ok);
    let v0 = fq(v, 0);
    let d0 = v - v0;
    err[0] += select(VT(0.0), d0 * d0, ok);
    for (var k = 1; k < ${NK}; k++) {
      let vk = fq(v, k);
      let dk = v - vk;
      err[k] += select(VT(0.0), dk * dk, ok);
      dif[k] += select(VT(0.0), (v0 - vk) * (d0 + dk), ok);
    }
    cur = cursor_next(cur);
  }
  for (var k = 0u; k < ${NK}u; k++) {
    var se = 0.0;
    var sd = 0.0;
    for (var l = 0u; l < NL; l++) {
      se += lane(err[k], l);
      sd += lane(dif[k], l);
    }
    gout[t * S + k] = se;
    gout[t * S + ${NK}u + k] = sd;
  }
  var sc = 0.0;
  var sb = 0.0;
  for (var l = 0u; l < NL; l++) {
    sc += lane(cnt, l);
    sb += lane(bad, l);
  }
  gout[t * S + 2u * ${NK}u] = sc;
  gout[t * S + 2u * ${NK}u + 1u] = sb;
}

@compute @workgroup_size(${WG}) fn grid_merge(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, ${WG}u);
  if (t >= p.P2 * p.C) { return; }
  let c = t % p.C;
  let j = t / p.C;
  let end = min(j * p.F + p.F, p.P);
  for (var s = 0u; s < S; s++) {
    var sum = 0.0;
    for (var i = j * p.F; i < end; i++) { sum += gpart[(i * p.C + c) * S + s]; }
    gout[t * S + s] = sum;
  }
}

// Least error (ties: least difference, then the largest fl); errs[c*NK + k] = RMS error at fl = k.
@compute @workgroup_size(${WG}) fn grid_final(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = linear_index(gid, nwg, ${WG}u);
  if (c >= p.C) { return; }
  var sums: array<f32, S>;
  for (var s = 0u; s < S; s++) {
    var sum = 0.0;
    for (var i = 0u; i < p.P; i++) { sum += gpart[(i * p.C + c) * S + s]; }
    sums[s] = sum;
  }
  let n = sums[2u * ${NK}u];
  var best = 0;
  var le = sums[0];
  var ld = 0.0;
  for (var k = 1; k < ${NK}; k++) {
    let e = sums[k];
    let d = sums[${NK} + k];
    if (e < le || (e == le && d <= ld)) {
      le = e;
      ld = d;
      best = k;
    }
  }
  // Non-finite data, or no data (every error NaN in the reference): 0.
  flo[c] = select(best, 0, sums[2u * ${NK}u + 1u] > 0.0 || n == 0.0);
  for (var k = 0u; k < ${NK}u; k++) { errs[c * ${NK}u + k] = sqrt(sums[k] / n); }
}

// ---- running value and evaluation fl -----------------------------------------------------------

struct RunParams {
  n: u32,
  flmax: i32,
  momentum: f32,
  keep: f32,     // 1 - momentum
}
@group(0) @binding(9) var<uniform> rp: RunParams;
@group(0) @binding(10) var<storage, read_write> run: array<f32>;
@group(0) @binding(11) var<storage, read> batch: array<i32>;
@group(0) @binding(12) var<storage, read> runIn: array<f32>;
@group(0) @binding(13) var<storage, read_write> flEval: array<i32>;

// run = momentum * batch + (1 - momentum) * run, in place.
@compute @workgroup_size(64) fn running_update(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= rp.n) { return; }
  run[i] = rp.momentum * f32(batch[i]) + rp.keep * run[i];
}

// fl = clamp(roundHalfEven(run), 0, flmax); NaN -> 0.
@compute @workgroup_size(64) fn eval_fraclen(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= rp.n) { return; }
  let v = runIn[i];
  let r = clamp(round(v), 0.0, f32(rp.flmax));
  flEval[i] = select(i32(r), 0, fx_is_nan(v));
}
