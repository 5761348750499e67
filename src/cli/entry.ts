/** Process entry of the f8net command (bin/f8net.js runs the compiled copy). */
import { runsInProcess, runFiltered, adoptParentStderr } from './native-stderr.js';

if (runsInProcess(process.argv)) {
  adoptParentStderr();
  // Loaded only here: the filtering parent stays a small process.
  const { main } = await import('./main.js');
  process.exitCode = await main(process.argv);
} else {
  process.exitCode = await runFiltered();
}
