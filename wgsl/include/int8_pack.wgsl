// Packed 8-bit integers and the integer epilogue, shared by the int8 inference kernels
// (wgsl/int8_conv.wgsl, wgsl/int8_ops.wgsl; TS op src/ops/int8.ts, CPU reference
// src/ops/int8.ref.ts). This snippet includes fixed_point: a kernel includes only this one.
// Every includer passes the define DOT4 (1: the packed_4x8_integer_dot_product language
// feature exists and the kernel uses dot4I8Packed; 0: the unpacked fallback).
//
// Packing: four codes per u32, element 4k + j in byte j (little end first), as the i8x4 tensor
// dtype. Signed codes are two's complement bytes in [-127, 127], unsigned codes bytes in [0, 255].
// Activations are packed along the channel axis in blocks of four, zero-padded: word
// (n, c / 4, h, w) holds channels 4*(c/4) .. 4*(c/4)+3 of pixel (n, h, w).
//
// Dot products (the only multiplications): there is no unsigned-by-signed dot4, so one side is
// offset by 128 and the caller corrects the sum with +-128 * sum(w) of the output channel:
// - DOT4 (dot4I8Packed, signed x signed): unsigned codes u enter as u ^ 0x80808080 (each byte
//   u - 128), corrected by + 128 * sum(w); signed codes as they are.
// - fallback (unpacked): activations enter zero-extended, weights sign-extended (this form
//   compiles to 16-bit multiply-adds on x86, measured faster than dot4I8Packed's lowering on
//   lavapipe, which sign-extends both sides); signed codes s enter as s ^ 0x80808080 (each
//   byte s + 128), corrected by - 128 * sum(w); unsigned codes as they are.
// The op passes the XOR mask and the correction factor. All sums are i32 and wrap: every
// path gives the same bits (equal modulo 2^32, exact below 2^31).
#include "fixed_point"

const I8_OFFSET = 0x80808080u;
const I8_MAX32 = 2147483647;

// Bytes of v as signed (sign-extended) or unsigned (zero-extended) lanes.
fn i8_unpack(v: u32) -> vec4<i32> {
  return bitcast<vec4<i32>>(vec4<u32>(v) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u);
}

fn u8_unpack(v: u32) -> vec4<i32> {
  return bitcast<vec4<i32>>((vec4<u32>(v) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xffu));
}

fn i8_unpack_as(v: u32, signed: bool) -> vec4<i32> {
  return select(u8_unpack(v), i8_unpack(v), signed);
}

// The low bytes of four codes in one word (the caller has clamped them to 8 bits).
fn i8_pack(v: vec4<i32>) -> u32 {
  let b = bitcast<vec4<u32>>(v) & vec4<u32>(0xffu);
  return b.x | (b.y << 8u) | (b.z << 16u) | (b.w << 24u);
}

// One operand of the reduction in the form the dot takes: the packed word with DOT4, its
// unpacked lanes without. i8_x: an activation word XORed with xor_mask (0 or I8_OFFSET, see
// above); i8_w: a weight word.
#if ${DOT4}
alias I8Vec = u32;
fn i8_x(word: u32, xor_mask: u32) -> u32 { return word ^ xor_mask; }
fn i8_w(word: u32) -> u32 { return word; }
fn i8_dot(x: u32, w: u32) -> i32 { return dot4I8Packed(x, w); }
#else // unpacked fallback
alias I8Vec = vec4<i32>;
fn i8_x(word: u32, xor_mask: u32) -> vec4<i32> { return u8_unpack(word ^ xor_mask); }
fn i8_w(word: u32) -> vec4<i32> { return i8_unpack(word); }
fn i8_dot(x: vec4<i32>, w: vec4<i32>) -> i32 {
  let m = x * w;  // summed as a tree, not a chain: shorter dependency chains
  return (m.x + m.y) + (m.z + m.w);
}
#endif // DOT4

// a * 2^ma + b * 2^mb computed exactly, then clamped to [-(2^31 - 1), 2^31 - 1]; min(ma, mb)
// must be 0. The residual add of §5 (the operand with the smaller fractional length shifted left
// to the larger) and the saturating bias add (ma = mb = 0). Shifting first and saturating each
// operand would not be exact (2^30 << 1 plus -2^31 is 0, not a clamp), so the sum is formed in
// 64 bits: (lo, hi) words, hi signed. Matches alignAdd / clampInt32 of src/quant/int-requant.ts.
fn i8_wide(x: i32, m: u32) -> vec2<u32> {
  if (m >= 32u) {
    // |x * 2^m| >= 2^32 beats any unshifted i32 operand: a stand-in of +-2^62 keeps the sign.
    return vec2<u32>(0u, select(select(0u, 0xc0000000u, x < 0), 0x40000000u, x > 0));
  }
  let hi = select(x >> (32u - m), x >> 31u, m == 0u);
  return vec2<u32>(bitcast<u32>(x) << m, bitcast<u32>(hi));
}

fn i8_add_sat(a: i32, ma: u32, b: i32, mb: u32) -> i32 {
  let A = i8_wide(a, ma);
  let B = i8_wide(b, mb);
  let lo = A.x + B.x;
  let hi = bitcast<i32>(A.y + B.y + select(0u, 1u, lo < A.x));
  if (hi == 0 && lo <= 0x7fffffffu) { return bitcast<i32>(lo); }
  if (hi == -1 && lo >= 0x80000001u) { return bitcast<i32>(lo); }
  return select(-I8_MAX32, I8_MAX32, hi >= 0);
}

// a + b clamped to [-(2^31 - 1), 2^31 - 1], exact (= i8_add_sat(a, 0, b, 0)), four lanes and
// branch-free: the epilogues run once per output and unroll with the register tiles, so their
// code size is the kernels' compile time. i32 addition wraps; an overflow has both operands of
// one sign and a sum of the other.
fn i8_add_sat4(a: vec4<i32>, b: vec4<i32>) -> vec4<i32> {
  let s = a + b;
  let ovf = ((a ^ s) & (b ^ s)) < vec4<i32>(0);
  let sat = select(vec4<i32>(I8_MAX32), vec4<i32>(-I8_MAX32), a < vec4<i32>(0));
  return select(max(s, vec4<i32>(-I8_MAX32)), sat, ovf);
}

// The epilogue of every int8 op after its accumulator (and bias) is formed: optional ReLU
// max(acc, 0), the round-half-even shift by n (n < 0: saturating left shift; fx_shift_rhe of
// fixed_point), clamp to [lo, hi]. Raw i32 outputs use n = 0 and lo, hi = -+(2^31 - 1).
fn i8_requant4(acc: vec4<i32>, relu: bool, n: vec4<i32>, lo: i32, hi: i32) -> vec4<i32> {
  let a = select(acc, max(acc, vec4<i32>(0)), relu);
  return clamp(fx_shift_rhe4(a, n), vec4<i32>(lo), vec4<i32>(hi));
}
