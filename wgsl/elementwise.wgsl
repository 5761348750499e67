// Elementwise f32 kernels, forward and backward.
// Layout: flat arrays viewed as vec4<f32>; pool buffers are padded to 64 bytes, so the last
// partial vec4 reads and writes padding that no tensor element occupies.
// Launch: 1-D over n4 = ceil(n / 4) vec4 lanes (Engine.grid1d with WG).
#include "common"

struct Params { n4: u32, a: f32, b: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> y: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;

// out = a * x + b * y  (add: a=b=1, sub: a=1,b=-1)
@compute @workgroup_size(${WG}) fn axpby(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, ${WG}u);
  if (i >= p.n4) { return; }
  out[i] = p.a * x[i] + p.b * y[i];
}

// out = a * x * y
@compute @workgroup_size(${WG}) fn mul(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, ${WG}u);
  if (i >= p.n4) { return; }
  out[i] = p.a * x[i] * y[i];
}

// out = a * x + b
@compute @workgroup_size(${WG}) fn affine(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, ${WG}u);
  if (i >= p.n4) { return; }
  out[i] = p.a * x[i] + vec4<f32>(p.b);
}

// out = a
@compute @workgroup_size(${WG}) fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, ${WG}u);
  if (i >= p.n4) { return; }
  out[i] = vec4<f32>(p.a);
}

// out = clamp(x, a, b); relu is clamp(x, 0, +inf). NaN stays NaN (select, not min/max).
@compute @workgroup_size(${WG}) fn clamp_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, ${WG}u);
  if (i >= p.n4) { return; }
  let v = x[i];
  out[i] = select(select(v, vec4<f32>(p.b), v > vec4<f32>(p.b)), vec4<f32>(p.a), v < vec4<f32>(p.a));
}

// out = y where a < x < b else 0  (x: forward input, y: upstream gradient)
@compute @workgroup_size(${WG}) fn clamp_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, ${WG}u);
  if (i >= p.n4) { return; }
  let v = x[i];
  let pass_ = (v > vec4<f32>(p.a)) & (v < vec4<f32>(p.b));
  out[i] = select(vec4<f32>(0.0), y[i], pass_);
}

// Integer counters (accuracy counts, step counters): outi = xi + yi, with wrapping i32 adds.
@group(0) @binding(4) var<storage, read> xi: array<i32>;
@group(0) @binding(5) var<storage, read> yi: array<i32>;
@group(0) @binding(6) var<storage, read_write> outi: array<i32>;

@compute @workgroup_size(${WG}) fn add_i32(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, ${WG}u);
  if (i >= p.n4 * 4u) { return; }
  outi[i] = xi[i] + yi[i];
}

// out = x * s[0] (a = 1) or x / s[0] (a = -1), s a one-element tensor (a learned scale).
@group(0) @binding(7) var<storage, read> sc: array<f32>;
@compute @workgroup_size(${WG}) fn scale_by_tensor(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, ${WG}u);
  if (i >= p.n4) { return; }
  let s = sc[0];
  out[i] = select(x[i] / s, x[i] * s, p.a > 0.0);
}

// out = (a * x)^b for a * x > 0 (statistics: 1/sqrt(fan_out * var) is b = -0.5); 0 elsewhere.
@compute @workgroup_size(${WG}) fn pow_affine(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, ${WG}u);
  if (i >= p.n4) { return; }
  let v = p.a * x[i];
  out[i] = select(vec4<f32>(0.0), pow(max(v, vec4<f32>(1e-30)), vec4<f32>(p.b)), v > vec4<f32>(0.0));
}

// Gradient of pow_affine: y * g * a * b / (a x) = g * b * (a x)^(b - 1) * a   (x: input, y: upstream gradient)
@compute @workgroup_size(${WG}) fn pow_affine_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, ${WG}u);
  if (i >= p.n4) { return; }
  let v = p.a * x[i];
  let d = p.a * p.b * pow(max(v, vec4<f32>(1e-30)), vec4<f32>(p.b - 1.0));
  out[i] = select(vec4<f32>(0.0), y[i] * d, v > vec4<f32>(0.0));
}

// out = 2^(xi - yi) for i32 inputs, exactly (ldexp): the ratio of two fix scalings that share one
// clipping level, 2^fl_a * alpha / L over 2^fl_b * alpha / L. Four elements per lane (padded buffers).
@compute @workgroup_size(${WG}) fn pow2_diff(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, ${WG}u);
  if (i >= p.n4) { return; }
  let j = 4u * i;
  out[i] = vec4<f32>(ldexp(1.0, xi[j] - yi[j]), ldexp(1.0, xi[j + 1u] - yi[j + 1u]), ldexp(1.0, xi[j + 2u] - yi[j + 2u]), ldexp(1.0, xi[j + 3u] - yi[j + 3u]));
}
