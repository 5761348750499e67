// Node-only packages (sharp, cli-progress) in the browser bundle: importing works, using refuses.
import { F8Error } from '../../runtime/errors.js';

function refuse(): never {
  throw new F8Error('UNSUPPORTED', 'PNG writing and terminal progress bars are Node-only; the page draws its own charts');
}
const stub = new Proxy(refuse, { get: () => refuse, apply: refuse });
export default stub;
