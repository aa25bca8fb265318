// A ChannelParticipation of a node that keeps its channels in a map, for the Admin server and
// osnadmin tests: records every call, answers as the node would (ChannelExistsError,
// ChannelNotFoundError), and can be told to refuse the next call with any error.
import { genesisBlock } from '../../ledger/block';
import { buildGenesisConfigEnvelope, configEnvelopeFromBlock } from '../../orderer/channelconfig';
import { ChannelExistsError, ChannelNotFoundError, type ChannelInfo, type ChannelParticipation } from '../../orderer/participation';
import { common } from '../../protos';

export class FakeParticipation implements ChannelParticipation {
  readonly channels = new Map<string, ChannelInfo>();
  readonly joinCalls: common.Block[] = [];
  readonly removeCalls: string[] = [];
  /** Thrown by the next joinChannel / removeChannel, then cleared. */
  joinError: unknown = undefined;
  removeError: unknown = undefined;

  listChannels(): ChannelInfo[] {
    return [...this.channels.values()];
  }

  channelInfo(channelId: string): ChannelInfo | undefined {
    return this.channels.get(channelId);
  }

  async joinChannel(configBlock: common.Block): Promise<ChannelInfo> {
    this.joinCalls.push(configBlock);
    const planted = this.joinError;
    this.joinError = undefined;
    if (planted !== undefined) throw planted;
    const { channelId } = configEnvelopeFromBlock(configBlock);
    if (this.channels.has(channelId)) throw new ChannelExistsError(channelId);
    const number = configBlock.header?.number ?? 0;
    const info: ChannelInfo =
      number === 0
        ? { name: channelId, consensusRelation: 'consenter', status: 'active', height: 1 }
        : { name: channelId, consensusRelation: 'follower', status: 'onboarding', height: 0 };
    this.channels.set(channelId, info);
    return info;
  }

  async removeChannel(channelId: string): Promise<void> {
    this.removeCalls.push(channelId);
    const planted = this.removeError;
    this.removeError = undefined;
    if (planted !== undefined) throw planted;
    if (!this.channels.delete(channelId)) throw new ChannelNotFoundError(channelId);
  }
}

/**
 * Block 0 of an application channel `channelId`, as configtxgen would write it; `headerChannelId`
 * puts another ID in its channel header (which is where a block's channel ID is read from).
 */
export function joinBlock(channelId: string, headerChannelId = channelId): common.Block {
  return genesisBlock({
    channelId: headerChannelId,
    configEnvelope: buildGenesisConfigEnvelope({
      channelId,
      consenters: [{ host: '127.0.0.1', port: 7050 }],
      ordererOrgs: [{ mspId: 'OrdererMSP', endpoints: ['127.0.0.1:7050'] }],
    }),
  });
}

/** The same channel's block 0 with its config's top-level groups changed by `edit`. */
export function joinBlockWithGroups(channelId: string, edit: (groups: Record<string, common.ConfigGroupInit>) => void): common.Block {
  const envelope = buildGenesisConfigEnvelope({
    channelId,
    consenters: [{ host: '127.0.0.1', port: 7050 }],
    ordererOrgs: [{ mspId: 'OrdererMSP', endpoints: ['127.0.0.1:7050'] }],
  });
  const groups = envelope.config?.channelGroup?.groups;
  if (groups === undefined) throw new Error('genesis config without channel groups');
  edit(groups);
  return genesisBlock({ channelId, configEnvelope: envelope });
}
