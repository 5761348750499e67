/**
 * Non-finite values in loaded tensors: one NaN in a conv weight makes every logit NaN and an
 * evaluation report "top-1 0.00%, loss NaN" with exit 0, so every reader of float tensors calls
 * this on the values it already holds (one pass, no copy) and refuses naming tensor and file.
 *
 * @example assertFinite(w, 'conv1.weight', 'model.safetensors');
 */
import { F8Error } from '../runtime/errors.js';
import type { StTensor } from './safetensors.js';

/** Index of the first NaN or ±Inf, or -1. */
export function firstNonFinite(a: ArrayLike<number>): number {
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    // v - v is 0 for finite v and NaN for NaN and ±Inf: one compare per value.
    if (v - v !== 0) return i;
  }
  return -1;
}

/** Throws BAD_INPUT naming tensor and file when `a` holds a NaN or an infinity. */
export function assertFinite(a: ArrayLike<number>, tensor: string, file: string): void {
  const i = firstNonFinite(a);
  if (i >= 0) throw new F8Error('BAD_INPUT', `${file}: tensor ${tensor} holds ${a[i]} at index ${i}, expected finite values`);
}

/** True when the 16-bit float bits (exponent of `expMask`) hold NaN or ±Inf. */
function half16NonFinite(u: Uint16Array, expMask: number): number {
  for (let i = 0; i < u.length; i++) if ((u[i] & expMask) === expMask) return i;
  return -1;
}

/**
 * Checks every float tensor (F32, F64, F16, BF16) of a loaded file for NaN and ±Inf, in place
 * (the views the reader already holds). Integer tensors are always finite.
 * @example assertTensorsFinite(readSafetensors(f).tensors.values(), f);
 */
export function assertTensorsFinite(tensors: Iterable<StTensor>, file: string): void {
  for (const t of tensors) {
    const d = t.data;
    const n = t.shape.reduce((a, b) => a * b, 1);
    let i = -1;
    if (t.dtype === 'F32') i = firstNonFinite(new Float32Array(d.buffer, d.byteOffset, n));
    else if (t.dtype === 'F64') i = firstNonFinite(new Float64Array(d.buffer, d.byteOffset, n));
    else if (t.dtype === 'F16' || t.dtype === 'BF16') {
      // Readers copy unaligned tensors, so the 2-byte view is valid; fall back to a copy if not.
      const u = d.byteOffset % 2 === 0 ? new Uint16Array(d.buffer, d.byteOffset, n) : new Uint16Array(new Uint8Array(d.buffer, d.byteOffset, n * 2).slice().buffer);
      i = half16NonFinite(u, t.dtype === 'F16' ? 0x7c00 : 0x7f80);
    }
    if (i >= 0) throw new F8Error('BAD_INPUT', `${file}: tensor ${t.name} (${t.dtype}) holds a NaN or infinity at index ${i}, expected finite values`);
  }
}

/** |alpha| outside [2^-24, 2^24] is no clipping level an 8-bit format can use (scale 127/alpha). */
export const ALPHA_RANGE: readonly [number, number] = [2 ** -24, 2 ** 24];

/**
 * Checks a model state (name -> values) loaded from `file`: every float finite, every F8Net
 * clipping level `alpha` finite with |alpha| in ALPHA_RANGE, every stored fractional length
 * (`input_fraclen`, `weight_fraclen`) an integer in [0, maxWl], every running length finite.
 * One pass over values already in memory.
 * @example checkStateValues(ck.model, 'runs/x/best.safetensors', 8);
 */
export function checkStateValues(sd: Iterable<[string, { data: ArrayLike<number> }]>, file: string, maxWl = 8): void {
  for (const [name, e] of sd) {
    const d = e.data;
    if (!(d instanceof Float32Array || d instanceof Float64Array || d instanceof Int32Array || d instanceof Uint32Array)) continue;
    const leaf = name.slice(name.lastIndexOf('.') + 1);
    if (d instanceof Float32Array || d instanceof Float64Array) assertFinite(d, name, file);
    if (leaf === 'alpha') {
      for (let i = 0; i < d.length; i++) {
        const a = Math.abs(d[i]);
        if (!(a >= ALPHA_RANGE[0] && a <= ALPHA_RANGE[1])) throw new F8Error('BAD_INPUT', `${file}: tensor ${name} = ${d[i]}, expected a clipping level with |alpha| in [2^-24, 2^24]`);
      }
    } else if (leaf === 'input_fraclen' || leaf === 'weight_fraclen') {
      for (let i = 0; i < d.length; i++) {
        if (!(Number.isInteger(d[i]) && d[i] >= 0 && d[i] <= maxWl)) throw new F8Error('BAD_INPUT', `${file}: tensor ${name} holds fractional length ${d[i]} at index ${i}, expected an integer in 0..${maxWl}`);
      }
    }
  }
}
