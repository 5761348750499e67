/**
 * Tuned kernel settings, held on the engine: one set per adapter. A kernel family with variants
 * (tile sizes, workgroup size, subgroup use, the int8 dot path) declares its knobs and their
 * defaults beside its op with defineKnobs; the op reads this engine's values with
 * `e.tuning.get(knobs)` each time it picks a pipeline, and the tuner (src/runtime/tuner.ts)
 * writes its choice there. Two engines (two adapters) keep two independent sets.
 *
 * @example
 *   export const matmulKnobs = defineKnobs('matmul', { TM: 16, TN: 8 });   // beside the op
 *   const { TM, TN } = e.tuning.get(matmulKnobs);                          // in the op
 *   e.tuning.reset();                                                      // every knob back to its default
 */

/** A named set of knobs and their defaults (the defaults are frozen: a tuning never changes them). */
export interface Knobs<T extends object = Record<string, unknown>> {
  readonly name: string;
  readonly defaults: Readonly<T>;
}

/** Declares a set of knobs; `name` is unique across f8net. */
export function defineKnobs<T extends object>(name: string, defaults: T): Knobs<T> {
  return { name, defaults: Object.freeze(structuredClone(defaults)) };
}

/** The knob values of one engine: each set starts as a copy of its defaults on first use. */
export class Tuning {
  private sets = new Map<string, { knobs: Knobs; values: Record<string, unknown> }>();

  /** This engine's values of `k`: a live object (writes to it change what the ops pick). */
  get<T extends object>(k: Knobs<T>): T {
    let s = this.sets.get(k.name);
    if (!s) this.sets.set(k.name, (s = { knobs: k as unknown as Knobs, values: structuredClone(k.defaults) as Record<string, unknown> }));
    return s.values as T;
  }

  /** Every knob of every set back to its default (objects handed out by get stay valid). */
  reset(): void {
    for (const { knobs, values } of this.sets.values()) {
      for (const key of Object.keys(values)) delete values[key];
      Object.assign(values, structuredClone(knobs.defaults));
    }
  }
}
