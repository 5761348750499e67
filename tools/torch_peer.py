#!/usr/bin/env python3
"""PyTorch (CPU) peer of `f8net bench --compare torch`: the same whole-model training step as the
bench rows model.train.{float,fixed}/{cnn,resnet20} (forward + softmax cross-entropy + backward +
SGD momentum 0.9 Nesterov, weight decay 4e-5, lr 0.01), driven over stdin/stdout so that the bench's
own wall-clock loop times it exactly as it times f8net:

    python3 tools/torch_peer.py --model cnn --width 16 --channels 1 --image 28 --classes 10 --batch 64 --mode float
    -> {"ready": true, "weights": N, "loss": L, "threads": T, "torch": "1.13.0"}
    <- step            -> ok <loss>
    <- quit

The fixed-point layer is written from /work/shared/F8NET.md section 3 (our own plain PyTorch, not
the paper's code): the input fake-quant with the batch fractional length from the std statistic,
the running length, the fix scalings s_in / s_next, y0 = conv(s_in * x_q, w) for the batch
statistics, BN folded into the weight and bias, the folded weight fake-quantised per output channel,
y = conv(x_q, w_q) + b_f; straight-through gradients with the mask on the rounded value. It costs
what that layer costs (two convolutions per layer, the quantisers), which is what the peer is for;
alpha sharing between residual readers is left out (it changes no arithmetic volume).
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

WL = 8
C_STD = {True: 40.0, False: 70.0}  # signed, unsigned (F8NET.md section 2)


def fake_quant(x, fl, signed):
    """q / 2^fl with q = clamp(roundHalfEven(x 2^fl)); STE mask on the unclamped rounded value."""
    scale = torch.pow(2.0, fl)
    r = torch.round(x * scale)  # torch.round is round-half-to-even
    lo, hi = (-(2 ** (WL - 1) - 1), 2 ** (WL - 1) - 1) if signed else (0, 2 ** WL - 1)
    q = torch.clamp(r, lo, hi) / scale
    mask = (r.abs() < hi) if signed else ((r > lo) & (r < hi))
    return q.detach() + (x - x.detach()) * mask


def fraclen_std(t, signed, dims=None):
    """fl = clamp(floor(log2(c / std)), 0, wl - signed), std Bessel-corrected."""
    with torch.no_grad():
        s = t.std() if dims is None else t.std(dim=dims, keepdim=True)
        fl = torch.floor(torch.log2(C_STD[signed] / s.clamp_min(1e-30)))
        return fl.clamp(0, WL - int(signed))


class FixLayer(nn.Module):
    """conv (or linear) + BN + the fixed-point quantisers of F8NET.md section 3."""

    def __init__(self, cin, cout, k=3, stride=1, pad=1, signed=False, linear=False, head=False):
        super().__init__()
        self.linear, self.signed, self.head = linear, signed, head
        self.stride, self.pad = stride, pad
        shape = (cout, cin) if linear else (cout, cin, k, k)
        self.weight = nn.Parameter(torch.randn(shape) * math.sqrt(2.0 / (cin * (1 if linear else k * k))))
        if linear:
            self.bias = nn.Parameter(torch.zeros(cout))
        else:
            self.gamma = nn.Parameter(torch.ones(cout))
            self.beta = nn.Parameter(torch.zeros(cout))
            self.register_buffer("running_mean", torch.zeros(cout))
            self.register_buffer("running_var", torch.ones(cout))
        self.alpha = nn.Parameter(torch.tensor(8.0))
        self.register_buffer("fl_run", torch.tensor(0.0))
        self.following = None

    def fix_scaling(self):
        if self.head:
            return torch.tensor(1.0)  # weight_only head: fix scaling 1
        fl_s = torch.round(self.fl_run).clamp(0, WL - int(self.signed))
        return torch.pow(2.0, fl_s) * self.alpha.abs() / (2 ** (WL - int(self.signed)) - 1)

    def op(self, x, w):
        return F.linear(x, w) if self.linear else F.conv2d(x, w, None, self.stride, self.pad)

    def forward(self, x):
        if self.head:
            x_q = x
        else:
            fl_b = fraclen_std(x, self.signed)
            x_q = fake_quant(x, fl_b, self.signed)
            with torch.no_grad():
                self.fl_run.mul_(0.9).add_(0.1 * fl_b)
        s_in = self.fix_scaling()
        s_next = self.following.fix_scaling() if self.following is not None else torch.tensor(1.0)
        if self.linear:
            w_f = self.weight * s_in / s_next
            b_f = self.bias / s_next
        else:
            y0 = self.op(s_in * x_q, self.weight)
            mu = y0.mean(dim=(0, 2, 3))
            var = y0.var(dim=(0, 2, 3), unbiased=False)
            with torch.no_grad():
                n = y0.numel() / y0.shape[1]
                self.running_mean.mul_(0.9).add_(0.1 * mu)
                self.running_var.mul_(0.9).add_(0.1 * var * n / max(n - 1, 1))
            inv = self.gamma / torch.sqrt(var + 1e-5)
            w_f = self.weight * (inv * s_in / s_next).view(-1, 1, 1, 1)
            b_f = (self.beta - self.gamma * mu / torch.sqrt(var + 1e-5)) / s_next
        fl_w = fraclen_std(w_f, True, dims=tuple(range(1, w_f.dim())))
        w_q = fake_quant(w_f, fl_w, True)
        y = self.op(x_q, w_q)
        return y + (b_f if self.linear else b_f.view(1, -1, 1, 1))


def float_layer(cin, cout, k=3, stride=1, pad=1, linear=False):
    if linear:
        return nn.Linear(cin, cout)
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, pad, bias=False), nn.BatchNorm2d(cout))


def layer(fixed, cin, cout, k=3, stride=1, pad=1, signed=False, linear=False, head=False):
    if fixed:
        return FixLayer(cin, cout, k, stride, pad, signed, linear, head)
    return float_layer(cin, cout, k, stride, pad, linear)


class Cnn(nn.Module):
    """models/cnn.ts: conv1 (signed input) -> maxpool -> conv2 (ReLU in) -> maxpool -> conv3 -> ReLU -> GAP -> fc."""

    def __init__(self, fixed, c, classes, w):
        super().__init__()
        self.conv1 = layer(fixed, c, w, signed=True, head=True)
        self.conv2 = layer(fixed, w, 2 * w)
        self.conv3 = layer(fixed, 2 * w, 4 * w)
        self.fc = layer(fixed, 4 * w, classes, linear=True)
        if fixed:
            self.conv1.following, self.conv2.following, self.conv3.following = self.conv2, self.conv3, self.fc

    def forward(self, x):
        y = F.max_pool2d(self.conv1(x), 2)
        y = F.max_pool2d(self.conv2(F.relu(y)), 2)
        y = F.relu(self.conv3(F.relu(y)))
        return self.fc(F.relu(y.mean(dim=(2, 3))))


class Block(nn.Module):
    """models/resnet.ts basic block: body(x) + shortcut(x), the ReLU in the readers; 1x1 projection where the shape changes."""

    def __init__(self, fixed, cin, cout, stride):
        super().__init__()
        self.conv1 = layer(fixed, cin, cout, 3, stride, 1)
        self.conv2 = layer(fixed, cout, cout, 3, 1, 1)
        self.down = layer(fixed, cin, cout, 1, stride, 0) if stride != 1 or cin != cout else None
        if fixed:
            self.conv1.following = self.conv2

    def forward(self, x):
        r = F.relu(x)
        h = self.conv2(F.relu(self.conv1(r)))
        return h + (self.down(r) if self.down is not None else r)


class ResNet20(nn.Module):
    def __init__(self, fixed, c, classes):
        super().__init__()
        self.conv1 = layer(fixed, c, 16, signed=True, head=True)
        blocks, cin = [], 16
        for s, w in enumerate([16, 32, 64]):
            for b in range(3):
                blocks.append(Block(fixed, cin, w, 2 if b == 0 and s > 0 else 1))
                cin = w
        self.blocks = nn.ModuleList(blocks)
        self.fc = layer(fixed, 64, classes, linear=True)
        if fixed:
            readers = [b.conv1 for b in self.blocks] + [self.fc]
            self.conv1.following = readers[0]
            for i, b in enumerate(self.blocks):
                b.conv2.following = readers[i + 1]
                if b.down is not None:
                    b.down.following = readers[i + 1]

    def forward(self, x):
        y = self.conv1(x)
        for b in self.blocks:
            y = b(y)
        return self.fc(F.relu(F.relu(y).mean(dim=(2, 3))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["cnn", "resnet20"], required=True)
    ap.add_argument("--mode", choices=["float", "fixed"], required=True)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--channels", type=int, required=True)
    ap.add_argument("--image", type=int, required=True)
    ap.add_argument("--classes", type=int, required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    torch.manual_seed(1)
    torch.set_num_threads(max(1, a.threads))
    fixed = a.mode == "fixed"
    m = Cnn(fixed, a.channels, a.classes, a.width) if a.model == "cnn" else ResNet20(fixed, a.channels, a.classes)
    m.train()
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=4e-5)
    g = torch.Generator().manual_seed(21)
    x = torch.rand((a.batch, a.channels, a.image, a.image), generator=g) * 4 - 2
    y = torch.tensor([(i * 7) % a.classes for i in range(a.batch)])

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        return float(loss)

    weights = sum(p.numel() for n, p in m.named_parameters() if p.dim() >= 2)
    loss = step()
    print(json.dumps({"ready": True, "weights": weights, "loss": loss, "threads": torch.get_num_threads(), "torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "quit":
            break
        if cmd != "step":
            print(f"error unknown command {cmd!r}", flush=True)
            continue
        print(f"ok {step()}", flush=True)


if __name__ == "__main__":
    main()
