#!/usr/bin/python3
"""Checkpoint round trip between the F8Net paper's code and f8net (Debian python3-torch).

  tools/seed_roundtrip.py --paper /tmp/f8net-paper [--fixtures test/fixtures/paper] [--check]

For each supported network (fix_resnet 18/34/50, fix_mobilenet_v1/v2) it builds the model with
the paper's own code (imported from the checkout, never copied), saves its state_dict the way
fix_train.py does ({'model': ..., 'last_epoch': ...}, under DataParallel's `module.`), runs
`f8net import --from X.pt`, then `f8net export-checkpoint --format f8net-pytorch` and loads the
result with torch.load and the paper model's load_state_dict (strict), comparing every tensor.

--fixtures writes what the test suite checks without Python: <net>.names.json (names, shapes,
dtypes of the paper's state_dict) and tiny.pt (a small real torch.save file).
Not run by the tests.
"""
import argparse, json, os, subprocess, sys, tempfile
from collections import OrderedDict

NETS = [('resnet18', 'models.fix_resnet', 18), ('resnet34', 'models.fix_resnet', 34), ('resnet50', 'models.fix_resnet', 50),
        ('mobilenet_v1', 'models.fix_mobilenet_v1', 0), ('mobilenet_v2', 'models.fix_mobilenet_v2', 0)]

YML = """depth: {depth}
num_classes: 10
image_size: 32
batch_size: 8
lr: 0.1
rescale_forward: True
rescale_forward_conv: False
rescale_type: constant
weight_format: [8, 7]
input_format: [8, 6]
format_type: per_layer
format_from_metric: True
momentum_for_metric: 0.1
metric: std
reset_parameters: True
"""

def build(paper, module, depth, tmp):
    # The paper's config module reads `app:<yml>` from argv at import time; give it one, then
    # drop the cached modules so the next network sees its own depth.
    yml = os.path.join(tmp, f'paper-{depth}.yml')
    with open(yml, 'w') as f:
        f.write(YML.format(depth=depth))
    for k in [k for k in sys.modules if k.startswith(('models', 'myutils'))]:
        del sys.modules[k]
    argv = sys.argv
    sys.argv = ['paper', 'app:' + yml]
    try:
        import importlib
        import torch
        m = importlib.import_module(module)
        torch.manual_seed(depth + 7)
        net = m.Model(num_classes=10)
    finally:
        sys.argv = argv
    return net

def resume_fixture(paper, out):
    """A small latest_checkpoint.pt of the form fix_train.py writes ({'model', 'optimizer',
    'last_epoch', 'best_val', 'meters'}), for a network f8net builds (its CIFAR resnet20, one input
    channel, 4 classes: the shape of f8net's synthetic test data) under the paper's names and in the
    paper's state_dict order. The optimizer is the paper's get_optimizer form (one param group per
    parameter, SGD momentum 0.9 Nesterov) after two steps on random gradients; best_val is a numpy
    scalar and meters hold the paper's own ScalarMeter objects, as in its real files. Weights are
    multiples of 1/16 and the zip is re-written deflated, to keep the fixture small."""
    import numpy as np, torch, zipfile, io
    from myutils.meters import ScalarMeter
    g = torch.Generator().manual_seed(20)
    sd = OrderedDict()
    params = []

    def layer(name, shape, linear=False):
        sd[f'module.{name}.alpha'] = torch.tensor(6.0 + torch.rand((), generator=g).item())
        sd[f'module.{name}.input_fraclen'] = torch.tensor([4.0 + 2 * torch.rand((), generator=g).item()])
        w = torch.round(torch.randn(shape, generator=g) * 0.1 * 16) / 16
        if linear:
            sd[f'module.{name}.weight'] = w
            sd[f'module.{name}.bias'] = torch.round(torch.randn(shape[0], generator=g) * 16) / 256
            params.extend([f'module.{name}.alpha', f'module.{name}.weight', f'module.{name}.bias'])
            return
        c = shape[0]
        sd[f'module.{name}.conv.weight'] = w
        sd[f'module.{name}.bn.weight'] = 1 + torch.round(torch.randn(c, generator=g) * 2) / 16
        sd[f'module.{name}.bn.bias'] = torch.round(torch.randn(c, generator=g) * 2) / 16
        sd[f'module.{name}.bn.running_mean'] = torch.round(torch.randn(c, generator=g) * 4) / 16
        sd[f'module.{name}.bn.running_var'] = 0.5 + torch.round(torch.rand(c, generator=g) * 16) / 16
        sd[f'module.{name}.bn.num_batches_tracked'] = torch.tensor(40)
        params.extend([f'module.{name}.alpha', f'module.{name}.conv.weight', f'module.{name}.bn.weight', f'module.{name}.bn.bias'])

    layer('head.0', [16, 1, 3, 3])
    widths, cin = [16, 32, 64], 16
    for s, w in enumerate(widths):
        for b in range(3):
            layer(f'stage_{s}_layer_{b}.body.0', [w, cin if b == 0 else w, 3, 3])
            layer(f'stage_{s}_layer_{b}.body.1', [w, w, 3, 3])
            if b == 0 and s > 0:
                layer(f'stage_{s}_layer_{b}.shortcut.0', [w, cin, 1, 1])
        cin = w
    layer('classifier.0', [4, 64], linear=True)
    ps = [torch.nn.Parameter(sd[k].clone()) for k in params]
    opt = torch.optim.SGD([{'params': p, 'weight_decay': 4e-5, 'lr': 0.1, 'momentum': 0.9, 'nesterov': True} for p in ps])
    for _ in range(2):
        for p in ps:
            p.grad = torch.round(torch.randn(p.shape, generator=g) * 16) / 256
        opt.step()
    meters = ({'loss': ScalarMeter('train_loss/loss'), 'top1_error': ScalarMeter('train_top1_error/top1')},
              {'loss': ScalarMeter('val_loss/loss'), 'top1_error': ScalarMeter('val_top1_error/top1'), 'best_val': ScalarMeter('best_val')})
    raw = io.BytesIO()
    torch.save({'model': sd, 'optimizer': opt.state_dict(), 'last_epoch': 2, 'best_val': np.float64(0.625), 'meters': meters}, raw)
    with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as zin, zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
    back = torch.load(out)
    assert list(back['model']) == list(sd) and back['last_epoch'] == 2
    print(f'wrote {out}: {len(sd)} tensors, {len(params)} parameters, {len(opt.state_dict()["state"])} momentum buffers')


def f8net(*args):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run(['npx', 'tsx', os.path.join(root, 'src/cli/entry.ts'), *args], capture_output=True, text=True, cwd=root)
    if r.returncode != 0:
        sys.exit(f'f8net {" ".join(args)} failed ({r.returncode}): {r.stderr.strip().splitlines()[-1:]}')
    return r.stdout

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--paper', required=True, help='checkout of snap-research/F8Net')
    ap.add_argument('--fixtures', help='write the test fixtures here')
    ap.add_argument('--check', action='store_true', help='run the import/export round trip through f8net')
    a = ap.parse_args()
    sys.path.insert(0, os.path.abspath(a.paper))
    import torch
    if a.fixtures:
        resume_fixture(a.paper, os.path.join(a.fixtures, 'resume.pt'))
    with tempfile.TemporaryDirectory() as tmp:
        for name, module, depth in NETS:
            net = torch.nn.DataParallel(build(a.paper, module, depth, tmp))
            sd = net.state_dict()
            if a.fixtures:
                with open(os.path.join(a.fixtures, f'{name}.names.json'), 'w') as f:
                    json.dump([[k, list(v.shape), str(v.dtype).replace('torch.', '')] for k, v in sd.items()], f, separators=(',', ':'))
                if name == 'resnet18':
                    keep = [k for k in sd if k.startswith('module.head.0.') or k.startswith('module.classifier.0.')]
                    tiny = OrderedDict((k, sd[k][:4, :3].clone() if sd[k].dim() == 4 else sd[k][:4].clone() if sd[k].dim() >= 1 else sd[k].clone()) for k in keep)
                    tiny._metadata = sd._metadata
                    torch.save({'model': tiny, 'optimizer': {'state': {}, 'param_groups': [{'lr': 0.1}]}, 'last_epoch': 3, 'best_val': 0.25}, os.path.join(a.fixtures, 'tiny.pt'))
            if not a.check:
                continue
            pt = os.path.join(tmp, f'{name}.pt')
            torch.save({'model': sd, 'last_epoch': 0}, pt)
            ck = os.path.join(tmp, f'{name}.safetensors')
            f8net('import', '--from', pt, '--model', name, '--out', ck)
            back = os.path.join(tmp, f'{name}-back.pt')
            f8net('export-checkpoint', '--checkpoint', ck, '--format', 'f8net-pytorch', '--out', back)
            got = torch.load(back)['model']
            net.load_state_dict(got, strict=False)
            common = [k for k in sd if k in got]
            diff = max(float((sd[k].float() - got[k].float()).abs().max()) if sd[k].numel() else 0.0 for k in common)
            missing = [k for k in sd if k not in got and not k.endswith('num_batches_tracked')]
            print(f'{name}: {len(common)}/{len(sd)} tensors back, largest difference {diff}, missing {missing[:3]}')

if __name__ == '__main__':
    main()
