// Integer re-quantisation of int32 accumulators (F8NET.md §5), exact:
//   out = clamp(shiftRoundHalfEven(relu ? max(acc, 0) : acc, n), lo, hi)
// shiftRoundHalfEven: x / 2^n rounded half to even for n > 0 (arithmetic shift = floor, and a
// bit-mask remainder = floor modulo, with no intermediate that overflows i32), x * 2^-n
// saturated to ±(2^31 - 1) for n < 0, x for n = 0, 0 for n >= 32 (fx_shift_rhe4 in
// include/fixed_point.wgsl). CPU reference: src/quant/int-requant.ts.
//
// Layout: acc and out flat i32, viewed as vec4 (pool buffers are padded to 64 bytes). The shift
// n is i32, one for the tensor (PER_LAYER) or one per channel, channel of element i = (i / inner) % C
// (SAME_C: inner % 4 == 0 and `inner` is given in vec4 lanes; else each lane finds its channel;
// one shift per element is C = n, inner = 1).
// SCALAR_SHIFT = 1 uses the scalar fx_shift_rhe lane by lane (for the int8 kernels that call it;
// tested against the same reference).
// Launch: 1-D over n4 = ceil(n / 4) vec4 lanes (Engine.grid1d with WG).
#include "common"
#include "fixed_point"

struct Params {
  n4: u32,
  inner: u32,
  C: u32,
  relu: u32,   // 1: max(acc, 0) first
  lo: i32,
  hi: i32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> acc: array<vec4<i32>>;
@group(0) @binding(2) var<storage, read> shift: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<i32>>;

fn lane_shift(i: u32) -> vec4<i32> {
#if ${PER_LAYER}
  return vec4<i32>(shift[0]);
#elif ${SAME_C}
  return vec4<i32>(shift[(i / p.inner) % p.C]);
#else // lane by lane
  let c = ((vec4<u32>(i * 4u) + vec4<u32>(0u, 1u, 2u, 3u)) / vec4<u32>(p.inner)) % vec4<u32>(p.C);
  return vec4<i32>(shift[c.x], shift[c.y], shift[c.z], shift[c.w]);
#endif // PER_LAYER
}

@compute @workgroup_size(${WG}) fn requant(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, ${WG}u);
  if (i >= p.n4) { return; }
  let a0 = acc[i];
  let a = select(a0, max(a0, vec4<i32>(0)), p.relu == 1u);
  let n = lane_shift(i);
#if ${SCALAR_SHIFT}
  let s = vec4<i32>(fx_shift_rhe(a.x, n.x), fx_shift_rhe(a.y, n.y), fx_shift_rhe(a.z, n.z), fx_shift_rhe(a.w, n.w));
#else // vector
  let s = fx_shift_rhe4(a, n);
#endif // SCALAR_SHIFT
  out[i] = clamp(s, vec4<i32>(p.lo), vec4<i32>(p.hi));
}
