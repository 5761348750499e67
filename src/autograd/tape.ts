/**
 * A thin reverse-mode tape. Each op that has a differentiable input records a Node on its
 * output: the inputs and a closure mapping the output's gradient to the inputs' gradients.
 * `backward(loss)` walks the nodes in reverse topological order; gradients of leaves that
 * require them accumulate into `leaf.grad` (kept out of disposal scopes), everything else is
 * released by the surrounding `tidy`.
 *
 * @example
 *   const loss = engine.tidy(() => { const l = crossEntropy(model.forward(x), y); backward(l); return l; });
 */
import { Engine } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';
import type { Tensor } from '../tensor.js';

/**
 * A backward may return this for an input instead of a zero tensor: "this input's node must run,
 * with a zero gradient if no other arrives". The tape then adds nothing when one does, and makes
 * the zero only when none does (a multi-output op hands one output's gradient to another's node).
 */
export const ZERO_GRAD: unique symbol = Symbol('ZERO_GRAD');

export interface Node {
  name: string;
  inputs: readonly (Tensor | null)[];
  /** Gradients for each input (null where the input needs none; ZERO_GRAD: a zero, made only if needed). */
  backward(gy: Tensor): readonly (Tensor | null | undefined | typeof ZERO_GRAD)[];
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording the tape (evaluation, optimizer steps). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Whether an op with these inputs should record a node. */
export function needsGrad(...inputs: (Tensor | null | undefined)[]): boolean {
  return gradEnabled && inputs.some((t) => t?.requiresGrad);
}

/**
 * Attaches a node to `out` when any input requires a gradient; returns `out`.
 * Ops call this right after their forward dispatch, with the backward beside it.
 */
export function record(out: Tensor, name: string, inputs: readonly (Tensor | null)[], backward: Node['backward']): Tensor {
  if (!needsGrad(...inputs)) return out;
  out.requiresGrad = true;
  out.node = { name, inputs, backward };
  return out;
}

// Set by ops/elementwise to avoid an import cycle: how to add two gradients and to make
// the seed gradient of a scalar loss.
let addFn: ((a: Tensor, b: Tensor) => Tensor) | null = null;
let onesLikeFn: ((t: Tensor) => Tensor) | null = null;
let copyFn: ((t: Tensor) => Tensor) | null = null;
let zerosLikeFn: ((t: Tensor) => Tensor) | null = null;
export function setGradHelpers(add: (a: Tensor, b: Tensor) => Tensor, onesLike: (t: Tensor) => Tensor, copy: (t: Tensor) => Tensor, zerosLike: (t: Tensor) => Tensor): void {
  addFn = add;
  onesLikeFn = onesLike;
  copyFn = copy;
  zerosLikeFn = zerosLike;
}

const leafGrads = new WeakSet<Tensor>();

/**
 * Back-propagates from `root` (a scalar unless `seed` is given). Leaves' gradients accumulate
 * into `.grad`; call it inside the same `tidy` as the forward pass.
 */
export function backward(root: Tensor, seed?: Tensor): void {
  if (!addFn || !onesLikeFn || !copyFn || !zerosLikeFn) throw new F8Error('UNSUPPORTED', 'autograd helpers are not registered: import f8net ops first');
  if (!root.requiresGrad) throw new F8Error('UNSUPPORTED', `backward(): ${root} does not require a gradient`);
  if (!seed && root.size !== 1) throw new F8Error('SHAPE_MISMATCH', `backward(): root ${root} is not a scalar; pass a seed gradient`);
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  // Iterative DFS, post-order: deep nets would overflow a recursive one.
  const stack: [Tensor, number][] = [[root, 0]];
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    if (i === 0) {
      if (visited.has(t)) {
        stack.pop();
        continue;
      }
      visited.add(t);
    }
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const c = inputs[i];
      if (c && c.requiresGrad && !visited.has(c)) stack.push([c, 0]);
    } else {
      stack.pop();
      order.push(t);
    }
  }
  const grads = new Map<Tensor, Tensor>();
  // Inputs handed ZERO_GRAD and nothing else yet: their zero is made when their turn comes.
  const zeroOnly = new Set<Tensor>();
  grads.set(root, seed ?? onesLikeFn(root));
  const engine = Engine.get();
  for (let k = order.length - 1; k >= 0; k--) {
    const t = order[k];
    const g = grads.get(t) ?? (zeroOnly.has(t) ? zerosLikeFn(t) : undefined);
    if (!g) continue;
    if (!t.node) {
      // A leaf: accumulate into .grad, which outlives the scope.
      let ng: Tensor;
      if (t.grad) {
        ng = addFn(t.grad, g);
        t.grad.dispose();
      } else ng = leafGrads.has(g) || g.viewOf ? copyFn(g) : g; // a view dies with its owner's scope
      t.grad = engine.keep(ng);
      leafGrads.add(ng);
      continue;
    }
    const prevLabel = engine.profileLabel;
    engine.profileLabel = `bwd ${t.node.name}`;
    let gs: ReturnType<Node['backward']>;
    try {
      gs = t.node.backward(g);
    } finally {
      engine.profileLabel = prevLabel;
    }
    if (gs.length !== t.node.inputs.length) {
      throw new F8Error('UNSUPPORTED', `backward of ${t.node.name} returned ${gs.length} gradients for ${t.node.inputs.length} inputs`);
    }
    t.node.inputs.forEach((x, j) => {
      const gx = gs[j];
      if (!x || !x.requiresGrad || !gx) return;
      if (gx === ZERO_GRAD) {
        if (!grads.has(x)) zeroOnly.add(x);
        return;
      }
      if (gx.size !== x.size) throw new F8Error('SHAPE_MISMATCH', `backward of ${t.node!.name}: gradient of input ${j} has ${gx.size} elements, input has ${x.size}`);
      const prev = grads.get(x);
      grads.set(x, prev ? addFn!(prev, gx) : gx);
    });
  }
}
