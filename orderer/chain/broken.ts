// What a chain says when it halts on broken state: one line for the operator (what was seen,
// which directories hold this channel's data, how to get the channel back) and a short reason
// for clients, who only need to know to go to another orderer. The texts live here so the log
// line, the chain's status and the documentation can be checked against one source.
import { RaftInvariantError, RaftLogLostError, RaftMisaddressedError } from '../../consensus/raft/errors';
import type { ChainInvariantError } from '../errors';

export type BrokenStateKind = 'raft-log-lost' | 'raft-misaddressed' | 'raft-invariant' | 'chain-invariant';

export interface BrokenState {
  readonly kind: BrokenStateKind;
  /** The one error line: what was seen, then how to recover. */
  readonly operatorMessage: string;
  /** The recovery steps alone (also a field of the log line). */
  readonly recovery: string;
  /** Answered to Broadcast and Deliver clients: no local paths. */
  readonly clientReason: string;
  /** Structured fields of the log line. */
  readonly fields: Readonly<Record<string, string | number>>;
}

export interface BrokenStateContext {
  channelId: string;
  selfId: number;
  /** <FileLedger.Location>/chains/<channel>, when the chain was told. */
  ledgerDir?: string;
  /** <Consensus.WALDir>/<channel>. */
  walDir?: string;
  /** <Consensus.SnapDir>/<channel>. */
  snapDir?: string;
  /** The leader whose message showed the log lost (its Raft id and host:port). */
  reportedBy?: { id: number; endpoint: string };
}

/** The directories to remove, named as precisely as the chain knows them. */
function dataDirectories(ctx: BrokenStateContext): string {
  const ledger = ctx.ledgerDir ?? `<FileLedger.Location>/chains/${ctx.channelId}`;
  const wal = ctx.walDir ?? `<Consensus.WALDir>/${ctx.channelId}`;
  const snap = ctx.snapDir ?? `<Consensus.SnapDir>/${ctx.channelId}`;
  return `the ledger directory ${ledger}, the WAL directory ${wal} and the snapshot directory ${snap}`;
}

function recoverySteps(ctx: BrokenStateContext): string {
  return (
    `To recover: stop this orderer, remove this channel's data (${dataDirectories(ctx)}; other channels are not affected), ` +
    `and start it again: the channel is created anew from its genesis block in General.BootstrapChannels and catches up ` +
    `from the other orderers. (Once the channel participation API exists: remove the channel from this orderer and join it again.)`
  );
}

export function describeBrokenState(err: RaftInvariantError | ChainInvariantError, ctx: BrokenStateContext): BrokenState {
  const channel = ctx.channelId;
  const recovery = recoverySteps(ctx);
  const dirs: Record<string, string> = {};
  if (ctx.ledgerDir !== undefined) dirs['ledgerDir'] = ctx.ledgerDir;
  if (ctx.walDir !== undefined) dirs['walDir'] = ctx.walDir;
  if (ctx.snapDir !== undefined) dirs['snapDir'] = ctx.snapDir;
  const refuses = 'This orderer now refuses Broadcast and Deliver for the channel; other channels keep running.';

  if (err instanceof RaftLogLostError) {
    // Raft leaders never lower what they believe a follower holds: until another leader is
    // elected, the current one keeps reporting the old commit to this node, even with its data
    // removed, and it would halt again. So the leader steps down while this node is stopped.
    const leader = ctx.reportedBy !== undefined ? `the orderer that leads the channel (Raft node ${ctx.reportedBy.id}, ${ctx.reportedBy.endpoint})` : 'the orderer that leads the channel';
    const logLostRecovery =
      `To recover: stop this orderer and remove this channel's data (${dataDirectories(ctx)}; other channels are not affected); ` +
      `then restart ${leader}, so that the others elect a leader that does not count this orderer's lost entries; then start this ` +
      `orderer again: the channel is created anew from its genesis block in General.BootstrapChannels and catches up from the other ` +
      `orderers. (Once the channel participation API exists: remove the channel from this orderer and join it again.)`;
    const seen =
      `channel ${channel} halted: this orderer's Raft log (WAL) lost entries it had acknowledged: the leader reports ` +
      `index ${err.commitIndex} committed, but the local log ends at index ${err.lastIndex}. Its copy of the channel cannot be trusted.`;
    return {
      kind: 'raft-log-lost',
      operatorMessage: `${seen} ${refuses} ${logLostRecovery}`,
      recovery: logLostRecovery,
      clientReason: `this orderer's copy of the channel is broken (its Raft log lost acknowledged entries); use another orderer`,
      fields: { ...dirs, commitIndex: err.commitIndex, lastIndex: err.lastIndex, ...(ctx.reportedBy !== undefined ? { leader: ctx.reportedBy.id } : {}) },
    };
  }
  if (err instanceof RaftMisaddressedError) {
    const seen =
      `channel ${channel} halted: received a Raft message addressed to node ${err.messageTo}, but this orderer is node ${err.selfId} ` +
      `of the channel (${err.message}). Two orderers may be using the same identity, or this orderer's data belongs to another consenter; ` +
      `counting such a message could elect two leaders.`;
    return {
      kind: 'raft-misaddressed',
      operatorMessage: `${seen} ${refuses} Check the consenter set and every orderer's identity. If this orderer's data is wrong: ${recovery}`,
      recovery,
      clientReason: `this orderer halted the channel: it received Raft traffic meant for node ${err.messageTo}; use another orderer`,
      fields: { ...dirs, messageTo: err.messageTo, selfId: err.selfId },
    };
  }
  const raft = err instanceof RaftInvariantError;
  const seen = `channel ${channel} halted: ${raft ? 'a Raft invariant is broken' : 'the chain state is inconsistent'}: ${err.message}. Continuing could fork the channel.`;
  return {
    kind: raft ? 'raft-invariant' : 'chain-invariant',
    operatorMessage: `${seen} ${refuses} ${recovery}`,
    recovery,
    clientReason: `this orderer's copy of the channel is broken (${err.message}); use another orderer`,
    fields: { ...dirs },
  };
}
