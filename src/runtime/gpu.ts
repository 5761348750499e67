/**
 * Finding a WebGPU adapter and opening a device on it. Where the GPU object comes from is the
 * platform's: a browser's navigator.gpu by default; in Node, src/node/dawn.ts registers Dawn
 * (npm `webgpu`) through setGpuProvider.
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
import { F8Error } from './errors.js';
import { envVar } from './env.js';

/**
 * Gives the platform's WebGPU entry point for a backend and adapter request (Dawn reads them as
 * instance flags; a browser ignores them). It also installs the GPU* constants (GPUBufferUsage,
 * ...) as globals where the platform lacks them.
 */
export type GpuProvider = (request: { backend?: string; adapter?: string }) => GPU;

let provider: GpuProvider | null = null;

/** Sets where openGpu gets its GPU object (Node: src/node/dawn.ts; browser: navigator.gpu, the default). */
export function setGpuProvider(p: GpuProvider): void {
  provider = p;
}

function platformGpu(request: { backend?: string; adapter?: string }): GPU {
  if (provider) return provider(request);
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  throw new F8Error('NO_ADAPTER', 'no WebGPU on this platform: navigator.gpu is missing (in Node, import src/node/register.js, which opens Dawn)');
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
  /** Resolves when the device.lost handler has run (set by openGpu). */
  lostSeen: Promise<void> = new Promise(() => undefined);

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

  private subgroups8: boolean | undefined;
  /**
   * True when the subgroup kernels may run here: the 'subgroups' feature is on and subgroups
   * hold at least 8 lanes (the one subgroup detection; the ops and the tuner ask it).
   */
  get hasSubgroups(): boolean {
    this.subgroups8 ??= this.features.has('subgroups') && ((this.adapter.info as GPUAdapterInfo & { subgroupMinSize?: number }).subgroupMinSize ?? 0) >= 8;
    return this.subgroups8;
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

  /** True once release() ran (f8net closed the device itself). */
  get isReleased(): boolean {
    return this.released;
  }

  /** Throws DEVICE_LOST when the device is gone. Called before every submission. */
  checkAlive(): void {
    if (this.lost !== null) throw new F8Error('DEVICE_LOST', `GPU device lost: ${this.lost}`);
    if (this.released) throw new F8Error('DEVICE_LOST', 'GPU device was released; open a new one');
  }

  /**
   * After a GPU call failed (a rejected mapAsync): gives the device.lost handler up to `ms` to
   * run, since the two promises settle in no fixed order, then throws DEVICE_LOST if the device
   * is gone. Returns when it is not, so the caller reports its own error.
   */
  async checkAliveAfterFailure(ms = 200): Promise<void> {
    this.checkAlive();
    await Promise.race([this.lostSeen, new Promise((r) => setTimeout(r, ms))]);
    this.checkAlive();
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
  const platform = (globalThis as { process?: { platform?: string } }).process?.platform;
  if (platform === 'darwin') return 'metal';
  if (platform === 'win32') return 'd3d12';
  return 'vulkan';
}

/**
 * Opens the adapter that the options (or F8NET_ADAPTER / F8NET_BACKEND) ask for and a device on
 * it with the optional features it has and the largest buffer limits it allows.
 */
export async function openGpu(opts: GpuOptions = {}): Promise<Gpu> {
  const backend = opts.backend ?? envVar('F8NET_BACKEND') ?? undefined;
  const adapterName = opts.adapter ?? envVar('F8NET_ADAPTER') ?? undefined;
  const instance = platformGpu({ backend, adapter: adapterName });
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
  // A device destroyed by release() is f8net closing it; one destroyed by anyone else (a page's
  // own code, another library on the same device) is lost to f8net like a driver reset.
  gpu.lostSeen = device.lost.then((info) => {
    if (gpu.isReleased) return;
    gpu.lost = info.reason === 'destroyed' ? `the device was destroyed outside f8net${info.message ? ` (${info.message})` : ''}` : `${info.reason}: ${info.message}`;
  });
  return gpu;
}
