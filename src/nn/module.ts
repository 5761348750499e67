/**
 * Modules: named parameters, buffers (running statistics, running fractional lengths) and
 * children, train/eval mode and a state dict.
 *
 * Parameters and buffers are created outside any disposal scope and live until `dispose()`.
 *
 * @example
 *   class Affine extends Module {
 *     w = this.param('weight', [4], () => 1);
 *     forward(x: Tensor) { return mul(x, this.w); }
 *   }
 */
import { Engine } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';
import { Tensor, numel, type DType } from '../tensor.js';

export interface StateEntry {
  shape: number[];
  dtype: DType;
  data: Float32Array | Int32Array | Uint32Array | Int8Array;
}
export type StateDict = Map<string, StateEntry>;

let shapesOnlyBuild = false;

/**
 * Builds modules whose parameters and buffers are shape-only tensors (Tensor.meta): no engine,
 * no initialisation, no data. Such a network runs its forward only under a shape trace
 * (src/nn/trace.ts traceShapes), e.g. for `f8net model summary` without a GPU.
 */
export function buildShapesOnly<T>(build: () => T): T {
  const prev = shapesOnlyBuild;
  shapesOnlyBuild = true;
  try {
    return build();
  } finally {
    shapesOnlyBuild = prev;
  }
}

/** True inside buildShapesOnly: modules make shape-only tensors. */
export function isShapesOnlyBuild(): boolean {
  return shapesOnlyBuild;
}

export abstract class Module {
  training = true;
  private _params = new Map<string, Tensor>();
  private _buffers = new Map<string, Tensor>();
  private _children = new Map<string, Module>();

  abstract forward(x: Tensor): Tensor;

  /** Creates a trainable f32 parameter filled by `init(i)`. */
  protected param(name: string, shape: number[], init: (i: number) => number): Tensor {
    const t = shapesOnlyBuild ? Tensor.meta(shape) : Engine.get().keep(Tensor.from(filled(new Float32Array(numel(shape)), init), shape));
    t.requiresGrad = true;
    t.name = name;
    this._params.set(name, t);
    return t;
  }

  /** Creates a state tensor that is saved but not trained. */
  protected buffer(name: string, shape: number[], init: (i: number) => number, dtype: DType = 'f32'): Tensor {
    const n = numel(shape);
    const t = shapesOnlyBuild ? Tensor.meta(shape, dtype) : Engine.get().keep(Tensor.from(filled(dtype === 'i32' ? new Int32Array(n) : new Float32Array(n), init), shape, dtype));
    t.name = name;
    this._buffers.set(name, t);
    return t;
  }

  /** Registers a child module under `name` and returns it. */
  protected child<M extends Module>(name: string, m: M): M {
    this._children.set(name, m);
    return m;
  }

  children(): [string, Module][] {
    return [...this._children];
  }

  /** Depth-first list of [dotted name, module], this one first (name ''). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, c] of this._children) out.push(...c.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, p] of this._params) out.push([prefix ? `${prefix}.${n}` : n, p]);
    for (const [n, c] of this._children) out.push(...c.namedParameters(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, b] of this._buffers) out.push([prefix ? `${prefix}.${n}` : n, b]);
    for (const [n, c] of this._children) out.push(...c.namedBuffers(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  /** Unique trainable parameters (a shared tensor is listed once). */
  parameters(): Tensor[] {
    return [...new Set(this.namedParameters().map(([, p]) => p))];
  }

  train(on = true): this {
    for (const [, m] of this.namedModules()) m.training = on;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Reads every parameter and buffer back: the model's state. */
  async stateDict(): Promise<StateDict> {
    const sd: StateDict = new Map();
    for (const [n, t] of [...this.namedParameters(), ...this.namedBuffers()]) {
      if (sd.has(n)) continue;
      sd.set(n, { shape: [...t.shape], dtype: t.dtype, data: await t.read() });
    }
    return sd;
  }

  /**
   * Loads a state dict. With `strict` (default) every key must match in name, shape and dtype;
   * the error lists missing, unexpected and wrongly shaped entries.
   */
  loadStateDict(sd: StateDict, opts: { strict?: boolean; source?: string } = {}): void {
    const strict = opts.strict ?? true;
    const own = new Map([...this.namedParameters(), ...this.namedBuffers()]);
    const missing = [...own.keys()].filter((k) => !sd.has(k));
    const unexpected = [...sd.keys()].filter((k) => !own.has(k));
    const wrong: string[] = [];
    for (const [k, t] of own) {
      const e = sd.get(k);
      if (!e) continue;
      if (e.shape.length !== t.shape.length || e.shape.some((d, i) => d !== t.shape[i]) || e.dtype !== t.dtype) {
        wrong.push(`${k} [${e.shape.join(',')}] ${e.dtype} (model: [${t.shape.join(',')}] ${t.dtype})`);
      }
    }
    if (wrong.length || (strict && (missing.length || unexpected.length))) {
      const parts = [
        missing.length && `missing ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ` (+${missing.length - 8})` : ''}`,
        unexpected.length && `unexpected ${unexpected.slice(0, 8).join(', ')}${unexpected.length > 8 ? ` (+${unexpected.length - 8})` : ''}`,
        wrong.length && `wrong shape ${wrong.slice(0, 8).join('; ')}`,
      ].filter(Boolean);
      throw new F8Error('SHAPE_MISMATCH', `${opts.source ?? 'state dict'}: does not fit the model: ${parts.join('; ')}`);
    }
    for (const [k, t] of own) {
      const e = sd.get(k);
      if (e) t.write(e.data);
    }
  }

  /** Frees every parameter, gradient and buffer. */
  dispose(): void {
    for (const [, t] of [...this.namedParameters(), ...this.namedBuffers()]) {
      t.grad?.dispose();
      t.grad = null;
      t.dispose();
    }
  }
}

function filled<A extends Float32Array | Int32Array>(data: A, init: (i: number) => number): A {
  for (let i = 0; i < data.length; i++) data[i] = init(i);
  return data;
}

/** Runs modules in order. */
export class Sequential extends Module {
  readonly layers: Module[];
  constructor(layers: Module[]) {
    super();
    this.layers = layers.map((m, i) => this.child(String(i), m));
  }
  forward(x: Tensor): Tensor {
    for (const m of this.layers) x = m.forward(x);
    return x;
  }
}
