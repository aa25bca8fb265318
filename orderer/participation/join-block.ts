// What the Admin server checks of an uploaded join block before the node sees it, as Fabric's
// channelparticipation.ValidateJoinBlock does: it decodes, it is a config block, its config is
// a valid channel config (Fabric builds a channelconfig bundle; we parse and validate it with
// channelconfig/settings.ts), its channel ID is valid, and it has an Application group. A config
// with only Consortiums is a system channel's, which Fabric would accept and we do not serve
// (reference §7): refused here, 400, so the node never has to.
import { common, ProtoDecodeError } from '../../protos';
import { APPLICATION_GROUP, CONSORTIUMS_GROUP, getOwn, isValidChannelId, parseConfigBlock, type ChannelSettings } from '../channelconfig/settings';
import { ChannelConfigError } from '../errors';
import { InvalidJoinBlockError } from './errors';

/** The multipart part the join block travels in (Fabric's FormDataConfigBlockKey). */
export const CONFIG_BLOCK_PART = 'config-block';

export interface JoinBlock {
  readonly block: common.Block;
  readonly channelId: string;
}

/** Decodes and checks `bytes`; throws InvalidJoinBlockError with a message like Fabric's. */
export function validateJoinBlock(bytes: Uint8Array): JoinBlock {
  let block: common.Block;
  try {
    block = common.Block.decode(bytes);
  } catch (err) {
    if (err instanceof ProtoDecodeError) {
      throw new InvalidJoinBlockError(`cannot unmarshal file part ${CONFIG_BLOCK_PART} into a block: ${err.message}`, { cause: err });
    }
    throw err;
  }
  if (block.header === undefined || block.data === undefined) {
    throw new InvalidJoinBlockError('invalid join block: block is not a config block (no header or no data)');
  }
  let settings: ChannelSettings;
  try {
    settings = parseConfigBlock(block);
  } catch (err) {
    if (err instanceof ChannelConfigError || err instanceof ProtoDecodeError) throw new InvalidJoinBlockError(`invalid join block: ${err.message}`, { cause: err });
    throw err;
  }
  const channelId = settings.channelId;
  if (!isValidChannelId(channelId)) {
    throw new InvalidJoinBlockError(`invalid join block: bad channel ID: '${channelId}' contains illegal characters or is longer than 249`);
  }
  if (settings.application === undefined) {
    const root = settings.config.channelGroup;
    if (root !== undefined && getOwn(root.groups, CONSORTIUMS_GROUP) !== undefined) {
      throw new InvalidJoinBlockError('invalid join block: it is a system channel config (Consortiums, no Application); this orderer serves application channels only');
    }
    throw new InvalidJoinBlockError(`invalid join block: invalid config: must have at least one of application or consortiums (no ${APPLICATION_GROUP} group)`);
  }
  return { block, channelId };
}
