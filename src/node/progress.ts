/**
 * Progress of a training run on standard error. On a terminal: one line redrawn at most every
 * 100 ms (every step counts; the loss shown is the last one read back), with the ETA of the
 * whole run and the evaluation's progress. Without a terminal (nohup, CI, docker logs): a plain
 * line every `plainEverySeconds` (0: every step), so a log shows life before an epoch ends.
 *
 * The terminal line hides the cursor; stop() (and restoreTerminal(), for an exit in the middle)
 * shows it again.
 *
 * @example
 *   const p = new RunProgress({ numEpochs: 5, totalSteps: 500, startStep: 0, plainEverySeconds: 10 });
 *   p.step({ epoch: 0, step: 1, stepsPerEpoch: 100, globalStep: 1, loss: 2.3, lr: 0.1, ips: 900 });
 *   p.stop();
 */
export interface ProgressOptions {
  numEpochs: number;
  totalSteps: number;
  /** Global step the run starts at in this process (resumed runs: the checkpoint's). */
  startStep: number;
  /** Seconds between plain lines when not on a terminal (0: every update). */
  plainEverySeconds: number;
  quiet?: boolean;
  stream?: NodeJS.WriteStream | { write(s: string): boolean; isTTY?: boolean; columns?: number };
  /** Override stream.isTTY (tests). */
  tty?: boolean;
}

const REDRAW_MS = 100;
const HIDE = '\x1b[?25l';
const SHOW = '\x1b[?25h';

let active: RunProgress | null = null;

/** Shows the cursor again if a progress line hid it (called before an abrupt exit). */
export function restoreTerminal(): void {
  active?.stop();
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  const t = Math.round(s);
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s`;
  return `${Math.floor(t / 3600)}h${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}m`;
}

export class RunProgress {
  private readonly out: NonNullable<ProgressOptions['stream']>;
  private readonly tty: boolean;
  private tFirst: number | null = null;
  private lastDraw = -Infinity;
  private drawn = false;
  private loss: number | null = null;
  private evalSeconds: number | null = null;
  private evalStart = 0;
  private globalStep: number;
  private epoch = -1;

  constructor(private readonly o: ProgressOptions) {
    this.out = o.stream ?? process.stderr;
    this.tty = o.tty ?? Boolean(this.out.isTTY);
    this.globalStep = o.startStep;
  }

  /** Seconds left in the whole run: the remaining steps at this process's pace, plus the remaining evaluations. */
  eta(): number {
    // Paced from the end of the first step: that one also compiles the kernels.
    const done = this.globalStep - this.o.startStep - 1;
    if (done <= 0 || this.tFirst === null) return NaN;
    const perStep = (performance.now() - this.tFirst) / 1000 / done;
    const left = this.o.totalSteps - this.globalStep;
    const spe = this.o.totalSteps / this.o.numEpochs;
    const evalsLeft = Math.ceil(left / spe);
    return left * perStep + evalsLeft * (this.evalSeconds ?? 0);
  }

  step(s: { epoch: number; step: number; stepsPerEpoch: number; globalStep: number; loss: number | null; lr: number; ips: number }): void {
    this.globalStep = s.globalStep;
    if (this.tFirst === null) this.tFirst = performance.now();
    // The loss shown is the epoch's mean so far: a new epoch starts without one.
    if (s.epoch !== this.epoch) this.loss = null;
    this.epoch = s.epoch;
    if (s.loss !== null) this.loss = s.loss;
    const text =
      `epoch ${s.epoch + 1}/${this.o.numEpochs} step ${s.step}/${s.stepsPerEpoch}` +
      ` | loss ${this.loss === null ? '-' : this.loss.toFixed(4)} | lr ${s.lr.toPrecision(3)} | ${s.ips.toFixed(0)} img/s | eta ${formatSeconds(this.eta())}`;
    this.show(text, s.step === s.stepsPerEpoch);
  }

  evalProgress(epoch: number, done: number, total: number): void {
    if (done <= 0 || this.evalStart === 0) this.evalStart = performance.now();
    const text = `epoch ${epoch + 1}/${this.o.numEpochs} evaluating ${done}/${total} | eta ${formatSeconds(this.eta())}`;
    if (done >= total) {
      this.evalSeconds = (performance.now() - this.evalStart) / 1000;
      this.evalStart = 0;
    }
    this.show(text, false);
  }

  /** Marks the start of an evaluation (for its duration in the ETA). */
  evalBegin(): void {
    this.evalStart = performance.now();
  }

  private show(text: string, force: boolean): void {
    if (this.o.quiet) return;
    const now = performance.now();
    if (this.tty) {
      if (!force && now - this.lastDraw < REDRAW_MS) return;
      const cols = (this.out as { columns?: number }).columns || 120; // 0 when the terminal has no size
      // Cut to the width: a wrapped line could not be redrawn in place.
      const line = text.length >= cols ? text.slice(0, Math.max(1, cols - 1)) : text;
      this.out.write(`${this.drawn ? '' : HIDE}\r\x1b[2K${line}`);
      this.drawn = true;
      active = this;
    } else {
      if (this.lastDraw !== -Infinity && now - this.lastDraw < this.o.plainEverySeconds * 1000) return;
      this.out.write(`${text}\n`);
    }
    this.lastDraw = now;
  }

  /** Clears the terminal line and shows the cursor (before an epoch summary or any message). */
  clear(): void {
    if (this.drawn) {
      this.out.write(`\r\x1b[2K${SHOW}`);
      this.drawn = false;
      this.lastDraw = -Infinity;
    }
    if (active === this) active = null;
  }

  stop(): void {
    this.clear();
  }
}
