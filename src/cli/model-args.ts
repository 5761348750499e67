/**
 * One spelling of network arguments on every command: `--model-args '{width: 16}'`, a YAML flow
 * mapping read as `--set model_args={width: 16}` reads it (so JSON works too). `model summary`
 * keeps `--arg key=value` as an alias.
 */
import { parse as parseYaml } from 'yaml';
import { F8Error } from '../runtime/errors.js';

export const MODEL_ARGS_HELP = "network arguments as in --set model_args=..., e.g. '{width: 16}'";

/** commander argParser of --model-args (repeats merge). */
export function parseModelArgs(v: string, prev?: Record<string, unknown>): Record<string, unknown> {
  let x: unknown;
  try {
    x = parseYaml(v);
  } catch (e) {
    throw new F8Error('BAD_INPUT', `--model-args ${v}: not a valid mapping (${(e as Error).message.split('\n')[0]}); expected e.g. '{width: 16}'`);
  }
  if (x === null || typeof x !== 'object' || Array.isArray(x)) throw new F8Error('BAD_INPUT', `--model-args ${v}: expected a mapping, e.g. '{width: 16}'`);
  return { ...(prev ?? {}), ...(x as Record<string, unknown>) };
}
