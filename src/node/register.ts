/**
 * Wires the portable core to Node: Dawn for WebGPU, wgsl/ read from files, the stored data sets
 * read from disk, the bench's tuning cache and package versions. Imported once, for its effect, by every Node entry point (the CLI, the package
 * entry src/node/index.ts, vitest's setup file, the benches).
 */
import { setGpuProvider } from '../runtime/gpu.js';
import { setWgslLoader } from '../runtime/wgsl-source.js';
import { setDatasetReaders } from '../data/sources.js';
import { dawnProvider } from './dawn.js';
import { wgslFileLoader } from './wgsl-files.js';
import { findFashionMnistDir, loadCifar10, loadIdxDataset, loadMnistNpm } from './dataset-files.js';
import { loadImageFolder } from './image-folder.js';
import { setBenchPlatform } from '../bench/platform.js';
import { ensureTuning } from './tuning-cache.js';
import { packageVersion } from './versions.js';
import { tfjsOnEngine } from './tfjs-peer.js';
import { loadOrt } from '../bench/ort-peer.js';
import { findTorch, torchPeer } from './torch-peer.js';

setGpuProvider(dawnProvider);
setWgslLoader(wgslFileLoader);
setDatasetReaders({ mnist: loadMnistNpm, fashionMnistDir: findFashionMnistDir, idx: loadIdxDataset, cifar10: loadCifar10, folder: loadImageFolder });
setBenchPlatform({
  ensureTuning,
  packageVersion,
  runtimeVersion: process.version,
  peers: {
    tfjs: tfjsOnEngine,
    ort: loadOrt,
    torch: () => {
      const f = findTorch();
      return { torch: f.torch && torchPeer(f.torch), reason: f.reason };
    },
  },
});
