/**
 * Tensors: a shape, a dtype and a pooled GPU buffer, plus what autograd needs.
 *
 * dtypes: 'f32', 'i32', 'u32', and 'i8x4' (int8 values packed four to a u32 word; `shape` is
 * the logical int8 shape, element 4k+j is byte j of word k, little end first).
 *
 * @example
 *   const x = Tensor.from(new Float32Array([1, 2, 3, 4]), [2, 2]);
 *   const y = x.read(); // Promise<Float32Array>
 */
import { Engine, type Disposable } from './runtime/engine.js';
import { F8Error } from './runtime/errors.js';
import type { Node } from './autograd/tape.js';

export type DType = 'f32' | 'i32' | 'u32' | 'i8x4';
export type TypedFor<D extends DType> = D extends 'f32' ? Float32Array : D extends 'i32' ? Int32Array : D extends 'u32' ? Uint32Array : Int8Array;

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new F8Error('SHAPE_MISMATCH', `invalid shape [${shape.join(', ')}]: dimensions must be non-negative integers`);
    n *= d;
  }
  return n;
}

/**
 * How a tensor of `shape` splits into channels along `axis` (negative counts from the end):
 * element i is in channel ((i / inner) | 0) % C, as ChannelLayout of the CPU reference.
 * @example channelLayout([2, 3, 4, 4], 1, 'op') -> { outer: 2, C: 3, inner: 16 }
 */
export function channelLayout(shape: readonly number[], axis: number, what: string): { outer: number; C: number; inner: number } {
  const a = axis < 0 ? axis + shape.length : axis;
  if (!Number.isInteger(a) || a < 0 || a >= shape.length) {
    throw new F8Error('SHAPE_MISMATCH', `${what}: axis ${axis} is out of range for x [${shape.join(', ')}]`);
  }
  const prod = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);
  return { outer: prod(shape.slice(0, a)), C: shape[a], inner: prod(shape.slice(a + 1)) };
}

export function byteSize(dtype: DType, n: number): number {
  return dtype === 'i8x4' ? Math.ceil(n / 4) * 4 : n * 4;
}

let nextId = 1;

export class Tensor implements Disposable {
  readonly id = nextId++;
  readonly size: number;
  private _buffer: GPUBuffer | null;
  requiresGrad = false;
  grad: Tensor | null = null;
  /** The tape node that produced this tensor (null for leaves and under noGrad). */
  node: Node | null = null;
  /** Optional name (parameters carry their state-dict key). */
  name = '';

  /** Wraps a buffer; use Tensor.empty / Tensor.from (or Tensor.meta) instead. */
  constructor(
    readonly shape: readonly number[],
    readonly dtype: DType,
    buffer: GPUBuffer | null,
    private readonly engine: Engine | null,
    private readonly pooled = true,
  ) {
    this.size = numel(shape);
    this._buffer = buffer;
    this.meta = buffer === null;
    if (!this.meta) engine!.track(this);
  }

  /** True for a shape-only tensor (Tensor.meta): no buffer, no engine, no data. */
  readonly meta: boolean;

  /**
   * A shape-only tensor: what a network built for a shape trace (src/nn/trace.ts) holds and
   * passes between its layers. It needs no engine; reading its buffer is an error.
   */
  static meta(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    return new Tensor(shape, dtype, null, null, false);
  }

  get buffer(): GPUBuffer {
    if (this.meta) throw new F8Error('UNSUPPORTED', `tensor${this.name ? ` ${this.name}` : ''} [${this.shape.join(', ')}] is shape-only (made for a shape trace); it holds no data`);
    if (!this._buffer) throw new F8Error('DISPOSED', `tensor #${this.id}${this.name ? ` (${this.name})` : ''} [${this.shape.join(', ')}] was disposed`);
    return this._buffer;
  }

  get disposed(): boolean {
    return this._buffer === null && !this.meta;
  }

  get bytes(): number {
    return byteSize(this.dtype, this.size);
  }

  /** An uninitialised tensor from the pool. */
  static empty(shape: readonly number[], dtype: DType = 'f32', engine = Engine.get()): Tensor {
    const n = numel(shape);
    const bytes = byteSize(dtype, n);
    const max = engine.device.limits.maxStorageBufferBindingSize;
    if (bytes > max) {
      throw new F8Error('UNSUPPORTED', `tensor [${shape.join(', ')}] ${dtype} needs ${(bytes / 2 ** 20).toFixed(1)} MiB; this adapter binds at most ${(max / 2 ** 20).toFixed(1)} MiB per buffer (use a smaller batch)`);
    }
    return new Tensor(shape, dtype, engine.pool.acquire(bytes), engine);
  }

  /** A tensor holding `data` (length must match the shape). */
  static from(data: ArrayLike<number> | ArrayBufferView, shape: readonly number[], dtype?: DType, engine = Engine.get()): Tensor {
    const dt: DType = dtype ?? (data instanceof Int32Array ? 'i32' : data instanceof Uint32Array ? 'u32' : data instanceof Int8Array ? 'i8x4' : 'f32');
    const n = numel(shape);
    const len = (data as ArrayLike<number>).length;
    if (len !== n) throw new F8Error('SHAPE_MISMATCH', `Tensor.from: ${len} values for shape [${shape.join(', ')}] (${n} expected)`);
    const t = Tensor.empty(shape, dt, engine);
    t.write(data as ArrayLike<number>);
    return t;
  }

  /** Overwrites the contents (after all previously recorded GPU work). */
  write(data: ArrayLike<number>): void {
    const buffer = this.buffer;
    let view: ArrayBufferView;
    if (this.dtype === 'f32') view = data instanceof Float32Array ? data : Float32Array.from(data);
    else if (this.dtype === 'i32') view = data instanceof Int32Array ? data : Int32Array.from(data);
    else if (this.dtype === 'u32') view = data instanceof Uint32Array ? data : Uint32Array.from(data);
    else view = data instanceof Int8Array ? data : Int8Array.from(data);
    this.engine!.write(buffer, view);
  }

  /** Copies the contents to the CPU. */
  async read(): Promise<Float32Array | Int32Array | Uint32Array | Int8Array> {
    const buffer = this.buffer;
    const ab = await this.engine!.readBytes(buffer, this.bytes);
    switch (this.dtype) {
      case 'f32':
        return new Float32Array(ab);
      case 'i32':
        return new Int32Array(ab);
      case 'u32':
        return new Uint32Array(ab);
      default:
        return new Int8Array(ab, 0, this.size);
    }
  }

  async readF32(): Promise<Float32Array> {
    if (this.dtype !== 'f32') throw new F8Error('UNSUPPORTED', `readF32 on a ${this.dtype} tensor`);
    return (await this.read()) as Float32Array;
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new F8Error('SHAPE_MISMATCH', `item() on a tensor of ${this.size} elements`);
    return (await this.read())[0];
  }

  /** A view with another shape over the same buffer (no copy); shares the buffer's lifetime. */
  reshape(shape: readonly number[]): Tensor {
    const n = numel(shape);
    if (n !== this.size) throw new F8Error('SHAPE_MISMATCH', `reshape [${this.shape.join(', ')}] -> [${shape.join(', ')}]: ${this.size} vs ${n} elements`);
    if (this.meta) return Tensor.meta(shape, this.dtype);
    const v = new Tensor(shape, this.dtype, this.buffer, this.engine, false);
    v.viewOf = this;
    return v;
  }
  /** Set on views: the tensor that owns the buffer. */
  viewOf: Tensor | null = null;

  dispose(): void {
    if (!this._buffer) return;
    if (this.pooled) this.engine!.pool.release(this._buffer);
    this._buffer = null;
  }

  toString(): string {
    return `Tensor(${this.dtype} [${this.shape.join(', ')}]${this.name ? ` ${this.name}` : ''})`;
  }
}
