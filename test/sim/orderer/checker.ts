// The whole-orderer invariants that look at ledgers and client outcomes, checked as blocks
// appear: one block per height across all nodes, hash links, no tx id twice, no refused
// envelope ordered; and at the end of a run, after healing: every acknowledged envelope
// (whose acknowledging incarnation did not die) ordered exactly once, heights converged.
import { envelopeTxIdOrEmpty } from '../../../ledger/block';
import type { BlockStore } from '../../../ledger/block-store';
import { bytesEqual, toHex } from '../../../ledger/hash';

export interface ClientRecord {
  readonly txId: string;
  readonly nodeId: number;
  readonly incarnation: number;
  outcome: 'pending' | 'success' | 'refused' | 'unknown';
  info?: string;
}

export type Fail = (invariant: string, detail: string, nodeId?: number) => never;

export class LedgerChecker {
  /** Header hash of each height, as the first node to hold it had it. */
  private readonly canonical: Uint8Array[] = [];
  /** Block number of each ordered tx id. */
  private readonly txBlock = new Map<string, number>();
  private readonly checkedHeight = new Map<number, number>();
  private readonly refused = new Set<string>();

  constructor(private readonly fail: Fail) {}

  get height(): number {
    return this.canonical.length;
  }

  /** Digest of the agreed chain, for replay checks. */
  digest(): string {
    return this.canonical.map((h) => toHex(h).slice(0, 8)).join('');
  }

  isOrdered(txId: string): boolean {
    return this.txBlock.has(txId);
  }

  /** Checks the blocks a node appended since the last look. */
  checkNode(nodeId: number, store: BlockStore): void {
    const height = store.height();
    let from = this.checkedHeight.get(nodeId) ?? 0;
    if (height < from) this.fail('a ledger never shrinks', `height ${height} after ${from}`, nodeId);
    for (let n = from; n < height; n++) {
      const b = store.getBlock(n);
      if (b === undefined) this.fail('stored blocks are readable', `block ${n} below height ${height} is missing`, nodeId);
      if (n > 0) {
        const prev = store.getBlock(n - 1)!;
        if (!bytesEqual(b.block.header!.previousHash, prev.headerHash)) this.fail('every chain\'s hash links verify', `block ${n} does not link to block ${n - 1}`, nodeId);
      }
      const agreed = this.canonical[n];
      if (agreed === undefined) {
        this.canonical[n] = b.headerHash;
        this.indexBlock(n, b.block.data?.data ?? []);
      } else if (!bytesEqual(agreed, b.headerHash)) {
        this.fail('no two nodes hold different blocks at the same height', `block ${n} differs from the one another node holds`, nodeId);
      }
      from = n + 1;
    }
    this.checkedHeight.set(nodeId, from);
  }

  private indexBlock(number: number, envelopes: readonly Uint8Array[]): void {
    if (number === 0) return;
    for (const env of envelopes) {
      const txId = envelopeTxIdOrEmpty(env);
      if (txId === '') continue;
      const earlier = this.txBlock.get(txId);
      if (earlier !== undefined) this.fail('no tx id appears in two blocks', `tx ${txId.slice(0, 12)} is in blocks ${earlier} and ${number}`);
      if (this.refused.has(txId)) this.fail('no refused envelope appears in a block', `tx ${txId.slice(0, 12)} was refused but is in block ${number}`);
      this.txBlock.set(txId, number);
    }
  }

  wasRefused(txId: string): boolean {
    return this.refused.has(txId);
  }

  recordRefusal(txId: string, info: string): void {
    if (this.txBlock.has(txId)) this.fail('no refused envelope appears in a block', `tx ${txId.slice(0, 12)} is in block ${this.txBlock.get(txId)} but was refused: ${info}`);
    this.refused.add(txId);
  }

  /**
   * After healing: what was acknowledged is ordered. By an incarnation still alive, always; by
   * one that died, unless a second fault explains the loss (`explainLoss`): SUCCESS promises that
   * no single node's loss loses the envelope.
   */
  checkAcknowledged(
    records: readonly ClientRecord[],
    alive: (nodeId: number, incarnation: number) => boolean,
    explainLoss: (txId: string) => string | undefined,
  ): void {
    for (const r of records) {
      if (r.outcome !== 'success' || this.txBlock.has(r.txId)) continue;
      if (alive(r.nodeId, r.incarnation)) {
        this.fail(
          'every acknowledged envelope is ordered once the faults heal',
          `tx ${r.txId.slice(0, 12)} acknowledged SUCCESS by node ${r.nodeId} (incarnation ${r.incarnation}, still running) is in no block`,
          r.nodeId,
        );
      }
      if (explainLoss(r.txId) !== undefined) continue;
      this.fail(
        'no acknowledged envelope is lost with a single node',
        `tx ${r.txId.slice(0, 12)} acknowledged SUCCESS by node ${r.nodeId} (incarnation ${r.incarnation}, since crashed) is in no block, ` +
          'and no leader that confirmed holding it has crashed or lost its leadership',
        r.nodeId,
      );
    }
  }

  /** After healing: every running node holds the agreed chain to its end. */
  checkConverged(heights: ReadonlyMap<number, number>): void {
    for (const [nodeId, h] of heights) {
      if (h !== this.canonical.length) this.fail('heights converge once the faults heal', `node ${nodeId} is at height ${h}, the chain at ${this.canonical.length}`, nodeId);
    }
  }
}
