/**
 * Building blocks of the rows' instances (./types.ts): a row whose step makes tensors, a row
 * whose step makes int8 codes, the seeded operands of the int8 conv and linear rows, and a tfjs
 * peer of one operation.
 */
import { Engine } from '../runtime/engine.js';
import { Tensor } from '../tensor.js';
import { int8Activation, int8Weights, readInt8, type Int8Act, type Int8Weights } from '../ops/int8.js';
import type { RowInstance, PeerInstance, Check } from './types.js';
import { integers, prod } from './check.js';
import { tfjsSync, type Tf } from './tfjs-peer.js';

/** What a row instance has besides its step and check: peers and dispose. */
export type InstanceRest = Omit<RowInstance, 'step' | 'verify'>;

/** A row whose step makes one tensor (or several), checked by `check` on what was read back. */
export function tensorRow(make: () => Tensor[], check: (got: (Float32Array | Int32Array | Uint32Array | Int8Array)[]) => Check, rest: InstanceRest): RowInstance {
  const e = Engine.get();
  return {
    step: () => e.tidy(() => void make()),
    async verify() {
      const ys = e.tidy(() => make());
      const got = [];
      for (const y of ys) got.push(await y.read());
      for (const y of ys) y.dispose();
      return check(got);
    },
    ...rest,
  };
}

/** A row whose step makes packed int8 codes, checked by `check` on the codes read back. */
export function int8Row(run: () => Int8Act, check: (got: Int32Array) => Check, rest: InstanceRest): RowInstance {
  const e = Engine.get();
  return {
    step: () => e.tidy(() => void run().data),
    async verify() {
      const y = run();
      const got = await readInt8(y);
      y.data.dispose();
      return check(got);
    },
    ...rest,
  };
}

/** The operands of an int8 conv or linear row, kept on the GPU until `dispose`. */
export interface Int8Operands {
  /** Codes of x in [0, 255], weights in [-127, 127], biases in [-20000, 20000]. */
  xs: Int32Array;
  ws: Int32Array;
  bs: Int32Array;
  x: Int8Act;
  w: Int8Weights;
  b: Tensor;
  dispose(): void;
}

/** Seeded unsigned codes x of `xShape`, int8 weights of `wShape` ([O, C/groups, KH, KW] or [O, K]) and i32 biases [O]. */
export function int8Operands(xShape: readonly number[], wShape: readonly number[], groups = 1): Int8Operands {
  const e = Engine.get();
  const [O] = wShape;
  const xs = integers(prod(xShape), 1, 0, 255);
  const ws = integers(prod(wShape), 2, -127, 127);
  const bs = integers(O, 3, -20000, 20000);
  const x = int8Activation(xs, xShape, false);
  const w = int8Weights(ws, wShape, groups);
  const b = Tensor.from(bs, [O], 'i32');
  const kept = [x.data, w.data, w.sums, b];
  for (const t of kept) e.keep(t);
  return {
    xs,
    ws,
    bs,
    x,
    w,
    b,
    dispose() {
      for (const t of kept) t.dispose();
    },
  };
}

type TfT = ReturnType<Tf['tensor']>;

/** A tfjs peer: `op` runs on the tfjs `inputs` (disposed with the peer); `compare` checks its outputs in our layout. */
export async function tfjsPeer(tf: Tf, what: string, inputs: TfT[], op: () => TfT | TfT[], compare: (v: Float32Array[]) => Check): Promise<PeerInstance> {
  const e = Engine.get();
  const list = (r: TfT | TfT[]) => (Array.isArray(r) ? r : [r]);
  return {
    what,
    async step() {
      const r = list(op());
      await tfjsSync(tf, e);
      tf.dispose(r);
    },
    async verify() {
      const r = list(op());
      const v = await Promise.all(r.map(async (t) => (await t.data()) as Float32Array));
      tf.dispose(r);
      return compare(v);
    },
    dispose() {
      tf.dispose(inputs);
    },
  };
}
