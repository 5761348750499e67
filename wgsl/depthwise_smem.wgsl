// Depthwise conv forward, NCHW f32, in the classic shared-memory form GPUs prefer (the tuner's
// SMEM variant of depthwise.fwd; wgsl/depthwise.wgsl is the default):
//   y[n, o, oh, ow] = sum_(kh, kw) x[n, o / div, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw] * w[o, 0, kh, kw] (+ bias[o])
// with div = O / C (the channel multiplier). A workgroup of 16 x 16 threads owns a 16 x 16 output
// tile of one (n, o) plane: it stages the input halo (15*sh + (KH-1)*dh + 1) x (15*sw + (KW-1)*dw + 1)
// (at most 48 x 48; zero outside the image: the padding) and the KH*KW (<= 64) weights in workgroup
// memory, then each thread computes one output from there, so each input value is read from
// storage once instead of KH*KW times. The op falls back to depthwise.wgsl where the halo or the
// kernel does not fit. Launch: workgroups (ceil(OW / 16), ceil(OH / 16), N * O).
// On lavapipe the barrier and the staging cost more than they save (see matmul_smem.wgsl).
// (Directives carry trailing comments and comments avoid the hash sign: see matmul.wgsl.)
struct Params {
  N: u32, C: u32, H: u32, W: u32, O: u32, OH: u32, OW: u32, KH: u32, KW: u32,
  sh: u32, sw: u32, ph: i32, pw: i32, dh: u32, dw: u32, div: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

var<workgroup> tileX: array<f32, 2304>; // 48 x 48 halo
var<workgroup> wk: array<f32, 64>;

@compute @workgroup_size(16, 16) fn dw_smem(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let plane = wid.z;
  let n = plane / p.O;
  let o = plane % p.O;
  let ci = o / p.div;
  let oh0 = wid.y * 16u;
  let ow0 = wid.x * 16u;
  let TH = 15u * p.sh + (p.KH - 1u) * p.dh + 1u;
  let TW = 15u * p.sw + (p.KW - 1u) * p.dw + 1u;
  let ih0 = i32(oh0 * p.sh) - p.ph;
  let iw0 = i32(ow0 * p.sw) - p.pw;
  let t = lid.y * 16u + lid.x;
  let base = (n * p.C + ci) * p.H;
  for (var i = t; i < TH * TW; i += 256u) {
    let ih = ih0 + i32(i / TW);
    let iw = iw0 + i32(i % TW);
    var v = 0.0;
    if (ih >= 0 && iw >= 0 && ih < i32(p.H) && iw < i32(p.W)) { v = x[(base + u32(ih)) * p.W + u32(iw)]; }
    tileX[i] = v;
  }
  let taps = p.KH * p.KW;
  if (t < taps) { wk[t] = w[o * taps + t]; }
  workgroupBarrier();
  var acc = 0.0;
  for (var kh = 0u; kh < p.KH; kh++) {
    let row = (lid.y * p.sh + kh * p.dh) * TW + lid.x * p.sw;
    for (var kw = 0u; kw < p.KW; kw++) {
      acc = fma(tileX[row + kw * p.dw], wk[kh * p.KW + kw], acc);
    }
  }
  let oh = oh0 + lid.y;
  let ow = ow0 + lid.x;
  if (oh < p.OH && ow < p.OW) {
#if ${BIAS}
    acc += bias[o];
#endif // BIAS
    y[((n * p.O + o) * p.OH + oh) * p.OW + ow] = acc;
  }
}
