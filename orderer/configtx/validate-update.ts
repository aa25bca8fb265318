// The orderer's entry points for config changes: validateConfigUpdate judges a client's
// CONFIG_UPDATE (reference §4.2 steps 1-7), validateChannelConfigTransition judges a next config
// against the chain's Raft state (§3.6, §3.8 steps 3-6) when it is proposed and when it applies.
import type { common } from '../../protos';
import { parseChannelConfig, type ChannelSettings } from '../channelconfig/settings';
import { OrdererError } from '../errors';
import type { ConfigChannelAccess } from '../policies/channel-access';
import { applyConfigUpdate, type CurrentPolicies } from './apply-update';
import { checkConfigBundle, checkSettingsTransition } from './bundle-checks';
import {
  checkNewConsenterNotExpired,
  checkQuorumGuard,
  consenterUpdateOf,
  detectConsenterChange,
  validateConsenterCerts,
  type ConsenterChange,
} from './consenters';

export interface ConfigUpdateInput {
  readonly channelId: string;
  readonly current: common.Config;
  /** The current config's access (ConfigChannelAccess.fromConfig of `current`). */
  readonly access: CurrentPolicies;
  readonly envelope: common.ConfigUpdateEnvelope;
  /**
   * Now, ms since the epoch: the CAs of consenter certificates must be valid at this instant
   * (the consenters' own expiry is forgiven). Without it no validity period is checked.
   */
  readonly nowMs?: number;
}

export interface ValidatedConfigUpdate {
  /** The next config, sequence current + 1. */
  readonly config: common.Config;
  readonly update: common.ConfigUpdate;
  /** Settings of the next config. */
  readonly settings: ChannelSettings;
  /** MSPs and policies of the next config. */
  readonly access: ConfigChannelAccess;
}

/**
 * Reference §4.2 steps 1-7: the next config a CONFIG_UPDATE produces, or OrdererError
 * BAD_REQUEST (malformed, stale, or producing an unusable config; the message names the
 * element) or FORBIDDEN (a changed element's mod_policy not satisfied). Inputs are not modified.
 */
export function validateConfigUpdate(input: ConfigUpdateInput): ValidatedConfigUpdate {
  const { config, update } = applyConfigUpdate(input);
  const currentSettings = parseChannelConfig(input.channelId, input.current);
  const { settings, access } = checkConfigBundle(input.channelId, currentSettings, config, input.nowMs);
  return { config, update, settings, access };
}

export interface ChannelConfigTransitionInput {
  readonly channelId: string;
  readonly current: {
    readonly config: common.Config;
    readonly settings: ChannelSettings;
    /** consenter_ids of the last block metadata: consenterIds[i] is the raft ID of settings' consenters[i]. */
    readonly consenterIds: readonly number[];
    readonly nextConsenterId: number;
  };
  readonly next: common.Config;
  /** The ConfigUpdate that produced `next` (the config envelope's last_update). */
  readonly update: common.ConfigUpdate;
  /**
   * Raft IDs of the consenters known to be active (the leader and followers recently heard
   * from), for the quorum guard; undefined skips the guard (a follower does not know).
   */
  readonly activeNodes?: readonly number[] | undefined;
  readonly nowMs: number;
}

export interface ChannelConfigTransition {
  readonly settings: ChannelSettings;
  readonly consenterChange: ConsenterChange;
}

/**
 * Whether the chain may move from its current config to `next`, and what that does to Raft
 * membership (reference §3.6, §3.8): `next` is the current sequence + 1, its settings parse, nothing immutable changes, consenter
 * certificates are valid and distinct, at most one consenter joins or leaves, a joining one's
 * certificates are not expired, and (with `activeNodes`) quorum survives. BAD_REQUEST otherwise.
 * Membership is only looked at when the update rewrote Orderer/ConsensusType, as in Fabric.
 * For a config about to be ordered: it reads the clock (`nowMs`), so a committed block is
 * applied with consenterUpdateOf + detectConsenterChange alone, identically on every node.
 */
export function validateChannelConfigTransition(input: ChannelConfigTransitionInput): ChannelConfigTransition {
  const { channelId, current, next, update, activeNodes, nowMs } = input;
  // Fabric's Validate: a config applies only on top of the one it was made from.
  if (next.sequence !== current.config.sequence + 1) {
    throw OrdererError.badRequest(
      `config at sequence ${next.sequence} cannot follow the current config at sequence ${current.config.sequence} (expected ${current.config.sequence + 1})`,
    );
  }
  const settings = parseChannelConfig(channelId, next);
  checkSettingsTransition(current.settings, settings);
  validateConsenterCerts(settings, nowMs);
  const consenterChange: ConsenterChange = consenterUpdateOf(update)
    ? detectConsenterChange(current.settings.orderer.consensus.consenters, settings.orderer.consensus.consenters, current.consenterIds, current.nextConsenterId)
    : { kind: 'none', ids: [...current.consenterIds], nextConsenterId: current.nextConsenterId };
  checkNewConsenterNotExpired(settings, consenterChange, nowMs);
  checkQuorumGuard(consenterChange, activeNodes);
  return { settings, consenterChange };
}
