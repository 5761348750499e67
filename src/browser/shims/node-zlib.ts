// node:zlib in the browser bundle: gzip through fflate (a dependency of the core already).
import { gunzipSync as gunzip, gzipSync as gzip } from 'fflate';
export const gunzipSync = (b: Uint8Array) => gunzip(b);
export const gzipSync = (b: Uint8Array) => gzip(b);
export default { gunzipSync, gzipSync };
