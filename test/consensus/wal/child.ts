// Runs the compiled crash child (fixtures/crash-child.ts, built by `npm run build`) and reads
// its JSON-lines report. Every child started here is tracked so tests can kill leftovers.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ChildEvent } from './fixtures/workload';

const REPO_ROOT = path.resolve(__dirname, '../../..');
export const CHILD_SCRIPT = path.join(REPO_ROOT, 'dist/test/consensus/wal/fixtures/crash-child.js');

/** Fails clearly when the compiled child is missing or older than the sources it runs. */
export function assertChildBuilt(): void {
  if (!fs.existsSync(CHILD_SCRIPT)) throw new Error(`${CHILD_SCRIPT} is missing: run \`npm run build\` (npm test does)`);
  const builtMs = fs.statSync(CHILD_SCRIPT).mtimeMs;
  const sources = [
    ...fs.readdirSync(path.join(REPO_ROOT, 'consensus/wal')).map((n) => path.join(REPO_ROOT, 'consensus/wal', n)),
    path.join(__dirname, 'fixtures/crash-child.ts'),
    path.join(__dirname, 'fixtures/workload.ts'),
  ];
  const stale = sources.filter((s) => s.endsWith('.ts') && fs.statSync(s).mtimeMs > builtMs + 1000);
  if (stale.length > 0) throw new Error(`${CHILD_SCRIPT} is older than ${stale.join(', ')}: run \`npm run build\``);
}

export class Child {
  readonly events: ChildEvent[] = [];
  stderr = '';
  private partial = '';
  private readonly waiters: (() => void)[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly proc: ChildProcess;

  private static readonly running = new Set<Child>();

  constructor(args: string[]) {
    this.proc = spawn(process.execPath, [CHILD_SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    Child.running.add(this);
    this.proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const text = this.partial + chunk;
      const lines = text.split('\n');
      // A line cut by SIGKILL never gets its newline; it is ignored.
      this.partial = lines.pop()!;
      for (const line of lines) if (line.length > 0) this.events.push(JSON.parse(line) as ChildEvent);
      for (const w of this.waiters.splice(0)) w();
    });
    this.proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        Child.running.delete(this);
        for (const w of this.waiters.splice(0)) w();
        resolve({ code, signal });
      });
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Waits until the child has reported `count` events (fails if it exits first). */
  async waitForEvents(count: number, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length < count) {
      if (!this.alive) throw new Error(`child exited early: ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`child reported ${this.events.length} of ${count} events in ${timeoutMs} ms: ${this.stderr}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  async kill9(): Promise<void> {
    if (this.alive) this.proc.kill('SIGKILL');
    await this.exited;
  }

  static async killAll(): Promise<void> {
    await Promise.all([...Child.running].map((c) => c.kill9()));
  }
}
