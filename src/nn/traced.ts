/**
 * What a network's forward computes between its F8Net layers, as traced steps (src/nn/trace.ts):
 * outside a trace each is the op of src/ops/; under a trace it also records itself (and under a
 * shape trace only computes its output shape). The integer export and `f8net model summary`
 * read a network's graph from these steps, so a network uses these, not the ops themselves.
 *
 * @example
 *   forward(x) { return relu(residualAdd(body, shortcut, 'layer1.0')); }
 */
import { F8Error } from '../runtime/errors.js';
import { Tensor } from '../tensor.js';
import { relu as reluOp, add } from '../ops/elementwise.js';
import { maxPool2d } from '../ops/pool.js';
import { activeTracer, windowOut } from './trace.js';

/** ReLU. */
export function relu(x: Tensor): Tensor {
  const t = activeTracer();
  if (!t) return reluOp(x);
  const input = t.read(x, 'relu');
  const y = t.shapesOnly ? Tensor.meta(x.shape) : reluOp(x);
  t.push({ op: 'relu', input, out: t.made(y) });
  return y;
}

export interface MaxPoolOptions {
  kernel: number;
  /** Default: the kernel. */
  stride?: number;
  padding?: number;
  /** The name in the model summary (default 'maxpool'). */
  name?: string;
}

/** Max pooling of [N, C, H, W] (PyTorch's floor size; padded positions never win). */
export function maxPool(x: Tensor, o: MaxPoolOptions): Tensor {
  const t = activeTracer();
  const stride = o.stride ?? o.kernel;
  const padding = o.padding ?? 0;
  if (!t) return maxPool2d(x, { kernel: o.kernel, stride, padding });
  const name = o.name ?? 'maxpool';
  const input = t.read(x, name);
  let y: Tensor;
  if (t.shapesOnly) {
    const [N, C, H, W] = x.shape;
    const OH = windowOut(H, o.kernel, stride, padding);
    const OW = windowOut(W, o.kernel, stride, padding);
    if (x.shape.length !== 4 || OH < 1 || OW < 1) throw new F8Error('BAD_CONFIG', `${name}: input ${H}x${W} is too small for max pooling ${o.kernel}x${o.kernel} (use a larger image_size)`);
    y = Tensor.meta([N, C, OH, OW]);
  } else {
    y = maxPool2d(x, { kernel: o.kernel, stride, padding });
  }
  t.push({ op: 'maxpool', name, input, out: t.made(y), kernel: o.kernel, stride, padding });
  return y;
}

/** The residual sum a + b of the block `name` (src/nn/residual.ts: both in the reader's units). */
export function residualAdd(a: Tensor, b: Tensor, name: string): Tensor {
  const t = activeTracer();
  if (!t) return add(a, b);
  const inputs: [number, number] = [t.read(a, name), t.read(b, name)];
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new F8Error('SHAPE_MISMATCH', `${name}: residual operands [${a.shape.slice(1).join(', ')}] and [${b.shape.slice(1).join(', ')}] differ`);
  }
  const y = t.shapesOnly ? Tensor.meta(a.shape) : add(a, b);
  t.push({ op: 'add', name, inputs, out: t.made(y) });
  return y;
}
