// One SGD step of one parameter, in place, with PyTorch's semantics (torch.optim.SGD):
//   d = grad + wd * w                          (weight decay; wd = 0 when filtered out)
//   b = first ? d : momentum * b + (1 - dampening) * d
//   d = nesterov ? d + momentum * b : b        (MOMENTUM = 1 only)
//   w = w - lr * d
// lr and the rest are uniforms, so a schedule changes them without a read-back or a recompile.
// Layout: w, grad and the momentum buffer b are flat f32 arrays viewed as vec4; pool buffers
// are padded to 64 bytes, so the last partial vec4 touches only padding.
// Launch: 1-D over n4 = ceil(n / 4) vec4 lanes (Engine.grid1d with WG).
#include "common"

// (No commas in these comments: the engine splits the struct on them.)
struct Params {
  n4: u32,
  lr: f32,
  momentum: f32,
  undamped: f32, // 1 - dampening (computed in f64 on the CPU as PyTorch does)
  wd: f32,
  nesterov: u32,  // 1: Nesterov momentum
  first: u32,     // 1: the momentum buffer is new and takes d as it is
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> w: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> buf: array<vec4<f32>>;

@compute @workgroup_size(${WG}) fn sgd_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, ${WG}u);
  if (i >= p.n4) { return; }
  let wi = w[i];
  var d = grad[i];
  if (p.wd != 0.0) { d += p.wd * wi; }
#if ${MOMENTUM}
  var b = d;
  if (p.first == 0u) { b = p.momentum * buf[i] + p.undamped * d; }
  buf[i] = b;
  if (p.nesterov == 1u) { d += p.momentum * b; } else { d = b; }
#endif // MOMENTUM
  w[i] = wi - p.lr * d;
}
