// C[M,N] = op(A)[M,K] * op(B)[K,N] (+ bias[N]), f32, row-major.
// Layout: A is [M,K] (or [K,M] with TRANS_A), B is [K,N] (or [N,K] with TRANS_B), C is [M,N];
// the transposes are index arithmetic, never copies. With BIAS, bias[n] is added to column n.
// Launch: workgroups (ceil(N / (WGX*TN)), rowTiles, z) with rowTiles*z >= ceil(M / TM) (z folds
// row tiles past 65535). Each workgroup owns TM consecutive rows (TM = 4, 8 or 16: TM8/TM16);
// each of its WGX threads owns TN consecutive columns of them (TN = 4 or 8: TN8), a TM x TN
// register tile kept in vec4 accumulators.
//
// Why this shape (lavapipe, measured on variants of this file): a workgroup runs as the SIMD
// lanes of one CPU thread. A's indices depend only on the workgroup id and the loop counter,
// so every A load is uniform (one scalar load, broadcast to the lanes); B's differ per lane (a
// gather per component), and each gathered value feeds TM FMAs. No shared memory, no barriers,
// and no early return (divergent control flow would turn the uniform loads into gathers):
// rows and columns past the edge are clamped for loading and skipped when storing.
// Measured at 512^3: 16x8 tiles ~2x 4x4; all A loads of a k step before its FMAs ~1.5x
// interleaving them; vec4 loads of B (B4: needs !TRANS_B and N % 4 == 0) about equal to four
// scalar ones (lavapipe gathers per component either way); vec4 loads of A along K slower;
// private-array accumulators in loops slower than the unrolled variables below.
// Real GPUs want shared-memory tiles: such a variant belongs behind its own define.
// (Every else / endif directive carries a trailing comment: the loader tags line ends, and a
// bare directive followed by the tag is not recognised by wgsl-preprocessor. Comments must
// not contain the hash sign, which the preprocessor reads anywhere.)
struct Params { M: u32, N: u32, K: u32, rowTiles: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
#if ${B4}
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
#else // scalar B
@group(0) @binding(2) var<storage, read> b: array<f32>;
#endif // B4
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// Stores the columns [n, n+4) of row m that lie inside C, adding the bias.
fn put(m: u32, n: u32, v: vec4<f32>) {
  if (m >= p.M) { return; }
  let o = m * p.N + n;
  for (var q = 0u; q < 4u; q++) {
    if (n + q < p.N) {
#if ${BIAS}
      c[o + q] = v[q] + bias[n + q];
#else // no bias
      c[o + q] = v[q];
#endif // BIAS
    }
  }
}

@compute @workgroup_size(${WGX}) fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m0 = (wid.y + wid.z * p.rowTiles) * ${TM}u;
  let n0 = (wid.x * ${WGX}u + lid.x) * ${TN}u;
  let lastM = p.M - 1u;
  let lastN = p.N - 1u;
  // A(m, k) = a[aR + k * aK] for the row offset aR of m; B(k, n) = b[bC + k * bK].
#if ${TRANS_A}
  let aK = p.M;
  let aM = 1u;
#else // A is [M,K]
  let aK = 1u;
  let aM = p.K;
#endif // TRANS_A
  let aR0 = min(m0 + 0u, lastM) * aM;
  let aR1 = min(m0 + 1u, lastM) * aM;
  let aR2 = min(m0 + 2u, lastM) * aM;
  let aR3 = min(m0 + 3u, lastM) * aM;
#if ${TM8}
  let aR4 = min(m0 + 4u, lastM) * aM;
  let aR5 = min(m0 + 5u, lastM) * aM;
  let aR6 = min(m0 + 6u, lastM) * aM;
  let aR7 = min(m0 + 7u, lastM) * aM;
#endif // TM8
#if ${TM16}
  let aR8 = min(m0 + 8u, lastM) * aM;
  let aR9 = min(m0 + 9u, lastM) * aM;
  let aR10 = min(m0 + 10u, lastM) * aM;
  let aR11 = min(m0 + 11u, lastM) * aM;
  let aR12 = min(m0 + 12u, lastM) * aM;
  let aR13 = min(m0 + 13u, lastM) * aM;
  let aR14 = min(m0 + 14u, lastM) * aM;
  let aR15 = min(m0 + 15u, lastM) * aM;
#endif // TM16
#if ${B4}
  let bK = p.N / 4u;
  let bC0 = min(n0, lastN) / 4u;
  let bC1 = min(n0 + 4u, lastN) / 4u;
#else // scalar B: one clamped offset per column
#if ${TRANS_B}
  let bK = 1u;
  let bN = p.K;
#else // B is [K,N]
  let bK = p.N;
  let bN = 1u;
#endif // TRANS_B
  let bC0 = min(n0 + 0u, lastN) * bN;
  let bC1 = min(n0 + 1u, lastN) * bN;
  let bC2 = min(n0 + 2u, lastN) * bN;
  let bC3 = min(n0 + 3u, lastN) * bN;
#if ${TN8}
  let bC4 = min(n0 + 4u, lastN) * bN;
  let bC5 = min(n0 + 5u, lastN) * bN;
  let bC6 = min(n0 + 6u, lastN) * bN;
  let bC7 = min(n0 + 7u, lastN) * bN;
#endif // TN8
#endif // B4
  var c0a = vec4<f32>(0.0);
  var c0b = vec4<f32>(0.0);
  var c1a = vec4<f32>(0.0);
  var c1b = vec4<f32>(0.0);
  var c2a = vec4<f32>(0.0);
  var c2b = vec4<f32>(0.0);
  var c3a = vec4<f32>(0.0);
  var c3b = vec4<f32>(0.0);
#if ${TM8}
  var c4a = vec4<f32>(0.0);
  var c4b = vec4<f32>(0.0);
  var c5a = vec4<f32>(0.0);
  var c5b = vec4<f32>(0.0);
  var c6a = vec4<f32>(0.0);
  var c6b = vec4<f32>(0.0);
  var c7a = vec4<f32>(0.0);
  var c7b = vec4<f32>(0.0);
#endif // TM8
#if ${TM16}
  var c8a = vec4<f32>(0.0);
  var c8b = vec4<f32>(0.0);
  var c9a = vec4<f32>(0.0);
  var c9b = vec4<f32>(0.0);
  var c10a = vec4<f32>(0.0);
  var c10b = vec4<f32>(0.0);
  var c11a = vec4<f32>(0.0);
  var c11b = vec4<f32>(0.0);
  var c12a = vec4<f32>(0.0);
  var c12b = vec4<f32>(0.0);
  var c13a = vec4<f32>(0.0);
  var c13b = vec4<f32>(0.0);
  var c14a = vec4<f32>(0.0);
  var c14b = vec4<f32>(0.0);
  var c15a = vec4<f32>(0.0);
  var c15b = vec4<f32>(0.0);
#endif // TM16
  for (var k = 0u; k < p.K; k++) {
    let bk = k * bK;
#if ${B4}
    let ba = b[bC0 + bk];
#if ${TN8}
    let bb = b[bC1 + bk];
#endif // TN8
#else // four gathers per vec4
    let ba = vec4<f32>(b[bC0 + bk], b[bC1 + bk], b[bC2 + bk], b[bC3 + bk]);
#if ${TN8}
    let bb = vec4<f32>(b[bC4 + bk], b[bC5 + bk], b[bC6 + bk], b[bC7 + bk]);
#endif // TN8
#endif // B4
    let ak = k * aK;
    // All A loads before the FMAs: measured 1.5x faster on lavapipe than interleaving them.
    let a0 = a[aR0 + ak];
    let a1 = a[aR1 + ak];
    let a2 = a[aR2 + ak];
    let a3 = a[aR3 + ak];
#if ${TM8}
    let a4 = a[aR4 + ak];
    let a5 = a[aR5 + ak];
    let a6 = a[aR6 + ak];
    let a7 = a[aR7 + ak];
#endif // TM8
#if ${TM16}
    let a8 = a[aR8 + ak];
    let a9 = a[aR9 + ak];
    let a10 = a[aR10 + ak];
    let a11 = a[aR11 + ak];
    let a12 = a[aR12 + ak];
    let a13 = a[aR13 + ak];
    let a14 = a[aR14 + ak];
    let a15 = a[aR15 + ak];
#endif // TM16
    c0a += a0 * ba;
    c1a += a1 * ba;
    c2a += a2 * ba;
    c3a += a3 * ba;
#if ${TN8}
    c0b += a0 * bb;
    c1b += a1 * bb;
    c2b += a2 * bb;
    c3b += a3 * bb;
#endif // TN8
#if ${TM8}
    c4a += a4 * ba;
    c5a += a5 * ba;
    c6a += a6 * ba;
    c7a += a7 * ba;
#if ${TN8}
    c4b += a4 * bb;
    c5b += a5 * bb;
    c6b += a6 * bb;
    c7b += a7 * bb;
#endif // TN8
#endif // TM8
#if ${TM16}
    c8a += a8 * ba;
    c9a += a9 * ba;
    c10a += a10 * ba;
    c11a += a11 * ba;
#if ${TN8}
    c8b += a8 * bb;
    c9b += a9 * bb;
    c10b += a10 * bb;
    c11b += a11 * bb;
#endif // TN8
    c12a += a12 * ba;
    c13a += a13 * ba;
    c14a += a14 * ba;
    c15a += a15 * ba;
#if ${TN8}
    c12b += a12 * bb;
    c13b += a13 * bb;
    c14b += a14 * bb;
    c15b += a15 * bb;
#endif // TN8
#endif // TM16
  }
  put(m0 + 0u, n0, c0a);
  put(m0 + 1u, n0, c1a);
  put(m0 + 2u, n0, c2a);
  put(m0 + 3u, n0, c3a);
#if ${TN8}
  put(m0 + 0u, n0 + 4u, c0b);
  put(m0 + 1u, n0 + 4u, c1b);
  put(m0 + 2u, n0 + 4u, c2b);
  put(m0 + 3u, n0 + 4u, c3b);
#endif // TN8
#if ${TM8}
  put(m0 + 4u, n0, c4a);
  put(m0 + 5u, n0, c5a);
  put(m0 + 6u, n0, c6a);
  put(m0 + 7u, n0, c7a);
#if ${TN8}
  put(m0 + 4u, n0 + 4u, c4b);
  put(m0 + 5u, n0 + 4u, c5b);
  put(m0 + 6u, n0 + 4u, c6b);
  put(m0 + 7u, n0 + 4u, c7b);
#endif // TN8
#endif // TM8
#if ${TM16}
  put(m0 + 8u, n0, c8a);
  put(m0 + 9u, n0, c9a);
  put(m0 + 10u, n0, c10a);
  put(m0 + 11u, n0, c11a);
#if ${TN8}
  put(m0 + 8u, n0 + 4u, c8b);
  put(m0 + 9u, n0 + 4u, c9b);
  put(m0 + 10u, n0 + 4u, c10b);
  put(m0 + 11u, n0 + 4u, c11b);
#endif // TN8
  put(m0 + 12u, n0, c12a);
  put(m0 + 13u, n0, c13a);
  put(m0 + 14u, n0, c14a);
  put(m0 + 15u, n0, c15a);
#if ${TN8}
  put(m0 + 12u, n0 + 4u, c12b);
  put(m0 + 13u, n0 + 4u, c13b);
  put(m0 + 14u, n0 + 4u, c14b);
  put(m0 + 15u, n0 + 4u, c15b);
#endif // TN8
#endif // TM16
}
