// Reference §4.2 step 7, Fabric's bundle checks: the config an update produces must be one the
// orderer can run on (settings parse, MSPs and policies build, consenters valid), and it may not
// change what an existing organization is (its MSP ID) or the consensus type.
import type { common } from '../../protos';
import {
  APPLICATION_GROUP,
  CHANNEL_GROUP,
  CONSENSUS_TYPE_KEY,
  MSP_KEY,
  ORDERER_GROUP,
  parseChannelConfig,
  type ChannelSettings,
  type OrganizationSettings,
} from '../channelconfig/settings';
import { ChannelConfigError } from '../errors';
import { ConfigChannelAccess } from '../policies/channel-access';
import { checkSingleMembershipChange, validateConsenterCerts } from './consenters';

function checkMspIdsKept(
  section: string,
  before: readonly OrganizationSettings[],
  after: readonly OrganizationSettings[],
): void {
  for (const old of before) {
    const now = after.find((o) => o.name === old.name);
    // An organization may leave; if it stays it stays the same MSP, or identities and policies
    // written for it would silently mean someone else.
    if (now !== undefined && now.mspId !== old.mspId) {
      throw new ChannelConfigError(
        `/${CHANNEL_GROUP}/${section}/${old.name}/${MSP_KEY}`,
        `${section.toLowerCase()} organization ${old.name} may not change its MSP ID from ${old.mspId} to ${now.mspId}`,
      );
    }
  }
}

/**
 * What may not change between two configs of one channel (Fabric's Bundle.ValidateNew): the
 * consensus type, the Application section's existence, existing organizations' MSP IDs.
 * BAD_REQUEST naming the element.
 */
export function checkSettingsTransition(current: ChannelSettings, next: ChannelSettings): void {
  // Consensus-type migration needs capabilities and maintenance mode we do not implement; only
  // etcdraft parses today, so this holds by construction and guards the day another type does.
  if (next.orderer.consensus.type !== current.orderer.consensus.type) {
    throw new ChannelConfigError(
      `/${CHANNEL_GROUP}/${ORDERER_GROUP}/${CONSENSUS_TYPE_KEY}`,
      `consensus type may not change from ${current.orderer.consensus.type} to ${next.orderer.consensus.type}`,
    );
  }
  checkMspIdsKept(ORDERER_GROUP, current.orderer.organizations, next.orderer.organizations);
  if (current.application !== undefined) {
    if (next.application === undefined) {
      throw new ChannelConfigError(`/${CHANNEL_GROUP}/${APPLICATION_GROUP}`, 'the current config has an Application section; the update may not remove it');
    }
    checkMspIdsKept(APPLICATION_GROUP, current.application.organizations, next.application.organizations);
  }
}

export interface CheckedConfig {
  readonly settings: ChannelSettings;
  /** MSPs and policies of the next config, ready to replace the current ones when it applies. */
  readonly access: ConfigChannelAccess;
}

/**
 * Reference §4.2 step 7 on `next`, the config an update of `current` produced. The consenter
 * checks here need no chain state: certificates (expiry ignored) and at most one membership
 * change; the raft-ID and quorum checks are validateChannelConfigTransition's.
 */
export function checkConfigBundle(channelId: string, current: ChannelSettings, next: common.Config, nowMs?: number): CheckedConfig {
  const settings = parseChannelConfig(channelId, next);
  const access = ConfigChannelAccess.fromConfig(channelId, next);
  checkSettingsTransition(current, settings);
  validateConsenterCerts(settings, nowMs);
  checkSingleMembershipChange(current.orderer.consensus.consenters, settings.orderer.consensus.consenters);
  return { settings, access };
}
