/**
 * The two Node globals the core touches, injected into the browser bundle by esbuild:
 * `process` (env lookups, platform, stderr lines go to the console) and a minimal `Buffer`
 * (UTF-8 text and the 8-byte length of safetensors headers).
 */
const env: Record<string, string | undefined> = {};
export const process = {
  env,
  platform: 'browser',
  versions: {} as Record<string, string>,
  stderr: { write: (s: string) => (console.warn(s.replace(/\n$/, '')), true) },
  stdout: { write: (s: string) => (console.log(s.replace(/\n$/, '')), true) },
};

// @ts-expect-error: from() takes Node's argument forms, not Uint8Array.from's.
export class Buffer extends Uint8Array {
  static byteLength(s: string): number {
    return new TextEncoder().encode(s).byteLength;
  }
  static alloc(n: number): Buffer {
    return new Buffer(n);
  }
  static override from(x: string | ArrayBufferLike | ArrayLike<number>, a?: unknown, b?: number): Buffer {
    if (typeof x === 'string') {
      const u = new TextEncoder().encode(x);
      const out = new Buffer(u.byteLength);
      out.set(u);
      return out;
    }
    if (x instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && x instanceof SharedArrayBuffer)) {
      return new Buffer(x as ArrayBuffer, (a as number) ?? 0, b ?? (x as ArrayBuffer).byteLength - ((a as number) ?? 0));
    }
    const arr = x as ArrayLike<number>;
    const out = new Buffer(arr.length);
    out.set(arr);
    return out;
  }
  static isBuffer(x: unknown): boolean {
    return x instanceof Buffer;
  }
  override toString(enc = 'utf8'): string {
    if (enc !== 'utf8' && enc !== 'utf-8') throw new Error(`Buffer.toString('${enc}') is not in the browser bundle`);
    return new TextDecoder().decode(this);
  }
  writeBigUInt64LE(v: bigint, off = 0): number {
    new DataView(this.buffer, this.byteOffset, this.byteLength).setBigUint64(off, v, true);
    return off + 8;
  }
}

// The data loader's prefetch builds the next batch in a setImmediate callback; a message
// channel gives the same "after the current task, before timers" turn in a page.
const queue: (() => void)[] = [];
let channel: MessageChannel | null = null;
export function setImmediate(fn: (...a: unknown[]) => void, ...args: unknown[]): number {
  if (!channel) {
    channel = new MessageChannel();
    channel.port1.onmessage = () => queue.shift()?.();
  }
  queue.push(() => fn(...args));
  channel.port2.postMessage(0);
  return 0;
}
