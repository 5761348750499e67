/** Versions of installed npm packages (the Dawn build, the bench peers), read from their package.json. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The version of the installed package `spec`, or 'not installed'. */
export function packageVersion(spec: string): string {
  try {
    const req = createRequire(import.meta.url);
    let d = dirname(req.resolve(spec));
    for (let i = 0; i < 6; i++, d = dirname(d)) {
      try {
        const p = JSON.parse(readFileSync(join(d, 'package.json'), 'utf8'));
        if (p.name === spec) return p.version;
      } catch {
        /* keep looking upward */
      }
    }
  } catch {
    /* not installed */
  }
  return 'not installed';
}
