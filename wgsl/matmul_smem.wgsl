// C[M,N] = op(A)[M,K] * op(B)[K,N] (+ bias[N]), f32, row-major: the classic shared-memory tiled
// form that GPUs with real on-chip memory prefer (the tuner's SMEM variant of matmul; same
// bindings, defines TRANS_A / TRANS_B / BIAS and meaning as matmul.wgsl).
// A workgroup of 16 x 16 threads owns a 64 x 64 block of C; per step of 16 along K it stages a
// 64 x 16 block of op(A) and a 16 x 64 block of op(B) in workgroup memory (each thread loads 4 +
// 4 values, consecutive threads along the contiguous axis of the stored matrix, zero past the
// edges), then every thread does 16 x 4 x 4 FMAs from it for its 4 x 4 register tile (rows
// ty + 16 i, columns tx + 16 j: neighbouring threads read neighbouring words, no bank conflicts).
// Each loaded value feeds 64 FMAs instead of the register-tiled kernel's TM. On lavapipe the
// barriers and the strided workgroup loads cost more than they save (a workgroup is one CPU
// thread, its "shared" memory ordinary cache); the tuner times both and keeps the faster.
// Launch: workgroups (ceil(N / 64), rowTiles, z), rowTiles * z >= ceil(M / 64).
// (Directives carry trailing comments and comments avoid the hash sign: see matmul.wgsl.)
struct Params { M: u32, N: u32, K: u32, rowTiles: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

const BM = 64u;
const BN = 64u;
const BK = 16u;
var<workgroup> As: array<f32, 1024>; // [BK][BM]
var<workgroup> Bs: array<f32, 1024>; // [BK][BN]

fn loadA(m: u32, k: u32) -> f32 {
  if (m >= p.M || k >= p.K) { return 0.0; }
#if ${TRANS_A}
  return a[k * p.M + m];
#else // A is [M,K]
  return a[m * p.K + k];
#endif // TRANS_A
}

fn loadB(k: u32, n: u32) -> f32 {
  if (k >= p.K || n >= p.N) { return 0.0; }
#if ${TRANS_B}
  return b[n * p.K + k];
#else // B is [K,N]
  return b[k * p.N + n];
#endif // TRANS_B
}

@compute @workgroup_size(16, 16) fn matmul_smem(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m0 = (wid.y + wid.z * p.rowTiles) * BM;
  let n0 = wid.x * BN;
  let tx = lid.x;
  let ty = lid.y;
  let t = ty * 16u + tx;
  var acc: array<vec4<f32>, 4>;
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    for (var q = 0u; q < 4u; q++) {
      let e = t + q * 256u;
#if ${TRANS_A}
      // Stored [K,M]: consecutive threads along m.
      let am = e % BM;
      let ak = e / BM;
#else // consecutive threads along k
      let am = e / BK;
      let ak = e % BK;
#endif // TRANS_A
      As[ak * BM + am] = loadA(m0 + am, k0 + ak);
#if ${TRANS_B}
      // Stored [N,K]: consecutive threads along k.
      let bn = e / BK;
      let bk = e % BK;
#else // consecutive threads along n
      let bn = e % BN;
      let bk = e / BN;
#endif // TRANS_B
      Bs[bk * BN + bn] = loadB(k0 + bk, n0 + bn);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let bv = vec4<f32>(Bs[kk * BN + tx], Bs[kk * BN + tx + 16u], Bs[kk * BN + tx + 32u], Bs[kk * BN + tx + 48u]);
      for (var i = 0u; i < 4u; i++) {
        acc[i] = fma(vec4<f32>(As[kk * BM + ty + 16u * i]), bv, acc[i]);
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + ty + 16u * i;
    if (m >= p.M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + tx + 16u * j;
      if (n >= p.N) { continue; }
#if ${BIAS}
      c[m * p.N + n] = acc[i][j] + bias[n];
#else // no bias
      c[m * p.N + n] = acc[i][j];
#endif // BIAS
    }
  }
}
