/** The seeded PRNG lives on the ground floor (src/runtime/rng.ts) so kernel cases and ops can use it; this path stays for data code. */
export * from '../runtime/rng.js';
