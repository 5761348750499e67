// onnxruntime-node (a native addon) in the browser bundle, reached through src/export/onnx-run.ts
// and src/bench/ort-peer.ts: importing works, using it refuses. The page evaluates fake-quant and
// integer modes only, and benches without peers.
import { F8Error } from '../../runtime/errors.js';

function refuse(): never {
  throw new F8Error('UNSUPPORTED', 'onnxruntime-node is Node-only: the page evaluates the fake-quant and integer modes (fake, int-cpu, int-gpu)');
}
const stub = new Proxy(refuse, { get: () => refuse, apply: refuse });
export default stub;
