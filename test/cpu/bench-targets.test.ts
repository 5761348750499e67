// The targets under `f8net bench`'s table (pure: synthetic rows, no GPU) and the PyTorch peer's
// discovery: a missing python is one reason line, never an exception; where a python with torch
// exists, one real training step of the small CNN through tools/torch_peer.py (skipped otherwise:
// tests never need Python).
import { it, expect, describe } from 'vitest';
import { targets, type RowResult } from '../../src/bench/suite.js';
import { markdownTable } from '../../src/bench/report.js';
import { findTorch, torchTrainPeer } from '../../src/node/torch-peer.js';
import type { Peaks } from '../../src/bench/roofline.js';

const row = (id: string, ms: number, extra: Partial<RowResult> = {}, share = 0.1): RowResult => ({
  id,
  family: 'f',
  shape: 's',
  unit: 'GFLOP/s',
  flop: 1e9,
  bytes: 0,
  peak: 'f32',
  verified: true,
  maxError: 0,
  tolerance: 0,
  results: { tuned: { method: 'wall', time: { medianMs: ms, minMs: ms, maxMs: ms, samples: 3 }, wall: { medianMs: ms, minMs: ms, maxMs: ms, samples: 3 }, verified: true, maxError: 0, tolerance: 0, figure: 1, rooflineShare: share } },
  peers: {},
  ...extra,
});
const peer = (ratio: number, verified = true) => ({ what: 'p', verified, maxError: 0, tolerance: 0, ratio, wall: { medianMs: 5, minMs: 5, maxMs: 5, samples: 3 } });

describe('bench targets', () => {
  const rows = [
    row('conv2d.fwd/resnet20.a', 10, {}, 0.2),
    row('conv2d.fwd/resnet18.b', 10, {}, 0.5),
    row('conv2d.bwd_weight/resnet20.a', 10, {}, 0.4),
    row('int8.conv/resnet20.a', 4),
    row('model.train.float/cnn', 10, { peakBytes: 100 * 2 ** 20, peers: { torch: peer(0.1) } }, 0.05),
    row('model.train.fixed/cnn', 12, { peers: { torch: peer(0.2, false) } }),
    row('model.train.float/resnet20', 10, { peakBytes: 100 * 2 ** 20 }),
    row('model.train.fixed/resnet20', 20, { peakBytes: 130 * 2 ** 20 }),
    row('model.infer.int/resnet20', 5, { peers: { ort: peer(0.4) } }),
  ];
  const peaks: Peaks = { f32Gflops: 50, int8Gops: 50, int8Path: 'unpacked i32', copyGBs: 3 } as Peaks;
  const t = Object.fromEntries(targets(rows, 'tuned', peaks).map((x) => [x.name, x]));

  it('gives each goal its measured value and whether it is met', () => {
    expect(t['fixed-point training step / float step (cnn)']).toMatchObject({ value: 1.2, met: true });
    expect(t['fixed-point training step / float step (resnet20)']).toMatchObject({ value: 2, met: false });
    expect(t['int8 conv vs our f32 conv, dense zoo layers (issue 16)']).toMatchObject({ value: 2.5, met: true });
    expect(t['ResNet-20 integer inference images/s vs onnxruntime-node (int_op_only ONNX, CPU)']).toMatchObject({ value: 0.4, met: false });
    const conv = t['f32 conv forward, share of the f32 roofline (ResNet layers)'];
    expect(conv.unit).toBe('%');
    expect(conv.value).toBeCloseTo(Math.sqrt(0.2 * 0.5));
    expect(conv.range).toEqual([0.2, 0.5]);
    expect(conv.met).toBe(false);
    expect(t['conv weight gradient, share of the roofline'].met).toBe(true);
    expect(t['peak GPU memory in use, fixed-point / float step (resnet20; 130 / 100 MiB)']).toMatchObject({ value: 1.3, met: true });
  });

  it('reports PyTorch beside the goals without a goal of its own, and only verified peers', () => {
    const torch = Object.values(t).filter((x) => x.name.includes('PyTorch'));
    expect(torch.map((x) => x.name)).toEqual(['model.train.float/cnn vs PyTorch CPU training step (f8net / PyTorch images/s)', 'PyTorch small-CNN float step GFLOP/s / our measured f32 roofline']);
    expect(torch.every((x) => x.met === null)).toBe(true);
    // 1e9 FLOP in PyTorch's 5 ms = 200 GFLOP/s against a 50 GFLOP/s roofline.
    expect(torch[1].value).toBeCloseTo(4);
  });

  it('leaves out goals without rows and prints the rest with met / not met', () => {
    expect(t['fixed-point training step / float step (mobilenet_v2)']).toBeUndefined();
    expect(t['depthwise conv, share of the roofline']).toBeUndefined();
    const res = {
      adapter: { description: 'a', vendor: 'v', backend: 'vulkan' },
      versions: { f8net: '0', webgpu: '0', node: 'v' },
      config: { tuning: 'tuned', compare: [], timing: 'wall' },
      peaks,
      rows: [],
      targets: Object.values(t),
      skipped: { torch: 'no python with torch (tried x)' },
    } as unknown as Parameters<typeof markdownTable>[0];
    const table = markdownTable(res);
    expect(table).toContain('| f32 conv forward, share of the f32 roofline (ResNet layers) | >= 45% | 32% (20% to 50%) | no |');
    expect(table).toContain('| fixed-point training step / float step (cnn) | <= 1.25x (issue 16; 1.4x issue 9) | 1.20x | yes |');
    expect(table).toContain('--compare torch skipped: no python with torch (tried x)');
  });
});

describe('PyTorch peer', () => {
  it('says in one line that no python with torch was found', () => {
    const r = findTorch(['/nonexistent/python3', undefined]);
    expect(r.torch).toBeNull();
    expect(r.reason).toBe('no python with torch (tried /nonexistent/python3; set F8NET_PYTHON)');
  });

  const found = findTorch();
  it.skipIf(!found.torch)('runs training steps of the small CNN in PyTorch and checks the architecture', async () => {
    const net = { model: 'cnn' as const, mode: 'fixed' as const, width: 4, channels: 1, image: 8, classes: 10, batch: 4 };
    // conv 1->4, 4->8, 8->16 (3x3) and fc 16->10: the weights of models/cnn.ts at width 4.
    const weights = 4 * 9 + 8 * 4 * 9 + 16 * 8 * 9 + 10 * 16;
    const p = await torchTrainPeer(found.torch!, net, weights);
    await p.step();
    expect(await p.verify()).toMatchObject({ maxError: 0, tolerance: 0 });
    p.dispose();
    const wrong = await torchTrainPeer(found.torch!, net, weights + 1);
    expect((await wrong.verify()).maxError).toBe(1);
    wrong.dispose();
  }, 60_000);
});

describe('PyTorch peer failures', () => {
  it('a python that exits at once fails the peer with its message instead of crashing', async () => {
    const t = { python: process.execPath, script: '-e', version: 'none' };
    // node -e <model args...>: prints nothing and exits, like a torch_peer.py that died on import.
    await expect(torchTrainPeer(t, { model: 'cnn', mode: 'float', channels: 1, image: 8, classes: 10, batch: 2 }, 0)).rejects.toThrow(/torch peer exited/);
  });
});
