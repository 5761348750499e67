// Fake quantisation to a fixed-point format (F8NET.md §1), its STE backward, and fix_scaling (§3).
// CPU reference: src/quant/fixed-format.ts (quantize, fixScaling); matched bit for bit.
//
//   q = clamp(roundHalfEven(x * 2^fl), lo, hi)     value = q / 2^fl
//   STE mask (backward): lo < r < hi on the rounded, unclamped r; NaN -> q 0, mask 0
// The training forward (fq_fwd_bits) also writes the mask as packed bits for fq_bwd_bits;
// fq_bwd recomputes it from x instead (slower on lavapipe, see src/ops/fakequant.ts).
//
// The fractional length comes from a GPU buffer `fl` (i32), one per layer or one per channel,
// so a length computed on the GPU in the same step is used without a read-back. A value
// outside [0, flmax] is clamped into it (a kernel cannot throw).
//
// Layout: x, y, gy, gx flat, viewed as vec4 (pool buffers are padded to 64 bytes, so the last
// partial vec4 touches padding only). Channel of element i: (i / inner) % C.
//   PER_LAYER: one fl for the tensor (fl[0])
//   SAME_C:    per channel, inner % 4 == 0: a vec4 lies in one channel, c = (i4 / (inner/4)) % C
//   neither:   per channel, any inner: each lane finds its channel
// OUT_INT = 0 writes the fake-quant value y (f32), 1 the integer q (i32).
// Launch: 1-D (Engine.grid1d with WG) over ceil(n4 / UNROLL) threads, n4 = ceil(n / 4) vec4
// lanes; the *_bits kernels over W = ceil(n4 / 8) threads (one mask word each).
// (Every else and endif directive carries a comment: the preprocessor needs whitespace after it.)
#include "common"
#include "fixed_point"

struct Params {
  n4: u32,      // vec4 lanes
  inner: u32,   // values per channel segment or (SAME_C) vec4 lanes per segment
  C: u32,       // channels
  flmax: i32,   // wl - signed
  lo: f32,      // integer bounds as f32
  hi: f32,
  W: u32,       // words of the bit mask: ceil(n4 / 8)
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> fl: array<i32>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> qi: array<vec4<i32>>;
@group(0) @binding(5) var<storage, read> gy: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> gx: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> bits: array<u32>;
@group(0) @binding(8) var<storage, read> mbits: array<u32>;

fn clamp_fl(f: i32) -> i32 {
  return clamp(f, 0, p.flmax);
}

// The fl of each lane of vec4 lane i (per channel).
fn lane_fl(i: u32) -> vec4<i32> {
#if ${SAME_C}
  return vec4<i32>(clamp_fl(fl[(i / p.inner) % p.C]));
#else // lane by lane
  let e = vec4<u32>(i * 4u) + vec4<u32>(0u, 1u, 2u, 3u);
  let c = (e / vec4<u32>(p.inner)) % vec4<u32>(p.C);
  return vec4<i32>(clamp_fl(fl[c.x]), clamp_fl(fl[c.y]), clamp_fl(fl[c.z]), clamp_fl(fl[c.w]));
#endif // SAME_C
}

fn pow2_4(k: vec4<i32>) -> vec4<f32> {
  return bitcast<vec4<f32>>(vec4<u32>(k + vec4<i32>(127)) << vec4<u32>(23u));
}

struct Lane { q: vec4<f32>, mask: vec4<bool>, inv: vec4<f32> }

fn quant_lane(i: u32) -> Lane {
#if ${PER_LAYER}
  // One scale for all lanes: scalar multiplies.
  let f = clamp_fl(fl[0]);
  let r = fx_quant4(x[i], fx_pow2(f), p.lo, p.hi);
  return Lane(r.q, r.mask, vec4<f32>(fx_pow2(-f)));
#else // per-lane scales
  let f = lane_fl(i);
  let r = fx_quant4(x[i] * pow2_4(f), 1.0, p.lo, p.hi);
  return Lane(r.q, r.mask, pow2_4(-f));
#endif // PER_LAYER
}

// Each thread handles UNROLL vec4 lanes, grid-stride (t, t + T, ...; T threads in the launch):
// on lavapipe fewer, longer invocations cut the per-invocation overhead by about a third, and
// the stride keeps a GPU's neighbouring threads on neighbouring addresses.
fn stride(nwg: vec3<u32>) -> u32 {
  return nwg.x * nwg.y * ${WG}u;
}

// y = q / 2^fl (OUT_INT = 0) or qi = q (OUT_INT = 1).
@compute @workgroup_size(${WG}) fn fq_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, ${WG}u);
  let T = stride(nwg);
  for (var j = 0u; j < ${UNROLL}u; j++) {
    let i = t + j * T;
    if (i >= p.n4) { return; }
    let l = quant_lane(i);
#if ${OUT_INT}
    qi[i] = vec4<i32>(l.q);
#else // value
    y[i] = l.q * l.inv;
#endif // OUT_INT
  }
}

// gx = gy where the STE mask passes, else 0; the mask is recomputed from x and fl.
@compute @workgroup_size(${WG}) fn fq_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, ${WG}u);
  let T = stride(nwg);
  for (var j = 0u; j < ${UNROLL}u; j++) {
    let i = t + j * T;
    if (i >= p.n4) { return; }
    gx[i] = select(vec4<f32>(0.0), gy[i], quant_lane(i).mask);
  }
}

// The benchmark's fairest baseline: a plain copy x -> y with the launch shape of fq_fwd.
@compute @workgroup_size(${WG}) fn copy_ref(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, ${WG}u);
  let T = stride(nwg);
  for (var j = 0u; j < ${UNROLL}u; j++) {
    let i = t + j * T;
    if (i >= p.n4) { return; }
    y[i] = x[i];
  }
}

// The STE mask as packed bits, W = ceil(n4 / 8) words: vec4 lane i has nibble i / W of word
// i % W (bit 4*(i / W) + j for its element j). Thread t owns word t and the lanes t + v*W,
// v = 0..7: strided like fq_fwd, and forward and backward agree on the owner of each bit.
@compute @workgroup_size(${WG}) fn fq_fwd_bits(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, ${WG}u);
  if (t >= p.W) { return; }
  var word = 0u;
  for (var v = 0u; v < 8u; v++) {
    let i = t + v * p.W;
    if (i < p.n4) {
      let l = quant_lane(i);
      y[i] = l.q * l.inv;
      let b = select(vec4<u32>(0u), vec4<u32>(1u, 2u, 4u, 8u), l.mask);
      word |= (b.x | b.y | b.z | b.w) << (4u * v);
    }
  }
  bits[t] = word;
}

// gx = gy where the saved bit is set, else 0.
@compute @workgroup_size(${WG}) fn fq_bwd_bits(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, ${WG}u);
  if (t >= p.W) { return; }
  let word = mbits[t];
  for (var v = 0u; v < 8u; v++) {
    let i = t + v * p.W;
    if (i < p.n4) {
      let m = (vec4<u32>(word >> (4u * v)) & vec4<u32>(1u, 2u, 4u, 8u)) != vec4<u32>(0u);
      gx[i] = select(vec4<f32>(0.0), gy[i], m);
    }
  }
}

// fix_scaling (§3): s = 2^fl * |alpha| / (2^(wl - signed) - 1), element k of alpha with fl[k]
// (either may have one element, broadcast over the other's); backward ds/dalpha = sign(alpha) * 2^fl / (2^(wl-signed) - 1).
struct FsParams {
  n: u32,       // elements of the result: max(elements of alpha, elements of fl)
  flAll: u32,   // 1: fl has one element
  alphaAll: u32, // 1: alpha has one element (one clipping level, per-channel lengths)
  flmax: i32,
  den: f32,     // 2^(wl - signed) - 1
}
@group(0) @binding(9) var<uniform> fp: FsParams;
@group(0) @binding(10) var<storage, read> alpha: array<f32>;
@group(0) @binding(11) var<storage, read> sfl: array<i32>;
@group(0) @binding(12) var<storage, read_write> sout: array<f32>;
@group(0) @binding(13) var<storage, read> sgy: array<f32>;

fn fs_ai(k: u32) -> u32 {
  return select(k, 0u, fp.alphaAll == 1u);
}

fn fs_pow2(k: u32) -> f32 {
  return fx_pow2(clamp(sfl[select(k, 0u, fp.flAll == 1u)], 0, fp.flmax));
}

@compute @workgroup_size(64) fn fix_scaling_fwd(@builtin(global_invocation_id) gid: vec3<u32>) {
  let k = gid.x;
  if (k >= fp.n) { return; }
  sout[k] = fs_pow2(k) * abs(alpha[fs_ai(k)]) / fp.den;
}

@compute @workgroup_size(64) fn fix_scaling_bwd(@builtin(global_invocation_id) gid: vec3<u32>) {
  let k = gid.x;
  if (k >= fp.n) { return; }
  sout[k] = sgy[k] * sign(alpha[fs_ai(k)]) * fs_pow2(k) / fp.den;
}
