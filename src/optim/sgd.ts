/**
 * Stochastic gradient descent with PyTorch's semantics (torch.optim.SGD): weight decay added to
 * the gradient, momentum buffer b = momentum*b + (1 - dampening)*g (b = g on its first step),
 * Nesterov g + momentum*b. One fused in-place kernel per parameter (wgsl/sgd.wgsl); the learning
 * rate travels as a uniform, so nothing is read back. CPU reference: ./sgd.ref.ts.
 *
 * @example
 *   const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4,
 *     weightDecayFilter: (p) => p.shape.length > 1 });
 *   for (let step = 0; step < total; step++) {
 *     engine.tidy(() => backward(loss(model, batch)));
 *     opt.step(cosineLr(step, total, 0.1));
 *     opt.zeroGrad();
 *   }
 */
import { Engine } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';
import { Tensor } from '../tensor.js';

const WG = 256;

export interface SGDOptions {
  lr: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  dampening?: number;
  /** Which parameters get weight decay (default: all), e.g. `(p) => p.shape.length > 1`. */
  weightDecayFilter?: (p: Tensor) => boolean;
}

export class SGD {
  readonly params: readonly Tensor[];
  /** Learning rate used by step() when it is given none. */
  lr: number;
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  readonly dampening: number;
  private readonly decays: boolean[];
  /** Momentum buffers, created on a parameter's first step; kept out of disposal scopes. */
  private buffers: (Tensor | null)[];
  private readonly keys: string[];

  constructor(params: Tensor[], opts: SGDOptions) {
    const { lr, momentum = 0, nesterov = false, weightDecay = 0, dampening = 0 } = opts;
    const bad = (what: string, v: number): never => {
      throw new F8Error('BAD_CONFIG', `SGD: invalid ${what} ${v}: it must be a finite number >= 0`);
    };
    if (!(lr >= 0) || !Number.isFinite(lr)) bad('learning rate', lr);
    if (!(momentum >= 0) || !Number.isFinite(momentum)) bad('momentum', momentum);
    if (!(weightDecay >= 0) || !Number.isFinite(weightDecay)) bad('weight decay', weightDecay);
    if (!Number.isFinite(dampening)) bad('dampening', dampening);
    if (nesterov && (momentum <= 0 || dampening !== 0)) {
      throw new F8Error('BAD_CONFIG', `SGD: Nesterov momentum requires momentum > 0 and dampening 0 (got momentum ${momentum}, dampening ${dampening})`);
    }
    const seen = new Set<Tensor>();
    for (const p of params) {
      if (p.dtype !== 'f32') throw new F8Error('UNSUPPORTED', `SGD: parameter ${p} is ${p.dtype}; SGD updates f32 tensors`);
      if (seen.has(p)) throw new F8Error('BAD_CONFIG', `SGD: parameter ${p} is listed twice`);
      seen.add(p);
    }
    this.params = [...params];
    this.lr = lr;
    this.momentum = momentum;
    this.nesterov = nesterov;
    this.weightDecay = weightDecay;
    this.dampening = dampening;
    const filter = opts.weightDecayFilter ?? (() => true);
    this.decays = this.params.map((p) => weightDecay !== 0 && filter(p));
    this.buffers = this.params.map(() => null);
    // Keyed by position like PyTorch's optimizer state: parameter names are not unique
    // (Module names a tensor 'weight' in every layer).
    this.keys = this.params.map((_, i) => `${i}.momentum_buffer`);
  }

  /**
   * Updates every parameter that has a gradient (those with grad === null are skipped), in place.
   * `lr` overrides this.lr for this step only.
   */
  step(lr: number = this.lr): void {
    if (!Number.isFinite(lr)) throw new F8Error('BAD_CONFIG', `SGD.step: learning rate ${lr} is not finite`);
    const e = Engine.get();
    const k = e.kernel('sgd.wgsl', 'sgd_step', { WG, MOMENTUM: this.momentum !== 0 ? 1 : 0 });
    this.params.forEach((p, i) => {
      const g = p.grad;
      if (!g) return;
      if (g.size !== p.size) throw new F8Error('SHAPE_MISMATCH', `SGD.step: gradient of ${p} has ${g.size} elements, the parameter ${p.size}`);
      const bind: Record<string, Tensor> = { w: p, grad: g };
      let first = 0;
      if (this.momentum !== 0) {
        let b = this.buffers[i];
        if (!b) {
          b = this.buffers[i] = e.keep(Tensor.empty(p.shape));
          first = 1;
        }
        bind.buf = b;
      }
      const n4 = Math.ceil(p.size / 4);
      e.dispatch(k, bind, {
        n4, lr, momentum: this.momentum, undamped: 1 - this.dampening, wd: this.decays[i] ? this.weightDecay : 0,
        nesterov: this.nesterov ? 1 : 0, first,
      }, e.grid1d(n4, WG));
    });
  }

  /** Disposes every parameter's gradient and sets it to null. */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /**
   * The momentum buffers, keyed `<index in params>.momentum_buffer` (parameters that have none
   * yet are absent). Restoring them with loadStateTensors, into an optimizer over the same
   * parameters in the same order, continues training exactly.
   */
  async stateTensors(): Promise<Record<string, Float32Array>> {
    const out: Record<string, Float32Array> = {};
    for (let i = 0; i < this.params.length; i++) {
      const b = this.buffers[i];
      if (b) out[this.keys[i]] = (await b.read()) as Float32Array;
    }
    return out;
  }

  /** Replaces the optimizer state with `rec` (as from stateTensors); parameters absent there start afresh. */
  loadStateTensors(rec: Record<string, Float32Array>): void {
    const known = new Set(this.keys);
    for (const key of Object.keys(rec)) {
      if (!known.has(key)) throw new F8Error('BAD_INPUT', `SGD.loadStateTensors: '${key}' matches no parameter (keys are '<parameter index>.momentum_buffer', 0 to ${this.params.length - 1})`);
    }
    const e = Engine.get();
    this.params.forEach((p, i) => {
      const data = rec[this.keys[i]];
      if (data && data.length !== p.size) {
        throw new F8Error('SHAPE_MISMATCH', `SGD.loadStateTensors: '${this.keys[i]}' has ${data.length} values, the parameter ${p.size}`);
      }
    });
    this.params.forEach((p, i) => {
      const data = rec[this.keys[i]];
      if (!data) {
        this.buffers[i]?.dispose();
        this.buffers[i] = null;
        return;
      }
      this.buffers[i] ??= e.keep(Tensor.empty(p.shape));
      this.buffers[i]!.write(data);
    });
  }

  /** Frees the momentum buffers. */
  dispose(): void {
    for (const b of this.buffers) b?.dispose();
    this.buffers = this.params.map(() => null);
  }
}
