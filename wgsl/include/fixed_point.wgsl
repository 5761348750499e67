// Fixed-point helpers shared by the quantisation kernels and the int8 inference kernels
// (F8NET.md §1 and §5; CPU reference src/quant/fixed.ts, matched bit for bit).
//
// - WGSL's round() is round-half-to-even by definition (SPIR-V RoundEven), as torch.round.
// - WGSL promises nothing for NaN and compilers may fold `x != x`, so non-finite values are
//   recognised from their bits.
// - Powers of two are built from the exponent bits: exact, no exp2() approximation.
// - Integer shifts: WGSL takes shift amounts mod 32 and `%` truncates toward zero, so the
//   rounding shift uses an arithmetic shift (floor) and a bit-mask remainder (floor modulo),
//   with no intermediate that can overflow i32 (the spec's x + 2^(n-1) can).

// 2^k as an exact f32, k in [-126, 127].
fn fx_pow2(k: i32) -> f32 {
  return bitcast<f32>(u32(k + 127) << 23u);
}

fn fx_is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

fn fx_is_nan4(v: vec4<f32>) -> vec4<bool> {
  return (bitcast<vec4<u32>>(v) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u);
}

// NaN or ±Inf.
fn fx_non_finite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
}

fn fx_non_finite4(v: vec4<f32>) -> vec4<bool> {
  return (bitcast<vec4<u32>>(v) & vec4<u32>(0x7f800000u)) == vec4<u32>(0x7f800000u);
}

// Round half to even (torch.round). Named so that kernels say what they rely on.
fn fx_rhe4(v: vec4<f32>) -> vec4<f32> {
  return round(v);
}

// Integer bounds of a word length: signed [-(2^(wl-1) - 1), 2^(wl-1) - 1] (never -2^(wl-1)),
// unsigned [0, 2^wl - 1].
fn fx_qhi(wl: u32, signed: bool) -> i32 {
  return select(i32((1u << wl) - 1u), i32((1u << (wl - 1u)) - 1u), signed);
}

fn fx_qlo(wl: u32, signed: bool) -> i32 {
  return select(0, -fx_qhi(wl, signed), signed);
}

// Quantisation of four values at scale s = 2^fl with integer bounds lo, hi (as f32):
//   r = roundHalfEven(x * s);  q = clamp(r, lo, hi);  mask = lo < r < hi (the STE mask:
//   signed |r| < hi, unsigned 0 < r < hi);  NaN -> q 0, mask false;  ±Inf -> hi / lo, mask false.
// q is an integer-valued f32 and never -0 (the reference's q is an Int32Array); staying in f32
// (no i32 round trip) keeps the fake-quant forward as fast as a copy on lavapipe.
struct FxQuant4 { q: vec4<f32>, mask: vec4<bool> }

fn fx_quant4(x: vec4<f32>, s: f32, lo: f32, hi: f32) -> FxQuant4 {
  let r = fx_rhe4(x * s);
  let nan = fx_is_nan4(x);
  let c = select(select(r, vec4<f32>(hi), r > vec4<f32>(hi)), vec4<f32>(lo), r < vec4<f32>(lo));
  let q = select(c, vec4<f32>(0.0), nan | (c == vec4<f32>(0.0)));
  let mask = (r > vec4<f32>(lo)) & (r < vec4<f32>(hi)) & !nan;
  return FxQuant4(q, mask);
}

// x / 2^n rounded half to even for n > 0; x * 2^-n saturated to ±(2^31 - 1) for n < 0;
// x for n = 0 (even -2^31); 0 for n >= 32. Exact for every i32 (src/quant/int-requant.ts).
fn fx_shift_rhe(x: i32, n: i32) -> i32 {
  if (n == 0) { return x; }
  if (n < 0) {
    let m = u32(-n);
    if (m >= 31u) { return select(select(0, -2147483647, x < 0), 2147483647, x > 0); }
    let lim = 2147483647 >> m;
    if (x > lim) { return 2147483647; }
    if (x < -lim) { return -2147483647; }
    return x << m;
  }
  if (n >= 32) { return 0; }
  let un = u32(n);
  let q = x >> un;                                  // arithmetic: floor(x / 2^n)
  let rem = bitcast<u32>(x) & ((1u << un) - 1u);    // floor modulo, in [0, 2^n)
  let half = 1u << (un - 1u);
  return q + select(0, 1, rem > half || (rem == half && (q & 1) == 1));
}

// x * 2^-n / d rounded half to even, exactly (src/quant/int-requant.ts divRoundHalfEven), for a
// divisor d in [2, 2^16] and n in [-31, 31], where the caller clamps the result to 8-bit codes:
// a left shift saturates at ±(2^31 - 1) first (past it |x 2^-n / d| >= 2^15 clamps the same way).
// Right shifts in two exact steps, q1 = floor(x / 2^n) with remainder r1, q1 = a d + b
// (floor division): x 2^-n / d = a + (b + r1 / 2^n) / d, and the fraction's side of 1/2 follows
// from t = 2b - d alone except at t = 0 (r1 > 0 rounds up) and t = -1 (r1 against 2^(n-1)).
fn fx_div_rhe(x: i32, n: i32, d: i32) -> i32 {
  var q1 = x;
  var r1 = 0u;
  var h = 0u;        // 2^(n-1) for n > 0
  if (n < 0) { q1 = fx_shift_rhe(x, n); }
  if (n > 0) {
    let un = u32(n);
    q1 = x >> un;
    r1 = bitcast<u32>(x) & ((1u << un) - 1u);
    h = 1u << (un - 1u);
  }
  var a = q1 / d;    // truncates toward zero: made the floor below
  var b = q1 - a * d;
  if (b < 0) { a -= 1; b += d; }
  let t = 2 * b - d;
  var up = t >= 1;
  var tie = false;
  if (n <= 0) {
    tie = t == 0;
  } else if (t == 0) {
    up = r1 > 0u;
    tie = r1 == 0u;
  } else if (t == -1) {
    up = r1 > h;
    tie = r1 == h;
  }
  return a + select(0, 1, up || (tie && (a & 1) == 1));
}

// fx_shift_rhe on four lanes, branch-free (both directions computed, the right one selected).
fn fx_shift_rhe4(x: vec4<i32>, n: vec4<i32>) -> vec4<i32> {
  let nn = clamp(n, vec4<i32>(-32), vec4<i32>(32));
  // Right shift by 1..31: floor, floor-modulo remainder, round half to even.
  let nr = vec4<u32>(clamp(nn, vec4<i32>(1), vec4<i32>(31)));
  let q = x >> nr;
  let rem = bitcast<vec4<u32>>(x) & ((vec4<u32>(1u) << nr) - vec4<u32>(1u));
  let half = vec4<u32>(1u) << (nr - vec4<u32>(1u));
  let up = (rem > half) | ((rem == half) & ((q & vec4<i32>(1)) == vec4<i32>(1)));
  let right = q + select(vec4<i32>(0), vec4<i32>(1), up);
  // Left shift by 1..31, saturating; 31 stands for every m >= 31 (lim = 0 then).
  let m = vec4<u32>(clamp(-nn, vec4<i32>(0), vec4<i32>(31)));
  let lim = vec4<i32>(2147483647) >> m;
  let left = select(select(x << m, vec4<i32>(-2147483647), x < -lim), vec4<i32>(2147483647), x > lim);
  let r = select(left, right, nn > vec4<i32>(0));
  return select(select(r, x, nn == vec4<i32>(0)), vec4<i32>(0), nn >= vec4<i32>(32));
}

// Clamp to the symmetric int32 range [-(2^31 - 1), 2^31 - 1] (biases, residual sums).
fn fx_clamp_int32(x: i32) -> i32 {
  return max(x, -2147483647);
}
