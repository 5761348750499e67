/**
 * Runs an exported ONNX file (./onnx-export.ts) with onnxruntime-node on the CPU execution
 * provider: normalised float images into an "integize" or "qdq" file, 8-bit codes into an "int_op_only"
 * file; integer logits out. Sessions are cached per path or per byte array, so evaluating a data
 * set in batches opens the model once.
 *
 * onnxruntime-node is a dev dependency: it is imported when first needed, and a missing package
 * is reported as UNSUPPORTED.
 *
 * @example
 *   const { logits, fl } = await runOnnx('int_op_only.onnx', codes, [n, 3, 32, 32]);
 *   await closeOnnxSessions();
 */
import { F8Error } from '../runtime/errors.js';
import { clampInt32 } from '../quant/int-requant.js';
import { decodeOnnx } from '../io/onnx-reader.js';
import { readOnnx } from '../node/onnx-file.js';
import { ONNX_META } from './onnx-export.js';

type Ort = typeof import('onnxruntime-node');
type Session = import('onnxruntime-node').InferenceSession;

export type OnnxInputKind = 'float' | 'int8' | 'uint8';

interface Loaded {
  session: Session;
  kind: OnnxInputKind;
  inputName: string;
  outputName: string;
  /** Per-image input dims where the file declares them ([C, H, W]), else []. */
  inputDims: (number | string)[];
  fl: number;
}

let ortModule: Promise<Ort> | null = null;
function ort(): Promise<Ort> {
  ortModule ??= import('onnxruntime-node').catch((e: Error) => {
    ortModule = null;
    throw new F8Error('UNSUPPORTED', `onnx: cannot load onnxruntime-node (npm install onnxruntime-node): ${e.message}`);
  });
  return ortModule;
}

const byPath = new Map<string, Promise<Loaded>>();
let byBytes = new WeakMap<Uint8Array, Promise<Loaded>>();
const open = new Set<Promise<Loaded>>();

async function load(model: Uint8Array | string): Promise<Loaded> {
  const { InferenceSession } = await ort();
  const source = typeof model === 'string' ? model : 'ONNX bytes';
  const file = typeof model === 'string' ? readOnnx(model) : decodeOnnx(model, source);
  let session: Session;
  try {
    // Fatal messages only: onnxruntime's own error lines would reach the terminal beside f8net's one-line error.
    const opts = { executionProviders: ['cpu'], logSeverityLevel: 4 as const };
    session = typeof model === 'string' ? await InferenceSession.create(model, opts) : await InferenceSession.create(model, opts);
  } catch (e) {
    throw new F8Error('BAD_INPUT', `${source}: onnxruntime cannot load the model: ${(e as Error).message.split('\n')[0]}`);
  }
  if (session.inputNames.length !== 1 || session.outputNames.length < 1) {
    await session.release();
    throw new F8Error('BAD_INPUT', `${source}: expected one input and a logits output, got inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}]`);
  }
  const meta = session.inputMetadata[0];
  const type = meta.isTensor ? meta.type : 'non-tensor';
  const kind: OnnxInputKind | null = type === 'float32' ? 'float' : type === 'int8' ? 'int8' : type === 'uint8' ? 'uint8' : null;
  if (!kind) {
    await session.release();
    throw new F8Error('UNSUPPORTED', `${source}: input ${meta.name} is ${type}; expected float32 (integize, qdq) or int8 / uint8 codes (int_op_only)`);
  }
  const flText = file.metadata[ONNX_META.outputFl];
  const fl = Number(flText);
  if (flText === undefined || !Number.isInteger(fl)) {
    await session.release();
    throw new F8Error('BAD_INPUT', `${source}: metadata ${ONNX_META.outputFl} is ${flText === undefined ? 'missing' : JSON.stringify(flText)}; expected the logits' fractional length (an f8net export)`);
  }
  const outputName = session.outputNames.includes('logits') ? 'logits' : session.outputNames[0];
  return { session, kind, inputName: meta.name, outputName, inputDims: meta.isTensor ? meta.shape.slice(1) : [], fl };
}

/** The cached session of a model (path or bytes). */
function loaded(model: Uint8Array | string): Promise<Loaded> {
  let p = typeof model === 'string' ? byPath.get(model) : byBytes.get(model);
  if (!p) {
    const q = load(model);
    p = q;
    if (typeof model === 'string') byPath.set(model, q);
    else byBytes.set(model, q);
    open.add(q);
    // A failed load is not cached.
    q.catch(() => {
      open.delete(q);
      if (typeof model === 'string') byPath.delete(model);
      else byBytes.delete(model);
    });
  }
  return p;
}

/** 'float' for an integize or qdq file (normalised images in), 'int8' / 'uint8' for an int_op_only file (codes in). */
export async function onnxInputKind(model: Uint8Array | string): Promise<OnnxInputKind> {
  return (await loaded(model)).kind;
}

/**
 * Runs the model on a batch: `input` is normalised images (Float32Array, integize and qdq files) or 8-bit
 * codes (Int32Array, int_op_only files), laid out [N, C, H, W] as `shape` says. Returns the
 * integer logits [N, classes] and their fractional length (from the file's metadata).
 */
export async function runOnnx(model: Uint8Array | string, input: Float32Array | Int32Array, shape: number[]): Promise<{ logits: Int32Array; fl: number }> {
  const m = await loaded(model);
  const { Tensor } = await ort();
  const what = typeof model === 'string' ? model : 'ONNX model';
  if (shape.length !== 4 || !shape.every((d) => Number.isInteger(d) && d > 0) || shape.reduce((a, b) => a * b, 1) !== input.length) {
    throw new F8Error('SHAPE_MISMATCH', `${what}: input of ${input.length} values does not have shape [${shape.join(', ')}] (expected [N, C, H, W])`);
  }
  m.inputDims.forEach((d, i) => {
    if (typeof d === 'number' && d !== shape[i + 1]) throw new F8Error('SHAPE_MISMATCH', `${what}: input shape [${shape.join(', ')}], the model expects [N, ${m.inputDims.join(', ')}]`);
  });
  let feed: InstanceType<Ort['Tensor']>;
  if (m.kind === 'float') {
    if (!(input instanceof Float32Array)) throw new F8Error('BAD_INPUT', `${what}: an integize / qdq model takes normalised images as a Float32Array, got ${input.constructor.name}`);
    feed = new Tensor('float32', input, shape);
  } else {
    if (!(input instanceof Int32Array)) throw new F8Error('BAD_INPUT', `${what}: an int_op_only model takes ${m.kind} codes as an Int32Array, got ${input.constructor.name}`);
    const [lo, hi] = m.kind === 'int8' ? [-128, 127] : [0, 255];
    const codes = m.kind === 'int8' ? new Int8Array(input.length) : new Uint8Array(input.length);
    for (let i = 0; i < input.length; i++) {
      const v = input[i];
      if (v < lo || v > hi) throw new F8Error('BAD_INPUT', `${what}: input code ${v} at index ${i} is outside the ${m.kind} range [${lo}, ${hi}]`);
      codes[i] = v;
    }
    feed = new Tensor(m.kind, codes, shape);
  }
  let out: InstanceType<Ort['Tensor']>;
  try {
    out = (await m.session.run({ [m.inputName]: feed }, [m.outputName], { logSeverityLevel: 4 }))[m.outputName];
  } catch (e) {
    // A file that loads but cannot run (an attribute that contradicts a weight's shape, a window
    // larger than the image): onnxruntime's message, cut to its first line.
    const msg = (e as Error).message.split('\n')[0].replace(/^Non-zero status code returned while running /, '');
    throw new F8Error('BAD_INPUT', `${what}: onnxruntime cannot run the model: ${msg.length > 300 ? `${msg.slice(0, 300)}...` : msg}`);
  }
  const data = out.data;
  let logits: Int32Array;
  if (data instanceof Int32Array) logits = new Int32Array(data);
  else if (data instanceof Float32Array) logits = Int32Array.from(data, (v) => clampInt32(Math.round(v)));
  else throw new F8Error('UNSUPPORTED', `${what}: output ${m.outputName} is ${out.type}; expected int32 or float32 logits`);
  out.dispose();
  return { logits, fl: m.fl };
}

/** Releases every cached session (after an evaluation, or at the end of a test file). */
export async function closeOnnxSessions(): Promise<void> {
  const all = [...open];
  open.clear();
  byPath.clear();
  byBytes = new WeakMap();
  await Promise.all(all.map(async (p) => (await p.catch(() => null))?.session.release()));
}
