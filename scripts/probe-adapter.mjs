#!/usr/bin/env node
// Probes for a WebGPU adapter through Dawn (npm package `webgpu`), the way f8net will use it.
// Exit 0 and one line on stdout ("vendor / architecture / device / description, backend") when
// an adapter is found and a device can be created on it; exit 1 with the reason on stderr
// otherwise. scripts/setup.sh uses the exit code to decide whether to install Mesa lavapipe.
//
//   node scripts/probe-adapter.mjs
//   F8NET_BACKEND=vulkan node scripts/probe-adapter.mjs     # passed to Dawn as backend=vulkan
import { create, globals } from 'webgpu';

const TIMEOUT_MS = 60_000;

async function probe() {
  Object.assign(globalThis, globals);
  const backend = process.env.F8NET_BACKEND;
  // `gpu` must stay referenced until we are done: Dawn tears the instance down when it is collected.
  const gpu = create(backend ? [`backend=${backend}`] : []);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return { ok: false, msg: `no WebGPU adapter${backend ? ` for backend=${backend}` : ''}` };
  // An adapter that cannot open a device is of no use to us (old Mesa fails here or earlier).
  const device = await adapter.requestDevice();
  const info = adapter.info ?? {};
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((s) => s);
  device.destroy();
  const fallback = info.isFallbackAdapter ? ', fallback adapter' : '';
  const line = `${parts.join(' / ') || 'unnamed adapter'}${backend ? `, backend=${backend}` : ''}${fallback}`;
  void gpu;
  return { ok: true, msg: line };
}

const timer = setTimeout(() => {
  console.error(`probe-adapter: no answer from Dawn within ${TIMEOUT_MS / 1000} s`);
  process.exit(1);
}, TIMEOUT_MS);

try {
  const { ok, msg } = await probe();
  clearTimeout(timer);
  if (ok) {
    console.log(msg);
    process.exit(0);
  }
  console.error(`probe-adapter: ${msg}`);
  process.exit(1);
} catch (e) {
  clearTimeout(timer);
  console.error(`probe-adapter: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  process.exit(1);
}
