// When a node a config block removed from the channel halts (Fabric §3.7, §3.11):
//   - when it applies its own removal (the conf change; apply.ts tells the Chain), as in Fabric;
//   - after REMOVED_LEADERLESS_ELECTIONS election timeouts without a leader once it applied the
//     config block: its last leader may stop replicating to it before it hears that the removal
//     committed. Long enough that it is not the vote a pending removal needs while the others
//     are healthy, and it never campaigns them out of their term (pre-vote);
//   - when, without a leader for EvictionSuspicion, the other orderers' newest config block does
//     not list it: a node removed while it was down or cut off never hears it from Raft (the
//     leader stops replicating to it once the removal applies). Asked again after each further
//     period without a leader.
import type { Logger } from 'pino';
import type { NodeId } from '../../cluster/types';
import type { ChainTimers, EvictionVerdict } from './types';

/** Election timeouts a node removed by a config block waits without a leader before it halts. */
export const REMOVED_LEADERLESS_ELECTIONS = 4;

export interface RemovalWatchOptions {
  timers: ChainTimers;
  logger: Logger;
  electionTick(): number;
  halted(): boolean;
  /** Halts the channel (the Chain's own halt: it closes its WAL). */
  halt(reason: string): void;
  evictionSuspicionMs?: number;
  checkEviction?(): Promise<EvictionVerdict | undefined>;
}

export class RemovalWatch {
  private removed = false;
  private leaderlessTicks = 0;
  private leaderlessSinceMs: number | undefined;
  private evictionChecks = 0;
  private evictionCheckRunning = false;

  constructor(private readonly o: RemovalWatchOptions) {}

  /** A committed config block no longer lists this node. */
  removedByConfig(): void {
    this.removed = true;
  }

  /** Every tick, with the leader Raft knows now (0: none). */
  onTick(leaderId: NodeId): void {
    if (this.o.halted()) return;
    if (leaderId !== 0) {
      this.leaderlessTicks = 0;
      this.leaderlessSinceMs = undefined;
      this.evictionChecks = 0;
      return;
    }
    if (this.removed && ++this.leaderlessTicks >= REMOVED_LEADERLESS_ELECTIONS * this.o.electionTick()) {
      this.o.halt("this node was removed from the channel's consenters by a config block");
      return;
    }
    this.suspectEviction();
  }

  private suspectEviction(): void {
    const periodMs = this.o.evictionSuspicionMs;
    const check = this.o.checkEviction;
    if (periodMs === undefined || check === undefined) return;
    const now = this.o.timers.nowMs();
    this.leaderlessSinceMs ??= now;
    if (this.evictionCheckRunning || now - this.leaderlessSinceMs < (this.evictionChecks + 1) * periodMs) return;
    this.evictionChecks++;
    this.evictionCheckRunning = true;
    this.o.logger.info({ leaderlessMs: now - this.leaderlessSinceMs }, 'no leader for a while: asking the other orderers whether this node is still a consenter');
    void check()
      .then((verdict) => {
        if (verdict === undefined || this.o.halted()) return;
        if (!verdict.removed) {
          this.o.logger.info({ configBlock: verdict.configBlockNumber }, 'still a consenter of the newest config block');
          return;
        }
        this.o.logger.warn({ configBlock: verdict.configBlockNumber }, "the channel's newest config block does not list this node: it was removed");
        this.removed = true;
        this.o.halt(`this node was removed from the channel's consenters by config block ${verdict.configBlockNumber} (found while it had no leader)`);
      })
      .catch((err: unknown) => this.o.logger.warn({ err }, 'eviction check failed; trying again later'))
      .finally(() => {
        this.evictionCheckRunning = false;
      });
  }
}
