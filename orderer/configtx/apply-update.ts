// Reference §4.2 steps 1-6: a ConfigUpdateEnvelope applied to the current config, as Fabric's
// configtx validator proposes it. Checks the update against the current config element by
// element (read set current, changed elements at the next version and allowed by the current
// config's mod_policy), then builds the next config. Pure: no clock, no IO, inputs untouched.
import { common, ProtoDecodeError } from '../../protos';
import { ChainInvariantError, OrdererError } from '../errors';
import type { ChannelPolicies } from '../policies/channel-policies';
import { configUpdateSignedData } from '../policies/config-signatures';
import {
  describeElement,
  elementModPolicy,
  elementVersion,
  flattenConfig,
  modPolicyProblem,
  rebuildConfig,
  type ConfigElement,
} from './config-map';

/** What a config update is judged against: the current config's policies (ConfigChannelAccess has them). */
export interface CurrentPolicies {
  readonly policies: ChannelPolicies;
}

export interface ApplyConfigUpdateInput {
  readonly channelId: string;
  readonly current: common.Config;
  /** Built from `current`: mod_policies are those of the config being changed. */
  readonly access: CurrentPolicies;
  readonly envelope: common.ConfigUpdateEnvelope;
}

export interface AppliedConfigUpdate {
  /** The next config: sequence current + 1. */
  readonly config: common.Config;
  /** The decoded ConfigUpdate (for consenterUpdateOf and the chain's membership logic). */
  readonly update: common.ConfigUpdate;
}

/** The policy scope of an element as configtx resolves a relative mod_policy: the keys below
 *  /Channel of its parent group, or of the group itself for a group. */
function policyScope(e: ConfigElement): string[] {
  const path = e.kind === 'group' ? [...e.parent, e.key] : [...e.parent];
  return path.slice(1);
}

function decodeUpdate(bytes: Uint8Array): common.ConfigUpdate {
  try {
    return common.ConfigUpdate.decode(bytes);
  } catch (err) {
    if (err instanceof ProtoDecodeError) throw OrdererError.badRequest(`config update does not decode: ${err.message}`, { cause: err });
    throw err;
  }
}

/**
 * Steps 1-6 of reference §4.2. BAD_REQUEST for a malformed or inapplicable update (naming the
 * element), FORBIDDEN when the signatures do not satisfy the mod_policy of an element it changes.
 */
export function applyConfigUpdate(input: ApplyConfigUpdateInput): AppliedConfigUpdate {
  const { channelId, current, access, envelope } = input;
  if (current.channelGroup === undefined) throw new ChainInvariantError(`channel ${channelId}: current config has no channel group`);

  // Step 1.
  const update = decodeUpdate(envelope.configUpdate);
  if (update.channelId !== channelId) {
    throw OrdererError.badRequest(`config update is for channel ${JSON.stringify(update.channelId)}, not ${JSON.stringify(channelId)}`);
  }

  // Step 2. The current config is ours; a bad name in it is not the client's fault, but Fabric
  // refuses every update of such a channel alike.
  const currentMap = flattenConfig(current.channelGroup, 'current config');
  const readSet = flattenConfig(update.readSet, 'read set');

  // Step 3: the update was computed against the config as it is now.
  for (const [key, read] of readSet) {
    const existing = currentMap.get(key);
    if (existing === undefined) {
      throw OrdererError.badRequest(`read set: ${describeElement(read)} does not exist in the current config`);
    }
    if (elementVersion(existing) !== elementVersion(read)) {
      throw OrdererError.badRequest(
        `read set: ${describeElement(read)} is at version ${elementVersion(existing)}, the update read it at version ${elementVersion(read)} (the config changed since; recompute the update)`,
      );
    }
  }

  // Step 4.
  const writeSet = flattenConfig(update.writeSet, 'write set');
  const delta = new Map<string, ConfigElement>();
  for (const [key, written] of writeSet) {
    const read = readSet.get(key);
    if (read !== undefined && elementVersion(read) === elementVersion(written)) continue;
    delta.set(key, written);
  }
  // Fabric reads the signatures before looking at the delta: a signature header that does not
  // parse is BAD_REQUEST even for an update that changes nothing.
  const signedData = configUpdateSignedData(envelope);
  if (delta.size === 0) {
    throw OrdererError.badRequest('config update changes nothing: every write set element is in the read set at the same version');
  }

  // Step 5, in key order so the reported problem does not depend on map order.
  for (const key of [...delta.keys()].sort()) {
    const written = delta.get(key)!;
    const what = describeElement(written);
    const problem = modPolicyProblem(elementModPolicy(written));
    if (problem !== undefined) throw OrdererError.badRequest(`write set: ${what}: ${problem}`);
    const existing = currentMap.get(key);
    if (existing === undefined) {
      if (elementVersion(written) !== 0) {
        throw OrdererError.badRequest(`write set: ${what} is new, so its version must be 0, not ${elementVersion(written)}`);
      }
      continue;
    }
    const expected = elementVersion(existing) + 1;
    if (elementVersion(written) !== expected) {
      throw OrdererError.badRequest(
        `write set: ${what} is at version ${elementVersion(existing)}, so a change must carry version ${expected}, not ${elementVersion(written)}`,
      );
    }
    // The EXISTING element's mod_policy decides: an update cannot loosen the rule that guards it.
    const modPolicy = elementModPolicy(existing);
    const policy = access.policies.modPolicy(policyScope(existing), modPolicy);
    if (policy === undefined) {
      throw OrdererError.forbidden(
        `config update may not change ${what}: its mod_policy ${JSON.stringify(modPolicy)} names no policy of the channel`,
      );
    }
    const result = policy.evaluate(signedData);
    if (!result.satisfied) {
      throw OrdererError.forbidden(
        `config update may not change ${what}: its mod_policy ${JSON.stringify(modPolicy)} is not satisfied: ${result.reason}`,
      );
    }
  }

  // Step 6: the current elements overlaid with the changed ones; each group keeps the children
  // its winning copy lists.
  const proposed = new Map(currentMap);
  for (const [key, e] of delta) proposed.set(key, e);
  // As Fabric checks it: against the overlaid map (elements a group no longer lists are dropped
  // by the rebuild below, as on a Fabric node).
  for (const [key, e] of writeSet) {
    if (!proposed.has(key)) throw OrdererError.badRequest(`write set: ${describeElement(e)} does not appear in the updated config`);
  }
  const channelGroup = rebuildConfig(proposed);
  return { config: { sequence: current.sequence + 1, channelGroup }, update };
}
