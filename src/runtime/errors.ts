/**
 * Errors with a stable code and a one-line message that names the input and what was expected.
 * The CLI prints `f8net: <message>` and exits non-zero; library users can switch on `code`.
 *
 * @example
 *   throw new F8Error('BAD_INPUT', `${file}: expected an IDX file with magic 0x0803, got 0x${m.toString(16)}`);
 */
export type ErrorCode =
  | 'NO_ADAPTER'
  | 'DEVICE_LOST'
  | 'WGSL_COMPILE'
  | 'GPU_VALIDATION'
  | 'BAD_INPUT'
  | 'BAD_CONFIG'
  | 'SHAPE_MISMATCH'
  | 'NAN_LOSS'
  | 'IO'
  | 'DISPOSED'
  | 'UNSUPPORTED'
  | 'INTERRUPTED';

export class F8Error extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'F8Error';
  }
}

/** Throws a SHAPE_MISMATCH error unless `cond` holds; `what` names the op and the input. */
export function expectShape(cond: boolean, what: string): asserts cond {
  if (!cond) throw new F8Error('SHAPE_MISMATCH', what);
}
