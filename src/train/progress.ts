/**
 * The progress line of a training epoch: a cli-progress bar with loss, learning rate and
 * images/s on a terminal; on a pipe or in CI nothing until the epoch summary line.
 */
import cliProgress from 'cli-progress';

export class Progress {
  private bar: cliProgress.SingleBar | null = null;

  constructor(label: string, total: number, quiet: boolean) {
    if (quiet || !process.stderr.isTTY) return;
    this.bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {value}/{total} | loss {loss} | lr {lr} | {ips} img/s | eta {eta_formatted}`,
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: true,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(total, 0, { loss: '-', lr: '-', ips: '-' });
  }

  update(step: number, v: { loss: number; lr: number; ips: number }): void {
    this.bar?.update(step, { loss: v.loss.toFixed(4), lr: v.lr.toPrecision(3), ips: v.ips.toFixed(0) });
  }

  stop(): void {
    this.bar?.stop();
  }
}
