/**
 * What a benchmark row is: a spec with its napkin math (FLOP, bytes, which ceiling applies) and
 * a set-up that allocates the inputs and returns the step to time, its check against the CPU
 * reference, and optional peers (the same operation in tfjs-backend-webgpu or onnxruntime-node).
 */
import type { PeakKind } from './roofline.js';
import type { Tf } from './tfjs-peer.js';
import type { Ort } from './ort-peer.js';

/** Result of a check against a reference: the largest |got - ref| and what it may be at most. */
export interface Check {
  maxError: number;
  tolerance: number;
  /** What was compared, when it is not the whole output (e.g. 'image 0 of 16'). */
  note?: string;
}

export interface PeerInstance {
  /** Runs the operation once and waits for it (the peer's own sync). */
  step(): Promise<void>;
  verify(): Promise<Check>;
  dispose(): void;
  /** e.g. 'tf.conv2d NHWC', 'QLinearConv'. */
  what: string;
}

export interface RowInstance {
  /** Records our work for one iteration (the loop syncs after it); may await for model steps. */
  step(): unknown;
  verify(): Promise<Check>;
  tfjs?: (tf: Tf) => Promise<PeerInstance>;
  ort?: (ort: Ort) => Promise<PeerInstance>;
  /** Runs one step and returns the peak bytes of GPU buffers in use during it (training rows). */
  peakBytes?: () => Promise<number>;
  /** PyTorch on the CPU (whole-model training rows). */
  torch?: (t: TorchPeer) => Promise<PeerInstance>;
  dispose(): void;
}

export type Unit = 'GFLOP/s' | 'GOP/s' | 'GB/s' | 'images/s';

export interface RowSpec {
  /** Stable id, matched across result files by `bench diff`. */
  id: string;
  /** Kernel family, e.g. 'conv2d forward'. */
  family: string;
  /** The shape in words. */
  shape: string;
  /** Arithmetic operations of one step (FLOP or integer ops), 0 when not counted. */
  flop: number;
  /** Compulsory bytes read + written by one step. */
  bytes: number;
  peak: PeakKind;
  unit: Unit;
  /** Images per step (whole-model rows). */
  images?: number;
  setup(): Promise<RowInstance>;
}

/** A network the PyTorch peer trains (tools/torch_peer.py builds the same architecture). */
export interface TorchNet {
  model: 'cnn' | 'resnet20';
  mode: 'float' | 'fixed';
  width?: number;
  channels: number;
  image: number;
  classes: number;
  batch: number;
}

/** The PyTorch peer as the rows see it: a python with torch, found and driven by src/node/torch-peer.ts. */
export interface TorchPeer {
  python: string;
  version: string;
  /** PyTorch's intra-op threads. */
  threads: number;
  /** A running PyTorch training loop for `net`; `ourWeights` is f8net's count of conv/linear weights. */
  train(net: TorchNet, ourWeights: number): Promise<PeerInstance>;
}
