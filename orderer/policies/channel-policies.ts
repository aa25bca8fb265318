// The per-channel policy seam. Broadcast (Writers, or Orderer Writers in maintenance), Deliver
// (Readers), pulled-block verification (Orderer BlockValidation) and config updates
// (mod_policy of each changed element) all evaluate against ONE channel's policies at ONE
// config sequence. A ChannelPolicies is that snapshot: immutable, built from the channel's
// config when it applies, replaced as a whole by the next config block, so a check never
// mixes two configs.
import type { common } from '../../protos';
import { OrdererError } from '../errors';
import type { IdentityDeserializer } from '../msp/types';
import type { PolicyEvaluator, SignedData } from '../msgcheck';
import { buildPolicyManager, type GroupPolicyManager, PATH_SEPARATOR } from './manager';
import type { Policy, PolicyManager, PolicyResult } from './types';

/** What pulled blocks' orderer signatures must satisfy (reference §2.7). The Writers and Readers
 *  names live with their users, msgcheck.ts and deliver.ts. */
export const BLOCK_VALIDATION_POLICY = '/Channel/Orderer/BlockValidation';

/** One channel's policies at one config sequence. */
export interface ChannelPolicies {
  readonly channelId: string;
  /** Config.sequence of the config the policies were built from. */
  readonly configSequence: number;
  /** The /Channel group's manager: absolute names, or names relative to /Channel. */
  readonly manager: PolicyManager;
  /**
   * Evaluates the policy `policyName` (absolute or relative to /Channel). A name with no policy
   * is not satisfied (reference §5.2 rule 4), with a reason saying so.
   */
  evaluate(policyName: string, signedData: readonly SignedData[]): PolicyResult;
  /**
   * The policy a config element's mod_policy names, resolved as configtx does (reference §4.2
   * step 5): an absolute name from /Channel; a relative one in `scopeGroupPath`, the group the
   * element belongs to given as keys below /Channel ([] for /Channel itself; for a group
   * element, the group's own path). Undefined if the scope group or the policy does not exist;
   * the update is then refused, as any unsatisfied mod_policy.
   */
  modPolicy(scopeGroupPath: readonly string[], modPolicy: string): Policy | undefined;
}

/** ChannelPolicies compiled from a common.Config with the channel's MSPs. */
export class ConfigChannelPolicies implements ChannelPolicies {
  private constructor(
    readonly channelId: string,
    readonly configSequence: number,
    readonly manager: GroupPolicyManager,
  ) {}

  /**
   * Compiles the policies of `config`. `deserializer` must be the MSPs of this same config (a
   * policy change and an MSP change can arrive in one update). Throws PolicyConfigError
   * (BAD_REQUEST, with the policy's path) if any policy does not compile.
   */
  static fromConfig(channelId: string, config: common.Config, deserializer: IdentityDeserializer): ConfigChannelPolicies {
    return new ConfigChannelPolicies(channelId, config.sequence, buildPolicyManager(config, deserializer));
  }

  evaluate(policyName: string, signedData: readonly SignedData[]): PolicyResult {
    const policy = this.manager.getPolicy(policyName);
    if (policy === undefined) {
      return { satisfied: false, reason: `channel ${this.channelId} has no policy ${JSON.stringify(policyName)}` };
    }
    return policy.evaluate(signedData);
  }

  modPolicy(scopeGroupPath: readonly string[], modPolicy: string): Policy | undefined {
    if (modPolicy.startsWith(PATH_SEPARATOR) || scopeGroupPath.length === 0) return this.manager.getPolicy(modPolicy);
    return this.manager.manager(scopeGroupPath)?.getPolicy(modPolicy);
  }
}

/**
 * Adapts a channel's policies to the PolicyEvaluator seam msgcheck.checkPolicy uses today.
 * `current` is read on every call, so the adapter follows config changes (pass the chain's
 * accessor, not a snapshot). An unsatisfied policy throws OrdererError FORBIDDEN carrying the
 * reason, which checkPolicy passes through to the client as BroadcastResponse.info.
 */
export class ChannelPolicyEvaluator implements PolicyEvaluator {
  constructor(private readonly current: () => ChannelPolicies) {}

  evaluateSignedData(policyName: string, signedData: readonly SignedData[]): boolean {
    const policies = this.current();
    const result = policies.evaluate(policyName, signedData);
    if (result.satisfied) return true;
    throw OrdererError.forbidden(`signature set does not satisfy policy ${policyName}: ${result.reason}`);
  }
}
