// Integer-only element and pooling ops of the exported model (F8NET.md §5) on packed 8-bit
// activations, with the epilogue of include/int8_pack.wgsl. CPU reference: src/ops/int8.ref.ts.
//
// Layouts: packed activations [N, C4, S] words (C4 = ceil(C / 4), S = H * W or 1; channels in
// blocks of 4 along the channel axis, zero-padded; include/int8_pack.wgsl); raw i32 tensors are
// plain [N, C, S]. Every kernel runs one thread per word (4 channels of one position), 1-D
// launch of p.count threads folded past 65535 workgroups (Engine.grid1d, WG 64).
//
// Operands (opa, opb) are of a kind: 0 raw i32 [N, C, S], 1 packed signed, 2 packed unsigned.
//
// pack      i32 codes [N, C, S] -> packed words (the low byte of each code; zero padding).
// unpack    packed words -> i32 [N, C, S], signed or unsigned codes.
// flatten   packed [N, C4, S] -> packed [N, K4] with K = C * S, element k = c * S + s (the
//           row-major flattening a linear layer reads); one thread per output word.
// residual  r(a) * 2^ma * 2^ml + r(b) * 2^mb * 2^ml exact, clamped to -+(2^31 - 1), then the
//           epilogue; r = max(., 0) where relu_a / relu_b. min(ma, mb) = 0 (the op moves the
//           common part of the two left shifts to ml: clamping before a left shift by ml and
//           saturating it gives the clamp of the exact product, as 2^ml >= 1 keeps the sign
//           and the out-of-range side).
// residual_dual  residual with two outputs in one pass: y (the add's own epilogue, raw i32 or
//           packed) and y2, packed codes through a second epilogue (relu2, shift2 / shift0_2,
//           lo2, hi2) applied to y's value (raw y), or to the sum itself (packed y, whose own
//           epilogue is then a re-quantisation of an identity add). So an add read by a conv's
//           re-quantisation and by the next residual, or by two re-quantisations, is one pass
//           instead of two or three (src/export/run-gpu.ts); CPU reference: the two ops in turn.
// requant   the epilogue alone on operand a: f8net's one GPU re-quantisation (int8Requant; on
//           plain i32 in and out with any clamp, requantize and shiftRoundHalfEven of
//           src/ops/requant.ts). SCALAR_SHIFT = 1 (tests only) shifts with the scalar
//           fx_shift_rhe lane by lane, the helper residual uses.
// maxpool   max over the clipped window, values unchanged (PyTorch floor rule, padding <= k/2):
//           packed codes -> packed codes, or i32 -> i32 (a_kind).
// sumpool   sum over S (global pool, wrapping i32) of packed codes or i32 (a_kind), then the
//           epilogue (raw i32 [N, C] or packed [N, C4]); with divisor > 1 (the paper's pool
//           form) the epilogue rounds sum * 2^-n / divisor once (fx_div_rhe), codes out.
#include "common"
#include "int8_pack"

struct Params {
  N: u32, C: u32, C4: u32, S: u32, count: u32,
  H: u32, W: u32, OH: u32, OW: u32, kh: u32, kw: u32, sh: u32, sw: u32, ph: i32, pw: i32,
  a_kind: u32, b_kind: u32, ma: u32, mb: u32, ml: u32, relu_a: u32, relu_b: u32, signed: u32, K: u32, K4: u32,
  // epilogue
  relu: u32, per_channel: u32, shift0: i32, lo: i32, hi: i32, packed: u32,
  // second epilogue (residual_dual; always packed codes)
  relu2: u32, per_channel2: u32, shift0_2: i32, lo2: i32, hi2: i32,
  // sumpool: > 1 divides the sum by it in the epilogue's rounding (fx_div_rhe; codes out)
  divisor: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> opa: array<u32>;
@group(0) @binding(2) var<storage, read> opb: array<u32>;
@group(0) @binding(3) var<storage, read> shift: array<i32>;
@group(0) @binding(4) var<storage, read_write> y: array<u32>;
@group(0) @binding(5) var<storage, read> shift2: array<i32>;
@group(0) @binding(6) var<storage, read_write> y2: array<u32>;

// Word index i of [N, C4, S] -> (n, first channel c0, s).
fn word_pos(i: u32) -> vec3<u32> {
  return vec3<u32>(i / (p.S * p.C4), ((i / p.S) % p.C4) * 4u, i % p.S);
}

fn channels_valid(c0: u32) -> vec4<bool> {
  return vec4<u32>(c0) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.C);
}

// Epilogue shifts of channels c0 .. c0+3 (an unread stand-in buffer is bound when per_channel = 0).
fn shift4(c0: u32) -> vec4<i32> {
  var n: vec4<i32>;
  for (var l = 0u; l < 4u; l++) { n[l] = select(p.shift0, shift[min(c0 + l, arrayLength(&shift) - 1u)], p.per_channel == 1u); }
  return n;
}

// Writes 4 channels: one packed word (invalid channels 0) or up to 4 raw i32 values.
fn store4(i: u32, pos: vec3<u32>, v: vec4<i32>) {
  let valid = channels_valid(pos.y);
  if (p.packed == 1u) {
    y[i] = i8_pack(select(vec4<i32>(0), v, valid));
  } else {
    for (var l = 0u; l < 4u; l++) {
      if (valid[l]) { y[(pos.x * p.C + pos.y + l) * p.S + pos.z] = bitcast<u32>(v[l]); }
    }
  }
}

fn epilogue4(v: vec4<i32>, c0: u32) -> vec4<i32> {
#if ${SCALAR_SHIFT}
  // The scalar fx_shift_rhe lane by lane (the residual's helper), for its exhaustive test.
  let a = select(v, max(v, vec4<i32>(0)), p.relu == 1u);
  let n = shift4(c0);
  let s = vec4<i32>(fx_shift_rhe(a.x, n.x), fx_shift_rhe(a.y, n.y), fx_shift_rhe(a.z, n.z), fx_shift_rhe(a.w, n.w));
  return clamp(s, vec4<i32>(p.lo), vec4<i32>(p.hi));
#else // vector
  return i8_requant4(v, p.relu == 1u, shift4(c0), p.lo, p.hi);
#endif // SCALAR_SHIFT
}

@compute @workgroup_size(64) fn pack(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 64u);
  if (i >= p.count) { return; }
  let pos = word_pos(i);
  let valid = channels_valid(pos.y);
  var v: vec4<i32>;
  for (var l = 0u; l < 4u; l++) {
    v[l] = select(0, bitcast<i32>(opa[min((pos.x * p.C + pos.y + l) * p.S + pos.z, arrayLength(&opa) - 1u)]), valid[l]);
  }
  y[i] = i8_pack(v);
}

@compute @workgroup_size(64) fn unpack(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 64u);
  if (i >= p.count) { return; }
  let pos = word_pos(i);
  let valid = channels_valid(pos.y);
  let v = i8_unpack_as(opa[i], p.signed == 1u);
  for (var l = 0u; l < 4u; l++) {
    if (valid[l]) { y[(pos.x * p.C + pos.y + l) * p.S + pos.z] = bitcast<u32>(v[l]); }
  }
}

// Four raw i32 channels c0 .. c0+3 of (n, s) = (pos.x, pos.z) from [N, C, S]; 0 past C.
fn raw_a(pos: vec3<u32>) -> vec4<i32> {
  let valid = channels_valid(pos.y);
  var v: vec4<i32>;
  for (var l = 0u; l < 4u; l++) {
    v[l] = select(0, bitcast<i32>(opa[min((pos.x * p.C + pos.y + l) * p.S + pos.z, arrayLength(&opa) - 1u)]), valid[l]);
  }
  return v;
}

fn operand_a(i: u32, pos: vec3<u32>) -> vec4<i32> {
  if (p.a_kind != 0u) { return i8_unpack_as(opa[i], p.a_kind == 1u); }
  return raw_a(pos);
}

fn operand_b(i: u32, pos: vec3<u32>) -> vec4<i32> {
  if (p.b_kind != 0u) { return i8_unpack_as(opb[i], p.b_kind == 1u); }
  let valid = channels_valid(pos.y);
  var v: vec4<i32>;
  for (var l = 0u; l < 4u; l++) {
    v[l] = select(0, bitcast<i32>(opb[min((pos.x * p.C + pos.y + l) * p.S + pos.z, arrayLength(&opb) - 1u)]), valid[l]);
  }
  return v;
}

@compute @workgroup_size(64) fn residual(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 64u);
  if (i >= p.count) { return; }
  let pos = word_pos(i);
  let a0 = operand_a(i, pos);
  let b0 = operand_b(i, pos);
  let av = select(a0, max(a0, vec4<i32>(0)), p.relu_a == 1u);
  let bv = select(b0, max(b0, vec4<i32>(0)), p.relu_b == 1u);
  var v: vec4<i32>;
  for (var l = 0u; l < 4u; l++) { v[l] = fx_shift_rhe(i8_add_sat(av[l], p.ma, bv[l], p.mb), -i32(p.ml)); }
  store4(i, pos, epilogue4(v, pos.y));
}

@compute @workgroup_size(64) fn residual_dual(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 64u);
  if (i >= p.count) { return; }
  let pos = word_pos(i);
  let a0 = operand_a(i, pos);
  let b0 = operand_b(i, pos);
  let av = select(a0, max(a0, vec4<i32>(0)), p.relu_a == 1u);
  let bv = select(b0, max(b0, vec4<i32>(0)), p.relu_b == 1u);
  var v: vec4<i32>;
  for (var l = 0u; l < 4u; l++) { v[l] = fx_shift_rhe(i8_add_sat(av[l], p.ma, bv[l], p.mb), -i32(p.ml)); }
  let o1 = epilogue4(v, pos.y);
  store4(i, pos, o1);
  var n2: vec4<i32>;
  for (var l = 0u; l < 4u; l++) { n2[l] = select(p.shift0_2, shift2[min(pos.y + l, arrayLength(&shift2) - 1u)], p.per_channel2 == 1u); }
  let o2 = i8_requant4(select(o1, v, p.packed == 1u), p.relu2 == 1u, n2, p.lo2, p.hi2);
  y2[i] = i8_pack(select(vec4<i32>(0), o2, channels_valid(pos.y)));
}

@compute @workgroup_size(64) fn requant(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 64u);
  if (i >= p.count) { return; }
  let pos = word_pos(i);
  store4(i, pos, epilogue4(operand_a(i, pos), pos.y));
}

@compute @workgroup_size(64) fn flatten(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 64u);
  if (i >= p.count) { return; }
  let n = i / p.K4;
  let k0 = (i % p.K4) * 4u;
  var word = 0u;
  for (var l = 0u; l < 4u; l++) {
    let k = k0 + l;
    let c = k / p.S;
    let src = opa[min((n * p.C4 + c / 4u) * p.S + k % p.S, arrayLength(&opa) - 1u)];
    let byte = select(0u, (src >> (8u * (c % 4u))) & 0xffu, k < p.K);
    word |= byte << (8u * l);
  }
  y[i] = word;
}

@compute @workgroup_size(64) fn maxpool(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 64u);
  if (i >= p.count) { return; }
  let ow = i % p.OW;
  let oh = (i / p.OW) % p.OH;
  let plane = i / (p.OW * p.OH);
  let hs = i32(oh * p.sh) - p.ph;
  let ws = i32(ow * p.sw) - p.pw;
  let h0 = u32(max(hs, 0));
  let h1 = u32(min(hs + i32(p.kh), i32(p.H)));
  let w0 = u32(max(ws, 0));
  let w1 = u32(min(ws + i32(p.kw), i32(p.W)));
  let signed = p.signed == 1u;
  // The window is never empty (padding <= k/2), so the start value never survives.
  var m = vec4<i32>(bitcast<i32>(0x80000000u));
  if (p.a_kind != 0u) {
    for (var ih = h0; ih < h1; ih++) {
      for (var iw = w0; iw < w1; iw++) { m = max(m, i8_unpack_as(opa[(plane * p.H + ih) * p.W + iw], signed)); }
    }
    y[i] = i8_pack(m);
    return;
  }
  // i32 [N, C, H, W] -> [N, C, OH, OW]: this thread's 4 channels of plane (n, channel block).
  let n = plane / p.C4;
  let c0 = (plane % p.C4) * 4u;
  let valid = channels_valid(c0);
  for (var l = 0u; l < 4u; l++) {
    if (!valid[l]) { continue; }
    let base = (n * p.C + c0 + l) * p.H;
    for (var ih = h0; ih < h1; ih++) {
      for (var iw = w0; iw < w1; iw++) { m[l] = max(m[l], bitcast<i32>(opa[(base + ih) * p.W + iw])); }
    }
    y[((n * p.C + c0 + l) * p.OH + oh) * p.OW + ow] = bitcast<u32>(m[l]);
  }
}

@compute @workgroup_size(64) fn sumpool(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg, 64u);
  if (i >= p.count) { return; }
  let signed = p.signed == 1u;
  // Output [N, C] (S = 1): word i of [N, C4] is (n, c0) = (i / C4, 4 * (i % C4)).
  let pos = vec3<u32>(i / p.C4, (i % p.C4) * 4u, 0u);
  var s = vec4<i32>(0);
  if (p.a_kind != 0u) {
    for (var k = 0u; k < p.S; k++) { s += i8_unpack_as(opa[i * p.S + k], signed); }
  } else {
    // i32 [N, C, S]; i32 addition wraps (the reference's wrapping sum).
    for (var k = 0u; k < p.S; k++) { s += raw_a(vec3<u32>(pos.x, pos.y, k)); }
  }
  var v: vec4<i32>;
  if (p.divisor > 1u) {
    let a = select(s, max(s, vec4<i32>(0)), p.relu == 1u);
    let n = shift4(pos.y);
    for (var l = 0u; l < 4u; l++) { v[l] = clamp(fx_div_rhe(a[l], n[l], i32(p.divisor)), p.lo, p.hi); }
  } else {
    v = epilogue4(s, pos.y);
  }
  let valid = channels_valid(pos.y);
  if (p.packed == 1u) {
    y[i] = i8_pack(select(vec4<i32>(0), v, valid));
  } else {
    for (var l = 0u; l < 4u; l++) {
      if (valid[l]) { y[pos.x * p.C + pos.y + l] = bitcast<u32>(v[l]); }
    }
  }
}
