#!/usr/bin/python3
"""Checkpoint round trip between the F8Net paper's code and f8net (Debian python3-torch).

  tools/seed_roundtrip.py --paper /tmp/f8net-paper [--fixtures test/fixtures/paper] [--check]
  tools/seed_roundtrip.py --paper /tmp/f8net-paper --logits [--nets resnet18,...] [--images 1000] [--size 32] [--normalize]

--logits compares predictions, both ways, on seeded random images (see logit_roundtrip below).

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


def f8net(*args, stderr=False):
    """Runs the f8net CLI from source; its standard output (and error, with stderr=True)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.environ.get('F8NET_VERBOSE'):
        print('  $ f8net ' + ' '.join(args), flush=True)
    r = subprocess.run(['npx', 'tsx', os.path.join(root, 'src/cli/entry.ts'), *args], capture_output=True, text=True, cwd=root)
    if r.returncode != 0:
        sys.exit(f'f8net {" ".join(args)} failed ({r.returncode}): {r.stderr.strip().splitlines()[-1:]}')
    return r.stdout + (r.stderr if stderr else '')


# ---- predictions and logits, both ways ----

# The paper's FLAGS for one network (fix_train.py's get_model reads them): its fixed-point
# training config (res18_fix_quant_train.yml) at 10 classes and a small image: its classifier's
# rescale_forward on and rescale_forward_conv off, as in every config of the paper (f8net:
# rescale_forward true, rescale_forward_conv false), and quant_bias on (f8net rounds the bias in
# evaluation, as the paper's integer-model configs do). --no-rescale: rescale_forward off.
PAPER_YML = """model: {module}
depth: {depth}
num_classes: 10
image_size: {size}
topk: [1]
batch_size: 32
num_gpus_per_job: 1
optimizer: sgd
lr: 0.01
momentum: 0.9
nesterov: True
weight_decay: 0.00004
weight_decay_scheme: all
rescale_forward: {rescale}
rescale_forward_conv: False
rescale_type: constant
weight_format: [8, 7]
input_format: [8, 6]
format_type: per_layer
format_from_metric: True
momentum_for_metric: 0.1
metric: std
input_fraclen_sharing: False
quant_bias: True
normalize: {normalize}
reset_parameters: True
"""

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def seeded_images(n, size, seed=1234):
    """n RGB images, size x size: 8x8 random colour blocks upsampled, plus noise (numpy seed)."""
    import numpy as np
    rs = np.random.RandomState(seed)
    low = rs.randint(0, 256, (n, 3, 8, 8)).astype(np.int32)
    img = low.repeat(size // 8, axis=2).repeat(size // 8, axis=3)
    img = img + rs.randint(-24, 25, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_images(imgs, tmp):
    """imgs/ (flat, for f8net predict), ds/{train,val}/c<k>/ (f8net's folder data set, label
    i % 10) and, for 32x32 images, cifar/ (CIFAR-10 binary batches of the same images: f8net
    trains on exactly these pixels, where its folder reader would resize and crop)."""
    from PIL import Image
    if imgs.shape[2] == 32:
        c = os.path.join(tmp, 'cifar')
        os.makedirs(c, exist_ok=True)
        recs = [bytes([i % 10]) + im.tobytes() for i, im in enumerate(imgs)]
        k = max(1, len(recs) // 5)
        for b in range(5):
            with open(os.path.join(c, f'data_batch_{b + 1}.bin'), 'wb') as f:
                f.write(b''.join(recs[b * k:(b + 1) * k] or recs[:k]))
        with open(os.path.join(c, 'test_batch.bin'), 'wb') as f:
            f.write(b''.join(recs))
    flat = os.path.join(tmp, 'imgs')
    os.makedirs(flat, exist_ok=True)
    for i, im in enumerate(imgs):
        pic = Image.fromarray(im.transpose(1, 2, 0))
        pic.save(os.path.join(flat, f'{i:04d}.png'))
        for split in ('train', 'val'):
            d = os.path.join(tmp, 'ds', split, f'c{i % 10}')
            os.makedirs(d, exist_ok=True)
            pic.save(os.path.join(d, f'{i:04d}.png'))
    return flat, os.path.join(tmp, 'ds')


def paper_input(x, normalize):
    """The network input fix_train.py's forward_loss makes of ToTensor's x (pixels / 255)."""
    import torch
    if normalize:
        return (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]
    return (255 * x).round_() / 256


def paper_logit_scale(model):
    """What the paper's classifier divides its evaluation output by: in eval mode its
    ReLUClipFXQLinear returns linear(x_q, w_q) + bias / fix_scaling / weight_scale, the logits in
    units of its input scaling (in training it multiplies the input by fix_scaling first). A
    positive scalar for per-layer formats, so the top-1 is the same; f8net's logits are real."""
    import torch
    fc = model.classifier[0]
    scale = fc.fix_scaling.detach().reshape(-1)
    assert scale.numel() == 1, 'per-channel input formats: the paper scales each logit differently'
    ws = 1.0
    if fc.rescale_forward:
        # Its rescale: 1 / sqrt(out_features) / std of the quantised weight (as its forward computes it).
        from models.fix_quant_ops import fix_quant, metric2fraclen
        w = fc.weight.detach()
        flw = torch.clamp(metric2fraclen(fc.weight_metric_func(w), fc.metric, 1, True), max=7, min=0)
        ws = 1.0 / fc.out_features ** 0.5 / float(torch.std(fix_quant(w, 8, flw, 0, True)[0]))
    return float(scale) * ws


def paper_logits(wrapper, imgs, normalize, real=True):
    """The paper's evaluation (eval mode, its input rule) of [n, 3, H, W] uint8 images, as real
    logits (real=False: as it returns them, in units of its classifier's input scaling)."""
    import torch
    wrapper.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(imgs), 100):
            x = torch.from_numpy(imgs[i:i + 100]).float() / 255
            out.append(wrapper(paper_input(x, normalize)))
    z = torch.cat(out).numpy()
    return z.astype('float64') * paper_logit_scale(wrapper.module) if real else z


def f8net_logits(ck, tmp, tag, flat, n, runner='gpu'):
    """f8net export (integer model), then f8net predict (the integer model on the GPU, or the CPU reference: the same integers): [n, 10] logits."""
    import numpy as np
    out = os.path.join(tmp, f'{tag}-int')
    f8net('export', '--checkpoint', ck, '--out', out, '--no-onnx', '--force')
    lines = f8net('predict', '--model', out, '--images', flat, '--runner', runner, '--json', '--top-k', '1', '--limit', str(n)).strip().splitlines()
    rows = [json.loads(l) for l in lines]
    assert [r['image'] for r in rows] == sorted(r['image'] for r in rows), 'predict returned the images out of order'
    return np.array([r['logits'] for r in rows], dtype=np.float64)


def compare_forms(wrapper, imgs, normalize, got, form):
    """The paper's logits against f8net's `got` in real units. f8net's classifier_form paper
    (src/quant/classifier-form.ts) returns what the paper's evaluation returns, the logits / s_in:
    both are compared as they come and then multiplied by the paper's s_in; folded returns real
    logits, compared with the paper's times its s_in."""
    import numpy as np
    s = paper_logit_scale(wrapper.module)
    # float64 before the product: float32 z * s stays float32 in numpy and rounds (2^-25 at logits of 0.5..1).
    z = paper_logits(wrapper, imgs, normalize, real=False).astype(np.float64)
    return compare(z * s, got * s if form == 'paper' else got)


def compare(a, b):
    """Share of identical top-1, largest logit difference, largest logit, classes the paper predicts."""
    import numpy as np
    same = float(np.mean(a.argmax(1) == b.argmax(1)))
    return same, float(np.abs(a - b).max()), float(np.abs(a).max()), len(set(a.argmax(1).tolist()))


def logit_roundtrip(a, nets):
    """For each network, paper -> f8net: the paper's model (fix_train.py get_model, its optimizer)
    takes 3 SGD steps in train mode on the seeded images with random labels (BN running stats,
    alpha and input_fraclen move), is saved as fix_train.py saves it, imported with
    `f8net import --stage fixed`, exported and run by `f8net predict` (integer model, CPU
    reference); the paper's evaluation (eval mode, fake quantisation, its input rule) runs on the
    same images. f8net -> paper: `f8net train` continues that checkpoint for one short epoch (4 steps, lr 0.001: f8net's forward passes move the BN statistics and running lengths, the weights move a little)
    (fp_pretrained_file given the paper's .pt), `f8net export-checkpoint --format f8net-pytorch`
    writes it, and the paper's model loads it as fix_train.py loads pretrained_file (torch.load,
    strict load_state_dict) and evaluates. Each line: share of identical top-1 predictions and
    the largest logit difference (and the largest logit, for scale)."""
    import numpy as np, torch
    import paper_shim
    paper_shim.install(a.paper)
    tmp = a.work or tempfile.mkdtemp(prefix='f8net-logits-')
    os.makedirs(tmp, exist_ok=True)
    imgs = seeded_images(a.images, a.size)
    flat, ds = write_images(imgs, tmp)
    labels = torch.from_numpy(np.random.RandomState(99).randint(0, 10, a.images))
    # f8net's head_form is the paper's normalize (weight_only: pixel / 256, no mean or std).
    head = ['--set', 'head_form=double_side', '--set', f'input_mean={MEAN}'.replace(' ', ''), '--set', f'input_std={STD}'.replace(' ', '')] if a.normalize else ['--set', 'head_form=weight_only']
    common = ['--set', 'dataset=folder', '--set', f'dataset_dir={ds}', '--set', f'image_size={a.size}', *head, *a.f8net_set]
    cifar = os.path.join(tmp, 'cifar')
    train_data = ['--set', 'dataset=cifar10', '--set', f'dataset_dir={cifar}', *head, *a.f8net_set] if a.size == 32 else common
    # The paper's forms (default): the import of a paper checkpoint selects them; f8net's own
    # training run is told. --forms f8net: f8net's folded classifier and shared shortcut alpha.
    paper_forms = a.forms == 'paper'
    form = 'paper' if paper_forms else 'folded'
    def forms_of(name, train):
        out = ['--set', f'classifier_form={form}', '--set', f"pool_form={'paper' if paper_forms else 'folded'}",
               '--set', f'rescale_forward={str(not a.no_rescale).lower()}', '--set', 'rescale_forward_conv=false', '--set', f"fold_order={'paper' if paper_forms else 'fused'}", '--set', f"identity_add={'paper' if paper_forms else 'aligned'}"]
        if name.startswith('resnet'):
            out += ['--set', 'model_args={alpha_sharing: %s}' % ('paper' if paper_forms else 'f8net')] if train else ['--model-args', '{alpha_sharing: %s}' % ('paper' if paper_forms else 'f8net')]
        return out
    results = []
    for name, module, depth in NETS:
        if name not in nets:
            continue
        yml = os.path.join(tmp, f'{name}.yml')
        with open(yml, 'w') as f:
            f.write(PAPER_YML.format(module=module, depth=depth or 18, size=a.size, normalize=a.normalize, rescale=not a.no_rescale))
        torch.manual_seed(depth + 7)
        ft = paper_shim.load_fix_train(yml)
        model, wrapper = ft.get_model()
        opt = ft.get_optimizer(wrapper)
        wrapper.train()
        crit = torch.nn.CrossEntropyLoss()
        for step in range(3):
            idx = slice(32 * step, 32 * step + 32)
            x = torch.from_numpy(imgs[idx]).float() / 255
            loss = crit(wrapper(paper_input(x, a.normalize)), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        # Then 40 forward passes in train mode without steps, so that the BN running statistics
        # and running lengths settle at this data's (f8net's later passes then move them little).
        with torch.no_grad():
            for step in range(40):
                idx = slice((32 * step) % (len(imgs) - 32), (32 * step) % (len(imgs) - 32) + 32)
                wrapper(paper_input(torch.from_numpy(imgs[idx]).float() / 255, a.normalize))
        # A random network predicts one class for every image (the mean feature dominates): the
        # classifier's bias takes away the mean logit, so that predictions spread over the classes.
        with torch.no_grad():
            model.classifier[0].bias -= torch.from_numpy(paper_logits(wrapper, imgs[:200], a.normalize).mean(0)).float()
        pt = os.path.join(tmp, f'{name}.pt')
        torch.save({'model': wrapper.state_dict(), 'last_epoch': 1}, pt)
        ck = os.path.join(tmp, f'{name}.safetensors')
        f8net('import', '--from', pt, '--model', name, '--stage', 'fixed', '--num-classes', '10', '--out', ck, '--force', *forms_of(name, False), *common)
        got = f8net_logits(ck, tmp, name, flat, a.images, a.runner)
        fwd = compare_forms(wrapper, imgs, a.normalize, got, form)
        print(f'{name} paper -> f8net: {100 * fwd[0]:.1f}% identical top-1 of {a.images}, largest logit difference {fwd[1]:.3g} (largest logit {fwd[2]:.3g}, {fwd[3]} classes predicted)', flush=True)
        # f8net -> paper
        run = os.path.join(tmp, f'{name}-f8net-run')
        f8net('train', '--set', f'model={name}', '--set', 'floating_model=false', '--set', f'fp_pretrained_file={pt}', '--set', 'num_classes=10',
              '--set', 'num_epochs=1', '--set', 'max_train_samples=64', '--set', 'max_test_samples=16', '--set', 'batch_size=16', '--set', 'lr=0.001',
              '--set', f'log_dir={run}', '--set', 'exist_ok=true', '--quiet', *forms_of(name, True), *train_data)
        ck2 = os.path.join(run, 'last.safetensors')
        theirs = f8net_logits(ck2, tmp, f'{name}-back', flat, a.images, a.runner)
        back = os.path.join(tmp, f'{name}-back.pt')
        f8net('export-checkpoint', '--checkpoint', ck2, '--format', 'f8net-pytorch', '--out', back)
        ft = paper_shim.load_fix_train(yml)
        model2, wrapper2 = ft.get_model()
        wrapper2.load_state_dict(torch.load(back, map_location=lambda s, loc: s)['model'])
        rev = compare_forms(wrapper2, imgs, a.normalize, theirs, form)
        print(f'{name} f8net -> paper: {100 * rev[0]:.1f}% identical top-1 of {a.images}, largest logit difference {rev[1]:.3g} (largest logit {rev[2]:.3g}, {rev[3]} classes predicted)', flush=True)
        results.append({'net': name, 'paper_to_f8net': fwd, 'f8net_to_paper': rev})
    if a.json:
        with open(a.json, 'w') as f:
            json.dump({'images': a.images, 'size': a.size, 'normalize': a.normalize, 'forms': a.forms, 'results': results}, f, indent=1)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--paper', required=True, help='checkout of snap-research/F8Net')
    ap.add_argument('--fixtures', help='write the test fixtures here')
    ap.add_argument('--check', action='store_true', help='run the import/export round trip through f8net')
    ap.add_argument('--logits', action='store_true', help='compare predictions and logits both ways (logit_roundtrip)')
    ap.add_argument('--nets', default=','.join(n for n, _, _ in NETS), help='networks for --logits, comma-separated')
    ap.add_argument('--images', type=int, default=1000, help='seeded random images for --logits')
    ap.add_argument('--size', type=int, default=32, help='their height and width (a multiple of 8)')
    ap.add_argument('--normalize', action='store_true', help="the paper's normalize: true head (double_side) instead of weight_only")
    ap.add_argument('--no-rescale', action='store_true', help="rescale_forward False on both sides (the figures before f8net had the paper's classifier rescale)")
    ap.add_argument('--f8net-set', action='append', default=[], help='more arguments for f8net import/train, e.g. --f8net-set=--set --f8net-set=key=value')
    ap.add_argument('--forms', choices=['paper', 'f8net'], default='paper', help="f8net's classifier_form and ResNet alpha_sharing for --logits: paper (the paper's, what import of its checkpoint selects) or f8net (folded, shared: the earlier figures)")
    ap.add_argument('--work', help='keep the files of --logits in this folder')
    ap.add_argument('--runner', choices=['gpu', 'cpu'], default='gpu', help="f8net predict's runner of the integer model (gpu: ~7x faster on lavapipe; cpu: the reference)")
    ap.add_argument('--json', help='write the --logits figures here')
    a = ap.parse_args()
    sys.path.insert(0, os.path.abspath(a.paper))
    import torch
    if a.logits:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        logit_roundtrip(a, a.nets.split(','))
        return
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
