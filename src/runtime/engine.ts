/**
 * The engine schedules WGSL kernels: it compiles and caches pipelines per variant, packs
 * uniform parameters from the struct declared in the WGSL, batches dispatches into command
 * buffers, reads results back, and owns the buffer pool and the disposal scopes.
 *
 * Uniform parameters of all dispatches of one batch live in one ring buffer written once per
 * submission; a batch is submitted when the ring is full, every `batchSize` dispatches, or
 * before anything is read back or uploaded (an upload must not overtake earlier dispatches
 * that still read the buffer it overwrites).
 *
 * @example
 *   const engine = await Engine.open();
 *   const k = engine.kernel('elementwise.wgsl', 'unary', { OP: 1 });
 *   engine.dispatch(k, { x: a, y: out }, { n: a.size }, engine.grid1d(a.size, 256));
 *   console.log(await out.read());
 */
import { Tuning } from './tuning.js';
import { F8Error } from './errors.js';
import { envVar } from './env.js';
import { Gpu, openGpu, type GpuOptions } from './gpu.js';
import { BufferPool } from './pool.js';
import {
  specialise,
  parseBindings,
  parseParamStruct,
  uniformTypeOf,
  reachableIdentifiers,
  displayPath,
  type BindingDecl,
  type Defines,
  type ParamField,
} from './wgsl-source.js';

/** Anything that owns a GPU buffer and can be bound: tensors, or raw buffers. */
export interface Bindable {
  readonly buffer: GPUBuffer;
}

export class Kernel {
  constructor(
    readonly name: string,
    readonly pipeline: GPUComputePipeline,
    readonly bindings: BindingDecl[],
    readonly params: ParamField[] | null,
    readonly paramsBinding: number,
  ) {}
}

export interface Disposable {
  dispose(): void;
  readonly disposed: boolean;
}

const RING_BYTES = 1 << 18;
/** Timestamp queries per query set (two per timed pass); a fuller set is resolved and reused. */
const TIMER_QUERIES = 512;

interface GpuTimer {
  /** Queries of the set written since its last resolve. */
  used: number;
  /** Resolved chunks waiting to be read: a buffer and how many queries it holds. */
  chunks: { buf: GPUBuffer; count: number }[];
  /** Per-dispatch mode (beginGpuTiming({ perDispatch: true })): each dispatch's label, in pass order. */
  labels: string[] | null;
}
const UNIFORM_STRIDE = 256;
const MAX_WG = 65535;

export class Engine {
  readonly device: GPUDevice;
  readonly pool: BufferPool;
  private kernels = new Map<string, Kernel>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private ring: GPUBuffer;
  private ringData = new ArrayBuffer(RING_BYTES);
  private ringU32 = new Uint32Array(this.ringData);
  private ringI32 = new Int32Array(this.ringData);
  private ringF32 = new Float32Array(this.ringData);
  private ringUsed = 0;
  private batched = 0;
  private pendingError: F8Error | null = null;
  private staging = new Map<number, GPUBuffer[]>();
  private scopes: Set<Disposable>[] = [];
  /** Dispatches per command buffer; more amortises submission, fewer overlaps CPU and GPU. */
  batchSize = envVar('F8NET_VALIDATE') === '1' ? 1 : 64;
  /** Kernels recorded in the open batch, to name them when the batch fails validation. */
  private batchKernels = new Set<string>();
  dispatchCount = 0;
  /** What the dispatches recorded now serve (the tape sets the backward node's name); labels per-dispatch timing. */
  profileLabel: string | null = null;
  submitCount = 0;
  /** GPU timing state while beginGpuTiming() is active (timestamp queries); null otherwise. */
  private timer: GpuTimer | null = null;
  /** The timestamp query set and the resolve buffers, created on the first beginGpuTiming(). */
  private timerRes: { set: GPUQuerySet; spare: GPUBuffer[] } | null = null;
  private static current: Engine | null = null;
  /** This adapter's tuned kernel settings (src/runtime/tuning.ts): the ops read their knobs here. */
  readonly tuning = new Tuning();

  private constructor(readonly gpu: Gpu) {
    this.device = gpu.device;
    this.pool = new BufferPool(this.device);
    this.ring = this.device.createBuffer({ size: RING_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'f8net.uniforms' });
    this.device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      this.pendingError ??= new F8Error('GPU_VALIDATION', ev.error.message.split('\n').filter(Boolean).join(' | '));
    };
  }

  /**
   * Opens the GPU (see GpuOptions) and makes the engine current for the ops.
   *
   * @example
   *   import { Engine, Tensor, add } from 'f8net';
   *   const e = await Engine.open();            // or Engine.open({ backend: 'vulkan', adapter: 'nvidia' })
   *   console.log(e.gpu.describe().description, await add(Tensor.from([1, 2], [2]), Tensor.from([3, 4], [2])).read());
   *   await e.close();
   */
  static async open(opts: GpuOptions = {}): Promise<Engine> {
    const gpu = await openGpu(opts);
    const e = new Engine(gpu);
    Engine.current = e;
    return e;
  }

  /** The engine the ops use; throws if none is open. */
  static get(): Engine {
    if (!Engine.current) throw new F8Error('NO_ADAPTER', 'no GPU engine is open: call `await Engine.open()` first (Engine is exported by the f8net package)');
    return Engine.current;
  }

  /** Makes `e` the engine the ops use (several engines, e.g. one per adapter). */
  static use(e: Engine): void {
    Engine.current = e;
  }

  static tryGet(): Engine | null {
    return Engine.current;
  }

  /** Finishes queued work, frees every pooled buffer and releases the device. */
  async close(): Promise<void> {
    try {
      if (!this.gpu.lost) await this.sync();
    } finally {
      this.pool.trim();
      for (const list of this.staging.values()) for (const b of list) b.destroy();
      this.staging.clear();
      if (this.timerRes) {
        this.timerRes.set.destroy();
        for (const b of this.timerRes.spare) b.destroy();
        this.timerRes = null;
      }
      this.gpu.release();
      if (Engine.current === this) Engine.current = null;
    }
  }

  // ---- kernels -----------------------------------------------------------------------------

  /**
   * The compiled kernel for entry point `entry` of `wgsl/<file>` with `defines`. Pipelines are
   * cached per (file, entry, defines); shapes travel as uniforms, so one pipeline serves all.
   */
  kernel(file: string, entry: string, defines: Defines = {}): Kernel {
    const key = `${file}#${entry}#${JSON.stringify(defines)}`;
    let k = this.kernels.get(key);
    if (k) return k;
    this.gpu.checkAlive();
    const name = `${file.replace(/^.*[\\/]/, '').replace(/\.wgsl$/, '')}.${entry}`;
    const shown = displayPath(file);
    const { code, origin } = specialise(file, defines);
    const used = reachableIdentifiers(code, entry);
    if (used.size === 0) throw new F8Error('WGSL_COMPILE', `${shown}: entry point '${entry}' not found`);
    const bindings = parseBindings(code).filter((b) => used.has(b.name));
    const uniforms = bindings.filter((b) => b.kind === 'uniform');
    if (uniforms.length > 1) throw new F8Error('WGSL_COMPILE', `${shown}: ${entry} uses ${uniforms.length} uniform bindings; one parameter struct is allowed`);
    let params: ParamField[] | null = null;
    let paramsBinding = -1;
    if (uniforms.length === 1) {
      const t = uniformTypeOf(code, uniforms[0].name);
      params = parseParamStruct(code, t ?? '?', shown);
      paramsBinding = uniforms[0].binding;
    }
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code, label: name });
    const layout = this.device.createBindGroupLayout({
      label: name,
      entries: bindings.map((b) => ({
        binding: b.binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: b.kind },
      })),
    });
    const pipeline = this.device.createComputePipeline({
      label: name,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout], label: name }),
      compute: { module, entryPoint: entry },
    });
    const scope = this.device.popErrorScope();
    const compileInfo = module.getCompilationInfo();
    Promise.all([scope, compileInfo]).then(
      ([err, info]) => {
        const msgs = info.messages.filter((m) => m.type === 'error');
        if (msgs.length) {
          const m = msgs[0];
          const where = origin[m.lineNum - 1] ?? `${shown}:${m.lineNum}`;
          // A compile error explains the validation errors that follow from the invalid
          // pipeline, so it replaces them.
          if (this.pendingError?.code !== 'WGSL_COMPILE') this.pendingError = new F8Error('WGSL_COMPILE', `${where}: ${m.message} (kernel ${name}, defines ${JSON.stringify(defines)})`);
        } else if (err) {
          if (this.pendingError?.code !== 'WGSL_COMPILE') this.pendingError = new F8Error('WGSL_COMPILE', `kernel ${name} (${shown}): ${err.message.split('\n')[0]}`);
        }
        // An invalid pipeline is not kept: the next request compiles it again and reports its
        // cause, not only "invalid due to a previous error".
        if ((msgs.length || err) && this.kernels.get(key) === k) this.kernels.delete(key);
      },
      () => undefined,
    );
    k = new Kernel(name, pipeline, bindings, params, paramsBinding);
    this.kernels.set(key, k);
    return k;
  }

  /**
   * Runs `fn` (which records GPU work) inside a validation and an out-of-memory error scope,
   * submits what it recorded and waits for it; rejects with the first error that work raised, as
   * one line: a kernel's compile error before the "invalid due to a previous error" lines that
   * follow from it. Earlier errors are thrown first (they belong to earlier work). One submission
   * and wait per call: for a first run that must say which step failed (the integer runner names
   * the node).
   * @example await e.checked(() => int8Conv2d(x, w, b, opts)); // F8Error('WGSL_COMPILE', 'kernel int8_conv.conv (...): ...')
   */
  async checked<T>(fn: () => T): Promise<T> {
    this.gpu.checkAlive();
    this.throwPending();
    this.flush();
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    let result: T;
    let failed: unknown = null;
    try {
      result = fn();
      this.flush();
    } catch (e) {
      failed = e;
    }
    const [validation, memory] = [this.device.popErrorScope(), this.device.popErrorScope()];
    const [ve, me] = await Promise.all([validation.catch(() => null), memory.catch(() => null)]);
    await this.device.queue.onSubmittedWorkDone();
    await new Promise((r) => setImmediate(r));
    this.gpu.checkAlive();
    // A compile error (recorded by kernel()) explains the validation errors that follow from it.
    if (this.pendingError?.code === 'WGSL_COMPILE') this.throwPending();
    if (failed) throw failed;
    this.throwPending();
    const oneLine = (m: string): string => m.split('\n').map((l) => l.trim()).filter(Boolean).join(' | ');
    if (ve) throw new F8Error('GPU_VALIDATION', oneLine(ve.message));
    if (me) throw new F8Error('GPU_VALIDATION', `out of GPU memory: ${oneLine(me.message)}`);
    return result!;
  }

  /** Rejects with the first compile or validation error recorded so far, if any. */
  async compileCheck(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
    await new Promise((r) => setImmediate(r));
    this.throwPending();
  }

  // ---- dispatch ----------------------------------------------------------------------------

  /** Workgroup counts for a 1-D launch of n threads, folded into y past 65535 groups. */
  grid1d(n: number, wg: number): [number, number, number] {
    const groups = Math.max(1, Math.ceil(n / wg));
    if (groups <= MAX_WG) return [groups, 1, 1];
    const y = Math.ceil(groups / MAX_WG);
    return [Math.ceil(groups / y), y, 1];
  }

  /**
   * Records one dispatch of `k`. `bindings` maps each storage binding the entry point uses to a
   * tensor or buffer; `params` gives every field of its uniform struct.
   */
  dispatch(k: Kernel, bindings: Record<string, Bindable>, params: Record<string, number> | null, groups: [number, number?, number?]): void {
    this.gpu.checkAlive();
    if (this.pendingError) this.throwPending();
    const entries: GPUBindGroupEntry[] = [];
    if (k.params) {
      if (this.ringUsed + UNIFORM_STRIDE > RING_BYTES) this.flush();
      const off = this.ringUsed;
      const w = off / 4;
      for (const f of k.params) {
        const v = params?.[f.name];
        if (v === undefined || Number.isNaN(v) && f.type !== 'f32') {
          throw new F8Error('GPU_VALIDATION', `kernel ${k.name}: parameter '${f.name}' is missing (expects ${k.params.map((p) => p.name).join(', ')})`);
        }
        if (f.type === 'u32') this.ringU32[w + f.offset / 4] = v >>> 0;
        else if (f.type === 'i32') this.ringI32[w + f.offset / 4] = v | 0;
        else this.ringF32[w + f.offset / 4] = v;
      }
      this.ringUsed += UNIFORM_STRIDE;
      entries.push({ binding: k.paramsBinding, resource: { buffer: this.ring, offset: off, size: Math.max(16, Math.ceil((k.params.length * 4) / 16) * 16) } });
    }
    for (const b of k.bindings) {
      if (b.kind === 'uniform') continue;
      const t = bindings[b.name];
      if (!t) throw new F8Error('GPU_VALIDATION', `kernel ${k.name}: binding '${b.name}' is missing (expects ${k.bindings.filter((x) => x.kind !== 'uniform').map((x) => x.name).join(', ')})`);
      if ((t as unknown as Disposable).disposed) throw new F8Error('DISPOSED', `kernel ${k.name}: binding '${b.name}' is a disposed tensor`);
      entries.push({ binding: b.binding, resource: { buffer: t.buffer } });
    }
    const bg = this.device.createBindGroup({ layout: k.pipeline.getBindGroupLayout(0), entries, label: k.name });
    if (!this.pass) {
      // Keep the open encoder: it may hold earlier passes and copies of this batch.
      this.encoder ??= this.device.createCommandEncoder();
      this.pass = this.timer ? this.encoder.beginComputePass(this.timestampedPass()) : this.encoder.beginComputePass();
    }
    const [x, y = 1, z = 1] = groups;
    if (x > MAX_WG || y > MAX_WG || z > MAX_WG) {
      throw new F8Error('UNSUPPORTED', `kernel ${k.name}: dispatch ${x}x${y}x${z} exceeds 65535 workgroups per dimension`);
    }
    this.pass.setPipeline(k.pipeline);
    this.pass.setBindGroup(0, bg);
    this.pass.dispatchWorkgroups(x, y, z);
    if (this.timer?.labels) {
      // Per-dispatch timing: this dispatch's pass ends here, under the kernel's name and the tape node it serves.
      this.timer.labels.push(this.profileLabel ? `${k.name} [${this.profileLabel}]` : k.name);
      this.endPass();
    }
    this.batchKernels.add(k.name);
    this.dispatchCount++;
    if (++this.batched >= this.batchSize) this.flush();
  }

  /** Records a buffer-to-buffer copy (ends the current compute pass). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.gpu.checkAlive();
    this.endPass();
    this.encoder ??= this.device.createCommandEncoder();
    this.encoder.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  /** Submits everything recorded so far. */
  flush(): void {
    this.gpu.checkAlive();
    this.endPass();
    if (!this.encoder) return;
    if (this.ringUsed > 0) this.device.queue.writeBuffer(this.ring, 0, this.ringData, 0, this.ringUsed);
    // Usage conflicts are only found when the encoder finishes, where Dawn cannot name the
    // dispatch: the error names the kernels of the batch (F8NET_VALIDATE=1 makes batches of one).
    const names = [...this.batchKernels];
    this.batchKernels.clear();
    this.device.pushErrorScope('validation');
    this.device.queue.submit([this.encoder.finish()]);
    this.device.popErrorScope().then(
      (err) => {
        if (!err || this.pendingError?.code === 'WGSL_COMPILE') return;
        const shown = names.length > 8 ? `${names.slice(0, 8).join(', ')} and ${names.length - 8} more` : names.join(', ');
        const msg = err.message.split('\n').filter(Boolean).join(' | ');
        this.pendingError ??= new F8Error('GPU_VALIDATION', `${msg} (in a batch of: ${shown}${names.length > 1 ? '; F8NET_VALIDATE=1 names the one op' : ''})`);
      },
      () => undefined,
    );
    this.encoder = null;
    this.ringUsed = 0;
    this.batched = 0;
    this.submitCount++;
  }

  /** Waits until the GPU has finished all submitted work; throws recorded errors. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.gpu.checkAlive();
    this.throwPending();
  }

  private throwPending(): void {
    if (this.gpu.lost) this.gpu.checkAlive();
    const e = this.pendingError;
    if (e) {
      this.pendingError = null;
      throw e;
    }
  }

  // ---- GPU timing (timestamp queries) --------------------------------------------------------

  /** Whether beginGpuTiming() can run here (the adapter has 'timestamp-query'). */
  get canTimeGpu(): boolean {
    return this.gpu.hasTimestamps;
  }

  /**
   * Starts measuring GPU time: every compute pass recorded from now until endGpuTiming() writes
   * a timestamp at its beginning and at its end (timestampWrites). Work recorded before the call
   * is not measured (the open pass is ended, so the next dispatch opens a timed one).
   * @example
   *   e.beginGpuTiming(); conv2dForward(x, w, null); const { ns } = await e.endGpuTiming();
   */
  beginGpuTiming(opts: { perDispatch?: boolean } = {}): void {
    if (!this.gpu.hasTimestamps) throw new F8Error('UNSUPPORTED', "GPU timing needs the adapter feature 'timestamp-query', which this adapter lacks; time with a full sync instead");
    if (this.timer) throw new F8Error('BAD_INPUT', 'beginGpuTiming: GPU timing is already running; call endGpuTiming() first');
    this.gpu.checkAlive();
    this.endPass();
    this.timerRes ??= { set: this.device.createQuerySet({ type: 'timestamp', count: TIMER_QUERIES, label: 'f8net.timer' }), spare: [] };
    this.timer = { used: 0, chunks: [], labels: opts.perDispatch ? [] : null };
  }

  /**
   * Ends GPU timing and returns the summed duration of the timed compute passes (their
   * beginning-to-end spans, so gaps between submissions are not counted) and how many passes
   * there were. Waits until the timed work has run.
   */
  async endGpuTiming(): Promise<{ ns: number; passes: number; byLabel: Map<string, { ns: number; count: number }>; perPass: { label: string; ns: number }[] }> {
    const t = this.timer;
    if (!t || !this.timerRes) throw new F8Error('BAD_INPUT', 'endGpuTiming: GPU timing is not running; call beginGpuTiming() first');
    this.endPass();
    if (t.used > 0) {
      this.encoder ??= this.device.createCommandEncoder();
      this.resolveTimestamps();
    }
    this.timer = null;
    let ns = 0;
    let passes = 0;
    const byLabel = new Map<string, { ns: number; count: number }>();
    const perPass: { label: string; ns: number }[] = [];
    try {
      for (const c of t.chunks) {
        const v = new BigUint64Array(await this.readBytes(c.buf, c.count * 8));
        for (let i = 0; i + 1 < c.count; i += 2) {
          // A pass whose end precedes its beginning (a reset clock) counts as empty.
          const d = v[i + 1] > v[i] ? Number(v[i + 1] - v[i]) : 0;
          ns += d;
          const label = t.labels?.[passes];
          if (label !== undefined) {
            const r = byLabel.get(label) ?? { ns: 0, count: 0 };
            r.ns += d;
            r.count++;
            byLabel.set(label, r);
            perPass.push({ label, ns: d });
          }
          passes++;
        }
      }
    } finally {
      this.timerRes?.spare.push(...t.chunks.map((c) => c.buf));
    }
    return { ns, passes, byLabel, perPass };
  }

  /** timestampWrites for the pass about to begin; resolves the query set first when it is full. */
  private timestampedPass(): GPUComputePassDescriptor {
    const t = this.timer!;
    if (t.used + 2 > TIMER_QUERIES) this.resolveTimestamps();
    const w = { querySet: this.timerRes!.set, beginningOfPassWriteIndex: t.used, endOfPassWriteIndex: t.used + 1 };
    t.used += 2;
    return { timestampWrites: w };
  }

  /** Records the resolve of the used queries into a buffer of their own (the encoder must be open, no pass). */
  private resolveTimestamps(): void {
    const t = this.timer!;
    const res = this.timerRes!;
    const buf = res.spare.pop() ?? this.device.createBuffer({ size: TIMER_QUERIES * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, label: 'f8net.timer.resolve' });
    this.encoder!.resolveQuerySet(res.set, 0, t.used, buf, 0);
    t.chunks.push({ buf, count: t.used });
    t.used = 0;
  }

  // ---- transfers ---------------------------------------------------------------------------

  /** Writes bytes into a buffer after all previously recorded work. */
  write(buf: GPUBuffer, data: ArrayBufferView, offset = 0): void {
    this.flush();
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const padded = bytes.byteLength % 4 === 0 ? bytes : (() => {
      const p = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      p.set(bytes);
      return p;
    })();
    this.device.queue.writeBuffer(buf, offset, padded as Uint8Array<ArrayBuffer>, 0, padded.byteLength);
  }

  /** Reads `bytes` bytes of `buf` after all recorded work has run. */
  async readBytes(buf: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    let list = this.staging.get(size);
    if (!list) this.staging.set(size, (list = []));
    const st = list.pop() ?? this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'f8net.readback' });
    this.copy(buf, offset, st, 0, Math.ceil(bytes / 4) * 4);
    this.flush();
    try {
      await st.mapAsync(GPUMapMode.READ, 0, size);
    } catch (e) {
      await this.gpu.checkAliveAfterFailure();
      throw new F8Error('GPU_VALIDATION', `read-back failed: ${(e as Error).message}`);
    }
    const out = st.getMappedRange(0, size).slice(0, bytes);
    st.unmap();
    list.push(st);
    this.throwPending();
    return out;
  }

  // ---- scopes ------------------------------------------------------------------------------

  /** Registers a newly created tensor with the innermost scope. */
  track(t: Disposable): void {
    const s = this.scopes[this.scopes.length - 1];
    if (s) s.add(t);
  }

  /** Takes `t` out of every scope: it lives until disposed by hand. Returns t. */
  keep<T extends Disposable>(t: T): T {
    for (const s of this.scopes) s.delete(t);
    return t;
  }

  /**
   * Runs fn; every tensor created inside and not returned (nor kept) is disposed at the end.
   * Tensors in the result (a tensor, array or plain object of them) move to the outer scope.
   */
  tidy<T>(fn: () => T): T {
    const scope = new Set<Disposable>();
    this.scopes.push(scope);
    let result: T;
    try {
      result = fn();
    } finally {
      this.popScope(scope);
    }
    return this.closeScope(scope, result!);
  }

  /** tidy for async bodies (e.g. a step that reads its loss back). */
  async tidyAsync<T>(fn: () => Promise<T>): Promise<T> {
    const scope = new Set<Disposable>();
    this.scopes.push(scope);
    let result: T;
    try {
      result = await fn();
    } finally {
      this.popScope(scope);
    }
    return this.closeScope(scope, result!);
  }

  private popScope(scope: Set<Disposable>): void {
    // Async scopes may interleave, so remove this one wherever it is.
    const i = this.scopes.lastIndexOf(scope);
    if (i >= 0) this.scopes.splice(i, 1);
  }

  /** Disposes what `scope` created except the tensors in `result`, which move to the outer scope. */
  private closeScope<T>(scope: Set<Disposable>, result: T): T {
    const keepers = new Set<Disposable>();
    collect(result, keepers, 0);
    const outer = this.scopes[this.scopes.length - 1];
    for (const t of scope) {
      if (keepers.has(t)) outer?.add(t);
      else if (!t.disposed) t.dispose();
    }
    return result;
  }
}

function collect(v: unknown, out: Set<Disposable>, depth: number): void {
  if (v === null || typeof v !== 'object' || depth > 4) return;
  if ('dispose' in v && 'disposed' in v) {
    out.add(v as Disposable);
    // A view shares its owner's buffer: keeping the view keeps the owner.
    const owner = (v as { viewOf?: unknown }).viewOf;
    if (owner) collect(owner, out, depth);
    return;
  }
  if (Array.isArray(v)) for (const x of v) collect(x, out, depth + 1);
  else if (Object.getPrototypeOf(v) === Object.prototype) for (const x of Object.values(v)) collect(x, out, depth + 1);
}
