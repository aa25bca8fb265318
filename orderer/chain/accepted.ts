// Envelopes this node answered SUCCESS for and has not yet seen in a committed block.
// Fabric forgets an envelope once it is handed to the leader; if that leader then loses
// its leadership the envelope is gone although the client heard SUCCESS. We keep it
// here until it shows up in a block (or a TTL passes) and hand it to every new leader;
// the leader's tx-id checks (ledger index + in-flight set) stop a duplicate.
//
// The set is bounded in count and in bytes (the sum of envelope bytes). It never evicts an
// acknowledged envelope to make room: Broadcast reserves room *before* the envelope is taken or
// forwarded, and when there is none the client hears SERVICE_UNAVAILABLE, which then means "not
// ordered". Room comes back as envelopes show up in committed blocks.

/** Default byte bound of the accepted-envelope set. */
export const DEFAULT_MAX_ACCEPTED_BYTES = 256 * 1024 * 1024;

export interface AcceptedEnvelope {
  readonly txId: string;
  readonly envelopeBytes: Uint8Array;
  readonly messageSizeBytes: number;
  /** The config sequence it was checked against (SubmitRequest.last_validation_seq when resent). */
  readonly configSeq?: number;
  /** A CONFIG envelope (ordered alone in a block). */
  readonly isConfig?: boolean;
  readonly acceptedAtMs: number;
  lastSentAtMs: number;
}

export class AcceptedEnvelopes {
  private readonly byTxId = new Map<string, AcceptedEnvelope>();
  private trackedBytes = 0;
  /** Room held by Broadcasts in flight (taken or forwarded, not yet acknowledged). */
  private reservedCount = 0;
  private reservedBytes = 0;

  constructor(
    private readonly maxTracked: number,
    private readonly maxBytes: number = DEFAULT_MAX_ACCEPTED_BYTES,
  ) {}

  get size(): number {
    return this.byTxId.size;
  }

  /** Sum of the tracked envelopes' bytes. */
  get bytes(): number {
    return this.trackedBytes;
  }

  /**
   * Holds room for one envelope of `bytes` before it is taken or forwarded; false when the set
   * (with what is already reserved) is full. An empty set always has room for one envelope, so
   * an envelope larger than the byte bound is not refused forever.
   */
  tryReserve(bytes: number): boolean {
    const count = this.byTxId.size + this.reservedCount;
    const total = this.trackedBytes + this.reservedBytes;
    if (count > 0 && (count + 1 > this.maxTracked || total + bytes > this.maxBytes)) return false;
    this.reservedCount++;
    this.reservedBytes += bytes;
    return true;
  }

  /** Gives back room reserved with tryReserve (the envelope was refused, or is tracked by `add`). */
  release(bytes: number): void {
    this.reservedCount = Math.max(0, this.reservedCount - 1);
    this.reservedBytes = Math.max(0, this.reservedBytes - bytes);
  }

  /**
   * Tracks an acknowledged envelope. Returns false when the tx id is already tracked (a client
   * retry): nothing changes. Never evicts: the caller reserved room first (tryReserve).
   */
  add(env: AcceptedEnvelope): boolean {
    if (this.byTxId.has(env.txId)) return false;
    this.byTxId.set(env.txId, env);
    this.trackedBytes += env.envelopeBytes.length;
    return true;
  }

  has(txId: string): boolean {
    return this.byTxId.has(txId);
  }

  /** The envelope made it into a committed block. */
  settle(txId: string): void {
    const e = this.byTxId.get(txId);
    if (e === undefined) return;
    this.byTxId.delete(txId);
    this.trackedBytes -= e.envelopeBytes.length;
  }

  all(): AcceptedEnvelope[] {
    return [...this.byTxId.values()];
  }

  /** Tracked envelopes last sent before `sentBeforeMs`. */
  due(sentBeforeMs: number): AcceptedEnvelope[] {
    const out: AcceptedEnvelope[] = [];
    for (const e of this.byTxId.values()) if (e.lastSentAtMs < sentBeforeMs) out.push(e);
    return out;
  }

  /** Drops envelopes accepted before `acceptedBeforeMs`; returns how many. */
  expire(acceptedBeforeMs: number): number {
    let dropped = 0;
    for (const [txId, e] of this.byTxId) {
      if (e.acceptedAtMs >= acceptedBeforeMs) break; // insertion order = acceptance order
      this.byTxId.delete(txId);
      this.trackedBytes -= e.envelopeBytes.length;
      dropped++;
    }
    return dropped;
  }
}
