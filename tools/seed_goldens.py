#!/usr/bin/env python3
"""Golden training steps of F8Net layers and blocks, computed by the paper's own PyTorch modules.

Regenerate (Debian: apt-get install -y python3-torch python3-yaml):
    mkdir -p /tmp/f8paper && git -C <mirror of snap-research/F8Net> archive HEAD | tar -x -C /tmp/f8paper
    /usr/bin/python3 tools/seed_goldens.py --paper /tmp/f8paper --out test/golden/
It writes test/golden/layers.json. The paper's code (MIT licence) is imported from --paper, never
vendored; the output is committed and the tests (test/cpu/golden-layers.test.ts,
test/gpu/golden-layers.test.ts) read it without Python.

What runs. Each case builds modules of models/fix_quant_ops.py (ReLUClipFXQConvBN, its depthwise
form, ReLUClipFXQLinear), models/fix_resnet.py (BasicBlock) or models/fix_mobilenet_v2.py
(InvertedResidual), configures them the way fix_train.py's get_model does, and trains them for a
few steps with torch.optim.SGD (momentum 0.9, Nesterov, weight decay on conv/linear weights) on
the loss sum(out * R), R a fixed random tensor per step; then two evaluation passes, quant_bias
off and on. Shims, all from this script (the paper's files are not edited):
  - `myutils.config.FLAGS`: the paper's models import this global config; it is set to the few
    keys the imported classes read (int_infer false, normalize as the head form of the case).
  - every layer's `quant` (q_k.apply) is wrapped to record what it quantised: the input
    (align_dim 1) and the folded weight (align_dim 0), their fractional lengths and results.
  - a `Terminal` stands in for the layer after the last one (fix_scaling 1, as f8net's
    `following = null`).
  - the ResNet block's projection shortcut takes body[0] as master (shared alpha). In the paper's
    ResNet the shortcut shares the master passed in from the previous identity block; with a
    single block there is none, and f8net's wireBlocks makes body[0] the owner: same relation.
  - the case 'conv per-channel weights' keeps format_type per_channel for the weight and swaps the
    input statistic to per-layer (input_metric_func over all axes, input_fraclen of size 1), a
    combination f8net offers (inputFormatType) that the paper's code computes unchanged.

Data are chosen so that no discrete decision depends on float rounding: seeds are searched until
every quantised value v * 2^fl (inputs and folded weights, in integer units) is at least
2e-6 * max(|v|, 8) from a half integer, every log2(c / m) of a statistic is at least 1e-4 from the
integers where the length steps (this also keeps clear of F8NET.md §2's documented exception: the
paper takes floor(log2(c / m)) in f32, f8net the exact rule m * 2^k <= c, which differ within
about 2 ulps of c / 2^k), the grid search's best error leads the next by more than 1e-4
(relative; the paper's argmin takes the smallest fl on a tie, f8net the largest, so ties are
excluded), and every running length is at least 1e-4 from a half integer (where its rounding
would flip). The first layer's input is scaled per step so that its batch length flips between
steps and differs from the rounded running length (in the grid-search case it is |x|: an
unsigned layer's negative inputs all clamp to 0 and flatten the grid's errors). The MobileNetV2
case keeps the rounded running lengths of the block's entry and of the next layer equal: the
paper adds the identity x as it is, f8net rescales it by 2^(fl_entry - fl_next), and the two
agree only there (with lengths 6 and 4, f8net's output differs by 61% of its scale).

Format: JSON; float arrays are base64 of little-endian float32 ({"f32": "..."}), integer arrays
plain lists. See 'layout' in the file's meta for the field names.
"""
import argparse
import base64
import contextlib
import io
import math
import os
import sys
import types

import numpy as np
import torch
import torch.nn as nn

SEED0 = 20220125
C = {True: {'std': 40.0, 'mae': 30.0, 'rms': 40.0}, False: {'std': 70.0, 'mae': 30.0, 'rms': 50.0}}
LR, MOMENTUM, WD = 0.02, 0.9, 5e-4
TRAIN_STEPS = 5
TOL_HALF = 2e-6
TOL_LOG2 = 1e-4
TOL_GRID = 2e-5
TOL_RUN = 1e-4


def f32(t):
    a = np.ascontiguousarray(t.detach().cpu().numpy().astype('<f4')).reshape(-1)
    return {'f32': base64.b64encode(a.tobytes()).decode('ascii')}


def ints(t):
    return [int(v) for v in t.detach().cpu().reshape(-1).tolist()]


def shape(t):
    return list(t.shape)


def setup_paper(paper, normalize=False):
    """Imports the paper's modules with a FLAGS global set by us."""
    sys.path.insert(0, os.path.abspath(paper))
    cfg = types.ModuleType('myutils.config')
    cfg.FLAGS = types.SimpleNamespace(int_infer=False, normalize=normalize, quant_avgpool=False, quant_maxpool=False)
    pkg = types.ModuleType('myutils')
    pkg.__path__ = []
    pkg.config = cfg
    sys.modules['myutils'] = pkg
    sys.modules['myutils.config'] = cfg
    import models.fix_quant_ops as q
    import models.fix_resnet as r
    import models.fix_mobilenet_v2 as m2
    return q, r, m2, cfg.FLAGS


class Terminal:
    """The 'layer' after the last one: fix_scaling 1 (f8net: following = null)."""
    fix_scaling = torch.ones(1)


def configure(m, fmt_type, method, metric, momentum, input_fl=6):
    """What fix_train.py's get_model does for each F8Net layer (fixed-point training, no rescale)."""
    m.set_weight_format((8, 7))
    m.set_input_format((8, input_fl))
    m.rescale_type = 'constant'
    m.floating = False
    m.floating_wo_clip = False
    m.format_type = fmt_type
    m.format_from_metric = method == 'metric'
    m.metric = metric if method == 'metric' else None
    m.format_grid_search = method == 'grid'
    m.set_metric_func()
    m.register_input_format((8, input_fl), momentum=momentum)
    m.no_clipping = False
    m.input_fraclen_sharing = False
    m.quant_bias = False
    m.int_infer = False
    m.rescale_forward = False


def per_layer_input(m, metric):
    """Shim: per-channel weight lengths with one input length (see the module docstring)."""
    axes = tuple(range(4))
    m.input_metric_func = {'std': lambda x: torch.std(x, axis=axes),
                           'mae': lambda x: torch.mean(torch.abs(x), axis=axes),
                           'rms': lambda x: torch.mean(x ** 2, axis=axes) ** 0.5}[metric]
    m.register_buffer('input_fraclen', torch.ones(1) * m.input_fraclen[0].item())


def record_quant(q, layer):
    layer._rec = []

    def quant(inp, wl, fl, align_dim, signed, floating=False):
        out = q.q_k.apply(inp, wl, fl, align_dim, signed, floating)
        layer._rec.append({'dim': align_dim, 'inp': inp.detach().clone(), 'fl': fl.detach().clone().reshape(-1),
                           'out': out.detach().clone(), 'signed': bool(signed)})
        return out
    layer.quant = quant


class Margins:
    def __init__(self):
        self.bad = []
        self.min = {'half': math.inf, 'log2': math.inf, 'grid': math.inf, 'run': math.inf}

    def note(self, kind, v, tol, what):
        self.min[kind] = min(self.min[kind], v)
        if v <= tol:
            self.bad.append(f'{what}: {kind} margin {v:.3g}')


def half_margin(inp, fl, dim, signed):
    """Least distance (relative to the tolerance) of x * 2^fl from a half integer, where it matters."""
    x = inp.double()
    f = fl.double()
    f = f.view((-1,) + (1,) * (x.dim() - dim - 1)) if f.numel() > 1 else f.view(())
    v = (x * 2.0 ** f).reshape(-1).numpy()
    hi = 127.0 if signed else 255.0
    keep = (np.abs(v) < hi + 1) if signed else ((v > -0.25) & (v < hi + 1))
    v = v[keep]
    if v.size == 0:
        return math.inf
    d = np.abs(v - np.floor(v) - 0.5) / np.maximum(np.abs(v), 8.0)
    return float(d.min())


def stat64(x, metric, axes):
    x = x.double()
    if metric == 'std':
        return torch.std(x, dim=axes, unbiased=True)
    if metric == 'mae':
        return x.abs().mean(dim=axes)
    return (x ** 2).mean(dim=axes).sqrt()


def log2_margin(m, c, flmax):
    best = math.inf
    for s in m.reshape(-1).tolist():
        if s <= 0:
            continue
        l = math.log2(c / s)
        for k in range(1, flmax + 1):
            best = min(best, abs(l - k))
    return best


def grid_margin(x, signed):
    x = x.double().reshape(-1)
    errs = []
    lo, hi = (-127, 127) if signed else (0, 255)
    for fl in range(0, 9 - int(signed)):
        v = torch.clamp(torch.round(x * 2.0 ** fl), lo, hi) / 2.0 ** fl
        errs.append(float(((x - v) ** 2).mean().sqrt()))
    e = sorted(errs)
    return (e[1] - e[0]) / max(e[0], 1e-30)


def check_layer(layer, mg, name, spec, training):
    """Margins of everything `layer` quantised in its last forward."""
    for r in layer._rec:
        kind = 'x' if r['dim'] == 1 else 'w'
        mg.note('half', half_margin(r['inp'], r['fl'], r['dim'], r['signed']), TOL_HALF, f'{name}.{kind}')
        if spec['method'] == 'grid':
            if training or kind == 'w':
                mg.note('grid', grid_margin(r['inp'], r['signed']), TOL_GRID, f'{name}.{kind} grid')
            continue
        if kind == 'x' and not training:
            continue
        if kind == 'x':
            axes = (0, 2, 3) if (spec.get('pcInput') and r['inp'].dim() == 4) else tuple(range(r['inp'].dim()))
        else:
            axes = tuple(range(1, r['inp'].dim())) if spec['perChannelW'] else tuple(range(r['inp'].dim()))
        m = stat64(r['inp'], spec['metric'], axes)
        mg.note('log2', log2_margin(m, C[r['signed']][spec['metric']], 8 - int(r['signed'])), TOL_LOG2, f'{name}.{kind} stat')
    if hasattr(layer, 'input_fraclen') and not layer.weight_only:
        run = layer.input_fraclen.double().reshape(-1)
        mg.note('run', float((run - torch.floor(run) - 0.5).abs().min()), TOL_RUN, f'{name}.fl_run')


# ---- cases ------------------------------------------------------------------------------------

def conv_spec(name, cin, cout, k, stride=1, pad=0, groups=1, signed=False, master=None, following=None, head=None):
    return {'name': name, 'kind': 'conv', 'in': cin, 'out': cout, 'kernel': k, 'stride': stride, 'padding': pad,
            'groups': groups, 'signed': signed, 'master': master, 'following': following, 'head': head}


def build_case(q, r, m2, case, seed):
    """Returns (layers: name -> module, specs, forward(x) -> y, params)."""
    torch.manual_seed(seed)
    fmt = 'per_channel' if (case['perChannelW'] or case['pcInput']) else 'per_layer'
    layers, specs = {}, {}
    net = case['net']
    if net in ('conv', 'depthwise', 'head_weight_only', 'head_double_side', 'conv_linear'):
        a = case['a']
        if net == 'depthwise':
            L = q.ReLUClipFXQConvBN(a['in'], a['in'], 3, 1, 1, groups=a['in'])
            s_l = conv_spec('layer', a['in'], a['in'], 3, 1, 1, a['in'])
        elif net.startswith('head'):
            wo = net == 'head_weight_only'
            L = q.ReLUClipFXQConvBN(a['in'], a['out'], 3, 1, 1, bita_min=8, weight_only=wo, double_side=not wo)
            s_l = conv_spec('layer', a['in'], a['out'], 3, 1, 1, signed=not wo, head='weight_only' if wo else 'double_side')
        elif net == 'conv_linear':
            L = q.ReLUClipFXQConvBN(a['in'], a['out'], a['hw'], 1, 0)
            s_l = conv_spec('layer', a['in'], a['out'], a['hw'], 1, 0)
        else:
            L = q.ReLUClipFXQConvBN(a['in'], a['out'], 3, 1, 1)
            s_l = conv_spec('layer', a['in'], a['out'], 3, 1, 1)
        cmid = s_l['out']
        if net == 'conv_linear':
            F = q.ReLUClipFXQLinear(cmid, a['classes'], bias=True)
            s_f = {'name': 'next', 'kind': 'linear', 'in': cmid, 'out': a['classes'], 'signed': False, 'master': None,
                   'following': None, 'head': None}
        else:
            F = q.ReLUClipFXQConvBN(cmid, a['next'], 1, 1, 0)
            s_f = conv_spec('next', cmid, a['next'], 1)
        s_l['following'] = 'next'
        L.set_following_layer(F)
        if net != 'conv_linear':
            F.set_following_layer(Terminal())
        layers = {'layer': L, 'next': F}
        specs = {'layer': s_l, 'next': s_f}
        order = ['layer', 'next']

        def forward(x):
            y = L(x)
            if net == 'conv_linear':
                y = y.reshape(y.shape[0], -1)
            return F(y)
    elif net == 'resnet_basic':
        a = case['a']
        B = r.BasicBlock(a['in'], a['out'], 2)
        B.shortcut[0].set_master_layer(B.body[0])
        N = q.ReLUClipFXQConvBN(a['out'], a['next'], 3, 1, 1)
        B.set_following_layer(N)
        N.set_following_layer(Terminal())
        layers = {'conv1': B.body[0], 'conv2': B.body[1], 'downsample': B.shortcut[0], 'next': N}
        specs = {'conv1': conv_spec('conv1', a['in'], a['out'], 3, 2, 1, following='conv2'),
                 'conv2': conv_spec('conv2', a['out'], a['out'], 3, 1, 1, following='next'),
                 'downsample': conv_spec('downsample', a['in'], a['out'], 1, 2, 0, master='conv1', following='next'),
                 'next': conv_spec('next', a['out'], a['next'], 3, 1, 1)}
        order = ['conv1', 'conv2', 'downsample', 'next']

        def forward(x):
            return N(B(x))
    elif net == 'mbv2':
        a = case['a']
        B = m2.InvertedResidual(a['in'], a['in'], 1, a['t'], double_side=True)
        N = q.ReLUClipFXQConvBN(a['in'], a['next'], 1, 1, 0, double_side=True, master_layer=B.get_master_layer())
        B.set_following_layer(N)
        N.set_following_layer(Terminal())
        h = a['in'] * a['t']
        layers = {'expand': B.body[0], 'depthwise': B.body[1], 'project': B.body[2], 'next': N}
        specs = {'expand': conv_spec('expand', a['in'], h, 1, signed=True, following='depthwise'),
                 'depthwise': conv_spec('depthwise', h, h, 3, 1, 1, h, following='project'),
                 'project': conv_spec('project', h, a['in'], 1, following='next'),
                 'next': conv_spec('next', a['in'], a['next'], 1, signed=True, master='expand')}
        order = ['expand', 'depthwise', 'project', 'next']

        def forward(x):
            return N(B(x))
    else:
        raise ValueError(net)
    for n in order:
        m = layers[n]
        configure(m, fmt, case['method'], case['metric'], case['momentum'])
        if case['perChannelW'] and not case['pcInput'] and specs[n]['kind'] == 'conv':
            per_layer_input(m, case['metric'])
        record_quant(q, m)
        specs[n]['perChannelW'] = case['perChannelW']
        specs[n]['pcInput'] = case['pcInput'] and specs[n]['kind'] == 'conv'
        specs[n]['method'] = case['method']
        specs[n]['metric'] = case['metric']
    # Paper-style init (fix_resnet reset_parameters): conv N(0, sqrt(2/n)), BN 1/0, linear N(0, 0.01)
    # plus small random BN affine and alphas so that every parameter's gradient path is exercised.
    for n in order:
        m = layers[n]
        if specs[n]['kind'] == 'conv':
            kk = m.conv.kernel_size[0] * m.conv.kernel_size[1] * m.conv.out_channels
            m.conv.weight.data.normal_(0, math.sqrt(2.0 / kk))
            m.bn.weight.data.uniform_(0.6, 1.4)
            m.bn.bias.data.uniform_(-0.3, 0.3)
        else:
            m.weight.data.normal_(0, 0.3)
            m.bias.data.uniform_(-0.2, 0.2)
        m.alpha.data.fill_(float(torch.empty(()).uniform_(5.0, 10.0)))
    params, pnames = [], []
    for n in order:
        m = layers[n]
        for pn, p in m.named_parameters():
            params.append(p)
            pnames.append((n, pn))
    return layers, specs, order, forward, params, pnames


def layer_state(m, spec):
    s = {'alpha': float(m.alpha.item())}
    if spec['kind'] == 'conv':
        s.update(weight=f32(m.conv.weight), gamma=f32(m.bn.weight), beta=f32(m.bn.bias),
                 runningMean=f32(m.bn.running_mean), runningVar=f32(m.bn.running_var))
    else:
        s.update(weight=f32(m.weight), bias=f32(m.bias))
    s['flRun'] = f32(m.input_fraclen)
    return s


def layer_grads(m, spec):
    g = lambda p: f32(p.grad) if p.grad is not None else None
    out = {'alpha': float(m.alpha.grad.item()) if m.alpha.grad is not None else None}
    if spec['kind'] == 'conv':
        out.update(weight=g(m.conv.weight), gamma=g(m.bn.weight), beta=g(m.bn.bias))
    else:
        out.update(weight=g(m.weight), bias=g(m.bias))
    return out


def layer_record(m, spec, rec_in, rec_out, rec_gout):
    """What one layer computed in the last forward (and backward)."""
    d = {'input': f32(rec_in[spec['name']]), 'inputShape': shape(rec_in[spec['name']]),
         'output': f32(rec_out[spec['name']]), 'outputShape': shape(rec_out[spec['name']])}
    if spec['name'] in rec_gout:
        d['gradOutput'] = f32(rec_gout[spec['name']])
    for r in m._rec:
        lv = torch.round(r['out'].double() * 2.0 ** r['fl'].double().view((-1,) + (1,) * (r['out'].dim() - r['dim'] - 1))
                         if r['fl'].numel() > 1 else r['out'].double() * 2.0 ** r['fl'].double().view(()))
        if r['dim'] == 1:
            d['flIn'] = ints(r['fl'])
            d['xq'] = ints(lv)
        else:
            d['flW'] = ints(r['fl'])
            d['wInt'] = ints(lv)
    d['sIn'] = f32(m.fix_scaling.reshape(-1))
    return d


def run_case(q, r, m2, flags, case, seed):
    flags.normalize = case['net'] == 'head_double_side'
    layers, specs, order, forward, params, pnames = build_case(q, r, m2, case, seed)
    decay = [p for (n, pn), p in zip(pnames, params) if pn in ('conv.weight', 'weight')]
    other = [p for (n, pn), p in zip(pnames, params) if pn not in ('conv.weight', 'weight')]
    opt = torch.optim.SGD([{'params': decay, 'weight_decay': WD}, {'params': other, 'weight_decay': 0.0}],
                          lr=LR, momentum=MOMENTUM, nesterov=True)
    rec_in, rec_out, rec_gout = {}, {}, {}
    for n in order:
        def pre(mod, inp, n=n):
            rec_in[n] = inp[0].detach().clone()

        def post(mod, inp, out, n=n):
            rec_out[n] = out.detach().clone()
            if out.requires_grad:
                out.register_hook(lambda g, n=n: rec_gout.__setitem__(n, g.detach().clone()))
        layers[n].register_forward_pre_hook(pre)
        layers[n].register_forward_hook(post)
    first = specs[order[0]]
    gen = torch.Generator().manual_seed(seed + 7)
    xshape = case['xShape']
    mg = Margins()
    steps = []
    states = [{n: layer_state(layers[n], specs[n]) for n in order}]
    signed0 = first['signed']
    targets = case['targets']
    for t in range(TRAIN_STEPS + 2):
        training = t < TRAIN_STEPS
        for m in layers.values():
            m.train(training)
            m._rec = []
            m.quant_bias = t == TRAIN_STEPS + 1 and not case['pcInput']
        rec_in.clear(); rec_out.clear(); rec_gout.clear()
        tgt = targets[t % len(targets)]
        if case['net'] == 'head_weight_only':
            # Pixels as f8net feeds a weight_only head: byte / 256, on the fl-8 grid, so that
            # f8net's evaluation (which quantises at fl 8, as its integer model reads) and the
            # paper's (which does not) see the same values. The paper feeds byte / 255.
            x = torch.randint(0, 256, xshape, generator=gen).float() / 256.0
        else:
            sigma = C[signed0][case['metric']] / 2.0 ** (tgt + 0.5)
            if case['metric'] == 'mae':
                sigma *= math.sqrt(math.pi / 2)
            x = torch.randn(xshape, generator=gen) * sigma
            if case['method'] == 'grid' and not signed0:
                # Negative inputs of an unsigned layer all clamp to 0 and make the grid's errors
                # nearly equal at every fl; |x| gives the search a clear winner.
                x = x.abs()
        x.requires_grad_(training)
        opt.zero_grad()
        y = forward(x)
        step = {'train': training, 'quantBias': t == TRAIN_STEPS + 1 and not case['pcInput'], 'x': f32(x), 'xShape': shape(x),
                'y': f32(y), 'yShape': shape(y)}
        if training:
            R = torch.randn(y.shape, generator=gen)
            (y * R).sum().backward()
            step['R'] = f32(R)
            step['gradX'] = f32(x.grad)
            step['grads'] = {n: layer_grads(layers[n], specs[n]) for n in order}
        step['layers'] = {n: layer_record(layers[n], specs[n], rec_in, rec_out, rec_gout) for n in order}
        for n in order:
            check_layer(layers[n], mg, f'step {t} {n}', specs[n], training)
        if case['net'] == 'mbv2':
            # The paper adds the identity x (in the block entry's units) to the body's output (in
            # the next layer's units) as is; f8net rescales it by 2^(fl_E - fl_N) (src/nn/residual.ts).
            # The two agree while both rounded running lengths are equal, which the case keeps.
            rounded = [int(torch.clamp(torch.round(layers[n].input_fraclen), 0, 7).item()) for n in ('expand', 'next')]
            if rounded[0] != rounded[1]:
                mg.bad.append(f'step {t}: rounded running lengths of expand and next differ {rounded}')
        if training:
            opt.step()
            states.append({n: layer_state(layers[n], specs[n]) for n in order})
        steps.append(step)
    # The flips the case is for: the first layer's batch lengths change between steps and differ
    # from the rounded running length after the step's update (the one inside s_in).
    fls = [s['layers'][order[0]].get('flIn') for s in steps[:TRAIN_STEPS]]
    flips = sum(1 for a, b in zip(fls, fls[1:]) if a != b) if fls[0] is not None else 0
    diffs = 0
    if fls[0] is not None:
        for t in range(TRAIN_STEPS):
            run = np.frombuffer(base64.b64decode(states[t + 1][order[0]]['flRun']['f32']), '<f4')
            rounded = np.clip(np.round(run.astype(np.float64)), 0, 8 - int(signed0))
            diffs += int(any(int(a) != int(b) for a, b in zip(fls[t], np.broadcast_to(rounded, (len(fls[t]),)))))
    margins = {k: (v if math.isfinite(v) else None) for k, v in mg.min.items()}
    return {'layers': [specs[n] for n in order], 'states': states, 'steps': steps, 'margins': margins,
            'batchFlips': flips, 'stepsBatchNotRunning': diffs}, mg.bad


CASES = [
    {'name': 'conv+BN, per layer, std', 'net': 'conv', 'method': 'metric', 'metric': 'std', 'perChannelW': False, 'pcInput': False,
     'momentum': 0.1, 'a': {'in': 3, 'out': 4, 'next': 3}, 'xShape': [2, 3, 5, 5], 'targets': [4, 8, 5, 3, 7, 6, 6]},
    {'name': 'conv+BN, per-channel weights, mae', 'net': 'conv', 'method': 'metric', 'metric': 'mae', 'perChannelW': True, 'pcInput': False,
     'momentum': 0.3, 'a': {'in': 3, 'out': 4, 'next': 3}, 'xShape': [2, 3, 5, 5], 'targets': [3, 7, 2, 8, 4, 5, 5]},
    {'name': 'conv+BN, per channel (weights and inputs), rms', 'net': 'conv', 'method': 'metric', 'metric': 'rms', 'perChannelW': True, 'pcInput': True,
     'momentum': 0.3, 'a': {'in': 3, 'out': 4, 'next': 3}, 'xShape': [2, 3, 5, 5], 'targets': [5, 2, 7, 3, 6, 4, 4]},
    {'name': 'conv+BN, grid search', 'net': 'conv', 'method': 'grid', 'metric': 'std', 'perChannelW': False, 'pcInput': False,
     'momentum': 0.3, 'a': {'in': 3, 'out': 4, 'next': 3}, 'xShape': [2, 3, 5, 5], 'targets': [3, 7, 4, 8, 2, 5, 5]},
    {'name': 'depthwise conv+BN, per layer, rms', 'net': 'depthwise', 'method': 'metric', 'metric': 'rms', 'perChannelW': False, 'pcInput': False,
     'momentum': 0.3, 'a': {'in': 4, 'next': 3}, 'xShape': [2, 4, 5, 5], 'targets': [7, 3, 5, 8, 2, 6, 6]},
    {'name': 'depthwise conv+BN, per-channel weights, std', 'net': 'depthwise', 'method': 'metric', 'metric': 'std', 'perChannelW': True, 'pcInput': False,
     'momentum': 0.1, 'a': {'in': 4, 'next': 3}, 'xShape': [2, 4, 5, 5], 'targets': [3, 8, 4, 7, 5, 6, 6]},
    {'name': 'conv then linear classifier, std', 'net': 'conv_linear', 'method': 'metric', 'metric': 'std', 'perChannelW': False, 'pcInput': False,
     'momentum': 0.3, 'a': {'in': 3, 'out': 6, 'hw': 3, 'classes': 4}, 'xShape': [4, 3, 3, 3], 'targets': [4, 7, 3, 6, 8, 5, 5]},
    {'name': 'conv then linear classifier, per-channel weights, rms', 'net': 'conv_linear', 'method': 'metric', 'metric': 'rms', 'perChannelW': True, 'pcInput': False,
     'momentum': 0.1, 'a': {'in': 3, 'out': 6, 'hw': 3, 'classes': 4}, 'xShape': [4, 3, 3, 3], 'targets': [7, 4, 8, 3, 5, 6, 6]},
    {'name': 'ResNet basic block, projection shortcut (shared alpha, private lengths)', 'net': 'resnet_basic', 'method': 'metric', 'metric': 'std',
     'perChannelW': False, 'pcInput': False, 'momentum': 0.3, 'a': {'in': 3, 'out': 4, 'next': 3}, 'xShape': [2, 3, 6, 6], 'targets': [4, 7, 3, 8, 5, 6, 6]},
    {'name': 'MobileNetV2 inverted residual (expand 2, identity)', 'net': 'mbv2', 'method': 'metric', 'metric': 'std',
     'perChannelW': False, 'pcInput': False, 'momentum': 0.1, 'a': {'in': 3, 't': 2, 'next': 3}, 'xShape': [2, 3, 5, 5], 'targets': [4, 6, 3, 7, 5, 5, 5]},
    {'name': 'head weight_only (pixels as byte / 256)', 'net': 'head_weight_only', 'method': 'metric', 'metric': 'std', 'perChannelW': False, 'pcInput': False,
     'momentum': 0.1, 'a': {'in': 3, 'out': 4, 'next': 3}, 'xShape': [2, 3, 5, 5], 'targets': [0]},
    {'name': 'head double_side (normalised image)', 'net': 'head_double_side', 'method': 'metric', 'metric': 'std', 'perChannelW': False, 'pcInput': False,
     'momentum': 0.3, 'a': {'in': 3, 'out': 4, 'next': 3}, 'xShape': [2, 3, 5, 5], 'targets': [3, 6, 2, 7, 4, 5, 5]},
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--paper', required=True, help='checkout of snap-research/F8Net (not vendored)')
    ap.add_argument('--out', required=True, help='output folder (test/golden/)')
    ap.add_argument('--tries', type=int, default=400, help='seeds tried per case')
    args = ap.parse_args()
    if not os.path.isfile(os.path.join(args.paper, 'models', 'fix_quant_ops.py')):
        sys.exit(f'--paper {args.paper}: expected a checkout of the F8Net code (models/fix_quant_ops.py)')
    torch.set_num_threads(1)
    q, r, m2, flags = setup_paper(args.paper)
    # The paper's set_metric_func prints a warning for every linear layer with per-channel formats.
    quiet = contextlib.redirect_stdout(io.StringIO())
    out = {'meta': {'generator': 'tools/seed_goldens.py', 'torch': torch.__version__, 'seed0': SEED0,
                    'sgd': {'lr': LR, 'momentum': MOMENTUM, 'nesterov': True, 'weightDecay': WD,
                            'weightDecayOn': 'conv and linear weights'},
                    'trainSteps': TRAIN_STEPS, 'tolerances': {'half': TOL_HALF, 'log2': TOL_LOG2, 'grid': TOL_GRID, 'run': TOL_RUN},
                    'layout': 'cases[].layers: specs in forward order; states[t]: parameters before train step t '
                              '(states[T] after the last); steps[t]: x, y, R (loss = sum(y*R)), gradX, grads per layer, '
                              'layers: input, output, gradOutput, flIn, xq (levels), flW, wInt, sIn (fix_scaling after the step)'},
           'cases': []}
    for i, case in enumerate(CASES):
        for k in range(args.tries):
            seed = SEED0 + 1000 * i + k
            with quiet:
                res, bad = run_case(q, r, m2, flags, case, seed)
            if not bad:
                break
        else:
            sys.exit(f'case {case["name"]}: no seed in {args.tries} tries keeps clear of the rounding boundaries ({bad[:3]})')
        res.update(name=case['name'], net=case['net'], seed=seed, tries=k + 1, momentum=case['momentum'])
        print(f'{case["name"]}: seed {seed} ({k + 1} tries), margins {res["margins"]}, batch-length flips '
              f'{res["batchFlips"]}, steps with batch != rounded running {res["stepsBatchNotRunning"]}', file=sys.stderr)
        out['cases'].append(res)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, 'layers.json')
    import json
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(out, f, separators=(',', ':'), allow_nan=False)
        f.write('\n')
    os.replace(tmp, path)
    print(f'wrote {path}: {os.path.getsize(path)} bytes', file=sys.stderr)


if __name__ == '__main__':
    main()
