// Progress display for long client runs, on stderr so stdout keeps only the results: a bar
// redrawn in place on a terminal, a plain line now and then otherwise (logs, CI, pipes).

export interface ProgressSnapshot {
  done: number;
  total: number;
  succeeded: number;
}

export interface ProgressOutput {
  readonly isTTY?: boolean;
  write(text: string): boolean;
}

const BAR_WIDTH = 30;
const TTY_INTERVAL_MS = 100;
const LINE_INTERVAL_MS = 1000;

export class ProgressDisplay {
  private timer: NodeJS.Timeout | undefined;
  private readonly startedMs = Date.now();

  constructor(
    private readonly out: ProgressOutput,
    private readonly label: string,
    private readonly read: () => ProgressSnapshot,
  ) {}

  start(): void {
    const tty = this.out.isTTY === true;
    this.timer = setInterval(() => this.draw(tty), tty ? TTY_INTERVAL_MS : LINE_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.out.isTTY === true) this.out.write('\r\x1b[2K');
  }

  private draw(tty: boolean): void {
    const { done, total, succeeded } = this.read();
    const fraction = total > 0 ? Math.min(1, done / total) : 0;
    const elapsedS = (Date.now() - this.startedMs) / 1000;
    const rate = elapsedS > 0 ? Math.round(succeeded / elapsedS) : 0;
    const percent = (fraction * 100).toFixed(1).padStart(5);
    if (tty) {
      const filled = Math.round(fraction * BAR_WIDTH);
      const bar = '#'.repeat(filled) + '-'.repeat(BAR_WIDTH - filled);
      this.out.write(`\r${this.label} [${bar}] ${percent}% ${done}/${total}  ${rate} tx/s`);
    } else {
      this.out.write(`${this.label}: ${done}/${total} answered (${percent.trim()}%), ${rate} tx/s\n`);
    }
  }
}
