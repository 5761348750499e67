"""Runs the F8Net paper's own code (a checkout, never copied or edited) on a CPU-only machine with
Debian's python3-torch, which has neither CUDA, torchvision nor pytorchcv.

  import paper_shim; paper_shim.install('/tmp/f8paper')
  ft = paper_shim.load_fix_train('/tmp/x/paper.yml')   # the paper's fix_train module, FLAGS from the yml

What install() changes, in this process only:
- `.cuda()` of modules and tensors returns them unchanged (the paper calls it unconditionally);
- `torchvision` is a stand-in holding what fix_train.py uses: datasets.ImageFolder and the
  transforms Compose, Resize, CenterCrop, ToTensor, Normalize, RandomResizedCrop,
  RandomHorizontalFlip, written here on PIL + numpy after torchvision's documented behaviour
  (Resize(n): shorter side to n, bilinear; an image already of that size is left as it is;
  CenterCrop: the middle, offsets rounded; ToTensor: HWC uint8 -> CHW float / 255);
- `pytorchcv.model_provider.get_model` exists and raises (only the ptcv_pretrained path uses it).
Not run by the tests.
"""
import importlib
import os
import sys
import types


def _torchvision():
    import numpy as np
    import torch
    from PIL import Image

    tv = types.ModuleType('torchvision')
    ds = types.ModuleType('torchvision.datasets')
    tf = types.ModuleType('torchvision.transforms')

    class ImageFolder(torch.utils.data.Dataset):
        """root/<class>/<image>, classes and files in sorted order, as torchvision's."""
        def __init__(self, root, transform=None):
            self.classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
            self.samples = [(os.path.join(root, c, f), i) for i, c in enumerate(self.classes)
                            for f in sorted(os.listdir(os.path.join(root, c)))]
            self.transform = transform

        def __len__(self):
            return len(self.samples)

        def __getitem__(self, i):
            path, label = self.samples[i]
            with open(path, 'rb') as f:
                img = Image.open(f).convert('RGB')
            return (self.transform(img) if self.transform else img), label

    class Compose:
        def __init__(self, ts):
            self.ts = ts

        def __call__(self, x):
            for t in self.ts:
                x = t(x)
            return x

    class Resize:
        def __init__(self, size):
            self.size = size

        def __call__(self, img):
            w, h = img.size
            s = self.size
            nw, nh = (s, int(s * h / w)) if w <= h else (int(s * w / h), s)
            return img if (nw, nh) == (w, h) else img.resize((nw, nh), Image.BILINEAR)

    class CenterCrop:
        def __init__(self, size):
            self.size = size

        def __call__(self, img):
            w, h = img.size
            t, l = int(round((h - self.size) / 2.0)), int(round((w - self.size) / 2.0))
            return img.crop((l, t, l + self.size, t + self.size))

    class ToTensor:
        def __call__(self, img):
            return torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).float().div(255)

    class Normalize:
        def __init__(self, mean, std):
            self.mean = torch.tensor(mean)[:, None, None]
            self.std = torch.tensor(std)[:, None, None]

        def __call__(self, x):
            return (x - self.mean) / self.std

    class RandomResizedCrop(Resize):
        # Used only to build the training transforms, which a test_only run never applies.
        pass

    class RandomHorizontalFlip:
        def __call__(self, img):
            return img

    ds.ImageFolder = ImageFolder
    for c in (Compose, Resize, CenterCrop, ToTensor, Normalize, RandomResizedCrop, RandomHorizontalFlip):
        setattr(tf, c.__name__, c)
    tv.datasets, tv.transforms = ds, tf
    return {'torchvision': tv, 'torchvision.datasets': ds, 'torchvision.transforms': tf}


def install(paper):
    import torch
    sys.path.insert(0, os.path.abspath(paper))
    torch.nn.Module.cuda = lambda self, *a, **k: self
    torch.Tensor.cuda = lambda self, *a, **k: self
    if 'torchvision' not in sys.modules:
        try:
            import torchvision  # noqa: F401  (a real one wins)
        except ImportError:
            sys.modules.update(_torchvision())
    if 'pytorchcv' not in sys.modules:
        pc = types.ModuleType('pytorchcv')
        mp = types.ModuleType('pytorchcv.model_provider')

        def get_model(*a, **k):
            raise RuntimeError('pytorchcv is not installed (paper_shim): ptcv_pretrained needs it')
        mp.get_model = get_model
        pc.model_provider = mp
        sys.modules.update({'pytorchcv': pc, 'pytorchcv.model_provider': mp})


def load_fix_train(yml):
    """The paper's fix_train module with FLAGS read from `yml` (its config module reads
    `app:<yml>` from argv at import; cached modules are dropped so each call sees its own file)."""
    for k in [k for k in sys.modules if k.startswith(('models', 'myutils')) or k == 'fix_train']:
        del sys.modules[k]
    argv = sys.argv
    sys.argv = ['fix_train.py', 'app:' + yml]
    try:
        return importlib.import_module('fix_train')
    finally:
        sys.argv = argv
