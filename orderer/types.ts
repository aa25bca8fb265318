// The seams between the client-facing services (Broadcast, Deliver) and the chains.
// Services see a channel only through ChainHandle; the Raft Chain implements it.
import type { BlockStore } from '../ledger/block-store';
import type { ParsedEnvelope } from './msgcheck';
import type { ChannelAccess } from './policies/channel-access';

/** Per-channel settings the services need, refreshed on every config block. */
export interface ChainServiceSettings {
  /** BatchSize.AbsoluteMaxBytes: the largest envelope accepted. */
  readonly absoluteMaxBytes: number;
  /** ConsensusType.state == STATE_MAINTENANCE. */
  readonly maintenanceMode: boolean;
  /** Channel config sequence the checks were made against (SubmitRequest.last_validation_seq). */
  readonly configSequence: number;
}

export interface ChainHandle {
  readonly channelId: string;
  readonly blockStore: BlockStore;
  settings(): ChainServiceSettings;
  /**
   * Who may write and read at the channel's current config (its MSPs and policies, creator
   * expiry). Read again for every envelope and every seek; a config block replaces it.
   */
  access(): ChannelAccess;
  /**
   * True while the chain cannot vouch for progress (no leader known, candidate, halted):
   * Deliver with error_response STRICT answers SERVICE_UNAVAILABLE meanwhile.
   */
  errored(): boolean;
  /**
   * Hands a checked normal envelope to the chain. Resolves once the chain accepted it for
   * ordering (the Broadcast SUCCESS); rejects with OrdererError (SERVICE_UNAVAILABLE when
   * there is no leader, the chain is halted or overloaded).
   */
  order(envelope: ParsedEnvelope): Promise<void>;
  /**
   * A CONFIG_UPDATE whose filters passed: validated against the current config (reference §4.2)
   * and wrapped into a CONFIG envelope signed by this orderer, which the caller checks again and
   * hands to order(). Throws OrdererError (BAD_REQUEST, FORBIDDEN) and changes nothing. Absent:
   * the channel takes no config updates here (NOT_IMPLEMENTED).
   */
  processConfigUpdate?(update: ParsedEnvelope): ParsedEnvelope;
  /**
   * Set once the chain found its own state broken (a Raft invariant, entries its WAL lost) and
   * halted: what it saw and how to recover. Its ledger may be stale, so Deliver serves nothing
   * for it, whatever the SeekInfo asks. Optional so that stand-ins need not implement it.
   */
  brokenReason?(): string | undefined;
}

export interface ChainRegistry {
  /** undefined when this node does not serve the channel. */
  get(channelId: string): ChainHandle | undefined;
  channelIds(): string[];
  /**
   * General.Authentication.NoExpirationChecks: Broadcast and Deliver accept creators whose
   * certificate has expired. Optional: absent means false, Fabric's default.
   */
  readonly noExpirationChecks?: boolean;
}
