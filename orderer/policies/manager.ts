// A channel's policies, compiled from its config tree (reference §1.8, §5.2 rule 4): one
// manager per config group, each holding its own policies and, under "child/name", those of
// every group below it, so "/Channel/Orderer/BlockValidation" and the channel-relative
// "Orderer/BlockValidation" name the same policy.
//
// Building fails on any policy that does not compile, with the path of the policy, because
// Fabric refuses such a config as a whole (a config update producing it is BAD_REQUEST, a
// join block carrying it is refused). Evaluating never fails for a missing name: getPolicy
// answers undefined and the caller treats that as rejected.
import { common } from '../../protos';
import { CHANNEL_GROUP } from '../channelconfig/settings';
import type { IdentityDeserializer } from '../msp/types';
import type { CompiledPolicy } from './compiled';
import { PolicyConfigError, SignaturePolicyError } from './errors';
import { decodeImplicitMeta, ImplicitMetaPolicy, type SubPolicy } from './implicit-meta';
import { SignaturePolicy } from './signature-policy';
import type { PolicyManager } from './types';

export const PATH_SEPARATOR = '/';

/** The policies of one config group and of every group below it. */
export class GroupPolicyManager implements PolicyManager {
  constructor(
    /** Fabric's manager path: "Channel", "Channel/Application", ... (no leading slash). */
    readonly path: string,
    /** By name relative to this group: "Writers", "Org1MSP/Writers", ... */
    readonly policies: ReadonlyMap<string, CompiledPolicy>,
    private readonly children: ReadonlyMap<string, GroupPolicyManager>,
  ) {}

  /**
   * The policy named `name`: relative to this group ("Writers", "Org1MSP/Admins") or absolute
   * ("/Channel/Application/Writers"). An absolute name is resolved as Fabric's policy manager
   * does: it must START with "/" + this group's path, and that many characters plus one
   * separator are cut off; so "/ChannelXWriters" finds "/Channel/Writers" on a Fabric node, and
   * here too, since config updates whose mod_policy is written that way must be judged alike.
   * Fabric crashes on the bare "/Channel"; here it is simply not found.
   */
  getPolicy(name: string): CompiledPolicy | undefined {
    if (name === '') return undefined;
    let relative = name;
    if (name.startsWith(PATH_SEPARATOR)) {
      if (!name.startsWith(PATH_SEPARATOR + this.path)) return undefined;
      relative = name.slice(1 + this.path.length + 1);
      if (relative === '') return undefined;
    }
    return this.policies.get(relative);
  }

  /** The manager of the group at `path` below this one ([] is this one); undefined if no such group. */
  manager(path: readonly string[]): GroupPolicyManager | undefined {
    let m: GroupPolicyManager | undefined = this;
    for (const key of path) {
      m = m.children.get(key);
      if (m === undefined) return undefined;
    }
    return m;
  }

  /** Absolute names of every policy at or below this group, sorted (tooling, tests, logs). */
  policyNames(): string[] {
    return [...this.policies.keys()].map((relative) => `${PATH_SEPARATOR}${this.path}${PATH_SEPARATOR}${relative}`).sort();
  }
}

function sortedEntries<V>(record: Readonly<Record<string, V>>): [string, V][] {
  return Object.keys(record)
    .sort()
    .map((key) => [key, record[key]!]);
}

function compilePolicy(
  name: string,
  configPolicy: common.ConfigPolicy,
  children: ReadonlyMap<string, GroupPolicyManager>,
  deserializer: IdentityDeserializer,
): CompiledPolicy {
  const policy = configPolicy.policy;
  if (policy === undefined) throw new PolicyConfigError(name, 'the ConfigPolicy carries no policy');
  try {
    switch (policy.type) {
      case common.Policy_PolicyType.SIGNATURE:
        return SignaturePolicy.fromBytes(name, policy.value, deserializer);
      case common.Policy_PolicyType.IMPLICIT_META: {
        const definition = decodeImplicitMeta(policy.value);
        const subPolicies: SubPolicy[] = [...children.entries()].map(([, child]) => ({
          name: `${PATH_SEPARATOR}${child.path}${PATH_SEPARATOR}${definition.subPolicy}`,
          // Resolved in the child's manager, as Fabric does: a sub_policy may be a path
          // ("Org1MSP/Admins") below the child too.
          policy: child.getPolicy(definition.subPolicy),
        }));
        return new ImplicitMetaPolicy(name, definition, subPolicies, deserializer);
      }
      default: {
        // Fabric registers no provider for MSP (2), UNKNOWN (0) or other numbers.
        const typeName = common.Policy_PolicyType[policy.type] ?? String(policy.type);
        throw new PolicyConfigError(name, `policy type ${typeName} is not supported (only SIGNATURE and IMPLICIT_META)`);
      }
    }
  } catch (err) {
    if (err instanceof SignaturePolicyError) throw new PolicyConfigError(name, `does not compile: ${err.message}`, { cause: err });
    throw err;
  }
}

function buildGroup(path: string, group: common.ConfigGroup, deserializer: IdentityDeserializer): GroupPolicyManager {
  const children = new Map<string, GroupPolicyManager>();
  for (const [key, child] of sortedEntries(group.groups)) {
    children.set(key, buildGroup(`${path}${PATH_SEPARATOR}${key}`, child, deserializer));
  }
  const policies = new Map<string, CompiledPolicy>();
  for (const [key, configPolicy] of sortedEntries(group.policies)) {
    policies.set(key, compilePolicy(`${PATH_SEPARATOR}${path}${PATH_SEPARATOR}${key}`, configPolicy, children, deserializer));
  }
  // Descendants' policies under "child/name", written after the group's own as Fabric does
  // (config names cannot contain "/", so the two never collide in a valid config).
  for (const [key, child] of children) {
    for (const [relative, policy] of child.policies) policies.set(`${key}${PATH_SEPARATOR}${relative}`, policy);
  }
  return new GroupPolicyManager(path, policies, children);
}

/**
 * Compiles every policy of `config`'s channel group tree. Throws PolicyConfigError (a
 * BAD_REQUEST ChannelConfigError) naming the first policy that does not compile.
 */
export function buildPolicyManager(config: common.Config, deserializer: IdentityDeserializer): GroupPolicyManager {
  if (config.channelGroup === undefined) throw new PolicyConfigError(`${PATH_SEPARATOR}${CHANNEL_GROUP}`, 'the config has no channel group');
  return buildGroup(CHANNEL_GROUP, config.channelGroup, deserializer);
}
