/**
 * Environment variables where the platform has them (Node's process.env) and none elsewhere:
 * the core reads its switches (F8NET_VALIDATE, F8NET_ADAPTER, ...) through this, so that a
 * browser bundle, where `process` does not exist, runs with the defaults.
 */
export function envVar(name: string): string | undefined {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return p?.env?.[name];
}
