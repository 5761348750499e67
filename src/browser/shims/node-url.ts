// node:url in the browser bundle: file URLs of the bundle's virtual /f8net tree.
export const fileURLToPath = (u: string | URL) => decodeURIComponent(new URL(String(u)).pathname);
export const pathToFileURL = (p: string) => new URL(`file://${p}`);
export default { fileURLToPath, pathToFileURL };
