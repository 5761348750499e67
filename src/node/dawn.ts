/**
 * WebGPU in Node: Dawn through the npm package `webgpu`. Its GPU* constants become globals (as
 * a browser has them) and each openGpu gets a fresh instance created with the backend and
 * adapter flags asked for.
 */
import { create, globals } from 'webgpu';
import type { GpuProvider } from '../runtime/gpu.js';

let globalsInstalled = false;

export const dawnProvider: GpuProvider = ({ backend, adapter }) => {
  if (!globalsInstalled) {
    Object.assign(globalThis, globals);
    globalsInstalled = true;
  }
  const flags: string[] = [];
  if (backend) flags.push(`backend=${backend}`);
  if (adapter) flags.push(`adapter=${adapter}`);
  return create(flags);
};
