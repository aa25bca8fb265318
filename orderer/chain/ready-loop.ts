// The one Ready loop of the orderer, shared by the Chain and the simulator (test/sim), so the
// simulator proves the loop production runs rather than a copy of it.
//
// One Ready, in the order the Raft core requires (consensus/README.md):
//   1. persist its snapshot, entries and hard state (one fsync when mustSync);
//   2. send its messages: only now, because a vote or an append acknowledgement promises
//      what must already be durable;
//   3. apply its snapshot and committed entries;
//   4. advance().
// Work that follows a Ready but is not part of one (applying what waited for a catch-up by
// pulling blocks, which itself runs beside the loop) is done between Readys, a step at a time,
// still one thing at a time.
// One exception, from the Raft thesis (§10.2.1): a leader's appends and heartbeats may leave
// while its own copy is being written, so its fsync overlaps the followers' instead of
// preceding them. That is safe because nothing commits on the strength of this Ready's entries
// until their acknowledgements are stepped, which the driver does only after this Ready is
// advanced; and only when the Ready keeps the persisted term and vote, so no message claims a
// term the disk does not hold yet.
//
// The driver (ReadyLoop) runs Readys one at a time, never two in flight; the owner's inputs
// (ticks, messages, proposals) are queued while one is handled and fed in between. Anything
// thrown out of a stage (a broken Raft invariant, a failed disk) ends the loop and goes to the
// owner's onError, which halts the channel: the loop never swallows an error.
import { raftpb } from '../../protos';
import { RaftRole, type Ready, type SoftState } from '../../consensus/raft/api';

/** The RawNode surface the loop needs. */
export interface ReadyNode {
  hasReady(): boolean;
  ready(): Ready;
  advance(): void;
}

/** What the owner does at each stage of one Ready. */
export interface ReadyStages {
  /** Make the Ready's snapshot, entries and hard state durable (fsync once when mustSync). */
  persist(rd: Ready): Promise<void> | void;
  /** Hand one message to the transport. */
  send(msg: raftpb.Message): void;
  /** The node's role or leader changed (after persisting and sending, before applying). */
  softState?(ss: SoftState): void;
  /** Apply the Ready's snapshot and committed entries. */
  apply(rd: Ready): Promise<void> | void;
  /** True once the owner stopped (halted, crashed): nothing more of this Ready happens, not even advance(). */
  stopped(): boolean;
}

/** How one Ready ended. */
export type ReadyOutcome = 'advanced' | 'stopped';

/** Leader → follower replication: the only messages that may leave before the leader's own write. */
export function isLeaderReplication(msg: raftpb.Message): boolean {
  return msg.type === raftpb.MessageType.MsgApp || msg.type === raftpb.MessageType.MsgHeartbeat;
}

/**
 * Handles Readys in the contract's order. It remembers what it needs across Readys: the role
 * (from soft states) and the term and vote last persisted (from hard states), which decide
 * whether a leader may send early.
 */
export class ReadyProcessor {
  private role: RaftRole = RaftRole.Follower;
  private persistedTerm: number;
  private persistedVote: number;

  constructor(initialHardState: Pick<raftpb.HardState, 'term' | 'vote'>) {
    this.persistedTerm = initialHardState.term;
    this.persistedVote = initialHardState.vote;
  }

  async process(node: ReadyNode, stages: ReadyStages): Promise<ReadyOutcome> {
    const rd = node.ready();
    const hs = rd.hardState;
    const keepsTermAndVote = hs === undefined || (hs.term === this.persistedTerm && hs.vote === this.persistedVote);
    // The role as of before this Ready: a Ready that makes this node leader carries a new term.
    const early = this.role === RaftRole.Leader && keepsTermAndVote;
    if (early) for (const msg of rd.messages) if (isLeaderReplication(msg)) stages.send(msg);
    // 1. Persist.
    await stages.persist(rd);
    if (stages.stopped()) return 'stopped';
    if (hs !== undefined) {
      this.persistedTerm = hs.term;
      this.persistedVote = hs.vote;
    }
    // 2. Send what was not sent early.
    for (const msg of rd.messages) if (!early || !isLeaderReplication(msg)) stages.send(msg);
    if (stages.stopped()) return 'stopped';
    if (rd.softState !== undefined) {
      this.role = rd.softState.role;
      stages.softState?.(rd.softState);
    }
    // 3. Apply.
    await stages.apply(rd);
    if (stages.stopped()) return 'stopped';
    // 4. Advance.
    node.advance();
    return 'advanced';
  }
}

/** What the owner of a running loop provides besides the stages. */
export interface ReadyLoopHooks {
  /** Before each look for a Ready: feed the inputs queued meanwhile (ticks, messages, proposals). */
  beforeReady(): void;
  /** True while inputs are still queued (they may produce a Ready once fed). */
  hasQueuedInputs(): boolean;
  /** After each advance(): work that follows a Ready (a leader proposing what became possible). */
  afterAdvance(): void;
  /** Optional work once, before the first Ready (catching up to a snapshot found at restart). */
  onStart?(): Promise<void>;
  /**
   * Optional work done inside the loop but outside any Ready, one bounded step per turn (the
   * entries that waited for a catch-up, once its blocks are in): a promise while there is
   * some, undefined when not. The loop alternates it with Readys, so neither starves the other.
   */
  betweenReadys?(): Promise<void> | undefined;
  /** Everything thrown out of the loop: the owner halts. */
  onError(err: unknown): void;
}

/** Drives a node's Readys one at a time whenever kicked, until nothing is left to do. */
export class ReadyLoop {
  private driving = false;
  private started = false;
  private idleValue: Promise<void> = Promise.resolve();

  constructor(
    private readonly node: ReadyNode,
    private readonly processor: ReadyProcessor,
    private readonly stages: ReadyStages,
    private readonly hooks: ReadyLoopHooks,
  ) {}

  /** True while a Ready (or the start work) is being handled. */
  get running(): boolean {
    return this.driving;
  }

  /** Settles when the loop has nothing left to do (or has stopped). */
  get idle(): Promise<void> {
    return this.idleValue;
  }

  /** Chains more work after the loop settles (closing storage once a halted loop is out). */
  then(work: () => Promise<void>): void {
    this.idleValue = this.idleValue.then(work);
  }

  /** Starts driving if it is not already: new inputs were queued. */
  kick(): void {
    if (this.driving || this.stages.stopped()) return;
    this.driving = true;
    // idle is replaced before drive() runs: work chained from inside its first synchronous steps
    // (a halt closing the WAL once the loop is out) must follow this drive, and assigning drive()'s
    // promise after it returned used to drop that work from idle.
    let follow!: (driving: Promise<void>) => void;
    this.idleValue = new Promise<void>((resolve) => (follow = resolve));
    follow(this.drive());
  }

  private async drive(): Promise<void> {
    try {
      if (!this.started) {
        this.started = true;
        if (this.hooks.onStart !== undefined) await this.hooks.onStart();
      }
      for (;;) {
        if (this.stages.stopped()) return;
        const step = this.hooks.betweenReadys?.();
        if (step !== undefined) await step;
        if (this.stages.stopped()) return;
        this.hooks.beforeReady();
        if (this.stages.stopped()) return;
        if (!this.node.hasReady()) {
          // A step done may have more behind it: look again before stopping.
          if (step === undefined && !this.hooks.hasQueuedInputs()) return;
          continue;
        }
        if ((await this.processor.process(this.node, this.stages)) === 'stopped') return;
        this.hooks.afterAdvance();
      }
    } catch (err) {
      this.hooks.onError(err);
    } finally {
      // Cleared in the same synchronous step as the last look at the queued inputs: cleared in a
      // reaction to drive()'s promise instead, an input queued by another reaction in between
      // would find the loop "running", not start it, and wait for the next tick.
      this.driving = false;
    }
  }
}
