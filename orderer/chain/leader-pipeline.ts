// The leader's pipeline: intake → block cutter → proposed (in-flight) blocks, with the tx-id
// checks that keep an envelope from being ordered twice. Fabric §3.4-3.5:
//   - after an election the leader takes nothing until every entry in its log is applied, so its
//     ledger answers "already ordered?" for everything before its term and its block cursor
//     continues the real chain (forwards that arrive meanwhile are held, bounded);
//   - at most MaxInflightBlocks proposed and uncommitted; the intake waits meanwhile;
//   - losing leadership drops the in-flight set and hands the intake and the cutter's batch back
//     to the Chain, which keeps them among its accepted envelopes and resends them to the next
//     leader (the nodes that acknowledged them resend them too; the tx ids keep them from being
//     ordered twice).
import { retainedCopy } from '../retained-bytes';
import type { ChainMetrics } from '../metrics/types';
import type { Logger } from 'pino';
import { Fifo } from '../../cluster/fifo';
import type { ForwardedEnvelope, NodeId, SubmitOutcome } from '../../cluster/types';
import { ProposalDroppedError } from '../../consensus/raft/errors';
import { blockHeaderHash, newBlock } from '../../ledger/block';
import type { BlockStore } from '../../ledger/block-store';
import { bytesEqual } from '../../ledger/hash';
import { common, encodeBlockBytes, type orderer } from '../../protos';
import { BatchTimer, BlockCutter } from '../blockcutter';
import { ChainInvariantError, OrdererError } from '../errors';
import { parseForwardedEnvelope, type ParsedEnvelope } from '../msgcheck';
import { blockNumber, type BlockNumber, type ChainRaftIndex } from './ids';
import { IntakeGate } from './intake-gate';
import type { ChainSettings, ChainTimers } from './types';

/** One envelope waiting for the block cutter. */
export interface IntakeItem {
  readonly txId: string;
  readonly envelopeBytes: Uint8Array;
  readonly messageSizeBytes: number;
  /** The config sequence it was checked against; checked again when the config moved since. Absent: the current one. */
  readonly configSeq?: number;
  /** A CONFIG envelope: ordered alone in a block, after the envelopes before it. */
  readonly isConfig?: boolean;
  /**
   * Set on a CONFIG envelope this leadership's intake checked, quorum guard included, before it
   * acknowledged it: not checked again at the cut while the config has not moved, as Fabric's
   * leader re-checks only then. A second guard moments later refused changes whose senders had
   * heard SUCCESS when a node went quiet in between (whole-orderer seed 3722).
   */
  readonly checkedInLeadership?: number;
  /** The node that forwarded it here (absent: this node's own client, or a resend to itself). */
  readonly forwardedBy?: NodeId;
}

/** Tells a follower that asked (SUBMIT_ACK_HEADER) what became of its forward. */
export type ForwardAnswer = (outcome: SubmitOutcome) => void;

export interface HeldForward {
  readonly from: NodeId;
  readonly forward: ForwardedEnvelope;
  /** Set when the sender waits for the outcome: called exactly once. */
  readonly answer?: ForwardAnswer;
}

/** What the leader made of a forwarded envelope. */
export type ForwardTaken =
  /** Now in the intake. */
  | 'taken'
  /** Already in the intake, a proposed block or the ledger: it is (being) ordered. */
  | 'known'
  /** The intake is at its bound: not taken. */
  | 'full'
  /** Not an envelope this channel orders (the sender checked it; a bug or a changed config). */
  | 'invalid';

export const SUCCESS_OUTCOME: SubmitOutcome = Object.freeze({ status: common.Status.SUCCESS, info: '' });

export function refusal(info: string, status: common.Status = common.Status.SERVICE_UNAVAILABLE): SubmitOutcome {
  return { status, info };
}

export interface LeaderPipelineOptions {
  channelId: string;
  /** Block fill time and dropped proposals (orderer/metrics); nothing recorded when absent. */
  metrics?: Pick<ChainMetrics, 'blockFilled' | 'proposalFailed'>;
  blockStore: BlockStore;
  timers: ChainTimers;
  logger: Logger;
  settings(): ChainSettings;
  /** Hands a block to Raft; throws ProposalDroppedError when Raft refuses it. */
  propose(blockBytes: Uint8Array): void;
  /** The batch timer expired (the Chain queues it as an event and calls cutPending in its loop). */
  onBatchTimeout(): void;
  /**
   * An envelope checked against an older config, or a CONFIG envelope, about to be cut: checked
   * again against the current config. Returns what to order (a CONFIG envelope may be made
   * again from its update), or undefined when it no longer passes (dropped, logged).
   */
  recheck?(item: IntakeItem): IntakeItem | OrdererError;
  /**
   * True while a committed config block's membership change is not yet in Raft's configuration:
   * nothing new is proposed meanwhile (Fabric §3.5, "config in flight").
   */
  membershipPending?(): boolean;
  /** Envelopes in the intake beyond which Broadcast hears SERVICE_UNAVAILABLE. */
  maxIntakeEnvelopes: number;
  /** Envelopes in the intake beyond which client Broadcasts wait for room. */
  intakeHighWater: number;
  /** Bytes (sum of envelope bytes) in the intake beyond which Broadcast hears SERVICE_UNAVAILABLE (default 256 MiB). */
  maxIntakeBytes?: number;
  /** Bytes in the intake beyond which client Broadcasts wait for room (default 64 MiB). */
  intakeHighWaterBytes?: number;
  intakeWaitTimeoutMs: number;
}

export const DEFAULT_MAX_INTAKE_BYTES = 256 * 1024 * 1024;
export const DEFAULT_INTAKE_HIGH_WATER_BYTES = 64 * 1024 * 1024;

export class LeaderPipeline {
  private active = false;
  /** Counts this node's leaderships (becomeLeader): what a CONFIG envelope's checkedInLeadership refers to. */
  private leadership = 0;
  private readyValue = false;
  /** The index this leader must apply before it takes envelopes (its log's end at election). */
  private readyIndex: ChainRaftIndex | undefined;
  private lastCreated: { number: BlockNumber; hash: Uint8Array } | undefined;
  /** Proposed, uncommitted blocks of this leader: their tx ids and data hash. */
  private readonly inflight = new Map<BlockNumber, { txIds: string[]; dataHash: Uint8Array; bytes: Uint8Array }>();
  /** Tx id of each envelope handed to the cutter, so it is not decoded again for the block. */
  /** The intake items whose envelopes are in the cutter's pending batch, oldest first. */
  private cutterItems: IntakeItem[] = [];
  /** Items of blocks Raft refused to take (e.g. while it hands leadership over): offered again, or handed back at step-down. */
  private droppedItems: IntakeItem[] = [];
  private readonly proposedTxIds = new Set<string>();
  /** When the first envelope of the batch now in the cutter reached it (performance.now()). */
  private fillStartedMs: number | undefined;
  private readonly intakeTxIds = new Set<string>();
  private intake = new Fifo<IntakeItem>();
  /** Sum of the intake's envelope bytes. */
  private intakeBytes = 0;
  private readonly maxIntakeBytes: number;
  private readonly intakeHighWaterBytes: number;
  private readonly held: HeldForward[] = [];
  /** Payload bytes of the held forwards. */
  private heldBytes = 0;
  private cutWhenFree = false;
  /** A proposed config block not committed yet: nothing more is proposed until it is. */
  private configInFlight: BlockNumber | undefined;
  private readonly cutter: BlockCutter;
  private readonly batchTimer: BatchTimer;
  private readonly gate: IntakeGate;

  constructor(private readonly o: LeaderPipelineOptions) {
    const s = o.settings();
    this.cutter = new BlockCutter({ maxMessageCount: s.maxMessageCount, preferredMaxBytes: s.preferredMaxBytes });
    this.batchTimer = new BatchTimer((ms, cb) => o.timers.setTimeout(cb, ms), () => o.onBatchTimeout());
    this.gate = new IntakeGate(o.timers, o.intakeWaitTimeoutMs);
    this.maxIntakeBytes = o.maxIntakeBytes ?? DEFAULT_MAX_INTAKE_BYTES;
    this.intakeHighWaterBytes = Math.min(o.intakeHighWaterBytes ?? DEFAULT_INTAKE_HIGH_WATER_BYTES, this.maxIntakeBytes);
  }

  /** Leader and done applying its log: envelopes may enter the intake. */
  get ready(): boolean {
    return this.readyValue;
  }

  get intakeFull(): boolean {
    return this.intake.length >= this.o.intakeHighWater || this.intakeBytes >= this.intakeHighWaterBytes;
  }

  /** Waits (bounded) until the intake has room or leadership moves; false after the timeout. */
  waitForRoom(): Promise<boolean> {
    return this.gate.wait();
  }

  /** This node was elected; `logEndIndex` is the last index of its log at that moment. */
  becomeLeader(logEndIndex: ChainRaftIndex): void {
    this.leadership++;
    this.active = true;
    this.readyValue = false;
    this.readyIndex = logEndIndex;
  }

  /**
   * Called after each apply: once the whole log of the election is applied the leader seeds its
   * block cursor from the ledger and returns the forwards held meanwhile (the Chain re-offers
   * them, now checked against a complete ledger). Undefined while not (yet) ready.
   */
  readyIfApplied(appliedIndex: ChainRaftIndex): HeldForward[] | undefined {
    if (!this.active || this.readyValue || this.readyIndex === undefined || appliedIndex < this.readyIndex) return undefined;
    this.readyValue = true;
    this.readyIndex = undefined;
    // Number and hash only: reading the block itself would fault it in from the file after a restart.
    const lastHash = this.o.blockStore.lastHeaderHash();
    if (lastHash === undefined) throw new ChainInvariantError('ledger is empty: a chain needs at least its genesis block');
    this.lastCreated = { number: blockNumber(this.o.blockStore.height() - 1), hash: lastHash };
    this.o.logger.info({ height: this.o.blockStore.height(), held: this.held.length }, 'leader ready: accepting envelopes');
    this.gate.wakeAll();
    this.heldBytes = 0;
    return this.held.splice(0);
  }

  /**
   * Leadership lost. Returns what this leader took and had not proposed (the cutter's batch, then
   * the intake, in arrival order): the Chain keeps them and resends them to the next leader. The
   * in-flight blocks are in Raft's log: the next leader commits them or they were never
   * acknowledged to a client here (a leader answers its own clients at commit).
   */
  stepDown(): IntakeItem[] {
    this.active = false;
    this.batchTimer.stop();
    this.cutter.cut();
    const unproposed = [...this.droppedItems, ...this.cutterItems];
    this.cutterItems = [];
    this.droppedItems = [];
    for (const item of this.intake.drain()) unproposed.push(item);
    this.intake = new Fifo<IntakeItem>();
    this.intakeBytes = 0;
    this.intakeTxIds.clear();
    this.refuseHeld('leader stepped down before it could take the envelope');
    this.inflight.clear();
    this.proposedTxIds.clear();
    this.lastCreated = undefined;
    this.readyValue = false;
    this.readyIndex = undefined;
    this.cutWhenFree = false;
    this.configInFlight = undefined;
    this.gate.wakeAll();
    return unproposed;
  }

  /** The chain halted: no timer may fire, no Broadcast may keep waiting. */
  halt(): void {
    this.batchTimer.stop();
    this.gate.wakeAll();
    this.refuseHeld('the channel halted on the leader');
  }

  /** Held forwards are dropped: their senders hear it (not taken; they keep and resend them). */
  private refuseHeld(info: string): void {
    const held = this.held.splice(0);
    this.heldBytes = 0;
    const outcome = refusal(info);
    for (const f of held) f.answer?.(outcome);
  }

  /** Wakes Broadcasts waiting for room so they re-check who leads. */
  wakeWaiters(): void {
    this.gate.wakeAll();
  }

  /**
   * A forward that reached this leader before it was ready: kept until it is, bounded in count
   * and bytes (the intake's high-water marks); beyond, false: not taken, the sender resends.
   */
  hold(forward: HeldForward): boolean {
    const bytes = forward.forward.envelope.length;
    if (this.held.length >= this.o.intakeHighWater) return false;
    if (this.held.length > 0 && this.heldBytes + bytes > this.intakeHighWaterBytes) return false;
    this.held.push(forward);
    this.heldBytes += bytes;
    return true;
  }

  isKnownTx(txId: string): boolean {
    if (txId === '') return false;
    return this.intakeTxIds.has(txId) || this.proposedTxIds.has(txId) || this.o.blockStore.getByTxId(txId) !== undefined;
  }

  /** Returns false when the envelope is a duplicate or (not from a client) the intake is full. */
  enqueue(item: IntakeItem, fromClient: boolean): boolean {
    return this.offer(item, fromClient) === 'taken';
  }

  /** enqueue, saying why an envelope was not taken (one tx-id lookup: the ledger's is an LMDB read). */
  private offer(item: IntakeItem, fromClient: boolean): 'taken' | 'known' | 'full' {
    // Only a ready leader's ledger answers "already ordered?" for every entry of its log.
    if (!this.readyValue) throw new ChainInvariantError(`envelope ${item.txId} offered to the intake before the leader applied its log`);
    if (this.isKnownTx(item.txId)) return 'known';
    // In bytes too; an empty intake takes one envelope whatever its size.
    const overBytes = this.intake.length > 0 && this.intakeBytes + item.envelopeBytes.length > this.maxIntakeBytes;
    if (this.intake.length >= this.o.maxIntakeEnvelopes || overBytes) {
      if (fromClient) throw OrdererError.serviceUnavailable('the leader is overloaded: too many envelopes waiting to be ordered');
      return 'full';
    }
    this.intake.push(item);
    this.intakeBytes += item.envelopeBytes.length;
    if (item.txId !== '') this.intakeTxIds.add(item.txId);
    return 'taken';
  }

  /** A forwarded envelope on a ready leader, re-checked: the follower's checks ran against a config we may have moved past. */
  takeForwarded(from: NodeId, forward: ForwardedEnvelope): ForwardTaken | OrdererError {
    // Kept in the intake until its block is proposed: out of the received message (a batch's
    // envelopes are views into one buffer) and gRPC's pool slabs.
    const envelopeBytes = retainedCopy(forward.envelope);
    let parsed: ParsedEnvelope;
    try {
      parsed = parseForwardedEnvelope(envelopeBytes);
    } catch (err) {
      this.o.logger.warn({ err, from }, 'dropping a forwarded envelope that does not parse');
      return 'invalid';
    }
    if (parsed.channelId !== this.o.channelId) return 'invalid';
    if (parsed.messageSizeBytes > this.o.settings().absoluteMaxBytes) return 'invalid';
    const item: IntakeItem = {
      txId: parsed.txId,
      envelopeBytes,
      messageSizeBytes: parsed.messageSizeBytes,
      configSeq: forward.lastValidationSeq,
      ...(parsed.kind === 'config' ? { isConfig: true } : {}),
      forwardedBy: from,
    };
    // Checked again now when it was checked against a config we have moved past (as Fabric's
    // leader does), and a CONFIG envelope always (the quorum guard needs this leader's view of
    // who is active): the sender hears a refusal instead of an acknowledgement. A CONFIG envelope
    // is checked once more when it is cut only if the config moved meanwhile (checkedInLeadership).
    if ((item.isConfig === true || forward.lastValidationSeq < this.o.settings().configSequence) && this.o.recheck !== undefined) {
      if (this.isKnownTx(item.txId)) return 'known';
      const checked = this.o.recheck(item);
      if (checked instanceof OrdererError) return checked;
      // recheck may make a CONFIG envelope again from its update: who forwarded it is carried over.
      return this.offer({ ...checked, forwardedBy: from, ...(checked.isConfig === true ? { checkedInLeadership: this.leadership } : {}) }, false);
    }
    return this.offer(item, false);
  }

  /**
   * A forwarded envelope on this leader: held until it is ready (Fabric §3.5; beyond the bound not
   * taken, the follower keeps and resends it), then checked and taken. The sender hears the
   * outcome when it waits for one. Returns true when the envelope went into the intake.
   */
  receiveForward(from: NodeId, forward: ForwardedEnvelope, answer: ForwardAnswer | undefined): boolean {
    const s = this.o.settings();
    if (!s.members.some((m) => m.id === from)) {
      // A node the last config block removed (it may not know yet, cut off when the block
      // committed) or never named. Its SUCCESS would rest on its own copy, which it can never
      // resend to a leader once it is out of the cluster: refused, so that its client hears "not
      // ordered". The cluster's authentication refuses the stream once Raft has applied the
      // removal too; this also covers the time in between, and forwards held until ready (offered
      // here again). SERVICE_UNAVAILABLE, as a Fabric follower answers when its forward fails.
      this.o.logger.warn({ from }, 'refused a forwarded envelope from a node that is not a consenter');
      answer?.(refusal(`node ${from} is not a consenter of channel ${this.o.channelId} at config sequence ${s.configSequence}`));
      return false;
    }
    if (!this.ready) {
      // A copy: a batch's envelopes are views into its whole message, which a held one would keep alive.
      const held: ForwardedEnvelope = { lastValidationSeq: forward.lastValidationSeq, envelope: retainedCopy(forward.envelope) };
      if (!this.hold(answer !== undefined ? { from, forward: held, answer } : { from, forward: held })) {
        answer?.(refusal('the new Raft leader is still applying its log; try again'));
      }
      return false;
    }
    const taken = this.takeForwarded(from, forward);
    if (taken instanceof OrdererError) {
      answer?.(refusal(`the leader refused the envelope: ${taken.message}`, taken.status));
      return false;
    }
    switch (taken) {
      case 'taken':
        answer?.(SUCCESS_OUTCOME);
        return true;
      case 'known':
        answer?.(SUCCESS_OUTCOME);
        return false;
      case 'full':
        answer?.(refusal('the leader is overloaded: too many envelopes waiting to be ordered'));
        return false;
      case 'invalid':
        answer?.(refusal('the leader does not order this envelope on this channel (malformed, too large or not a normal transaction)', common.Status.BAD_REQUEST));
        return false;
    }
  }

  /** Moves envelopes from the intake through the cutter into proposed blocks, within MaxInflightBlocks. */
  pump(): void {
    if (!this.active || !this.readyValue || this.configInFlight !== undefined || this.o.membershipPending?.() === true) return;
    if (this.droppedItems.length > 0) {
      // Back into the intake (behind what waits there: their order was never promised); beyond
      // its bound they stay with the nodes that accepted them, which resend them.
      for (const item of this.droppedItems.splice(0)) this.offer(item, false);
    }
    const s = this.o.settings();
    const limits = this.cutter.currentLimits;
    // A config block changed the batch size: it applies from the next envelope cut (Fabric).
    if (limits.maxMessageCount !== s.maxMessageCount || limits.preferredMaxBytes !== s.preferredMaxBytes) {
      this.cutter.updateLimits({ maxMessageCount: s.maxMessageCount, preferredMaxBytes: s.preferredMaxBytes });
    }
    if (this.cutWhenFree && this.inflight.size < s.maxInflightBlocks) {
      this.cutWhenFree = false;
      this.cutPending();
    }
    while (this.intake.length > 0 && this.inflight.size < s.maxInflightBlocks && this.configInFlight === undefined) {
      let item: IntakeItem | undefined = this.intake.shift()!;
      this.intakeBytes -= item.envelopeBytes.length;
      this.intakeTxIds.delete(item.txId);
      // The ledger was checked when the item entered the intake (on a ready leader, whose ledger
      // holds every earlier term); only this leader's own proposals can have changed since.
      if (item.txId !== '' && this.proposedTxIds.has(item.txId)) continue;
      const checkedHere = item.checkedInLeadership === this.leadership && item.configSeq === s.configSequence;
      if ((item.isConfig === true && !checkedHere) || (item.configSeq !== undefined && item.configSeq < s.configSequence)) {
        if (this.o.recheck !== undefined) {
          const checked = this.o.recheck(item);
          if (checked instanceof OrdererError) continue;
          item = checked;
        }
      }
      if (item.isConfig === true) {
        this.proposeConfig(item);
        continue;
      }
      if (item.txId !== '') this.proposedTxIds.add(item.txId);
      // blockcutter_block_fill_duration runs from the first envelope of a batch to its cut.
      this.fillStartedMs ??= performance.now();
      const { batches, pending } = this.cutter.ordered(item.envelopeBytes, item.messageSizeBytes);
      this.cutterItems.push(item);
      // A cut batch is the oldest envelopes the cutter held.
      for (const batch of batches) this.proposeBlock(batch, this.cutterItems.splice(0, batch.length));
      this.batchTimer.afterOrdered(pending, s.batchTimeoutMs);
    }
    if (!this.intakeFull) this.gate.wakeAll();
  }

  /** The batch timer expired (or a cut waited for room in the in-flight window). */
  cutPending(): void {
    if (!this.active || !this.readyValue || this.configInFlight !== undefined) return;
    if (this.inflight.size >= this.o.settings().maxInflightBlocks) {
      this.cutWhenFree = true;
      return;
    }
    this.batchTimer.stop();
    const batch = this.cutter.cut();
    const items = this.cutterItems;
    this.cutterItems = [];
    if (batch.length > 0) this.proposeBlock(batch, items);
  }

  /**
   * A config envelope goes alone in a block, after a block of what the cutter holds (Fabric
   * §3.5); nothing more is proposed until that block commits (and its membership change is in).
   */
  private proposeConfig(item: IntakeItem): void {
    this.batchTimer.stop();
    const pending = this.cutter.cut();
    const pendingItems = this.cutterItems;
    this.cutterItems = [];
    if (pending.length > 0) this.proposeBlock(pending, pendingItems);
    if (item.txId !== '') this.proposedTxIds.add(item.txId);
    const number = this.proposeBlock([item.envelopeBytes], [item]);
    if (number !== undefined) {
      this.configInFlight = number;
      this.o.logger.info({ block: number, txId: item.txId }, 'config block proposed');
    }
  }

  /** `items` are the intake items of `batch`'s envelopes, kept for the case Raft refuses the block. */
  private proposeBlock(batch: Uint8Array[], items: readonly IntakeItem[]): BlockNumber | undefined {
    const prev = this.lastCreated;
    if (prev === undefined || !this.readyValue) throw new ChainInvariantError('a block proposed before the leader applied its log');
    // items[i] is the intake item of batch[i]: the cutter cuts the envelopes in the order they were
    // given to it, and the items are kept in that order (pump, cutPending, proposeConfig).
    if (items.length !== batch.length || items.some((item, i) => item.envelopeBytes !== batch[i])) {
      throw new ChainInvariantError(`block of ${batch.length} envelopes proposed with ${items.length} intake items that are not its envelopes`);
    }
    const number = blockNumber(prev.number + 1);
    const block = newBlock(number, prev.hash, batch);
    const bytes = encodeBlockBytes(block);
    if (this.fillStartedMs !== undefined) {
      this.o.metrics?.blockFilled((performance.now() - this.fillStartedMs) / 1000);
      this.fillStartedMs = undefined;
    }
    try {
      this.o.propose(bytes);
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err;
      this.o.metrics?.proposalFailed();
      // The envelopes are not lost: offered again at the next pump while this node leads, else
      // handed back at step-down and resent to whoever leads next (as the nodes that accepted them do).
      this.o.logger.warn({ block: number, reason: err.reason }, 'block proposal dropped');
      for (const item of items) this.proposedTxIds.delete(item.txId);
      for (const item of items) this.droppedItems.push(item);
      return undefined;
    }
    const txIds = items.map((item) => item.txId);
    this.inflight.set(number, { txIds, dataHash: block.header!.dataHash, bytes });
    this.o.logger.debug({ block: number, envelopes: batch.length, sizeBytes: bytes.length }, 'block proposed');
    this.lastCreated = { number, hash: blockHeaderHash(block.header!) };
    return number;
  }

  /**
   * The tx ids of a committed block when they are known without reading its envelopes: it is our
   * own proposal (same number, same data). Undefined otherwise.
   */
  ownTxIds(block: common.Block): readonly string[] | undefined {
    const mine = this.inflight.get(blockNumber(block.header?.number ?? 0));
    return mine !== undefined && block.header !== undefined && bytesEqual(mine.dataHash, block.header.dataHash) ? mine.txIds : undefined;
  }

  /**
   * The committed entry carrying block `number` holds the very bytes this leader proposed (the
   * Raft log hands back the proposal's buffer): its header's data hash was computed here, from
   * these envelopes.
   */
  isOwnProposal(number: BlockNumber, entryData: Uint8Array): boolean {
    return this.inflight.get(number)?.bytes === entryData;
  }

  /** A block was committed: it leaves the in-flight window. */
  committed(block: common.Block): void {
    const number = blockNumber(block.header?.number ?? 0);
    this.inflight.delete(number);
    if (this.configInFlight !== undefined && number >= this.configInFlight) this.configInFlight = undefined;
  }

  /**
   * The envelopes taken and not yet proposed that `nodes` forwarded (a config block just removed
   * them): the Chain keeps copies, since those nodes can no longer resend them to a later leader.
   */
  unproposedForwardedBy(nodes: ReadonlySet<NodeId>): IntakeItem[] {
    return [...this.droppedItems, ...this.cutterItems, ...this.intake.toArray()].filter((item) => item.forwardedBy !== undefined && nodes.has(item.forwardedBy));
  }

  /** Forget proposed tx ids now in the ledger. */
  settle(txIds: readonly string[]): void {
    for (const txId of txIds) this.proposedTxIds.delete(txId);
  }

  get waitingOnProposals(): boolean {
    return this.proposedTxIds.size > 0;
  }

  status(): {
    inflightBlocks: number;
    intakeEnvelopes: number;
    intakeBytes: number;
    leaderReady: boolean;
    pendingInCutter: number;
    inflightBlockNumbers: number[];
    lastCreatedBlock: number;
  } {
    return {
      inflightBlocks: this.inflight.size,
      intakeEnvelopes: this.intake.length,
      intakeBytes: this.intakeBytes,
      leaderReady: this.readyValue,
      pendingInCutter: this.cutter.pendingCount,
      inflightBlockNumbers: [...this.inflight.keys()],
      lastCreatedBlock: this.lastCreated?.number ?? -1,
    };
  }
}
