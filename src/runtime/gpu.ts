/**
 * Finding a WebGPU adapter through Dawn (npm `webgpu`) and opening a device on it.
 *
 * Dawn's instance object must stay referenced for as long as any device lives: once it is
 * garbage-collected Dawn crashes while processing events. `Gpu` holds it and `Gpu.release()`
 * drops it so that the process can exit.
 *
 * @example
 *   const gpu = await openGpu({ backend: 'vulkan' });
 *   console.log(gpu.describe());
 *   gpu.release();
 */
import { create, globals } from 'webgpu';
import { F8Error } from './errors.js';

let globalsInstalled = false;
function installGlobals(): void {
  if (globalsInstalled) return;
  Object.assign(globalThis, globals);
  globalsInstalled = true;
}

export interface GpuOptions {
  /** Substring of the adapter's description, vendor or architecture (env F8NET_ADAPTER). */
  adapter?: string;
  /** Dawn backend: vulkan, metal, d3d12, d3d11, opengl, opengles, null (env F8NET_BACKEND). */
  backend?: string;
  powerPreference?: 'low-power' | 'high-performance';
}

/** Optional features f8net uses when the adapter has them. */
export const OPTIONAL_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: string;
  features: string[];
  wgslLanguageFeatures: string[];
  dot4I8Packed: boolean;
  limits: Record<string, number>;
}

const KEY_LIMITS = [
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'minUniformBufferOffsetAlignment',
  'maxUniformBufferBindingSize',
  'maxBindGroups',
] as const;

export class Gpu {
  /** Set when the device was lost; every later GPU call throws DEVICE_LOST with this text. */
  lost: string | null = null;
  private released = false;

  constructor(
    private instance: GPU | null,
    readonly adapter: GPUAdapter,
    readonly device: GPUDevice,
    readonly backend: string,
  ) {}

  get features(): Set<string> {
    return new Set(this.device.features as unknown as Iterable<string>);
  }

  /** True when WGSL has dot4I8Packed/dot4U8Packed on this adapter. */
  get hasDot4I8(): boolean {
    const lf = (this.instance as unknown as { wgslLanguageFeatures?: Set<string> })?.wgslLanguageFeatures;
    return !!lf && lf.has('packed_4x8_integer_dot_product');
  }

  get hasTimestamps(): boolean {
    return this.features.has('timestamp-query');
  }

  describe(): AdapterDescription {
    const info = this.adapter.info;
    const lf = [...((this.instance as unknown as { wgslLanguageFeatures?: Set<string> })?.wgslLanguageFeatures ?? [])];
    const limits: Record<string, number> = {};
    for (const k of KEY_LIMITS) limits[k] = Number((this.device.limits as unknown as Record<string, number>)[k]);
    return {
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
      backend: this.backend,
      features: [...(this.device.features as unknown as Iterable<string>)].sort(),
      wgslLanguageFeatures: lf.sort(),
      dot4I8Packed: lf.includes('packed_4x8_integer_dot_product'),
      limits,
    };
  }

  /** Throws DEVICE_LOST when the device is gone. Called before every submission. */
  checkAlive(): void {
    if (this.lost !== null) throw new F8Error('DEVICE_LOST', `GPU device lost: ${this.lost}`);
    if (this.released) throw new F8Error('DEVICE_LOST', 'GPU device was released; open a new one');
  }

  /** Destroys the device and drops Dawn's instance so that the process can exit. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.device.destroy();
    this.instance = null;
  }
}

function backendOf(info: GPUAdapterInfo, requested?: string): string {
  if (requested) return requested;
  const d = `${info.description} ${info.architecture}`.toLowerCase();
  if (/vulkan|llvmpipe|lavapipe|radv|anv|nvk/.test(d)) return 'vulkan';
  if (process.platform === 'darwin') return 'metal';
  if (process.platform === 'win32') return 'd3d12';
  return 'vulkan';
}

/**
 * Opens the adapter that the options (or F8NET_ADAPTER / F8NET_BACKEND) ask for and a device on
 * it with the optional features it has and the largest buffer limits it allows.
 */
export async function openGpu(opts: GpuOptions = {}): Promise<Gpu> {
  installGlobals();
  const backend = opts.backend ?? process.env.F8NET_BACKEND ?? undefined;
  const adapterName = opts.adapter ?? process.env.F8NET_ADAPTER ?? undefined;
  const flags: string[] = [];
  if (backend) flags.push(`backend=${backend}`);
  if (adapterName) flags.push(`adapter=${adapterName}`);
  const instance = create(flags);
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await instance.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  } catch (e) {
    adapter = null;
  }
  if (!adapter) {
    const what = [backend && `backend '${backend}'`, adapterName && `adapter '${adapterName}'`].filter(Boolean).join(', ');
    throw new F8Error(
      'NO_ADAPTER',
      `no WebGPU adapter found${what ? ` for ${what}` : ''}: run 'bash scripts/setup.sh' (installs Mesa lavapipe >= 24 on Debian) or install a Vulkan, Metal or D3D12 driver`,
    );
  }
  if (adapterName) {
    const i = adapter.info;
    const hay = `${i.vendor} ${i.architecture} ${i.device} ${i.description}`.toLowerCase();
    if (!hay.includes(adapterName.toLowerCase())) {
      throw new F8Error('NO_ADAPTER', `no adapter matches '${adapterName}': the only one offered is '${i.description || i.vendor}'`);
    }
  }
  const available = new Set(adapter.features as unknown as Iterable<string>);
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => available.has(f)) as GPUFeatureName[];
  const al = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: al.maxStorageBufferBindingSize,
    maxBufferSize: al.maxBufferSize,
    maxStorageBuffersPerShaderStage: al.maxStorageBuffersPerShaderStage,
    maxComputeInvocationsPerWorkgroup: al.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: al.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: al.maxComputeWorkgroupSizeY,
    maxComputeWorkgroupStorageSize: al.maxComputeWorkgroupStorageSize,
  };
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  const gpu = new Gpu(instance, adapter, device, backendOf(adapter.info, backend));
  device.lost.then((info) => {
    if (info.reason === 'destroyed') return;
    gpu.lost = `${info.reason}: ${info.message}`;
  });
  return gpu;
}
