/**
 * Wires the portable core to Node: Dawn for WebGPU, wgsl/ read from files, the stored data sets
 * read from disk. Imported once, for its effect, by every Node entry point (the CLI, the package
 * entry src/node/index.ts, vitest's setup file, the benches).
 */
import { setGpuProvider } from '../runtime/gpu.js';
import { setWgslLoader } from '../runtime/wgsl-source.js';
import { setDatasetReaders } from '../data/sources.js';
import { dawnProvider } from './dawn.js';
import { wgslFileLoader } from './wgsl-files.js';
import { findFashionMnistDir, loadCifar10, loadIdxDataset, loadMnistNpm } from './dataset-files.js';
import { loadImageFolder } from './image-folder.js';

setGpuProvider(dawnProvider);
setWgslLoader(wgslFileLoader);
setDatasetReaders({ mnist: loadMnistNpm, fashionMnistDir: findFashionMnistDir, idx: loadIdxDataset, cifar10: loadCifar10, folder: loadImageFolder });
