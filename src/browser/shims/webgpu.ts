/**
 * The npm package `webgpu` (Dawn for Node) in the browser bundle: the page's own WebGPU.
 * create() returns navigator.gpu; the WebGPU globals (GPUBufferUsage, ...) already exist.
 */
import { F8Error } from '../../runtime/errors.js';

export const globals = {};
export function create(_flags: string[]): GPU {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) throw new F8Error('NO_ADAPTER', 'this browser has no WebGPU (navigator.gpu is undefined): use a current Chrome, Edge or Firefox, or Safari 26+, over https or on localhost; on Linux Chromium start it with --enable-unsafe-webgpu');
  return gpu;
}
export default { create, globals };
