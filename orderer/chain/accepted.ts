// Envelopes this node answered SUCCESS for and has not yet seen in a committed block.
// Fabric forgets an envelope once it is handed to the leader; if that leader then loses
// its leadership the envelope is gone although the client heard SUCCESS. We keep it
// here until it shows up in a block (or a TTL passes) and hand it to every new leader;
// the leader's tx-id checks (ledger index + in-flight set) stop a duplicate.

export interface AcceptedEnvelope {
  readonly txId: string;
  readonly envelopeBytes: Uint8Array;
  readonly messageSizeBytes: number;
  readonly acceptedAtMs: number;
  lastSentAtMs: number;
}

export class AcceptedEnvelopes {
  private readonly byTxId = new Map<string, AcceptedEnvelope>();

  constructor(private readonly maxTracked: number) {}

  get size(): number {
    return this.byTxId.size;
  }

  /** Returns false when the tx id is already tracked (a client retry): nothing changes. */
  add(env: AcceptedEnvelope): boolean {
    if (this.byTxId.has(env.txId)) return false;
    if (this.byTxId.size >= this.maxTracked) {
      // Map iteration is insertion order: the first key is the oldest.
      const oldest = this.byTxId.keys().next();
      if (!oldest.done) this.byTxId.delete(oldest.value);
    }
    this.byTxId.set(env.txId, env);
    return true;
  }

  has(txId: string): boolean {
    return this.byTxId.has(txId);
  }

  /** The envelope made it into a committed block. */
  settle(txId: string): void {
    this.byTxId.delete(txId);
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
      dropped++;
    }
    return dropped;
  }
}
