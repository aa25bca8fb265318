// The seam between the channel participation REST API (reference §6.2) and the orderer node: the
// node implements ChannelParticipation, the Admin server (http-server.ts) calls it. The server
// validates what it can alone (paths, channel IDs, the multipart body, that the upload is a
// config block of an application channel) before calling; the node decides everything that
// needs its state and refuses with a ParticipationError (errors.ts), which carries the HTTP
// status and `Allow` header the client is answered with.
import type { common } from '../../protos';

export {
  ChannelExistsError,
  ChannelNotFoundError,
  ChannelPendingRemovalError,
  ChannelRemovalFailedError,
  InvalidJoinBlockError,
  ParticipationError,
} from './errors';

/** Fabric's types.ConsensusRelation: what this node is to the channel's consensus. */
export type ConsensusRelation = 'consenter' | 'follower' | 'config-tracker' | 'other';

/**
 * Fabric's types.Status. active: consenting, or following with height above the join block;
 * onboarding: pulling blocks up to the join block; inactive: no blocks stored; failed: the last
 * operation on the channel failed.
 */
export type ChannelStatus = 'active' | 'onboarding' | 'inactive' | 'failed';

/** One channel as the node sees it. The server adds the `url` field of the JSON answer. */
export interface ChannelInfo {
  readonly name: string;
  readonly consensusRelation: ConsensusRelation;
  readonly status: ChannelStatus;
  /** Blocks in the ledger: last block number + 1. */
  readonly height: number;
}

export interface ChannelParticipation {
  /** Every application channel of this node, in any order (the server sorts by name). */
  listChannels(): ChannelInfo[];
  /** The channel, or undefined when this node does not have it (answered 404). */
  channelInfo(channelId: string): ChannelInfo | undefined;
  /**
   * Joins the channel of `configBlock`. The server has already checked that the block decodes,
   * is a config block (one CONFIG envelope whose config parses, see channelconfig/settings.ts)
   * of a channel with a valid ID and an Application group. Throws ParticipationError (e.g.
   * ChannelExistsError); any other error is answered 400, as Fabric answers unknown join errors.
   */
  joinChannel(configBlock: common.Block): Promise<ChannelInfo>;
  /**
   * Removes the channel (chain stopped, ledger and WAL deleted). Throws ParticipationError (e.g.
   * ChannelNotFoundError, ChannelPendingRemovalError); any other error is answered 400 (Fabric).
   */
  removeChannel(channelId: string): Promise<void>;
}
