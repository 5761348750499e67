/**
 * The F8Net layers: a convolution with its batch norm and the ReLU/clip of its input fused into
 * one module (F8NET.md §3), and the linear classifier. The same class serves both training
 * stages: with `quant.enabled` false it is the plain float layer of stage 1,
 * y = BN(conv(relu?(x), w)), which equals conv(x, gamma/sigma * w) + (beta - gamma*mu/sigma).
 *
 * @example
 *   const c = new QConv2d('conv1', 1, 16, 3, { padding: 1, inputSigned: true, quant: floatQuant() });
 *   const y = c.forward(x);
 */
import { Module, isShapesOnlyBuild } from './module.js';
import { activeTracer, windowOut } from './trace.js';
import { Tensor } from '../tensor.js';
import { conv2d, type Conv2dOptions } from '../ops/conv2d.js';
import { linear } from '../ops/matmul.js';
import { batchNorm2d, batchStats, updateRunningStats } from '../ops/batchnorm.js';
import { relu, full, scale, scaleByTensor, powAffine, reshape, copy } from '../ops/elementwise.js';
import { mulChannel, channelVar } from '../ops/reduce.js';
import { fakeQuant, fixScalingGpu, type FakeQuantOpts } from '../ops/fakequant.js';
import { qconvBnTrain, qconvTuning } from '../ops/qconv.js';
import { fraclenFromMetric, gridSearchFraclen, updateRunningFraclen, evalFraclen } from '../ops/fraclen.js';
import { foldBn, foldBnPaper, foldPlain, quantizeBias } from '../ops/fold.js';
import { noGrad } from '../autograd/tape.js';
import { Engine } from '../runtime/engine.js';
import { F8Error } from '../runtime/errors.js';
import type { Rng } from '../runtime/rng.js';
import { roundHalfEven } from '../quant/fixed-format.js';
import { HEAD_FORMS, WEIGHT_ONLY_FL, type HeadForm } from '../quant/head-form.js';
import { CLASSIFIER_FORMS, type ClassifierForm } from '../quant/classifier-form.js';
import type { PoolForm } from '../quant/pool-form.js';

export { HEAD_FORMS, LEGACY_HEAD_FORM, WEIGHT_ONLY_FL, type HeadForm } from '../quant/head-form.js';
export { CLASSIFIER_FORMS, LEGACY_CLASSIFIER_FORM, type ClassifierForm } from '../quant/classifier-form.js';

export type FormatType = 'per_layer' | 'per_channel';

export type Metric = 'std' | 'mae' | 'rms';

/** How a layer quantises (F8NET.md §2-§4); `enabled: false` is the float stage. */
export interface QuantConfig {
  enabled: boolean;
  /** Word length of weights and inputs (8 in the paper). */
  wl: number;
  /** Starting formats [wl, fl] before the first statistics are known. */
  weightFormat: [number, number];
  inputFormat: [number, number];
  /** Weight lengths: one per layer or one per output channel. */
  formatType: FormatType;
  /** Input lengths: one per layer or one per input channel (default: as formatType). */
  inputFormatType?: FormatType;
  /** 'metric': fl from a statistic; 'grid': grid search of the RMS error. */
  fraclenMethod: 'metric' | 'grid';
  metric: Metric;
  momentumForMetric: number;
  /** Layers that read the same tensor also share the master's fractional length. */
  inputFraclenSharing: boolean;
  /** Weight times 1/sqrt(fan_out)/std(w) before use (rescale_forward, constant); paper classifier: see forwardPaper. */
  rescaleForward: boolean;
  /** With rescaleForward, the convolutions too (default true; the paper's default false). */
  rescaleForwardConv?: boolean;
  /** How the first layer reads the image (src/quant/head-form.ts; default 'weight_only', the paper's default). */
  headForm?: HeadForm;
  /** How a linear classifier quantises (src/quant/classifier-form.ts; default 'folded', f8net's). */
  classifierForm?: ClassifierForm;
  /** How the global pool before a classifier divides (src/quant/pool-form.ts; default 'folded', f8net's). */
  poolForm?: PoolForm;
  /**
   * The f32 operation order of the conv-BN fold in evaluation: 'fused' (default: k = gamma r s_in /
   * s_next per channel, w_f = k w, r = inverseSqrt) or 'paper' (w_f = ((gamma / sqrt(var + eps)) w
   * s_in) / s_next, b = (beta - t mean) / s_next, one f32 operation each, as the paper's code), so
   * that w_f 2^fl_w rounds to the paper's weight codes within an ulp of a half integer. Training keeps the fused fold.
   */
  foldOrder?: 'fused' | 'paper';
  /**
   * How an identity shortcut joins a residual sum (src/nn/residual.ts identityShortcut): 'aligned'
   * (default, F8NET.md §4/§5: the block input is brought to the reader's units, x s_in(E) / s_in(N),
   * a shift by fl_E - fl_N) or 'paper' (the paper's fake-quant blocks, `res += x`: the block input is
   * added as it is, in its entry layer's units; the same where fl_E = fl_N, a factor 2^(fl_N - fl_E)
   * on the identity path elsewhere). Read from the block's entry layer.
   */
  identityAdd?: 'aligned' | 'paper';
}

export function floatQuant(): QuantConfig {
  return {
    enabled: false,
    wl: 8,
    weightFormat: [8, 7],
    inputFormat: [8, 6],
    formatType: 'per_layer',
    fraclenMethod: 'metric',
    metric: 'std',
    momentumForMetric: 0.1,
    inputFraclenSharing: false,
    rescaleForward: false,
  };
}

export function fixedQuant(over: Partial<QuantConfig> = {}): QuantConfig {
  return { ...floatQuant(), enabled: true, ...over };
}

/** Kaiming-normal (fan_out, ReLU gain) as torchvision initialises ResNet convolutions. */
export function kaimingNormal(rng: Rng, fanOut: number): (i: number) => number {
  const std = Math.sqrt(2 / fanOut);
  return () => rng.normal() * std;
}

export interface QConv2dOptions extends Conv2dOptions {
  /** Whether the input is signed (network input, linear bottleneck) or after a ReLU. */
  inputSigned: boolean;
  quant: QuantConfig;
  rng: Rng;
  /** Batch norm after the convolution (default true); without it the conv has a bias. */
  bn?: boolean;
  bnMomentum?: number;
  bnEps?: number;
  /** This layer reads the network input: its form is quant.headForm (default false). */
  head?: boolean;
}

/**
 * Common state of the F8Net layers: the clipping level, the fractional lengths and the
 * scaling relations of §4.
 *
 * Fractional lengths live in GPU buffers and never come back to the CPU during training:
 *  - `input_fraclen_run` (f32 [1]): the running input length, fl_run = m*fl_batch + (1-m)*fl_run;
 *  - `input_fraclen` (i32 [1]): the length this layer quantised its input with last (the batch's
 *    in training, round(fl_run) in evaluation); fix scalings never read it (they take round(fl_run));
 *  - `weight_fraclen` (i32 [1] or [O]): the weight length used last (recomputed every step).
 */
export abstract class QLayer extends Module {
  /** The layer whose alpha (and word length) this one uses, when it reads a shared tensor. */
  master: QLayer | null = null;
  /** The layer that reads this layer's output; its fix_scaling divides this layer's output. */
  following: QLayer | null = null;
  /** The head form when this layer reads the network input (HeadForm), else null. */
  readonly headForm: HeadForm | null;
  /** Signedness of the input: a weight_only head's input is unsigned whatever the model asked. */
  readonly inputSigned: boolean;
  /** A weight_only head's constant input length (8) and fix scaling (1), one per length. */
  private readonly headConst: { fl: Tensor; s: Tensor } | null = null;
  readonly alpha: Tensor;
  readonly inputFraclenRun: Tensor;
  readonly inputFraclen: Tensor;
  abstract readonly weightFraclen: Tensor;

  /** One input length per input channel (format_type per_channel), or one for the layer. */
  readonly perChannelInput: boolean;

  /**
   * Set by the integer export (src/export/convert.ts): called at each fixed-point forward with
   * the quantised folded weight w_q and the folded bias b_f, the tensors the layer computes with.
   */
  onFold: ((wq: Tensor, bias: Tensor) => void) | null = null;

  constructor(
    readonly layerName: string,
    inputSigned: boolean,
    readonly quant: QuantConfig,
    readonly inputChannels: number,
    head = false,
  ) {
    super();
    this.headForm = head ? (quant.headForm ?? 'weight_only') : null;
    if (this.headForm !== null && !HEAD_FORMS.includes(this.headForm)) {
      throw new F8Error('BAD_CONFIG', `layer ${layerName}: head form '${String(this.headForm)}' is not one of ${HEAD_FORMS.join(', ')}`);
    }
    const weightOnly = this.headForm === 'weight_only';
    this.inputSigned = weightOnly ? false : inputSigned;
    this.perChannelInput = (quant.inputFormatType ?? quant.formatType) === 'per_channel';
    // PACT clipping level of the input, init 8.0 (§3). Present in float mode too, so that
    // float and fixed-point checkpoints share one state layout (a weight_only head keeps an unused one).
    this.alpha = this.param('alpha', [1], () => 8);
    const flMax = quant.inputFormat[0] - (this.inputSigned ? 1 : 0);
    const fl0 = weightOnly ? WEIGHT_ONLY_FL : Math.min(Math.max(quant.inputFormat[1], 0), flMax);
    const nfl = this.perChannelInput ? inputChannels : 1;
    this.inputFraclenRun = this.buffer('input_fraclen_run', [nfl], () => fl0);
    this.inputFraclen = this.buffer('input_fraclen', [nfl], () => fl0, 'i32');
    if (weightOnly && isShapesOnlyBuild()) {
      this.headConst = { fl: Tensor.meta([nfl], 'i32'), s: Tensor.meta([nfl]) };
    } else if (weightOnly) {
      const e = Engine.get();
      this.headConst = { fl: e.keep(Tensor.from(new Int32Array(nfl).fill(WEIGHT_ONLY_FL), [nfl], 'i32')), s: e.keep(Tensor.from(new Float32Array(nfl).fill(1), [nfl])) };
    }
  }

  /** True for the layer that reads the network input (whatever its head form). */
  get readsNetworkInput(): boolean {
    return this.headForm !== null;
  }

  /** The layer that owns the clipping level this layer uses. */
  get alphaOwner(): QLayer {
    return this.master ?? this;
  }

  /** Word length of the input (the master's, when shared). */
  get inputWl(): number {
    return this.headConst ? 8 : this.alphaOwner.quant.inputFormat[0];
  }

  /** The input transform of the float stage: ReLU for unsigned inputs, identity otherwise. */
  protected floatInput(x: Tensor): Tensor {
    return this.inputSigned ? x : relu(x);
  }

  /**
   * The fractional length that enters this layer's fix scaling (F8NET.md §3, the paper's
   * `fix_scaling`): always the rounded running length clamp(round(fl_run)), never the batch
   * length, in training as in evaluation. It is a fresh tensor (a snapshot): the layer before
   * calls this for its s_next before this layer's forward updates fl_run, and the backward of
   * fix_scaling reads fl again; with a live buffer it would see the updated length and scale
   * the alpha gradient by 2^(fl_new - fl_old).
   */
  currentInputFraclen(): Tensor {
    if (this.headConst) return noGrad(() => copy(this.headConst!.fl));
    const src = this.quant.inputFraclenSharing && this.master ? this.master : this;
    return noGrad(() => evalFraclen(src.inputFraclenRun, src.inputWl, src.inputSigned));
  }

  /** fix_scaling of this layer's input, differentiable w.r.t. the (master's) alpha. */
  fixScaling(fl: Tensor = this.currentInputFraclen()): Tensor {
    // weight_only: alpha is not used, the fix scaling is 1 (the paper's get_alpha gives ones).
    if (this.headConst) return noGrad(() => copy(this.headConst!.s));
    return fixScalingGpu(this.alphaOwner.alpha, fl, this.inputWl, this.inputSigned);
  }

  /** The scaling that divides this layer's output: the following layer's fix_scaling, or 1. */
  protected outputScaling(): Tensor {
    return this.following ? this.following.fixScaling() : noGrad(() => full([1], 1));
  }

  /**
   * Quantises the input (§3 step 1): computes the batch length (training) or takes the running
   * one (evaluation), records it, updates fl_run, and returns the quantised input, the length
   * it was quantised with and the fix scaling (from the updated rounded running length).
   */
  protected quantizeInput(x: Tensor): { xq: Tensor; sIn: Tensor; fl: Tensor } {
    if (this.headConst) return this.weightOnlyInput(x);
    const wl = this.inputWl;
    const signed = this.inputSigned;
    const shared = this.quant.inputFraclenSharing && this.master ? this.master : null;
    const axis = this.perChannelInput ? { axis: 1 } : {};
    let fl: Tensor;
    if (shared) {
      // The master's quantisation length: its batch length in training (it ran first on the
      // same tensor), its rounded running length in evaluation.
      fl = shared.training ? copy(shared.inputFraclen) : shared.currentInputFraclen();
    } else if (this.training) {
      fl = noGrad(() =>
        this.quant.fraclenMethod === 'grid'
          ? gridSearchFraclen(x, { wl, signed, ...axis })
          : fraclenFromMetric(x, { wl, signed, metric: this.quant.metric, ...axis }),
      );
      noGrad(() => updateRunningFraclen(this.inputFraclenRun, fl, this.quant.momentumForMetric));
    } else {
      fl = noGrad(() => evalFraclen(this.inputFraclenRun, wl, signed));
    }
    if (fl !== this.inputFraclen) Engine.get().copy(fl.buffer, 0, this.inputFraclen.buffer, 0, this.inputFraclen.bytes);
    // s_in from the rounded running length after this step's update (§3), not from fl.
    const sIn = this.fixScaling(this.training ? this.currentInputFraclen() : fl);
    let xin = x;
    if (this.headForm === 'f8net_scaled') xin = this.perChannelInput ? mulChannel(x, powAffine(sIn, 1, -1), 1) : scaleByTensor(x, sIn, true);
    return { xq: fakeQuant(xin, fl, { wl, signed, ...axis }), sIn, fl };
  }

  /**
   * The weight_only head (HeadForm): in training the input is used as it is, after the ReLU of an
   * unsigned input (the paper's head); in evaluation it is quantised at fl 8 unsigned, which leaves
   * images fed as pixel / 256 unchanged and makes any other input what the integer model reads.
   */
  private weightOnlyInput(x: Tensor): { xq: Tensor; sIn: Tensor; fl: Tensor } {
    const c = this.headConst!;
    const axis = this.perChannelInput ? { axis: 1 } : {};
    const xq = this.training ? relu(x) : fakeQuant(x, c.fl, { wl: 8, signed: false, ...axis });
    // What the export reads as this layer's input length.
    Engine.get().copy(c.fl.buffer, 0, this.inputFraclen.buffer, 0, this.inputFraclen.bytes);
    return { xq, sIn: noGrad(() => copy(c.s)), fl: c.fl };
  }

  /**
   * The folded bias as the layer adds it (§3 "Bias rounding"): a float in training (the paper
   * rounds only in evaluation, with quant_bias); in evaluation on the accumulator grid
   * fl_in + fl_w (§5), as the integer model adds it (with per-channel input lengths, the finest
   * grid: the largest fl_in), so fake-quant evaluation equals the exported integer model.
   */
  protected quantizedBias(b: Tensor, flIn: Tensor): Tensor {
    return this.training ? b : quantizeBias(b, flIn, this.weightFraclen);
  }

  /** s_in * x_q: the input in real units (per input channel with per-channel lengths). */
  protected scaleInput(xq: Tensor, sIn: Tensor): Tensor {
    return this.perChannelInput ? mulChannel(xq, sIn, 1) : scaleByTensor(xq, sIn);
  }

  /**
   * Where s_in enters the folded weight: a per-layer s_in is a factor of k (the fold), a
   * per-channel one multiplies the weight along its input-channel axis (`wAxis`) and the fold
   * gets 1.
   */
  protected inputScaleIntoWeight(w: Tensor, sIn: Tensor, wAxis: number): { w: Tensor; sFold: Tensor } {
    if (!this.perChannelInput) return { w, sFold: sIn };
    return { w: mulChannel(w, sIn, wAxis), sFold: noGrad(() => full([1], 1)) };
  }

  /** Optional rescale_forward (type constant): w / sqrt(fan_out) / std(w). */
  protected rescaled(w: Tensor, fanOut: number): Tensor {
    if (!this.quant.rescaleForward) return w;
    const v = channelVar(reshape(w, [1, w.size]), 0, { unbiased: true });
    return scaleByTensor(w, powAffine(v, fanOut, -0.5));
  }

  /** §3 step 4: weight length from the folded weight, recorded, and the fake-quantised weight. */
  protected quantizeWeight(wf: Tensor): Tensor {
    const { fl, opts } = this.weightFormat(wf);
    return fakeQuant(wf, fl, opts);
  }

  /** The weight length(s) of §3 step 4 from the folded weight (recorded in weight_fraclen) and the weight format. */
  protected weightFormat(wf: Tensor): { fl: Tensor; opts: FakeQuantOpts } {
    const wl = this.quant.weightFormat[0];
    const perChannel = this.quant.formatType === 'per_channel';
    const opts = { wl, signed: true, ...(perChannel ? { axis: 0 } : {}) };
    const fl = noGrad(() => (this.quant.fraclenMethod === 'grid' ? gridSearchFraclen(wf, opts) : fraclenFromMetric(wf, { ...opts, metric: this.quant.metric })));
    Engine.get().copy(fl.buffer, 0, this.weightFraclen.buffer, 0, fl.bytes);
    return { fl, opts };
  }
}

export class QConv2d extends QLayer {
  readonly weight: Tensor;
  readonly gamma: Tensor | null = null;
  readonly beta: Tensor | null = null;
  readonly bias: Tensor | null = null;
  readonly runningMean: Tensor | null = null;
  readonly runningVar: Tensor | null = null;
  readonly conv: Required<Omit<Conv2dOptions, 'groups'>> & { groups: number };
  readonly hasBn: boolean;
  readonly weightFraclen: Tensor;

  constructor(
    name: string,
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: number | [number, number],
    readonly opts: QConv2dOptions,
  ) {
    super(name, opts.inputSigned, opts.quant, inChannels, opts.head ?? false);
    const [kh, kw] = typeof kernel === 'number' ? [kernel, kernel] : kernel;
    const groups = opts.groups ?? 1;
    if (this.perChannelInput && groups !== 1 && !(groups === inChannels && outChannels === inChannels)) {
      throw new F8Error('BAD_CONFIG', `layer ${name}: per-channel input lengths need groups 1 or a depthwise conv with multiplier 1 (got groups ${groups}, ${inChannels} -> ${outChannels} channels)`);
    }
    this.conv = { stride: opts.stride ?? 1, padding: opts.padding ?? 0, dilation: opts.dilation ?? 1, groups };
    this.weight = this.param('weight', [outChannels, inChannels / groups, kh, kw], kaimingNormal(opts.rng, (outChannels * kh * kw) / groups));
    this.hasBn = opts.bn ?? true;
    if (this.hasBn) {
      this.gamma = this.param('gamma', [outChannels], () => 1);
      this.beta = this.param('beta', [outChannels], () => 0);
      this.runningMean = this.buffer('running_mean', [outChannels], () => 0);
      this.runningVar = this.buffer('running_var', [outChannels], () => 1);
    } else {
      this.bias = this.param('bias', [outChannels], () => 0);
    }
    const flw = opts.quant.weightFormat[1];
    this.weightFraclen = this.buffer('weight_fraclen', [opts.quant.formatType === 'per_channel' ? outChannels : 1], () => flw, 'i32');
  }

  forward(x: Tensor): Tensor {
    const t = activeTracer();
    if (!t) return this.quant.enabled ? this.forwardFixed(x) : this.forwardFloat(x);
    const input = t.read(x, this.layerName);
    const y = t.shapesOnly ? Tensor.meta(this.outputShape(x.shape)) : this.quant.enabled ? this.forwardFixed(x) : this.forwardFloat(x);
    t.push({ op: 'layer', layer: this, input, out: t.made(y) });
    return y;
  }

  /** The output shape for an input of `shape` [N, C, H, W] (F8Error when it does not fit). */
  outputShape(shape: readonly number[]): number[] {
    const [N, C, H, W] = shape;
    if (shape.length !== 4 || C !== this.inChannels) {
      throw new F8Error('SHAPE_MISMATCH', `${this.layerName}: expects ${this.inChannels} input channels, gets [${shape.slice(1).join(', ')}]`);
    }
    const [kh, kw] = this.weight.shape.slice(2);
    const pair = (v: number | [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : v);
    const [[sh, sw], [ph, pw], [dh, dw]] = [pair(this.conv.stride), pair(this.conv.padding), pair(this.conv.dilation)];
    const OH = windowOut(H, kh, sh, ph, dh);
    const OW = windowOut(W, kw, sw, pw, dw);
    if (OH < 1 || OW < 1) {
      const k = kh === kw ? `${kh}x${kh}` : `${kh}x${kw}`;
      throw new F8Error('BAD_CONFIG', `${this.layerName}: input ${H}x${W} is too small for a ${k} kernel with stride ${sh} and padding ${ph} (use a larger image_size)`);
    }
    return [N, this.outChannels, OH, OW];
  }

  /**
   * §3: quantise the input; in training, batch statistics of conv(s_in x_q, w) (and the running
   * statistics' update); fold BN and the scalings into w_f and b_f; quantise w_f; conv(x_q, w_q) + b_f,
   * with b_f rounded to the accumulator grid 2^-(fl_in + fl_w) in evaluation: the int32 bias of §5,
   * so that this layer then computes exactly what the exported integer layer computes.
   */
  private forwardFixed(x: Tensor): Tensor {
    const { xq, sIn, fl } = this.quantizeInput(x);
    const kh = this.weight.shape[2];
    const kw = this.weight.shape[3];
    const w = this.quant.rescaleForwardConv === false ? this.weight : this.rescaled(this.weight, (this.outChannels * kh * kw) / this.conv.groups);
    const sNext = this.outputScaling();
    // OIHW: the input channel is axis 1, or axis 0 for a depthwise conv (one input channel per output).
    const { w: ws, sFold } = this.inputScaleIntoWeight(w, sIn, this.conv.groups === 1 ? 1 : 0);
    if (this.hasBn && this.training && qconvTuning().fused) {
      // The same step with one weight-gradient pass (src/ops/qconv.ts).
      const r = qconvBnTrain({
        xq, ws, sFold, gamma: this.gamma!, beta: this.beta!, sNext, runningMean: this.runningMean!, runningVar: this.runningVar!,
        conv: this.conv, eps: this.opts.bnEps ?? 1e-5, momentum: this.opts.bnMomentum ?? 0.1,
        weightFormat: (wf) => this.weightFormat(wf),
        quantize: (wf, flw, opts) => fakeQuant(wf, flw, opts),
      });
      this.onFold?.(r.wq, r.b);
      return r.y;
    }
    let fold: { k: Tensor; b: Tensor };
    if (this.hasBn) {
      let mean: Tensor;
      let variance: Tensor;
      if (this.training) {
        const y0 = conv2d(this.scaleInput(xq, sIn), w, null, this.conv);
        ({ mean, var: variance } = batchStats(y0));
        const count = y0.size / this.outChannels;
        noGrad(() => updateRunningStats(this.runningMean!, this.runningVar!, mean, variance, count, this.opts.bnMomentum ?? 0.1));
      } else {
        mean = this.runningMean!;
        variance = this.runningVar!;
      }
      fold = foldBn(this.gamma!, this.beta!, mean, variance, sFold, sNext, this.opts.bnEps ?? 1e-5);
    } else {
      fold = foldPlain(this.bias!, sFold, sNext);
    }
    let wf = mulChannel(ws, fold.k, 0);
    let bf = fold.b;
    if (this.quant.foldOrder === 'paper' && !this.training && this.hasBn && sFold === sIn && sNext.size === 1) {
      // The paper's evaluation order (QuantConfig.foldOrder): ((t w) s_in) / s_next, t = gamma / sqrt(var + eps).
      const p = foldBnPaper(this.gamma!, this.beta!, this.runningMean!, this.runningVar!, sNext, this.opts.bnEps ?? 1e-5);
      wf = scaleByTensor(scaleByTensor(mulChannel(w, p.t, 0), sIn), sNext, true);
      bf = p.b;
    }
    const wq = this.quantizeWeight(wf);
    const bq = this.quantizedBias(bf, fl);
    this.onFold?.(wq, bq);
    return conv2d(xq, wq, bq, this.conv);
  }

  private forwardFloat(x: Tensor): Tensor {
    const y = conv2d(this.floatInput(x), this.weight, this.bias, this.conv);
    if (!this.hasBn) return y;
    return batchNorm2d(y, this.gamma!, this.beta!, this.runningMean!, this.runningVar!, {
      training: this.training,
      momentum: this.opts.bnMomentum ?? 0.1,
      eps: this.opts.bnEps ?? 1e-5,
    });
  }
}

export interface QLinearOptions {
  inputSigned: boolean;
  quant: QuantConfig;
  rng: Rng;
  /** This layer reads the network input (a linear head): its form is quant.headForm. */
  head?: boolean;
}

export class QLinear extends QLayer {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly weightFraclen: Tensor;
  /**
   * c = 2^s / k^2 when this layer reads a global pool in fixed-point mode (src/nn/qpool.ts sets
   * it at each forward): the folded weight is multiplied by c, the pooled input is mean / c.
   */
  poolFactor = 1;

  constructor(
    name: string,
    readonly inFeatures: number,
    readonly outFeatures: number,
    readonly opts: QLinearOptions,
  ) {
    super(name, opts.inputSigned, opts.quant, inFeatures, opts.head ?? false);
    // PyTorch's nn.Linear default: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
    const b = 1 / Math.sqrt(inFeatures);
    this.weight = this.param('weight', [outFeatures, inFeatures], () => (opts.rng.nextFloat() * 2 - 1) * b);
    this.bias = this.param('bias', [outFeatures], () => (opts.rng.nextFloat() * 2 - 1) * b);
    const flw = opts.quant.weightFormat[1];
    this.weightFraclen = this.buffer('weight_fraclen', [opts.quant.formatType === 'per_channel' ? outFeatures : 1], () => flw, 'i32');
  }

  /** The classifier form (src/quant/classifier-form.ts): 'folded' (default) or the paper's. */
  get classifierForm(): ClassifierForm {
    return this.quant.classifierForm ?? 'folded';
  }

  forward(x: Tensor): Tensor {
    const t = activeTracer();
    if (!t) return this.forwardUntraced(x);
    const input = t.read(x, this.layerName);
    if (t.shapesOnly && (x.shape.length !== 2 || x.shape[1] !== this.inFeatures)) {
      throw new F8Error('SHAPE_MISMATCH', `${this.layerName}: expects ${this.inFeatures} features, gets [${x.shape.slice(1).join(', ')}]`);
    }
    const y = t.shapesOnly ? Tensor.meta([x.shape[0], this.outFeatures]) : this.forwardUntraced(x);
    t.push({ op: 'layer', layer: this, input, out: t.made(y) });
    return y;
  }

  private forwardUntraced(x: Tensor): Tensor {
    if (!this.quant.enabled) return linear(this.floatInput(x), this.weight, this.bias);
    const form = this.classifierForm;
    if (!CLASSIFIER_FORMS.includes(form)) throw new F8Error('BAD_CONFIG', `layer ${this.layerName}: classifier form '${String(form)}' is not one of ${CLASSIFIER_FORMS.join(', ')}`);
    if (form === 'paper') return this.forwardPaper(x);
    // Linear layers do the same as convolutions without BN (§3).
    const { xq, sIn, fl } = this.quantizeInput(x);
    const w0 = this.rescaled(this.weight, this.outFeatures);
    const w = this.poolFactor === 1 ? w0 : scale(w0, this.poolFactor);
    const { w: ws, sFold } = this.inputScaleIntoWeight(w, sIn, 1);
    const fold = foldPlain(this.bias, sFold, this.outputScaling());
    const wq = this.quantizeWeight(mulChannel(ws, fold.k, 0));
    const bq = this.quantizedBias(fold.b, fl);
    this.onFold?.(wq, bq);
    return linear(xq, wq, bq);
  }

  /**
   * The paper's classifier form (src/quant/classifier-form.ts): w_q = Q(c w) alone; training
   * y = t (x_q . w_q + b / t) = t x_q . w_q + b; evaluation z = x_q . w_q + round(b / t), the
   * logits / t that the integer model computes (its w_q and bias go to the export as they are).
   * t = s_in, or with rescale_forward the paper's t = s_in ws, ws = 1 / sqrt(O) / std(w_q) (of the
   * quantised weight, unbiased, no gradient; f8net's other layers rescale before quantising).
   */
  private forwardPaper(x: Tensor): Tensor {
    if (this.perChannelInput) throw new F8Error('UNSUPPORTED', `layer ${this.layerName}: classifier_form paper has one input length (the paper's linear); set input_format_type per_layer or classifier_form folded`);
    if (this.following) throw new F8Error('BAD_CONFIG', `layer ${this.layerName}: classifier_form paper is for the last layer (its output is not divided by a reader's fix scaling), but ${this.following.layerName} reads it`);
    const { xq, sIn, fl } = this.quantizeInput(x);
    const w = this.poolFactor === 1 ? this.weight : scale(this.weight, this.poolFactor);
    const wq = this.quantizeWeight(w);
    const ws = this.quant.rescaleForward ? noGrad(() => powAffine(channelVar(reshape(wq, [1, wq.size]), 0, { unbiased: true }), this.outFeatures, -0.5)) : null;
    const t = ws ? scaleByTensor(sIn, ws) : sIn;
    // b / t: foldPlain with t in the place of s_next (its k = 1 / t is not used).
    const fold = foldPlain(this.bias, noGrad(() => full([1], 1)), t);
    const bq = this.quantizedBias(fold.b, fl);
    this.onFold?.(wq, bq);
    const z = linear(xq, wq, bq);
    return this.training ? scaleByTensor(z, t) : z;
  }
}

export interface LayerFormat {
  name: string;
  inputSigned: boolean;
  /** Input fractional length(s) used in evaluation: round(fl_run), clamped (one per channel with per-channel formats). */
  inputFraclen: number[];
  inputFraclenRun: number[];
  /** Weight fractional length(s) of the last forward pass. */
  weightFraclen: number[];
  alpha: number;
  /** The layer whose alpha this one shares, if any. */
  master: string | null;
}

/** The fractional lengths and clipping levels of every F8Net layer (read back; for people). */
export async function describeFormats(model: Module): Promise<LayerFormat[]> {
  const out: LayerFormat[] = [];
  for (const [path, m] of model.namedModules()) {
    if (!(m instanceof QLayer)) continue;
    const run = [...(await m.inputFraclenRun.read())];
    const flMax = m.inputWl - (m.inputSigned ? 1 : 0);
    out.push({
      name: path,
      inputSigned: m.inputSigned,
      inputFraclen: run.map((r) => Math.min(Math.max(roundHalfEven(r), 0), flMax)),
      inputFraclenRun: run,
      weightFraclen: [...(await m.weightFraclen.read())],
      alpha: (await m.alphaOwner.alpha.read())[0],
      master: m.master ? (model.namedModules().find(([, x]) => x === m.master)?.[0] ?? m.master.layerName) : null,
    });
  }
  return out;
}


/** A table of describeFormats() for the terminal. */
export function formatTable(rows: LayerFormat[]): string {
  const head = 'layer                input     fl_in (run)     fl_w          alpha   shares alpha of';
  return [
    head,
    ...rows.map((r) => {
      const span = (v: number[]) => (v.length > 1 ? `${Math.min(...v)}..${Math.max(...v)}` : String(v[0]));
      const runs = r.inputFraclenRun.length > 1 ? `${Math.min(...r.inputFraclenRun).toFixed(2)}..${Math.max(...r.inputFraclenRun).toFixed(2)}` : r.inputFraclenRun[0].toFixed(2);
      return `${r.name.padEnd(20)} ${(r.inputSigned ? 'signed' : 'unsigned').padEnd(9)} ${span(r.inputFraclen).padStart(5)} (${runs})    ${span(r.weightFraclen).padEnd(12)} ${r.alpha.toFixed(3).padStart(8)}   ${r.master ?? '-'}`;
    }),
  ].join('\n');
}
