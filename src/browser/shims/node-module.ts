// node:module in the browser bundle: package files resolve into the bundle's virtual tree.
export function createRequire(_from: string | URL) {
  const req = (id: string): never => {
    throw new Error(`require('${id}') is not available in the browser bundle`);
  };
  req.resolve = (id: string) => `/f8net/node_modules/${id}`;
  return req;
}
export default { createRequire };
