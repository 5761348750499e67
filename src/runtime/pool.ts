/**
 * A pool of GPU storage buffers keyed by size class.
 *
 * Sizes are rounded up to one of four classes per power of two (waste at most 25%), so that a
 * training loop, which asks for the same sizes every step, reuses its buffers and the pool
 * stops growing after the first step. `allocatedBytes` counts every buffer the pool owns.
 */
export const STORAGE_USAGE = 0x80 /* STORAGE */ | 0x04 /* COPY_SRC */ | 0x08; /* COPY_DST */

export function sizeClass(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes / 4) * 4);
  const p = 2 ** Math.floor(Math.log2(b));
  const step = Math.max(4, p / 4);
  return Math.ceil(b / step) * step;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  allocatedBytes = 0;
  inUseBytes = 0;
  peakInUseBytes = 0;
  allocations = 0;

  constructor(
    private device: GPUDevice,
    private usage: number = STORAGE_USAGE,
  ) {}

  acquire(bytes: number, label?: string): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.free.get(size);
    let buf = list?.pop();
    if (!buf) {
      buf = this.device.createBuffer({ size, usage: this.usage, label });
      this.allocatedBytes += size;
      this.allocations++;
    }
    this.inUseBytes += size;
    if (this.inUseBytes > this.peakInUseBytes) this.peakInUseBytes = this.inUseBytes;
    return buf;
  }

  release(buf: GPUBuffer): void {
    const size = buf.size;
    this.inUseBytes -= size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buf);
  }

  /** Destroys the buffers not in use (e.g. between models of different sizes). */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) {
        this.allocatedBytes -= b.size;
        b.destroy();
      }
    }
    this.free.clear();
  }

  stats(): { allocatedBytes: number; inUseBytes: number; peakInUseBytes: number; allocations: number } {
    return {
      allocatedBytes: this.allocatedBytes,
      inUseBytes: this.inUseBytes,
      peakInUseBytes: this.peakInUseBytes,
      allocations: this.allocations,
    };
  }
}
