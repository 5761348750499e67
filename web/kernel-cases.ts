export async function runKernelCases(): Promise<unknown[]> {
  return [];
}
