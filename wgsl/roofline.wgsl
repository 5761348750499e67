// Roofline probes: the adapter's own ceilings, measured on the spot by src/bench/roofline.ts.
//  copy       dst = src over n4 vec4<f32> (reads and writes 32 bytes per vec4): memory bandwidth.
//  fma_peak   8 independent chains of vec4<f32> fma(a, m, c) per thread, iters steps each:
//             64 flops per thread and step, operands in registers (no memory traffic).
//  imad_peak  the same with vec4<i32> a * m + x (the unpacked int8 path's multiply-add):
//             64 integer ops per thread and step.
//  dot4_peak  8 chains of dot4I8Packed(a, w) + x (only where the adapter has the packed
//             integer dot product): 4 multiply-adds, 8 ops, per dot; 64 ops per thread and step.
// The chains feed each result into the next step, so the compiler can neither hoist nor sum the
// loop in closed form; the uniforms m, c, w keep it from folding constants. One vec4 per thread
// is written out so that nothing is dead code.
// Launch: 1-D over n4 threads (Engine.grid1d with WG); fma/imad/dot4 write out[i] for i < n4.
#include "common"
#if ${DOT4}
requires packed_4x8_integer_dot_product;
#endif // DOT4

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

@compute @workgroup_size(${WG}) fn fma_peak(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, ${WG}u);
  let m = vec4<f32>(p.m);
  let c = vec4<f32>(p.c);
  var a0 = vec4<f32>(f32(i & 1023u) * 1e-3, 0.1, 0.2, 0.3);
  var a1 = a0 + 0.01;
  var a2 = a0 + 0.02;
  var a3 = a0 + 0.03;
  var a4 = a0 + 0.04;
  var a5 = a0 + 0.05;
  var a6 = a0 + 0.06;
  var a7 = a0 + 0.07;
  for (var k = 0u; k < p.iters; k++) {
    a0 = fma(a0, m, c);
    a1 = fma(a1, m, c);
    a2 = fma(a2, m, c);
    a3 = fma(a3, m, c);
    a4 = fma(a4, m, c);
    a5 = fma(a5, m, c);
    a6 = fma(a6, m, c);
    a7 = fma(a7, m, c);
  }
  if (i < p.n4) { dst[i] = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)); }
}

@compute @workgroup_size(${WG}) fn imad_peak(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, ${WG}u);
  let m = vec4<i32>(i32(p.m));
  let x = vec4<i32>(i32(i), 1, 2, 3);
  var a0 = x;
  var a1 = x + 1;
  var a2 = x + 2;
  var a3 = x + 3;
  var a4 = x + 4;
  var a5 = x + 5;
  var a6 = x + 6;
  var a7 = x + 7;
  for (var k = 0u; k < p.iters; k++) {
    a0 = a0 * m + x;
    a1 = a1 * m + x;
    a2 = a2 * m + x;
    a3 = a3 * m + x;
    a4 = a4 * m + x;
    a5 = a5 * m + x;
    a6 = a6 * m + x;
    a7 = a7 * m + x;
  }
  if (i < p.n4) { idst[i] = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)); }
}

#if ${DOT4}
@compute @workgroup_size(${WG}) fn dot4_peak(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, ${WG}u);
  let w = bitcast<u32>(i32(p.m)) * 0x01010101u;
  let x = i32(i & 255u);
  var a0 = x;
  var a1 = x + 1;
  var a2 = x + 2;
  var a3 = x + 3;
  var a4 = x + 4;
  var a5 = x + 5;
  var a6 = x + 6;
  var a7 = x + 7;
  for (var k = 0u; k < p.iters; k++) {
    a0 = dot4I8Packed(bitcast<u32>(a0), w) + x;
    a1 = dot4I8Packed(bitcast<u32>(a1), w) + x;
    a2 = dot4I8Packed(bitcast<u32>(a2), w) + x;
    a3 = dot4I8Packed(bitcast<u32>(a3), w) + x;
    a4 = dot4I8Packed(bitcast<u32>(a4), w) + x;
    a5 = dot4I8Packed(bitcast<u32>(a5), w) + x;
    a6 = dot4I8Packed(bitcast<u32>(a6), w) + x;
    a7 = dot4I8Packed(bitcast<u32>(a7), w) + x;
  }
  if (i < p.n4) { idst[i] = vec4<i32>((a0 + a1) + (a2 + a3), (a4 + a5) + (a6 + a7), 0, 0); }
}
#endif // DOT4
