/**
 * f8net's version, for the integer model's producer, the tuning cache and `f8net --version`.
 * A constant rather than a read of package.json, so that it exists where there are no files;
 * test/cpu/portable-core.test.ts fails when it and package.json disagree.
 */
export const F8NET_VERSION = '0.1.0';
