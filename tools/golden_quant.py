#!/usr/bin/env python3
"""Golden values for the F8Net fixed-point primitives (src/quant/fixed.ts), from PyTorch.

Regenerate (Debian: apt-get install -y python3-torch python3-numpy):
    /usr/bin/python3 tools/golden_quant.py            # writes test/golden/quant.json
The output is committed; the tests read it and never run Python.

Every formula is the one in /work/shared/F8NET.md, written with torch ops:
  quantize      float32: r = torch.round(x * 2^fl) (half to even), q = clamp(r, lo, hi),
                value = q / 2^fl, mask signed |r| < hi, unsigned 0 < r < hi.
  statistics    float64: torch.std(unbiased=True), mean |x|, sqrt(mean x^2).
  fl from stat  clamp(floor(log2(c / m)), 0, wl - signed), float64. At the 1-ulp boundary cases
                below (m one ulp off c / 2^k) float64 log2 rounds up to the integer, so these
                cases are written from the exact comparison m * 2^k <= c instead; the script
                counts where the two differ and asserts they differ nowhere else.
  grid search   float64 RMS error per fl; least error, ties -> largest fl.
  int shift     the spec's formula in int64 (no overflow): r = x + 2^(n-1);
                (x & (2^n - 1)) == 2^(n-1) ? (r >> (n+1)) << 1 : r >> n.
NaN and Inf inputs are not in the file (JSON has no such numbers); the tests cover them by hand.
"""
import json
import math
import os
import sys

import torch

SEED = 20220125
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'golden', 'quant.json')
C = {True: {'std': 40.0, 'mae': 30.0, 'rms': 40.0}, False: {'std': 70.0, 'mae': 30.0, 'rms': 50.0}}


def bounds(wl, signed):
    return (-(2 ** (wl - 1) - 1), 2 ** (wl - 1) - 1) if signed else (0, 2 ** wl - 1)


def max_fl(wl, signed):
    return wl - (1 if signed else 0)


def floats(t):
    # +0.0 turns -0.0 into 0.0: JSON keeps the sign, the integer-derived values have none.
    return [float(v) + 0.0 for v in t.flatten().tolist()]


def ints(t):
    return [int(v) for v in t.flatten().tolist()]


def fake_quant(x, fl, wl, signed, layout=None):
    """x float32; fl an int or a list (one per channel of layout = (outer, channels, inner))."""
    lo, hi = bounds(wl, signed)
    if layout is None:
        s = torch.tensor(2.0 ** fl, dtype=torch.float32)
        xs = x * s
    else:
        outer, ch, inner = layout
        s = (2.0 ** torch.tensor(fl, dtype=torch.float32)).view(1, ch, 1)
        xs = x.view(outer, ch, inner) * s
    r = torch.round(xs)
    mask = (r.abs() < hi) if signed else ((r > 0) & (r < hi))
    q = torch.clamp(r, lo, hi)
    value = q / s
    return q.to(torch.int32).flatten(), value.flatten(), mask.to(torch.uint8).flatten()


def quant_case(name, x, fl, wl, signed, layout=None):
    q, value, mask = fake_quant(x, fl, wl, signed, layout)
    case = {'name': name, 'wl': wl, 'signed': signed, 'fl': fl, 'x': floats(x),
            'q': ints(q), 'value': floats(value), 'mask': ints(mask)}
    if layout is not None:
        case['channelAxis'] = {'outer': layout[0], 'channels': layout[1], 'inner': layout[2]}
    return case


def by_channel(x, layout):
    """float64 view (channels, outer * inner) of a flat tensor."""
    outer, ch, inner = layout
    return x.double().view(outer, ch, inner).permute(1, 0, 2).reshape(ch, outer * inner)


def stat(x64, metric):
    """x64 float64 of shape (rows, n); one statistic per row."""
    if metric == 'std':
        return torch.std(x64, dim=1, unbiased=True)
    if metric == 'mae':
        return x64.abs().mean(dim=1)
    return torch.sqrt((x64 ** 2).mean(dim=1))


def fl_torch(m, wl, signed, metric):
    c = C[signed][metric]
    v = torch.clamp(torch.floor(torch.log2(torch.tensor(c / m if m > 0 else math.inf, dtype=torch.float64))), 0, max_fl(wl, signed))
    return int(v.item())


def fl_exact(m, wl, signed, metric):
    c = C[signed][metric]
    fl = 0
    for k in range(1, max_fl(wl, signed) + 1):
        if m * 2.0 ** k <= c:
            fl = k
    return fl


def near_boundary(m, c):
    y = math.log2(c / m) if m > 0 else math.inf
    return math.isfinite(y) and abs(y - round(y)) < 1e-9


def grid(x, wl, signed, layout=None):
    x64 = x.double().view(1, -1) if layout is None else by_channel(x, layout)
    errs = []
    for fl in range(0, max_fl(wl, signed) + 1):
        _, value, _ = fake_quant(x, fl, wl, signed)
        v64 = value.double().view(1, -1) if layout is None else by_channel(value, layout)
        errs.append(torch.sqrt(((x64 - v64) ** 2).mean(dim=1)))
    errs = torch.stack(errs, dim=1)  # (rows, fls)
    best = []
    for row in errs.tolist():
        fl, least = 0, math.inf
        for k, e in enumerate(row):
            if e <= least:
                fl, least = k, e
        near = [e for e in row if e != least and abs(e - least) <= 1e-9 * least]
        assert not near, f'grid search near-tie would depend on summation order: {row}'
        best.append(fl)
    return best, errs.tolist()


def shift_spec(x, n):
    """x int64 tensor, n int: the spec's round-half-even shift, exact in int64, left shifts saturate."""
    if n == 0:
        return x.clone()
    if n < 0:
        return torch.clamp(x << (-n), -(2 ** 31 - 1), 2 ** 31 - 1)
    half = 1 << (n - 1)
    r = x + half
    tie = (x & ((1 << n) - 1)) == half
    return torch.where(tie, (r >> (n + 1)) << 1, r >> n)


def main():
    torch.manual_seed(SEED)
    g = {'meta': {'generator': 'tools/golden_quant.py', 'torch': torch.__version__, 'seed': SEED}}

    # roundHalfEven on doubles
    xs = [0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.5, -3.5, 0.49999999999999994, -0.49999999999999994,
          1e300, -1e300, 1e-320, -1e-320, 5e-324, 4503599627370495.5, -4503599627370495.5,
          4503599627370497.0, 9007199254740993.0, 2.0 ** 52, 0.0, -0.3, 126.5, 127.5, -127.5, 254.5, 255.5]
    xs += [k + 0.5 for k in range(-20, 20)]
    xs += floats(torch.randn(200, dtype=torch.float64) * 10.0 ** torch.randint(-3, 6, (200,)).double())
    g['roundHalfEven'] = {'x': xs, 'y': torch.round(torch.tensor(xs, dtype=torch.float64)).tolist()}

    # quantize
    cases = []
    for wl, signed, fls in [(8, True, [0, 3, 7]), (8, False, [0, 5, 8]), (4, True, [0, 3]), (4, False, [0, 4])]:
        lo, hi = bounds(wl, signed)
        for fl in fls:
            k = torch.arange(lo - 3, hi + 3, dtype=torch.float32)
            ties = (k + 0.5) / 2.0 ** fl
            cases.append(quant_case(f'ties wl{wl} {"s" if signed else "u"} fl{fl}', ties, fl, wl, signed))
            edge = torch.tensor([hi, hi - 0.5, hi + 0.5, hi + 1, -hi, -hi - 0.5, -hi + 0.5, -hi - 1, lo, lo + 0.5,
                                 0.5, -0.5, 1.5, -1.5], dtype=torch.float32) / 2.0 ** fl
            huge = torch.tensor([1e3, -1e3, 1e30, -1e30, 3.0e38, -3.0e38, 3.4028234663852886e38, 1e-30, -1e-30,
                                 1e-45, -1e-40, 1.1754943508222875e-38, 0.0], dtype=torch.float32)
            cases.append(quant_case(f'bounds wl{wl} {"s" if signed else "u"} fl{fl}', torch.cat([edge, huge]), fl, wl, signed))
    for sigma in [1e-3, 0.05, 1.0, 30.0]:
        x = (torch.randn(96) * sigma).float()
        for signed in [True, False]:
            for fl in ([0, 4, 7] if signed else [0, 4, 8]):
                cases.append(quant_case(f'randn sigma {sigma} {"s" if signed else "u"} fl{fl}', x, fl, 8, signed))
    w = torch.randn(4 * 3 * 2 * 2).float() * 0.3
    cases.append(quant_case('OIHW weights per output channel', w, [2, 5, 7, 0], 8, True, (1, 4, 12)))
    a = torch.randn(2 * 3 * 2 * 2).float() * 2.0
    cases.append(quant_case('NCHW activations per input channel', a, [8, 3, 0], 8, False, (2, 3, 4)))
    cases.append(quant_case('NCHW signed per input channel', a, [6, 0, 7], 8, True, (2, 3, 4)))
    g['quantize'] = cases

    # fraclen from a statistic
    rows, mismatches = [], 0
    for signed in [True, False]:
        for metric in ['std', 'mae', 'rms']:
            c = C[signed][metric]
            for wl in [8, 4]:
                ms = [0.0, 1e-30, 1e30, 1e-3, 1e3]
                for k in range(-2, 11):
                    b = c / 2.0 ** k
                    ms += [b, math.nextafter(b, math.inf), math.nextafter(b, 0.0)]
                ms += (10.0 ** (torch.rand(12, dtype=torch.float64) * 6 - 4)).tolist()
                for m in ms:
                    ex, tt = fl_exact(m, wl, signed, metric), fl_torch(m, wl, signed, metric)
                    if ex != tt:
                        mismatches += 1
                        assert near_boundary(m, c), f'fl differs away from a boundary: m={m}'
                    rows.append({'stat': m, 'wl': wl, 'signed': signed, 'metric': metric, 'fl': ex})
    print(f'fraclenFromStat: {len(rows)} cases, {mismatches} where float64 log2 rounds across the boundary', file=sys.stderr)
    g['fraclenFromStat'] = rows

    # statistics and fl of tensors
    stats = []
    for name, x, layout in [('randn 0.1', torch.randn(200).float() * 0.1, None),
                            ('rectified 3', torch.relu(torch.randn(200)).float() * 3, None),
                            ('offset', (torch.randn(150) + 5.0).float(), None),
                            ('two', torch.tensor([1.0, -1.0]), None),
                            ('OIHW per channel', torch.randn(6 * 2 * 3 * 3).float() * torch.tensor([0.01, 0.1, 1, 10, 100, 0.5]).repeat_interleave(18), (1, 6, 18)),
                            ('NCHW per channel', torch.relu(torch.randn(3 * 4 * 5)).float() * 0.7, (3, 4, 5))]:
        x64 = x.double().view(1, -1) if layout is None else by_channel(x, layout)
        entry = {'name': name, 'x': floats(x), 'stat': {}, 'fl': {}}
        if layout is not None:
            entry['channelAxis'] = {'outer': layout[0], 'channels': layout[1], 'inner': layout[2]}
        for metric in ['std', 'mae', 'rms']:
            s = stat(x64, metric).tolist()
            entry['stat'][metric] = s if layout is not None else s[0]
            for signed in [True, False]:
                for m in s:
                    assert not near_boundary(m, C[signed][metric])
                fl = [fl_torch(m, 8, signed, metric) for m in s]
                entry['fl'][f'{metric} {"signed" if signed else "unsigned"}'] = fl if layout is not None else fl[0]
        stats.append(entry)
    g['tensorStat'] = stats

    # grid search
    grids = []
    for name, x, signed, layout in [('randn 0.02', torch.randn(300).float() * 0.02, True, None),
                                    ('randn 1', torch.randn(300).float(), True, None),
                                    ('randn 40', torch.randn(300).float() * 40, True, None),
                                    ('rectified 0.5', torch.relu(torch.randn(300)).float() * 0.5, False, None),
                                    ('rectified 8', torch.relu(torch.randn(300)).float() * 8, False, None),
                                    ('all tiny signed', torch.randn(64).float() * 1e-4, True, None),
                                    ('all tiny unsigned', torch.relu(torch.randn(64)).float() * 1e-4, False, None),
                                    ('exact quarters', torch.tensor([0.25, -0.5, 1.0, 0.75, -0.25]), True, None),
                                    ('all zero', torch.zeros(16), False, None),
                                    ('per channel', torch.randn(4 * 30).float() * torch.tensor([1e-4, 0.01, 1, 20]).repeat_interleave(30), True, (1, 4, 30))]:
        fl, errs = grid(x, 8, signed, layout)
        e = {'name': name, 'wl': 8, 'signed': signed, 'x': floats(x),
             'fl': fl if layout is not None else fl[0], 'errs': errs if layout is not None else errs[0]}
        if layout is not None:
            e['channelAxis'] = {'outer': layout[0], 'channels': layout[1], 'inner': layout[2]}
        grids.append(e)
    g['gridSearch'] = grids

    # running fl and evaluation fl
    runs = []
    for prev, batch, mom in [(6.0, 4.0, 0.1), (6.0, 7.0, 0.1), (5.5, 5.0, 0.5), (0.0, 8.0, 0.1), (7.0, 7.0, 0.1), (3.2, 6.0, 0.01)]:
        runs.append({'prev': prev, 'batch': batch, 'momentum': mom, 'run': mom * batch + (1 - mom) * prev})
    evals = []
    for run in [4.5, 5.5, 6.5, -0.5, -3.0, 7.4999, 7.5, 8.5, 9.0, 0.49, 2.51, 3.0]:
        for signed in [True, False]:
            fl = int(torch.clamp(torch.round(torch.tensor(run, dtype=torch.float64)), 0, max_fl(8, signed)).item())
            evals.append({'run': run, 'wl': 8, 'signed': signed, 'fl': fl})
    g['runningFraclen'] = runs
    g['evalFraclen'] = evals
    g['fixScaling'] = [{'alpha': a, 'fl': fl, 'wl': wl, 'signed': s, 'scale': 2.0 ** fl * abs(a) / (2.0 ** (wl - (1 if s else 0)) - 1)}
                       for a, fl, wl, s in [(8.0, 6, 8, False), (8.0, 6, 8, True), (-3.7, 0, 8, True), (0.1, 8, 8, False), (1.0, 3, 4, True)]]

    # integer shifts
    sx, sn, sy = [], [], []
    ext = [2 ** 31 - 1, -(2 ** 31), -(2 ** 31) + 1, 2 ** 30, -(2 ** 30), 0, 1, -1, 2, -2, 3, -3]
    for n in list(range(-10, 21)) + [24, 30, 31, 32, 40]:
        vals = list(ext)
        if n > 0:
            half = 1 << (n - 1)
            for k in range(-4, 4):
                vals += [(2 * k + 1) * half, (2 * k + 1) * half + 1, (2 * k + 1) * half - 1]
        vals += torch.randint(-(2 ** 31), 2 ** 31 - 1, (6,)).tolist() + torch.randint(-5000, 5000, (6,)).tolist()
        vals = [v for v in vals if -(2 ** 31) <= v <= 2 ** 31 - 1]
        y = shift_spec(torch.tensor(vals, dtype=torch.int64), n)
        sx += vals
        sn += [n] * len(vals)
        sy += ints(y)
    g['shiftRoundHalfEven'] = {'x': sx, 'n': sn, 'y': sy}

    reqs = []
    for n, signed, relu in [(0, True, False), (3, True, False), (8, False, True), (12, True, False), (12, False, False), (-2, True, False), (5, False, True)]:
        acc = torch.cat([torch.randint(-(2 ** 20), 2 ** 20, (40,)), torch.tensor([2 ** 31 - 1, -(2 ** 31), 0, 127 << max(n, 0), -(255 << max(n, 0))])])
        out = shift_spec(torch.relu(acc) if relu else acc, n)
        lo, hi = bounds(8, signed)
        reqs.append({'acc': ints(acc), 'n': n, 'signed': signed, 'relu': relu, 'out': ints(torch.clamp(out, lo, hi))})
    acc = torch.randint(-(2 ** 16), 2 ** 16, (2 * 3 * 4,))
    ns = [4, 9, 0]
    out = torch.cat([torch.clamp(shift_spec(acc.view(2, 3, 4)[:, c, :], ns[c]), -127, 127).unsqueeze(1) for c in range(3)], dim=1)
    reqs.append({'acc': ints(acc), 'n': ns, 'signed': True, 'relu': False, 'channelAxis': {'outer': 2, 'channels': 3, 'inner': 4}, 'out': ints(out)})
    g['requantize'] = reqs

    adds = []
    for fa, fb in [(2, 4), (7, 3), (5, 5), (0, 20)]:
        a = torch.cat([torch.randint(-(2 ** 20), 2 ** 20, (20,)), torch.tensor([2 ** 31 - 1, -(2 ** 31) + 1, 2 ** 30])])
        b = torch.cat([torch.randint(-(2 ** 20), 2 ** 20, (20,)), torch.tensor([2 ** 31 - 1, -(2 ** 31) + 1, -(2 ** 30)])])
        fl = max(fa, fb)
        v = torch.clamp((a << (fl - fa)) + (b << (fl - fb)), -(2 ** 31 - 1), 2 ** 31 - 1)
        adds.append({'a': ints(a), 'flA': fa, 'b': ints(b), 'flB': fb, 'value': ints(v), 'fl': fl})
    g['alignAdd'] = adds

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as f:
        json.dump(g, f, separators=(',', ':'), allow_nan=False)
        f.write('\n')
    print(f'wrote {os.path.normpath(OUT)}: {os.path.getsize(OUT)} bytes', file=sys.stderr)


if __name__ == '__main__':
    main()
