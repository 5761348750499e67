#!/usr/bin/python3
"""The paper's own fix_train.py evaluates a checkpoint f8net wrote (issue 12, point 3).

  tools/paper_fix_train.py --paper /tmp/f8paper --checkpoint runs/r18/last.safetensors [--model resnet18] [--images 50] [--work DIR] [--train]

1. `f8net export-checkpoint --format f8net-pytorch` writes the f8net checkpoint (a fixed-point
   resnet18/34/50 or mobilenet_v1/v2 of 10 classes) as the paper's best_model.pt.
2. fix_train.py runs unchanged, in its test_only mode, from a config in the form of the paper's
   res18_fix_quant_test.yml (pretrained_file: that file; distributed: False; one process, the
   world size of an uninitialised torch.distributed is 1), on CPU through tools/paper_shim.py
   (no CUDA, no torchvision on Debian's python3-torch): its ImageFolder data set of seeded random
   256x256 images, its Resize(256) + CenterCrop(224) evaluation transform, its input rule, its
   top-1 error printout. A forward hook on the model it builds keeps its logits.
3. f8net reads the same .pt back (`f8net import --stage fixed`, image_size 224), exports the
   integer model and predicts the same 224x224 centre crops (`f8net predict --runner cpu`).
Printed: the paper's top-1 error, f8net's on the same labels, the share of identical top-1
predictions and the largest logit difference.
4. With --train, fix_train.py then trains: the same config with test_only: False and one epoch,
   from pretrained_file (the f8net export) through its own loop, optimizer, cosine schedule and
   checkpoints; and f8net resumes the paper's latest_checkpoint.pt it wrote (`f8net train --set
   resume=.../latest_checkpoint.pt`, one more epoch at image_size 32: the weights do not depend
   on the image size), printing what it took from it.
Not run by the tests.
"""
import argparse, json, os, re, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

TEST_YML = """# The form of the paper's apps/imagenet/resnet18/conventional/res18_fix_quant_test.yml, on a small folder.
num_gpus_per_job: 1
dataset: imagenet1k
data_transforms: imagenet1k
data_loader: imagenet1k
dataset_dir: {ds}
data_loader_workers: 0
num_classes: 10
image_size: 224
topk: [1]
num_epochs: 1
optimizer: sgd
momentum: 0.9
weight_decay: 0.00004
nesterov: True
lr: 0.05
lr_scheduler: cos_annealing_iter
batch_size: 10
pretrained_dir: ''
pretrained_file: {pt}
resume: ''
test_only: True
random_seed: 1995
reset_parameters: True
distributed: False
distributed_all_reduce: False
use_diff_seed: False
rescale_forward: {rescale}
rescale_forward_conv: False
rescale_type: constant
weight_format: [8, 7]
input_format: [8, 6]
format_type: per_layer
format_from_metric: True
momentum_for_metric: 0.1
metric: std
weight_decay_scheme: all
input_fraclen_sharing: False
no_clipping: False
quant_bias: True
quant_avgpool: False
pool_fusing: False
int_infer: False
integize: False
int_op_only: False
log_dir: {log}
model: {module}
depth: {depth}
"""

MODULES = {'resnet18': ('models.fix_resnet', 18), 'resnet34': ('models.fix_resnet', 34), 'resnet50': ('models.fix_resnet', 50),
           'mobilenet_v1': ('models.fix_mobilenet_v1', 0), 'mobilenet_v2': ('models.fix_mobilenet_v2', 0)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--paper', required=True)
    ap.add_argument('--checkpoint', required=True, help='a fixed-point f8net checkpoint (10 classes)')
    ap.add_argument('--model', default='resnet18')
    ap.add_argument('--images', type=int, default=50)
    ap.add_argument('--work')
    ap.add_argument('--train', action='store_true', help='then train one epoch with fix_train.py and resume its checkpoint in f8net')
    ap.add_argument('--no-rescale', action='store_true', help="rescale_forward False (for a checkpoint f8net trained without the classifier's rescale)")
    a = ap.parse_args()
    import numpy as np, torch
    from PIL import Image
    import paper_shim
    from seed_roundtrip import f8net, seeded_images
    tmp = a.work or tempfile.mkdtemp(prefix='f8net-fix-train-')
    os.makedirs(tmp, exist_ok=True)
    imgs = seeded_images(a.images, 256, seed=4321)
    labels = np.arange(a.images) % 10
    crops = os.path.join(tmp, 'crops')
    os.makedirs(crops, exist_ok=True)
    for i, im in enumerate(imgs):
        pic = Image.fromarray(im.transpose(1, 2, 0))
        for split in ('train', 'val'):  # f8net's folder data set wants both; the paper's test reads val/
            d = os.path.join(tmp, 'ds', split, f'c{i % 10}')
            os.makedirs(d, exist_ok=True)
            pic.save(os.path.join(d, f'{i:04d}.png'))
        pic.crop((16, 16, 240, 240)).save(os.path.join(crops, f'c{i % 10}-{i:04d}.png'))
    # ImageFolder's order: class folders sorted, files sorted in each.
    order = sorted(range(a.images), key=lambda i: (f'c{i % 10}', f'{i:04d}.png'))
    pt = os.path.join(tmp, f'{a.model}-from-f8net.pt')
    f8net('export-checkpoint', '--checkpoint', a.checkpoint, '--format', 'f8net-pytorch', '--out', pt)
    module, depth = MODULES[a.model]
    yml = os.path.join(tmp, 'test.yml')
    with open(yml, 'w') as f:
        f.write(TEST_YML.format(ds=os.path.join(tmp, 'ds'), pt=pt, log=os.path.join(tmp, 'log'), module=module, depth=depth or 18, rescale=not a.no_rescale))

    paper_shim.install(a.paper)
    ft = paper_shim.load_fix_train(yml)
    outs = []
    build = ft.get_model

    def get_model(*args, **kw):
        model, wrapper = build(*args, **kw)
        model.register_forward_hook(lambda m, i, o: outs.append(o.detach().clone()))
        return model, wrapper
    ft.get_model = get_model
    built = []
    _gm = ft.get_model

    def get_model_kept(*args, **kw):
        r = _gm(*args, **kw)
        built.append(r[0])
        return r
    ft.get_model = get_model_kept
    printed = []
    say = ft.mprint

    def mprint(*args, **kw):
        printed.append(' '.join(str(x) for x in args))
        say(*args, **kw)
    ft.mprint = mprint
    ft.main()
    from seed_roundtrip import paper_logit_scale
    # Its eval output is in the classifier's units (logits / (s_in ws)); so is f8net's integer
    # model's, whose import of the paper's file selects classifier_form paper: both are multiplied
    # by the paper's s_in ws (float64) to compare real logits.
    s = paper_logit_scale(built[-1])
    paper = torch.cat(outs).numpy().astype(np.float64) * s
    line = next((l for l in printed if 'top1_error' in l), '')
    err = re.search(r'top1_error: ([0-9.]+)', line)
    print(f'fix_train.py test_only: {line.strip()}')

    ck = os.path.join(tmp, f'{a.model}-224.safetensors')
    f8net('import', '--from', pt, '--model', a.model, '--stage', 'fixed', '--num-classes', '10', '--out', ck, '--force',
          '--set', 'dataset=folder', '--set', f'dataset_dir={os.path.join(tmp, "ds")}', '--set', 'image_size=224',
          '--set', 'head_form=weight_only')
    out = os.path.join(tmp, 'int224')
    f8net('export', '--checkpoint', ck, '--out', out, '--no-onnx', '--force')
    rows = [json.loads(l) for l in f8net('predict', '--model', out, '--images', crops, '--runner', 'cpu', '--json', '--top-k', '1').strip().splitlines()]
    ours = np.array([r['logits'] for r in rows], dtype=np.float64) * s  # crops are named c<k>-<i>: the same order as ImageFolder's
    lab = labels[order]
    same = float(np.mean(paper.argmax(1) == ours.argmax(1)))
    print(f'{a.model}: paper top-1 error {float(err.group(1)) if err else float("nan"):.4f} (fix_train.py), f8net {float(np.mean(ours.argmax(1) != lab)):.4f}; '
          f'{100 * same:.1f}% identical top-1 of {a.images}, largest logit difference {float(np.abs(paper - ours).max()):.3g} (largest logit {float(np.abs(paper).max()):.3g}); '
          f'{len(set(paper.argmax(1)))} distinct classes predicted')


    if not a.train:
        return
    yml2 = os.path.join(tmp, 'train.yml')
    with open(yml) as f, open(yml2, 'w') as g:
        g.write(f.read().replace('test_only: True', 'test_only: False'))
    ft = paper_shim.load_fix_train(yml2)
    ft.main()
    import glob
    latest = glob.glob(os.path.join(tmp, 'log', '**', 'latest_checkpoint.pt'), recursive=True)
    if len(latest) != 1:
        sys.exit(f'fix_train.py wrote {len(latest)} latest_checkpoint.pt files under {tmp}/log')
    print(f'fix_train.py trained one epoch and wrote {latest[0]}')
    run = os.path.join(tmp, 'f8net-resumed')
    out = f8net('train', '--set', f'resume={latest[0]}', '--set', f'model={a.model}', '--set', 'floating_model=false', '--set', 'num_classes=10',
                '--set', 'dataset=folder', '--set', f'dataset_dir={os.path.join(tmp, "ds")}', '--set', 'image_size=32',
                '--set', 'head_form=weight_only', '--set', 'num_epochs=2', '--set', 'batch_size=10',
                '--set', 'max_test_samples=20', '--set', 'lr=0.01', '--set', f'log_dir={run}', '--set', 'exist_ok=true', stderr=True)
    for l in out.splitlines():
        if 'paper' in l or 'resumed' in l or 'optimizer' in l or l.startswith('epoch'):
            print(f'f8net: {l}')


if __name__ == '__main__':
    main()
