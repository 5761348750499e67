/**
 * CPU reference of ./sgd.ts: torch.optim.SGD's single-tensor update in f32, every operation
 * rounded with Math.fround as the GPU computes it (up to fused multiply-adds).
 */
export interface RefSGDOptions {
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  dampening?: number;
}

export class RefSGD {
  /** Momentum buffers by parameter index (absent until the parameter's first step). */
  readonly buffers = new Map<number, Float32Array>();

  constructor(private readonly opts: RefSGDOptions) {}

  /** Updates params[i] in place where grads[i] is not null; decays[i] false skips weight decay. */
  step(params: Float32Array[], grads: (Float32Array | null)[], lr: number, decays?: boolean[]): void {
    const f = Math.fround;
    const { momentum = 0, nesterov = false, weightDecay = 0, dampening = 0 } = this.opts;
    const undamped = f(1 - dampening);
    params.forEach((w, i) => {
      const g = grads[i];
      if (!g) return;
      const wd = decays && !decays[i] ? 0 : f(weightDecay);
      let b = this.buffers.get(i);
      const first = !b;
      if (momentum !== 0 && !b) this.buffers.set(i, (b = new Float32Array(w.length)));
      for (let j = 0; j < w.length; j++) {
        let d = wd !== 0 ? f(g[j] + f(wd * w[j])) : g[j];
        if (momentum !== 0) {
          const bj = first ? d : f(f(f(momentum) * b![j]) + f(undamped * d));
          b![j] = bj;
          d = nesterov ? f(d + f(f(momentum) * bj)) : bj;
        }
        w[j] = f(w[j] - f(f(lr) * d));
      }
    });
  }
}
