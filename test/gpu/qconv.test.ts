// The fused fixed-point conv-BN training op (src/ops/qconv.ts): each kernel of wgsl/qconv.wgsl
// against its float64 CPU reference (src/ops/qconv.ref.ts), and the layer's step with the fused
// backward against the op-by-op graph (qconv knob fused: false) on layers with many clipped weights,
// strided, grouped and depthwise convolutions and per-channel lengths. The layer against the
// paper's arithmetic is test/gpu/qlayers.test.ts.
import { it, expect } from 'vitest';
import { gpuDescribe, rand, expectClose } from '../helpers.js';
import { Engine } from '../../src/runtime/engine.js';
import { Tensor } from '../../src/tensor.js';
import { backward } from '../../src/autograd/tape.js';
import { clipGrad, clipReduce, chanDot, combineCoefs, combineGrad, scaleStats, scaleGrad, qconvTuning } from '../../src/ops/qconv.js';
import { refClipGrad, refClipReduce, refChanDot, refCoefs, refScaleStats, refScaleGrad } from '../../src/ops/qconv.ref.js';
import { refChannelAffine } from '../../src/ops/batchnorm.ref.js';
import { QConv2d, fixedQuant } from '../../src/nn/qlayers.js';
import { Rng } from '../../src/runtime/rng.js';

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const close = (got: ArrayLike<number>, ref: ArrayLike<number>, what: string, tol = 1e-5) => expectClose(got, ref, tol * Math.max(maxAbs(ref), 1e-6), tol, what);

interface Geo {
  name: string;
  x: number[];
  w: number[];
  opts: { stride?: number; padding?: number; dilation?: number; groups?: number };
}
const GEOS: Geo[] = [
  { name: '3x3 pad 1', x: [2, 5, 7, 6], w: [6, 5, 3, 3], opts: { padding: 1 } },
  { name: '3x3 stride 2 dilation 2', x: [2, 4, 9, 9], w: [3, 4, 3, 3], opts: { stride: 2, padding: 2, dilation: 2 } },
  { name: 'groups 2, 1x1', x: [3, 4, 5, 5], w: [6, 2, 1, 1], opts: { groups: 2 } },
  { name: 'depthwise 3x3 stride 2', x: [2, 6, 8, 8], w: [6, 1, 3, 3], opts: { groups: 6, stride: 2, padding: 1 } },
];

const outShape = (g: Geo): number[] => {
  const [N, , H, W] = g.x;
  const [O, , KH, KW] = g.w;
  const s = g.opts.stride ?? 1;
  const p = g.opts.padding ?? 0;
  const d = g.opts.dilation ?? 1;
  return [N, O, Math.floor((H + 2 * p - d * (KH - 1) - 1) / s) + 1, Math.floor((W + 2 * p - d * (KW - 1) - 1) / s) + 1];
};
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

gpuDescribe('fused fixed-point conv-BN op (wgsl/qconv.wgsl)', () => {
  for (const g of GEOS) {
    for (const perChannel of [false, true]) {
      it(`clip_grad and clip_reduce (${g.name}, fl_w ${perChannel ? 'per channel' : 'per layer'}): the y path's terms at the weights the STE mask clips, 0 elsewhere`, async () => {
        const ys = outShape(g);
        const O = g.w[0];
        const x = rand(numel(g.x), 1);
        const gy = rand(numel(ys), 2);
        const nw = numel(g.w);
        const flw = Int32Array.from({ length: perChannel ? O : 1 }, (_, o) => 5 + (o % 3));
        const per = nw / O;
        // Entries i % 5 == 2 or i % 7 == 0 saturate (|w_f|·2^fl >= 127.5, some of them at ±127.5 or
        // 126.5 exactly, where the mask's half-to-even rounding decides), the others stay inside.
        const wf = Float32Array.from(rand(nw, 3, -0.9, 0.9), (v, i) => {
          const f = flw[perChannel ? Math.floor(i / per) : 0];
          if (i % 35 === 14) return (i % 2 ? 126.5 : -127.5) / 2 ** f;
          return i % 5 === 2 || i % 7 === 0 ? Math.sign(v || 1) * (130 + 40 * Math.abs(v)) / 2 ** f : (v * 100) / 2 ** f;
        });
        const ws = rand(nw, 4);
        const k = rand(O, 5, 0.3, 2);
        const sums = rand(2 * O, 6);
        const e = Engine.get();
        const r = await e.tidyAsync(async () => {
          const { gw, gcw } = clipGrad(Tensor.from(x, g.x), Tensor.from(gy, ys), Tensor.from(wf, g.w), Tensor.from(flw, [flw.length], 'i32'), Tensor.from(ws, g.w), Tensor.from(k, [O]), 8, g.opts);
          const { gk, gb } = clipReduce(Tensor.from(sums, [2 * O]), gcw);
          return { gw: await gw.read(), gcw: await gcw.read(), gk: await gk.read(), gb: await gb.read() };
        });
        const ref = refClipGrad(x, g.x, gy, wf, flw, ws, k, 8, g.w, g.opts);
        expect(ref.gw.filter((v) => v !== 0).length, 'clipped entries').toBeGreaterThanOrEqual(Math.floor(nw / 4));
        close(r.gw, ref.gw, 'gw = -k·G at the clipped weights');
        close(r.gcw, ref.gcw, 'gcw = G·w_s at the clipped weights');
        expect(Array.from(r.gw).filter((v, i) => ref.gw[i] === 0 && v !== 0)).toEqual([]);
        const rr = refClipReduce(sums, r.gcw);
        close(r.gk, rr.gk, 'clip_reduce dL/dk');
        close(r.gb, rr.gb, 'clip_reduce dL/db');
      });
    }
  }

  it('chan_dot, coefs, combine, scale_stats, scale_grad match the CPU reference (HW not a multiple of 4, with and without the y path)', async () => {
    const shape = [3, 5, 7, 3];
    const n = numel(shape);
    const O = shape[1];
    const M = shape[0] * shape[2] * shape[3];
    const gy = rand(n, 3);
    const u = rand(n, 4, -2, 3);
    const k = rand(O, 5, 0.2, 2);
    const gm = rand(O, 6);
    const gv = rand(O, 7);
    const muU = rand(O, 8);
    const varU = rand(O, 9, 0.1, 2);
    const s = 0.37;
    const e = Engine.get();
    const r = await e.tidyAsync(async () => {
      const t = (a: Float32Array, sh: number[] = [a.length]) => Tensor.from(a, sh);
      const st = t(Float32Array.of(s));
      const coef = combineCoefs(t(k), t(gm), t(gv), t(muU), st, M);
      const coef0 = combineCoefs(null, t(gm), t(gv), t(muU), st, M);
      const ss = scaleStats(t(muU), t(varU), st);
      return {
        sums: await chanDot(t(gy, shape), t(u, shape)).read(),
        coef: await coef.read(),
        coef0: await coef0.read(),
        gc: await combineGrad(t(gy, shape), t(u, shape), coef).read(),
        gc0: await combineGrad(null, t(u, shape), coef0).read(),
        mean: await ss.mean.read(),
        vari: await ss.var.read(),
        sg: await scaleGrad(t(gm), t(gv), t(muU), t(varU), st).read(),
      };
    });
    close(r.sums, refChanDot(gy, u, shape), 'chan_dot');
    const rc = refCoefs(k, gm, gv, muU, s, M);
    close(r.coef, rc, 'coefs');
    close(r.coef0, refCoefs(null, gm, gv, muU, s, M), 'coefs without the y path');
    close(r.gc, refChannelAffine(rc, gy, u, shape), 'combine');
    close(r.gc0, refChannelAffine(refCoefs(null, gm, gv, muU, s, M), null, u, shape), 'combine without the y path');
    const rs = refScaleStats(muU, varU, s);
    close(r.mean, rs.mean, 'scale_stats mean');
    close(r.vari, rs.var, 'scale_stats var');
    close(r.sg, [refScaleGrad(gm, gv, muU, varU, s)], 'scale_grad');
  });

  // The fused step against the op-by-op graph on the same layer and data.
  interface LayerCase {
    name: string;
    c: number;
    o: number;
    hw: number;
    opts: { stride?: number; padding?: number; groups?: number };
    perChannel?: boolean;
    inputPerChannel?: boolean;
    /** Scale of a few weights: large ones saturate w_f at 127 / 2^fl_w (clipped weights). */
    outliers: number;
    /** No weight saturates in this case. */
    noClip?: boolean;
  }
  const LAYERS: LayerCase[] = [
    { name: '3x3, per layer, many clipped weights, with a following layer', c: 6, o: 8, hw: 8, opts: { padding: 1 }, outliers: 12 },
    { name: '3x3 stride 2, per-channel weights and inputs', c: 4, o: 6, hw: 9, opts: { padding: 1, stride: 2 }, perChannel: true, inputPerChannel: true, outliers: 8 },
    // BN normalises each depthwise channel by its own sigma, so a weight outlier cannot saturate w_f here
    // (the depthwise sparse correction is covered by the clip_grad cases above).
    { name: 'depthwise 3x3, per layer', c: 6, o: 6, hw: 7, opts: { padding: 1, groups: 6 }, outliers: 12, noClip: true },
  ];
  for (const L of LAYERS) {
    it(`layer step (${L.name}): the fused backward gives the op-by-op gradients`, async () => {
      const e = Engine.get();
      const cg = L.c / (L.opts.groups ?? 1);
      const wn = L.o * cg * 9;
      const w = rand(wn, 11, -0.4, 0.4);
      for (let i = 5; i < wn; i += 37) w[i] *= L.outliers;
      const x = rand(2 * L.c * L.hw * L.hw, 12, -0.5, 2);
      const run = async (fused: boolean) => {
        qconvTuning(e).fused = fused;
        const quant = fixedQuant({ formatType: L.perChannel ? 'per_channel' : 'per_layer', inputFormatType: L.inputPerChannel ? 'per_channel' : 'per_layer' });
        const rng = new Rng(1);
        const layer = new QConv2d('l', L.c, L.o, 3, { ...L.opts, inputSigned: false, quant, rng });
        const next = new QConv2d('n', L.o, 2, 1, { inputSigned: false, quant: fixedQuant(), rng });
        layer.following = next;
        layer.weight.write(w);
        layer.gamma!.write(rand(L.o, 13, 0.5, 1.5));
        layer.beta!.write(rand(L.o, 14, -0.5, 0.5));
        layer.alpha.write([3]);
        // A small s_next makes w_f large enough that its length comes from its std, not the cap at 7.
        next.alpha.write([0.25]);
        let wq: Tensor | null = null;
        layer.onFold = (q) => (wq = q);
        const out = await e.tidyAsync(async () => {
          const xt = Tensor.from(x, [2, L.c, L.hw, L.hw]);
          xt.requiresGrad = true;
          const y = layer.forward(xt);
          backward(y, Tensor.from(rand(y.size, 15), y.shape));
          const flw = await layer.weightFraclen.read();
          // Saturated weights of w_q (|q| = 127): the clipped ones whose gradient the sparse correction removes.
          const q = await wq!.read();
          const per = q.length / flw.length;
          const clipped = Array.from(q).filter((v, i) => Math.abs(v * 2 ** flw[Math.floor(i / per)]) === 127).length;
          return { y: await y.read(), gx: await xt.grad!.read(), flw, clipped };
        });
        const grads: Record<string, Float32Array> = {};
        for (const [n, p] of [...layer.namedParameters(), ...next.namedParameters().map(([n, p]) => [`next.${n}`, p] as const)]) if (p.grad) grads[n] = (await p.grad.read()) as Float32Array;
        const rm = await layer.runningMean!.read();
        layer.dispose();
        next.dispose();
        return { ...out, grads, rm };
      };
      try {
        const a = await run(false);
        const b = await run(true);
        expect(b.flw).toEqual(a.flw);
        if (!L.noClip) expect(a.clipped, 'clipped weights').toBeGreaterThan(0);
        expect(b.clipped).toBe(a.clipped);
        close(b.y, a.y, 'y', 1e-5);
        close(b.rm, a.rm, 'running mean', 1e-5);
        close(b.gx, a.gx, 'dL/dx', 2e-4);
        expect(Object.keys(b.grads).sort()).toEqual(Object.keys(a.grads).sort());
        // With BN after the conv, s_in cancels in w_f but for eps: dL/dalpha is a near-zero difference
        // (here 1e-6..1e-4) of per-channel terms of the size of dL/dgamma, so it is compared on that scale.
        for (const n of Object.keys(a.grads)) {
          if (n === 'alpha') expectClose(b.grads[n], a.grads[n], 1e-5 * maxAbs(a.grads.gamma), 0, 'dL/dalpha');
          else close(b.grads[n], a.grads[n], `dL/d${n}`, 2e-4);
        }
      } finally {
        qconvTuning(e).fused = true;
      }
    });
  }
});
