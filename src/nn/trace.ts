/**
 * Traces of a network's forward pass: a network is written once, as `forward`, and what else
 * f8net needs of its graph is read from a trace of that forward. While a trace is active, the
 * F8Net layers (QConv2d, QLinear) and the functions a forward uses between them (src/nn/traced.ts
 * relu, maxPool, residualAdd; globalPoolFor; identityShortcut) each append one step naming the
 * values it read and made. The integer export (src/export/convert.ts) replays the steps of one
 * real evaluation pass into its integer graph; `f8net model summary` (src/models/summary.ts)
 * turns the steps of a shape trace into its rows.
 *
 * A shape trace runs the forward of a network built with shape-only tensors (buildShapesOnly):
 * each step computes its output shape, checks its input and returns a shape-only tensor, so no
 * engine is needed. A forward that computes a value with anything else (an op of src/ops/
 * directly) fails the trace with an error naming the step that reads it.
 *
 * Values are numbered in the order they appear; shapes are per image (the batch axis dropped).
 *
 * @example
 *   const { trace } = traceShapes(() => buildModel('cnn', {}, data, floatQuant(), new Rng(1)), [1, 1, 28, 28]);
 *   trace.steps.map((s) => s.op); // ['input', 'layer', 'maxpool', 'layer', 'maxpool', 'layer', 'relu', 'globalpool', 'layer', 'output']
 */
import { F8Error } from '../runtime/errors.js';
import { Tensor } from '../tensor.js';
import { buildShapesOnly, type Module } from './module.js';
import type { QLayer, QLinear } from './qlayers.js';

export type TraceStep =
  | { op: 'input'; out: number }
  /** conv or linear of an F8Net layer. */
  | { op: 'layer'; layer: QLayer; input: number; out: number }
  | { op: 'maxpool'; name: string; input: number; out: number; kernel: number; stride: number; padding: number }
  | { op: 'relu'; input: number; out: number }
  /** ReLU and global average pooling for `reader` (src/nn/qpool.ts). */
  | { op: 'globalpool'; input: number; out: number; reader: QLinear }
  /** The identity shortcut of a block (src/nn/residual.ts): the block input in `next`'s units. */
  | { op: 'identity'; input: number; out: number; entry: QLayer; next: QLayer }
  /** The residual sum of a block named `name`. */
  | { op: 'add'; name: string; inputs: [number, number]; out: number }
  | { op: 'output'; input: number };

export interface ForwardTrace {
  steps: TraceStep[];
  /** Shape of value i, per image. */
  shapes: number[][];
}

/** The trace being recorded. Steps call `read` for their inputs and `made` for their output. */
export class Tracer {
  readonly trace: ForwardTrace = { steps: [], shapes: [] };
  private readonly ids = new WeakMap<Tensor, number>();

  constructor(readonly shapesOnly: boolean) {}

  /** The number of a value the trace produced; `what` names the reader for the error. */
  read(t: Tensor, what: string): number {
    const id = this.ids.get(t);
    if (id === undefined) {
      throw new F8Error(
        'UNSUPPORTED',
        `trace: ${what} reads a tensor [${t.shape.join(', ')}] that no traced step made; a network's forward must compute between its layers with src/nn/traced.ts (relu, maxPool, residualAdd), globalPoolFor and identityShortcut`,
      );
    }
    return id;
  }

  /** Numbers a new value. */
  made(t: Tensor): number {
    if (this.ids.has(t)) throw new F8Error('UNSUPPORTED', `trace: a step returned the tensor it read [${t.shape.join(', ')}]; each step must make a new value`);
    const id = this.trace.shapes.length;
    this.ids.set(t, id);
    this.trace.shapes.push(t.shape.slice(1));
    return id;
  }

  push(step: TraceStep): void {
    this.trace.steps.push(step);
  }
}

let active: Tracer | null = null;

/** The trace being recorded, or null (training and plain evaluation: no trace). */
export function activeTracer(): Tracer | null {
  return active;
}

function run(model: Module, x: Tensor, tracer: Tracer): { y: Tensor; trace: ForwardTrace } {
  if (active) throw new F8Error('UNSUPPORTED', 'trace: a forward pass is already being traced');
  active = tracer;
  try {
    tracer.push({ op: 'input', out: tracer.made(x) });
    const y = model.forward(x);
    tracer.push({ op: 'output', input: tracer.read(y, 'the network output') });
    return { y, trace: tracer.trace };
  } finally {
    active = null;
  }
}

/**
 * Runs model.forward(x) on the GPU and records its steps; returns the output (owned by the
 * caller's scope, as a plain forward's) and the trace.
 */
export function traceForward(model: Module, x: Tensor): { y: Tensor; trace: ForwardTrace } {
  return run(model, x, new Tracer(false));
}

/**
 * Builds a network with shape-only tensors and traces its forward on an input of `shape`
 * ([N, C, H, W]); needs no engine. Shape errors (an image too small for a kernel) are F8Errors
 * naming the layer.
 */
export function traceShapes<M extends Module>(build: () => M, shape: number[]): { model: M; trace: ForwardTrace } {
  const model = buildShapesOnly(build);
  const { trace } = run(model, Tensor.meta(shape), new Tracer(true));
  return { model, trace };
}

/** Floor output size of a window (PyTorch's). */
export function windowOut(size: number, kernel: number, stride: number, padding: number, dilation = 1): number {
  return Math.floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1;
}
