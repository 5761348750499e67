"""Runs an f8net export's two ONNX files with Python onnxruntime on IDX images and compares them
with f8net's own predictions (docs/ONNX_EXPORT.md).

    f8net export --checkpoint runs/cnn-fashion-fixed/best.safetensors --out runs/cnn-fashion-int
    f8net predict --model runs/cnn-fashion-int --images IMAGES.gz --limit 1000 --json > pred.jsonl
    python3 tools/onnx_check.py runs/cnn-fashion-int IMAGES.gz LABELS.gz pred.jsonl

Needs numpy and onnxruntime. Prints top-1 of each file and whether all logits are identical.
"""
import gzip
import json
import sys

import numpy as np
import onnxruntime as ort


def idx(path, skip):
    data = (gzip.open(path) if path.endswith('.gz') else open(path, 'rb')).read()
    return np.frombuffer(data[skip:], np.uint8)


def main(model_dir, images, labels, predictions):
    f8 = np.array([json.loads(line)['logits_int'] for line in open(predictions)])
    n = len(f8)
    out = {}
    for form in ['int_op_only', 'integize']:
        sess = ort.InferenceSession(f'{model_dir}/{form}.onnx', providers=['CPUExecutionProvider'])
        meta = sess.get_modelmeta().custom_metadata_map
        c, h, w = json.loads(meta['f8net.input_shape'])
        pix = idx(images, 16).reshape(-1, c, h, w)[:n]
        mean = np.array(json.loads(meta['f8net.input_mean']), np.float64)[None, :, None, None]
        std = np.array(json.loads(meta['f8net.input_std']), np.float64)[None, :, None, None]
        scale = np.array(json.loads(meta['f8net.input_scale']), np.float64)[None, :, None, None]
        v = pix.astype(np.float32) / np.float32(255)
        x = (v.astype(np.float64) - mean).astype(np.float32) * (1.0 / std).astype(np.float32)
        if meta['f8net.onnx_form'] == 'int_op_only':
            lo, hi = (-127, 127) if meta['f8net.input_dtype'] == 'int8' else (0, 255)
            codes = np.clip(np.rint(x.astype(np.float64) * scale), lo, hi).astype(meta['f8net.input_dtype'])
            out[form] = sess.run(['logits'], {'input': codes})[0].astype(np.int64)
        else:
            out[form] = sess.run(['logits'], {'input': x})[0].astype(np.int64)
    y = idx(labels, 8)[:n]
    for form, logits in out.items():
        print(f'{form}: top-1 {(logits.argmax(1) == y).mean():.4f} on {n} images, logits identical to f8net: {np.array_equal(logits, f8)}')
    return 0 if all(np.array_equal(v, f8) for v in out.values()) else 1


if __name__ == '__main__':
    sys.exit(main(*sys.argv[1:5]))
