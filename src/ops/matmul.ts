/**
 * Matrix products (wgsl/matmul.wgsl): `matmul` of 2-D f32 tensors with optional logical
 * transposes (index arithmetic, no copies) and `linear` (x w^T + bias, bias fused).
 * Both record on the tape; only the gradients of inputs that require one are computed.
 * CPU references: ./matmul.ref.ts.
 *
 * @example
 *   const c = matmul(a, b);                      // [M,K] x [K,N] -> [M,N]
 *   const g = matmul(a, b, { transA: true });     // a is [K,M]
 *   const y = linear(x, w, bias);                // x [N,K], w [O,K], bias [O] -> [N,O]
 */
import { defineKnobs } from '../runtime/tuning.js';
import { Engine } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';
import { Tensor } from '../tensor.js';
import { record } from '../autograd/tape.js';
import { channelSum } from './reduce.js';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

/**
 * Register tile of one thread (TM rows x TN columns) and threads per workgroup along N.
 * Measured on lavapipe (bench/matmul.bench.ts); a tuner may overwrite these. SMEM: the classic
 * shared-memory tiled kernel instead (wgsl/matmul_smem.wgsl, 64 x 64 blocks; TM, TN, WGX, B4
 * unused), for adapters with real workgroup memory; slower on lavapipe.
 */
export const matmulKnobs = defineKnobs('matmul', { TM: 16, TN: 8, WGX: 16, B4: true, SMEM: false });
/** The engine's matmul tiles (per adapter; the defaults until tuned). */
export const matmulTiles = (e: Engine = Engine.get()) => e.tuning.get(matmulKnobs);

const MAX_WG = 65535;

function fmt(t: Tensor): string {
  return `[${t.shape.join(', ')}]`;
}

function check2d(op: string, name: string, t: Tensor): void {
  if (t.shape.length !== 2) throw new F8Error('SHAPE_MISMATCH', `${op}: ${name} must be 2-D, got ${fmt(t)}`);
  if (t.dtype !== 'f32') throw new F8Error('UNSUPPORTED', `${op}: ${name} must be f32, got ${t.dtype}`);
}

/** out = op(a) op(b) (+ bias along columns); no tape. Shapes already checked. */
function gemm(a: Tensor, b: Tensor, bias: Tensor | null, transA: boolean, transB: boolean, M: number, N: number, K: number): Tensor {
  const e = Engine.get();
  const out = Tensor.empty([M, N]);
  if (M === 0 || N === 0) return out;
  const bind: Record<string, Tensor> = { a, b, c: out };
  if (bias) bind.bias = bias;
  if (matmulTiles(e).SMEM) {
    const k = e.kernel('matmul_smem.wgsl', 'matmul_smem', { TRANS_A: transA, TRANS_B: transB, BIAS: bias !== null });
    const tiles = Math.ceil(M / 64);
    const gz = Math.ceil(tiles / MAX_WG);
    const gy = Math.ceil(tiles / gz);
    const gx = Math.ceil(N / 64);
    if (gx > MAX_WG) throw new F8Error('UNSUPPORTED', `matmul: N = ${N} needs ${gx} workgroups along x (at most ${MAX_WG})`);
    e.dispatch(k, bind, { M, N, K, rowTiles: gy }, [gx, gy, gz]);
    return out;
  }
  const { TM, TN, WGX } = matmulTiles(e);
  if (![4, 8, 16].includes(TM) || ![4, 8].includes(TN)) throw new F8Error('BAD_CONFIG', `matmul: tile ${TM}x${TN} is not one of {4,8,16}x{4,8}`);
  const k = e.kernel('matmul.wgsl', 'matmul', {
    TM,
    TN,
    TM8: TM >= 8,
    TM16: TM === 16,
    TN8: TN === 8,
    WGX,
    B4: matmulTiles(e).B4 && !transB && N % 4 === 0,
    TRANS_A: transA,
    TRANS_B: transB,
    BIAS: bias !== null,
  });
  const rowTiles = Math.ceil(M / TM);
  const gx = Math.ceil(N / (WGX * TN));
  const gz = Math.ceil(rowTiles / MAX_WG);
  const gy = Math.ceil(rowTiles / gz);
  if (gx > MAX_WG) throw new F8Error('UNSUPPORTED', `matmul: N = ${N} needs ${gx} workgroups along x (at most ${MAX_WG})`);
  // K = 0 still runs: the accumulators start at zero (and bias is added).
  e.dispatch(k, bind, { M, N, K, rowTiles: gy }, [gx, gy, gz]);
  return out;
}

/** Logical dimensions of op(a) op(b), checking that the inner ones agree. */
function dims(op: string, a: Tensor, b: Tensor, transA: boolean, transB: boolean): [number, number, number] {
  check2d(op, 'a', a);
  check2d(op, 'b', b);
  const [M, Ka] = transA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const [Kb, N] = transB ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
  if (Ka !== Kb) {
    const ta = transA ? '^T' : '';
    const tb = transB ? '^T' : '';
    throw new F8Error('SHAPE_MISMATCH', `${op}: inner dimensions differ: a${ta} ${fmt(a)} x b${tb} ${fmt(b)} (${Ka} vs ${Kb})`);
  }
  return [M, N, Ka];
}

/** op(a) op(b) without recording (backward passes use it). */
function mm(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  const [M, N, K] = dims('matmul', a, b, transA, transB);
  return gemm(a, b, null, transA, transB, M, N, K);
}

/**
 * op(a) x op(b) for 2-D f32 tensors, op = transpose where asked: [M,K] x [K,N] -> [M,N].
 *
 * @example
 *   matmul(x, w, { transB: true }); // x [N,K], w [O,K] -> [N,O]
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transA = !!opts.transA;
  const transB = !!opts.transB;
  const [M, N, K] = dims('matmul', a, b, transA, transB);
  const out = gemm(a, b, null, transA, transB, M, N, K);
  return record(out, 'matmul', [a, b], (g) => [
    a.requiresGrad ? gradA(g, b, transA, transB) : null,
    b.requiresGrad ? gradB(g, a, transA, transB) : null,
  ]);
}

/** Gradient of the stored a (in its stored layout) of C = op(a) op(b), given G = dC. */
function gradA(g: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  // dop(A) = G op(B)^T; with transA the stored a is op(A)^T, so da = op(B) G^T.
  return transA ? mm(b, g, transB, true) : mm(g, b, false, !transB);
}

/** Gradient of the stored b of C = op(a) op(b), given G = dC. */
function gradB(g: Tensor, a: Tensor, transA: boolean, transB: boolean): Tensor {
  // dop(B) = op(A)^T G; with transB the stored b is op(B)^T, so db = G^T op(A).
  return transB ? mm(g, a, true, transA) : mm(a, g, !transA, false);
}

/**
 * Fully connected layer: x [N,K] times w [O,K] transposed, plus bias [O] -> [N,O]
 * (the bias is added inside the matmul kernel).
 *
 * @example
 *   const y = linear(x, fc.weight, fc.bias);
 */
export function linear(x: Tensor, w: Tensor, bias: Tensor | null): Tensor {
  const [M, N, K] = dims('linear', x, w, false, true);
  if (bias) {
    if (bias.dtype !== 'f32') throw new F8Error('UNSUPPORTED', `linear: bias must be f32, got ${bias.dtype}`);
    if (bias.size !== N || bias.shape.length !== 1) {
      throw new F8Error('SHAPE_MISMATCH', `linear: bias ${fmt(bias)} does not match weight ${fmt(w)} (expects [${N}])`);
    }
  }
  const out = gemm(x, w, bias, false, true, M, N, K);
  return record(out, 'linear', [x, w, bias], (g) => [
    x.requiresGrad ? mm(g, w, false, false) : null,
    w.requiresGrad ? mm(g, x, true, false) : null,
    bias?.requiresGrad ? channelSum(g, 1) : null,
  ]);
}
