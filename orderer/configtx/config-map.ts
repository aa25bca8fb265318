// A config tree as a flat map of its elements, keyed by kind and path (reference §4.2 step 2), and
// the way back. A config update is judged element by element on these maps: the read set against
// the current config, the write set against the read set, and the new tree is rebuilt from the
// current map overlaid with the changed elements.
import type { common } from '../../protos';
import { CAPABILITIES_KEY, CHANNEL_GROUP, ORDERER_GROUP } from '../channelconfig/settings';
import { OrdererError } from '../errors';

export type ElementKind = 'group' | 'value' | 'policy';

/** One element of a config tree with where it sits. */
export type ConfigElement =
  | { readonly kind: 'group'; readonly parent: readonly string[]; readonly key: string; readonly group: common.ConfigGroup }
  | { readonly kind: 'value'; readonly parent: readonly string[]; readonly key: string; readonly value: common.ConfigValue }
  | { readonly kind: 'policy'; readonly parent: readonly string[]; readonly key: string; readonly policy: common.ConfigPolicy };

/** Elements by elementKey(kind, path). */
export type ConfigMap = ReadonlyMap<string, ConfigElement>;

/** Fabric's limit on a config element name (and a channel name). */
export const MAX_CONFIG_NAME_LENGTH = 249;
const CONFIG_NAME = /^[a-zA-Z0-9.-]+$/;
const PATH_SEPARATOR = '/';

/**
 * Config elements whose mod_policy is empty get this one when the channel has orderer
 * capabilities (Fabric's repair of v1.0 channels, FAB-5309 / FAB-6080; reference §4.2 step 6).
 */
export const LEGACY_REPAIR_MOD_POLICY = 'Admins';

/** "/Channel/Orderer/BatchSize" for the element `key` below the groups `parent`. */
export function elementPath(parent: readonly string[], key: string): string {
  return PATH_SEPARATOR + [...parent, key].join(PATH_SEPARATOR);
}

/** The map key: kinds live apart, so a group and a value may share a name. */
export function elementKey(kind: ElementKind, path: string): string {
  return `${kind} ${path}`;
}

/** "value /Channel/Orderer/BatchSize", for messages. */
export function describeElement(e: ConfigElement): string {
  return `${e.kind} ${elementPath(e.parent, e.key)}`;
}

export function elementVersion(e: ConfigElement): number {
  switch (e.kind) {
    case 'group':
      return e.group.version;
    case 'value':
      return e.value.version;
    case 'policy':
      return e.policy.version;
  }
}

export function elementModPolicy(e: ConfigElement): string {
  switch (e.kind) {
    case 'group':
      return e.group.modPolicy;
    case 'value':
      return e.value.modPolicy;
    case 'policy':
      return e.policy.modPolicy;
  }
}

/** Why `name` cannot name a config element (Fabric's validateConfigID), or undefined if it can. */
export function configNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.length > MAX_CONFIG_NAME_LENGTH) return `is longer than ${MAX_CONFIG_NAME_LENGTH} characters`;
  if (name === '.' || name === '..') return `may not be ${JSON.stringify(name)}`;
  if (!CONFIG_NAME.test(name)) return 'may only contain [a-zA-Z0-9.-]';
  return undefined;
}

/**
 * Why `modPolicy` is not a usable policy name, or undefined if it is: non-empty, and every
 * path element (after one leading "/" for an absolute name) a valid config name.
 */
export function modPolicyProblem(modPolicy: string): string | undefined {
  if (modPolicy === '') return 'mod_policy is not set';
  const relative = modPolicy.startsWith(PATH_SEPARATOR) ? modPolicy.slice(1) : modPolicy;
  const parts = relative.split(PATH_SEPARATOR);
  for (let i = 0; i < parts.length; i++) {
    const problem = configNameProblem(parts[i]!);
    if (problem !== undefined) return `mod_policy ${JSON.stringify(modPolicy)}: path element ${i} ${problem}`;
  }
  return undefined;
}

/**
 * Flattens the tree below `root` (named "Channel"). `what` names the tree in errors ("read set").
 * An element with an invalid name is BAD_REQUEST naming its path. Keys are visited in sorted
 * order so the first problem reported does not depend on map order.
 */
export function flattenConfig(root: common.ConfigGroup | undefined, what: string): Map<string, ConfigElement> {
  const out = new Map<string, ConfigElement>();
  if (root === undefined) return out;
  const add = (e: ConfigElement): void => {
    const problem = configNameProblem(e.key);
    if (problem !== undefined) {
      throw OrdererError.badRequest(`${what}: ${e.kind} ${elementPath(e.parent, e.key)}: name ${problem}`);
    }
    out.set(elementKey(e.kind, elementPath(e.parent, e.key)), e);
  };
  const walk = (parent: readonly string[], key: string, group: common.ConfigGroup): void => {
    add({ kind: 'group', parent, key, group });
    const path = [...parent, key];
    for (const child of Object.keys(group.groups).sort()) walk(path, child, group.groups[child]!);
    for (const name of Object.keys(group.values).sort()) add({ kind: 'value', parent: path, key: name, value: group.values[name]! });
    for (const name of Object.keys(group.policies).sort()) add({ kind: 'policy', parent: path, key: name, policy: group.policies[name]! });
  };
  walk([], CHANNEL_GROUP, root);
  return out;
}

const ORDERER_CAPABILITIES_KEY = elementKey('value', elementPath([CHANNEL_GROUP, ORDERER_GROUP], CAPABILITIES_KEY));

/**
 * The /Channel tree of `map`: each group holds the children its own copy in the map lists, so a
 * group that won with a new version adds or drops children (reference §4.2 step 6). Messages are
 * copied (byte fields are shared, never written). A listed child missing from the map is
 * BAD_REQUEST.
 */
export function rebuildConfig(map: ConfigMap): common.ConfigGroup {
  const repair = map.has(ORDERER_CAPABILITIES_KEY);
  const fill = (modPolicy: string): string => (repair && modPolicy === '' ? LEGACY_REPAIR_MOD_POLICY : modPolicy);
  const lookup = (kind: ElementKind, path: string): ConfigElement => {
    const e = map.get(elementKey(kind, path));
    if (e === undefined) throw OrdererError.badRequest(`the updated config lists ${kind} ${path} but holds no such element`);
    return e;
  };
  const build = (path: readonly string[]): common.ConfigGroup => {
    const pathText = PATH_SEPARATOR + path.join(PATH_SEPARATOR);
    const e = lookup('group', pathText);
    if (e.kind !== 'group') throw new Error(`config map holds a ${e.kind} under a group key at ${pathText}`);
    const source = e.group;
    const groups: Record<string, common.ConfigGroup> = {};
    const values: Record<string, common.ConfigValue> = {};
    const policies: Record<string, common.ConfigPolicy> = {};
    for (const key of Object.keys(source.groups).sort()) groups[key] = build([...path, key]);
    for (const key of Object.keys(source.values).sort()) {
      const v = lookup('value', `${pathText}/${key}`);
      if (v.kind !== 'value') throw new Error(`config map holds a ${v.kind} under a value key at ${pathText}/${key}`);
      values[key] = { version: v.value.version, value: v.value.value, modPolicy: fill(v.value.modPolicy) };
    }
    for (const key of Object.keys(source.policies).sort()) {
      const p = lookup('policy', `${pathText}/${key}`);
      if (p.kind !== 'policy') throw new Error(`config map holds a ${p.kind} under a policy key at ${pathText}/${key}`);
      const policy = p.policy.policy;
      policies[key] = {
        version: p.policy.version,
        policy: policy === undefined ? undefined : { type: policy.type, value: policy.value },
        modPolicy: fill(p.policy.modPolicy),
      };
    }
    return { version: source.version, groups, values, policies, modPolicy: fill(source.modPolicy) };
  };
  return build([CHANNEL_GROUP]);
}
