// The config update that turns one channel config into another, as `configtxlator compute_update`
// computes it (fabric internal/configtxlator/update): walking both trees together,
// - a value or policy that changed goes into the write set at its version + 1, with the updated
//   content and mod_policy; one that is new goes in at version 0;
// - a group whose own membership changed (a child added or removed, or its mod_policy changed) is
//   written at version + 1 and lists all its remaining children, the unchanged ones at their
//   current version (in both the read and the write set), since the orderer rebuilds its child
//   list from the write set (reference §4.2 step 6);
// - a group with changes deeper down only appears at its current version in both sets, listing
//   just the changed path;
// - unchanged subtrees are left out entirely, so the sets are minimal.
//
// Unlike configtxlator, which compares values byte for byte, values and policies are compared after
// re-encoding through their known message types, so a config that went through JSON (or came from
// Go, whose map order differs) does not produce spurious writes. The write set carries the updated
// config's own bytes.
import { common } from '../../protos';
import { canonicalBytes, configValueType } from './json';

/** Nothing to update, or a config without its channel group. */
export class ComputeUpdateError extends Error {
  override readonly name = 'ComputeUpdateError';
}

type Group = common.ConfigGroupInit;

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameValue(groupPath: readonly string[], key: string, a: common.ConfigValueInit, b: common.ConfigValueInit): boolean {
  if ((a.modPolicy ?? '') !== (b.modPolicy ?? '')) return false;
  const av = a.value ?? new Uint8Array(0);
  const bv = b.value ?? new Uint8Array(0);
  if (bytesEqual(av, bv)) return true;
  const type = configValueType(groupPath, key);
  return bytesEqual(canonicalBytes(type, av), canonicalBytes(type, bv));
}

function samePolicy(a: common.ConfigPolicyInit, b: common.ConfigPolicyInit): boolean {
  if ((a.modPolicy ?? '') !== (b.modPolicy ?? '')) return false;
  // Policy.value is decoded by Policy.type, so canonical bytes of the whole Policy compare both.
  const ap = canonicalBytes('common.Policy', common.Policy.encode(a.policy ?? {}));
  const bp = canonicalBytes('common.Policy', common.Policy.encode(b.policy ?? {}));
  return bytesEqual(ap, bp);
}

function entries<V>(record: Readonly<Record<string, V>> | undefined): [string, V][] {
  return record === undefined ? [] : Object.entries(record);
}

function has<V>(record: Readonly<Record<string, V>> | undefined, key: string): boolean {
  return record !== undefined && Object.hasOwn(record, key);
}

interface MapUpdate<T> {
  readonly readSet: Record<string, T>;
  readonly writeSet: Record<string, T>;
  /** Children present and unchanged on both sides, at their current version only. */
  readonly sameSet: Record<string, T>;
  /** A child was added or removed. */
  readonly membersChanged: boolean;
}

function newRecord<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

function valuesUpdate(groupPath: readonly string[], original: Group['values'], updated: Group['values']): MapUpdate<common.ConfigValueInit> {
  const readSet = newRecord<common.ConfigValueInit>();
  const writeSet = newRecord<common.ConfigValueInit>();
  const sameSet = newRecord<common.ConfigValueInit>();
  let membersChanged = false;
  for (const [key, before] of entries(original)) {
    if (!has(updated, key)) {
      membersChanged = true;
      continue;
    }
    const after = updated![key]!;
    if (sameValue(groupPath, key, before, after)) sameSet[key] = { version: before.version ?? 0 };
    else writeSet[key] = { version: (before.version ?? 0) + 1, modPolicy: after.modPolicy ?? '', value: after.value ?? new Uint8Array(0) };
  }
  for (const [key, after] of entries(updated)) {
    if (has(original, key)) continue;
    membersChanged = true;
    writeSet[key] = { version: 0, modPolicy: after.modPolicy ?? '', value: after.value ?? new Uint8Array(0) };
  }
  return { readSet, writeSet, sameSet, membersChanged };
}

function policiesUpdate(original: Group['policies'], updated: Group['policies']): MapUpdate<common.ConfigPolicyInit> {
  const readSet = newRecord<common.ConfigPolicyInit>();
  const writeSet = newRecord<common.ConfigPolicyInit>();
  const sameSet = newRecord<common.ConfigPolicyInit>();
  let membersChanged = false;
  for (const [key, before] of entries(original)) {
    if (!has(updated, key)) {
      membersChanged = true;
      continue;
    }
    const after = updated![key]!;
    if (samePolicy(before, after)) sameSet[key] = { version: before.version ?? 0 };
    else writeSet[key] = { version: (before.version ?? 0) + 1, modPolicy: after.modPolicy ?? '', ...(after.policy ? { policy: after.policy } : {}) };
  }
  for (const [key, after] of entries(updated)) {
    if (has(original, key)) continue;
    membersChanged = true;
    writeSet[key] = { version: 0, modPolicy: after.modPolicy ?? '', ...(after.policy ? { policy: after.policy } : {}) };
  }
  return { readSet, writeSet, sameSet, membersChanged };
}

function groupsUpdate(groupPath: readonly string[], original: Group['groups'], updated: Group['groups']): MapUpdate<Group> {
  const readSet = newRecord<Group>();
  const writeSet = newRecord<Group>();
  const sameSet = newRecord<Group>();
  let membersChanged = false;
  for (const [key, before] of entries(original)) {
    if (!has(updated, key)) {
      membersChanged = true;
      continue;
    }
    const child = groupUpdate([...groupPath, key], before, updated![key]!);
    if (!child.changed) {
      sameSet[key] = child.readSet;
      continue;
    }
    readSet[key] = child.readSet;
    writeSet[key] = child.writeSet;
  }
  for (const [key, after] of entries(updated)) {
    if (has(original, key)) continue;
    membersChanged = true;
    // A new group: everything in it is new, at version 0.
    const child = groupUpdate([...groupPath, key], {}, after);
    writeSet[key] = { ...child.writeSet, version: 0, modPolicy: after.modPolicy ?? '' };
  }
  return { readSet, writeSet, sameSet, membersChanged };
}

interface GroupUpdate {
  readonly readSet: Group;
  readonly writeSet: Group;
  readonly changed: boolean;
}

function isEmpty(record: Readonly<Record<string, unknown>>): boolean {
  return Object.keys(record).length === 0;
}

function groupUpdate(groupPath: readonly string[], original: Group, updated: Group): GroupUpdate {
  const policies = policiesUpdate(original.policies, updated.policies);
  const values = valuesUpdate(groupPath, original.values, updated.values);
  const groups = groupsUpdate(groupPath, original.groups, updated.groups);
  const version = original.version ?? 0;
  const ownChange = policies.membersChanged || values.membersChanged || groups.membersChanged || (original.modPolicy ?? '') !== (updated.modPolicy ?? '');
  if (!ownChange) {
    const changed = !(
      isEmpty(policies.writeSet) &&
      isEmpty(values.writeSet) &&
      isEmpty(groups.readSet) &&
      isEmpty(groups.writeSet)
    );
    if (!changed) return { readSet: { version }, writeSet: { version }, changed: false };
    // Changes further down: this group is only a path to them, at its current version.
    return {
      readSet: { version, policies: policies.readSet, values: values.readSet, groups: groups.readSet },
      writeSet: { version, policies: policies.writeSet, values: values.writeSet, groups: groups.writeSet },
      changed: true,
    };
  }
  // The group itself changes: it is rewritten at version + 1 and must list every child it keeps.
  for (const [k, v] of Object.entries(policies.sameSet)) policies.readSet[k] = policies.writeSet[k] = v;
  for (const [k, v] of Object.entries(values.sameSet)) values.readSet[k] = values.writeSet[k] = v;
  for (const [k, v] of Object.entries(groups.sameSet)) groups.readSet[k] = groups.writeSet[k] = v;
  return {
    readSet: { version, policies: policies.readSet, values: values.readSet, groups: groups.readSet },
    writeSet: { version: version + 1, policies: policies.writeSet, values: values.writeSet, groups: groups.writeSet, modPolicy: updated.modPolicy ?? '' },
    changed: true,
  };
}

/**
 * The ConfigUpdate for channel `channelId` that changes `original` into `updated` (both full
 * channel configs). Throws ComputeUpdateError when they do not differ.
 */
export function computeConfigUpdate(channelId: string, original: common.ConfigInit, updated: common.ConfigInit): common.ConfigUpdate {
  if (original.channelGroup === undefined) throw new ComputeUpdateError('the original config has no channel group');
  if (updated.channelGroup === undefined) throw new ComputeUpdateError('the updated config has no channel group');
  const result = groupUpdate([], original.channelGroup, updated.channelGroup);
  if (!result.changed) throw new ComputeUpdateError('no differences detected between the original and the updated config');
  // Through the codec once: the caller gets a plain decoded message (defaults filled in, maps sorted).
  return common.ConfigUpdate.decode(common.ConfigUpdate.encode({ channelId, readSet: result.readSet, writeSet: result.writeSet }));
}
