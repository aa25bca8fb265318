// Violations and the optional step-by-step trace.
import type { NodeId } from '../../consensus/raft/api';

/** A broken safety or liveness property; carries what a report needs to name it. */
export class InvariantViolation extends Error {
  constructor(
    readonly invariant: string,
    readonly detail: string,
    readonly step: number,
    readonly nodeId?: NodeId,
  ) {
    super(`invariant "${invariant}" violated at step ${step}${nodeId !== undefined ? ` on node ${nodeId}` : ''}: ${detail}`);
    this.name = 'InvariantViolation';
  }
}

/**
 * The trace is off by default (formatting every event costs more than simulating it);
 * SIM_TRACE=1 turns it on for a replay. Callers test `on` before building a line.
 */
export class Trace {
  readonly lines: string[] = [];
  constructor(
    readonly on: boolean,
    private readonly sink?: (line: string) => void,
  ) {}

  log(step: number, text: string): void {
    if (!this.on) return;
    const line = `[${String(step).padStart(5)}] ${text}`;
    if (this.sink !== undefined) this.sink(line);
    else this.lines.push(line);
  }
}
