// Roofline probes: the adapter's own ceilings, measured on the spot by src/bench/roofline.ts.
//  copy   dst = src over n4 vec4<f32> (reads and writes 32 bytes per vec4): memory bandwidth.
//  peak   8 independent chains of one multiply-add step per thread, iters steps each, operands
//         in registers (no memory traffic); the step is chosen by the defines:
//           F32             vec4<f32> fma(a, m, c): 8 chains x 4 lanes x 2 = 64 flops per
//                           thread and step.
//           not F32, DOT4   dot4I8Packed(a, w) + x (only where the adapter has the packed
//                           integer dot product): 4 multiply-adds, 8 ops, per dot; 64 ops per
//                           thread and step.
//           neither         vec4<i32> a * m + x (the unpacked int8 path's multiply-add):
//                           64 integer ops per thread and step.
// The chains feed each result into the next step, so the compiler can neither hoist nor sum the
// loop in closed form; the uniforms m, c (w) keep it from folding constants. One vec4 per thread
// is written out so that nothing is dead code.
// Launch: 1-D over n4 threads (Engine.grid1d with WG); peak writes dst (F32) or idst for i < n4.
// The directive comes before every declaration, the included ones too.
#if ${DOT4}
requires packed_4x8_integer_dot_product;
#endif // DOT4
#include "common"

struct Params { n4: u32, iters: u32, m: f32, c: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> idst: array<vec4<i32>>;

@compute @workgroup_size(${WG}) fn copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, ${WG}u);
  if (i >= p.n4) { return; }
  dst[i] = src[i];
}

// One chain's value (Acc), the loop's constants (Ctx), the first value of chain k, one step,
// and the write of the two half sums.
#if ${F32}
alias Acc = vec4<f32>;
struct Ctx { m: vec4<f32>, c: vec4<f32> }
fn ctx(i: u32) -> Ctx { return Ctx(vec4<f32>(p.m), vec4<f32>(p.c)); }
fn seed(i: u32, k: u32) -> Acc { return vec4<f32>(f32(i & 1023u) * 1e-3, 0.1, 0.2, 0.3) + 0.01 * f32(k); }
fn mad(a: Acc, q: Ctx) -> Acc { return fma(a, q.m, q.c); }
fn store(i: u32, lo: Acc, hi: Acc) { dst[i] = lo + hi; }
#elif ${DOT4}
alias Acc = i32;
struct Ctx { w: u32, x: i32 }
fn ctx(i: u32) -> Ctx { return Ctx(bitcast<u32>(i32(p.m)) * 0x01010101u, i32(i & 255u)); }
fn seed(i: u32, k: u32) -> Acc { return i32(i & 255u) + i32(k); }
fn mad(a: Acc, q: Ctx) -> Acc { return dot4I8Packed(bitcast<u32>(a), q.w) + q.x; }
fn store(i: u32, lo: Acc, hi: Acc) { idst[i] = vec4<i32>(lo, hi, 0, 0); }
#else // imad
alias Acc = vec4<i32>;
struct Ctx { m: vec4<i32>, x: vec4<i32> }
fn ctx(i: u32) -> Ctx { return Ctx(vec4<i32>(i32(p.m)), vec4<i32>(i32(i), 1, 2, 3)); }
fn seed(i: u32, k: u32) -> Acc { return vec4<i32>(i32(i), 1, 2, 3) + i32(k); }
fn mad(a: Acc, q: Ctx) -> Acc { return a * q.m + q.x; }
fn store(i: u32, lo: Acc, hi: Acc) { idst[i] = lo + hi; }
#endif // F32

@compute @workgroup_size(${WG}) fn peak(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, ${WG}u);
  let q = ctx(i);
  var a0 = seed(i, 0u);
  var a1 = seed(i, 1u);
  var a2 = seed(i, 2u);
  var a3 = seed(i, 3u);
  var a4 = seed(i, 4u);
  var a5 = seed(i, 5u);
  var a6 = seed(i, 6u);
  var a7 = seed(i, 7u);
  for (var k = 0u; k < p.iters; k++) {
    a0 = mad(a0, q);
    a1 = mad(a1, q);
    a2 = mad(a2, q);
    a3 = mad(a3, q);
    a4 = mad(a4, q);
    a5 = mad(a5, q);
    a6 = mad(a6, q);
    a7 = mad(a7, q);
  }
  if (i < p.n4) { store(i, (a0 + a1) + (a2 + a3), (a4 + a5) + (a6 + a7)); }
}
