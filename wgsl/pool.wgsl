// Pooling over the H x W planes of NCHW f32 tensors: max and average pooling (per-axis kernel,
// stride, padding; floor output size), their gradients, and global average pooling.
//
// Windows: output (oh, ow) covers input rows oh*sh - ph .. + kh and columns ow*sw - pw .. + kw,
// clipped to the plane (padding never wins a max and is counted by an average only when
// include_pad = 1, PyTorch's count_include_pad). Max picks PyTorch's element: the first maximal
// one in row-major scan order of the clipped window (a NaN wins over numbers: the last NaN);
// idx holds its plane-local index ih*W + iw (i32), as PyTorch's indices do.
//
// Launch: threads walk rows, R consecutive elements each (S segments per row), so the integer
// divisions that locate a row are paid once per R elements (lavapipe has no vector divide).
//   max_fwd / avg_fwd:  rows = planes*OH output rows
//   pool_bwd:           rows = planes*H input rows (MAX = 1: max; 0: average); gathers, no atomics: each input element sums,
//                       in a fixed order, the gradients of the windows that cover it (max: that
//                       chose it)
//   gap_fwd:            one thread per plane (units: vec4 when H*W % 4 == 0, VEC4 = 1)
//   gap_bwd:            planes*S threads, R units each
// ARGMAX = 1 makes max_fwd store idx (only when a gradient is needed).
#include "common"

// (No commas in these comments: the engine splits the struct on them.)
struct Params {
  H: u32,
  W: u32,
  OH: u32,
  OW: u32,
  kh: u32,
  kw: u32,
  sh: u32,
  sw: u32,
  ph: u32,
  pw: u32,
  rows: u32,        // launch rows
  S: u32,           // segments per row
  R: u32,           // elements (units for gap) per segment
  include_pad: u32, // avg: divide by kh*kw (1) or by the valid elements (0)
  planes: u32,      // N*C
  hwv: u32,         // gap: units per plane
  hwf: f32,         // gap: H*W
}
@group(0) @binding(0) var<uniform> p: Params;

#if ${VEC4}
alias VT = vec4<f32>;
fn hsum(v: VT) -> f32 { return v.x + v.y + v.z + v.w; }
#else // not VEC4
alias VT = f32;
fn hsum(v: VT) -> f32 { return v; }
#endif // VEC4

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> idx: array<i32>;
@group(0) @binding(4) var<storage, read> gy: array<f32>;
@group(0) @binding(5) var<storage, read_write> gx: array<f32>;
// Global pooling reads and writes whole planes in VT units.
@group(0) @binding(6) var<storage, read> xp: array<VT>;
@group(0) @binding(7) var<storage, read_write> gxp: array<VT>;

// Row segment of thread t: (row, first element, end element) with the row length `len`.
fn segment(t: u32, len: u32) -> vec3<u32> {
  let row = t / p.S;
  let e0 = (t - row * p.S) * p.R;
  return vec3<u32>(row, e0, min(e0 + p.R, len));
}

@compute @workgroup_size(${WG}) fn max_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, ${WG}u);
  if (t >= p.rows * p.S) { return; }
  let sg = segment(t, p.OW);
  let q = sg.x / p.OH;
  let oh = sg.x - q * p.OH;
  let ih0 = i32(oh * p.sh) - i32(p.ph);
  let hs = max(ih0, 0);
  let he = min(ih0 + i32(p.kh), i32(p.H));
  let W = i32(p.W);
  let xb = q * p.H * p.W;
  var iw0 = i32(sg.y * p.sw) - i32(p.pw);
  for (var ow = sg.y; ow < sg.z; ow++) {
    let ws = max(iw0, 0);
    let we = min(iw0 + i32(p.kw), W);
    var bi = hs * W + ws;
    var best = x[xb + u32(bi)];
    for (var ih = hs; ih < he; ih++) {
      for (var iw = ws; iw < we; iw++) {
        let k = ih * W + iw;
        let v = x[xb + u32(k)];
        if (v > best || v != v) {
          best = v;
          bi = k;
        }
      }
    }
    y[sg.x * p.OW + ow] = best;
#if ${ARGMAX}
    idx[sg.x * p.OW + ow] = bi;
#endif // ARGMAX
    iw0 += i32(p.sw);
  }
}

@compute @workgroup_size(${WG}) fn avg_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, ${WG}u);
  if (t >= p.rows * p.S) { return; }
  let sg = segment(t, p.OW);
  let q = sg.x / p.OH;
  let oh = sg.x - q * p.OH;
  let ih0 = i32(oh * p.sh) - i32(p.ph);
  let hs = max(ih0, 0);
  let he = min(ih0 + i32(p.kh), i32(p.H));
  let W = i32(p.W);
  let xb = q * p.H * p.W;
  var iw0 = i32(sg.y * p.sw) - i32(p.pw);
  for (var ow = sg.y; ow < sg.z; ow++) {
    let ws = max(iw0, 0);
    let we = min(iw0 + i32(p.kw), W);
    var s = 0.0;
    for (var ih = hs; ih < he; ih++) {
      for (var iw = ws; iw < we; iw++) { s += x[xb + u32(ih * W + iw)]; }
    }
    let dv = select(f32((he - hs) * (we - ws)), f32(p.kh * p.kw), p.include_pad == 1u);
    y[sg.x * p.OW + ow] = s / dv;
    iw0 += i32(p.sw);
  }
}

// Gradient of max (MAX = 1) or average (MAX = 0) pooling at a segment of an input row: windows
// (oh, ow) with oh*sh <= ih + ph < oh*sh + kh (same for columns), visited from the last one back.
// Column bounds are stepped along the row: no division per element.
@compute @workgroup_size(${WG}) fn pool_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, ${WG}u);
  if (t >= p.rows * p.S) { return; }
  let sg = segment(t, p.W);
  let q = sg.x / p.H;
  let ih = sg.x - q * p.H;
  let ah = ih + p.ph;
  let oh_hi = i32(min(ah / p.sh, p.OH - 1u));
  var a = sg.y + p.pw;
  var qw = a / p.sw;
  var rw = a - qw * p.sw;
  for (var iw = sg.y; iw < sg.z; iw++) {
    let ow_hi = i32(min(qw, p.OW - 1u));
    var s = 0.0;
    for (var oh = oh_hi; oh >= 0 && u32(oh) * p.sh + p.kh > ah; oh--) {
      for (var ow = ow_hi; ow >= 0 && u32(ow) * p.sw + p.kw > a; ow--) {
        let o = (q * p.OH + u32(oh)) * p.OW + u32(ow);
#if ${MAX}
        if (idx[o] == i32(ih * p.W + iw)) { s += gy[o]; }
#else // not MAX
        var dv = f32(p.kh * p.kw);
        if (p.include_pad == 0u) {
          let h0 = i32(u32(oh) * p.sh) - i32(p.ph);
          let w0 = i32(u32(ow) * p.sw) - i32(p.pw);
          dv = f32((min(h0 + i32(p.kh), i32(p.H)) - max(h0, 0)) * (min(w0 + i32(p.kw), i32(p.W)) - max(w0, 0)));
        }
        s += gy[o] / dv;
#endif // MAX
      }
    }
    gx[sg.x * p.W + iw] = s;
    a++;
    rw++;
    if (rw == p.sw) { rw = 0u; qw++; }
  }
}

// Mean of each plane, summed in VT-wide registers.
@compute @workgroup_size(${WG}) fn gap_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = linear_index(gid, nwg, ${WG}u);
  if (q >= p.planes) { return; }
  var s = VT(0.0);
  for (var i = q * p.hwv; i < (q + 1u) * p.hwv; i++) { s += xp[i]; }
  y[q] = hsum(s) / p.hwf;
}

// gx[plane, :] = gy[plane] / (H*W).
@compute @workgroup_size(${WG}) fn gap_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg, ${WG}u);
  if (t >= p.planes * p.S) { return; }
  let sg = segment(t, p.hwv);
  let v = VT(gy[sg.x] / p.hwf);
  for (var i = sg.x * p.hwv + sg.y; i < sg.x * p.hwv + sg.z; i++) { gxp[i] = v; }
}
