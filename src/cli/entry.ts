/** Process entry of the f8net command (bin/f8net.js runs the compiled copy). */
import { main } from './main.js';

process.exitCode = await main(process.argv);
