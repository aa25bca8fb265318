// computeConfigUpdate (orderer/configtx/compute-update.ts): configtxlator's read/write sets,
// checked against exact expectations and by applying the update the way an orderer does
// (reference §4.2: delta = write set elements not in the read set at the same version; a group
// written at a new version takes its child list from the write set).
import { buildChannelConfig, type ChannelConfigSpec } from '../../../orderer/channelconfig';
import { computeConfigUpdate, ComputeUpdateError } from '../../../orderer/configtx/compute-update';
import { common, orderer } from '../../../protos';

function spec(overrides: Partial<ChannelConfigSpec> = {}): ChannelConfigSpec {
  return {
    channelId: 'mychannel',
    consenters: [{ host: 'o1.example.com', port: 7050 }],
    ordererOrgs: [{ mspId: 'OrdererMSP', endpoints: ['o1.example.com:7050'] }],
    applicationOrgs: [{ mspId: 'Org1MSP' }],
    ...overrides,
  };
}

/** The config as an orderer holds it: decoded from bytes. */
function config(s: ChannelConfigSpec): common.Config {
  return common.Config.decode(common.Config.encode(buildChannelConfig(s)));
}

/** An orderer's application of `writeSet` over `current`, for a read set that checks out. */
function applyGroup(current: common.ConfigGroup | undefined, read: common.ConfigGroup | undefined, write: common.ConfigGroup): common.ConfigGroup {
  const base: common.ConfigGroup = current ?? { version: 0, groups: {}, values: {}, policies: {}, modPolicy: '' };
  const rewritten = current === undefined || write.version !== base.version;
  const pick = <T extends { version: number }>(cur: Record<string, T>, r: Record<string, T> | undefined, w: Record<string, T>, deep: (c: T | undefined, r: T | undefined, w: T) => T): Record<string, T> => {
    const out: Record<string, T> = {};
    // A rewritten group lists its children in the write set; otherwise it keeps its own.
    const names = rewritten ? Object.keys(w) : [...new Set([...Object.keys(cur), ...Object.keys(w)])];
    for (const n of names) {
      if (Object.hasOwn(w, n)) out[n] = deep(cur[n], r?.[n], w[n]!);
      else out[n] = cur[n]!;
    }
    return out;
  };
  const leaf = <T extends { version: number }>(c: T | undefined, _r: T | undefined, w: T): T => {
    if (c !== undefined && c.version === w.version) return c;
    expect(w.version).toBe(c === undefined ? 0 : c.version + 1);
    return w;
  };
  if (current !== undefined && rewritten) expect(write.version).toBe(base.version + 1);
  return {
    version: write.version,
    groups: pick(base.groups, read?.groups, write.groups, applyGroup),
    values: pick(base.values, read?.values, write.values, leaf),
    policies: pick(base.policies, read?.policies, write.policies, leaf),
    modPolicy: rewritten ? write.modPolicy : base.modPolicy,
  };
}

/** Versions dropped: what must match between the updated config and the applied update. */
function content(g: common.ConfigGroup): unknown {
  const strip = (r: Record<string, { value?: Uint8Array; policy?: common.Policy; modPolicy: string }>): unknown =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, { value: v.value, policy: v.policy, modPolicy: v.modPolicy }]));
  return {
    modPolicy: g.modPolicy,
    values: strip(g.values),
    policies: strip(g.policies),
    groups: Object.fromEntries(Object.entries(g.groups).map(([k, v]) => [k, content(v)])),
  };
}

function roundTrip(original: common.Config, updated: common.Config): common.ConfigUpdate {
  const update = computeConfigUpdate('mychannel', original, updated);
  expect(update.channelId).toBe('mychannel');
  const applied = applyGroup(original.channelGroup!, update.readSet!, update.writeSet!);
  expect(content(applied)).toEqual(content(updated.channelGroup!));
  return update;
}

describe('computeConfigUpdate', () => {
  test('a changed value: bumped in the write set, its groups only a path at their versions', () => {
    const original = config(spec());
    const update = roundTrip(original, config(spec({ batchSize: { maxMessageCount: 10 } })));
    expect(update.readSet).toEqual({ version: 0, modPolicy: '', values: {}, policies: {}, groups: { Orderer: { version: 0, modPolicy: '', values: {}, policies: {}, groups: {} } } });
    const ordererWrite = update.writeSet!.groups['Orderer']!;
    expect(update.writeSet!.version).toBe(0);
    expect(Object.keys(update.writeSet!.groups)).toEqual(['Orderer']);
    expect(ordererWrite.version).toBe(0);
    expect(Object.keys(ordererWrite.values)).toEqual(['BatchSize']);
    expect(ordererWrite.values['BatchSize']!.version).toBe(1);
    expect(ordererWrite.values['BatchSize']!.modPolicy).toBe('Admins');
    expect(orderer.BatchSize.decode(ordererWrite.values['BatchSize']!.value).maxMessageCount).toBe(10);
    expect(ordererWrite.groups).toEqual({});
  });

  test('an organization added: its parent group is rewritten at version + 1 and lists all children', () => {
    const original = config(spec());
    const update = roundTrip(original, config(spec({ applicationOrgs: [{ mspId: 'Org1MSP' }, { mspId: 'Org2MSP' }] })));
    const appRead = update.readSet!.groups['Application']!;
    const appWrite = update.writeSet!.groups['Application']!;
    expect(appRead.version).toBe(0);
    expect(appWrite.version).toBe(1);
    expect(appWrite.modPolicy).toBe('Admins');
    expect(Object.keys(appWrite.groups).sort()).toEqual(['Org1MSP', 'Org2MSP']);
    // The kept org is named at its version, with nothing else: in both sets.
    expect(appWrite.groups['Org1MSP']).toEqual({ version: 0, groups: {}, values: {}, policies: {}, modPolicy: '' });
    expect(appRead.groups['Org1MSP']).toEqual(appWrite.groups['Org1MSP']);
    expect(appRead.groups['Org2MSP']).toBeUndefined();
    // The new org comes whole, everything at version 0.
    const org2 = appWrite.groups['Org2MSP']!;
    expect(org2.version).toBe(0);
    expect(Object.keys(org2.policies).sort()).toEqual(['Admins', 'Endorsement', 'Readers', 'Writers']);
    expect(org2.values['MSP']!.version).toBe(0);
    // Unchanged values and policies of the rewritten group are listed at their versions.
    expect(appWrite.values['Capabilities']).toEqual({ version: 0, value: new Uint8Array(0), modPolicy: '' });
    expect(Object.keys(appWrite.policies).sort()).toEqual(['Admins', 'Endorsement', 'LifecycleEndorsement', 'Readers', 'Writers']);
    expect(update.writeSet!.version).toBe(0);
  });

  test('an organization removed, and a policy changed', () => {
    const original = config(spec({ applicationOrgs: [{ mspId: 'Org1MSP' }, { mspId: 'Org2MSP' }] }));
    roundTrip(original, config(spec()));
    const updated = config(spec());
    updated.channelGroup!.policies['Admins'] = {
      ...updated.channelGroup!.policies['Admins']!,
      policy: { type: common.Policy_PolicyType.IMPLICIT_META, value: common.ImplicitMetaPolicy.encode({ subPolicy: 'Admins', rule: common.ImplicitMetaPolicy_Rule.ANY }) },
    };
    const update = roundTrip(config(spec()), updated);
    expect(update.writeSet!.policies['Admins']!.version).toBe(1);
    expect(update.writeSet!.version).toBe(0);
  });

  test('a group whose mod_policy changed is rewritten; a value on a second level keeps its version chain', () => {
    const original = config(spec());
    original.channelGroup!.groups['Orderer']!.values['BatchTimeout']!.version = 4;
    const updated = config(spec({ batchTimeout: '5s' }));
    updated.channelGroup!.groups['Orderer']!.modPolicy = '/Channel/Admins';
    const update = roundTrip(original, updated);
    expect(update.writeSet!.groups['Orderer']!.version).toBe(1);
    expect(update.writeSet!.groups['Orderer']!.modPolicy).toBe('/Channel/Admins');
    expect(update.writeSet!.groups['Orderer']!.values['BatchTimeout']!.version).toBe(5);
    expect(update.writeSet!.groups['Orderer']!.values['BatchSize']).toEqual({ version: 0, value: new Uint8Array(0), modPolicy: '' });
  });

  test('no differences is an error, also when only the encodings differ', () => {
    const original = config(spec());
    expect(() => computeConfigUpdate('mychannel', original, config(spec()))).toThrow(ComputeUpdateError);
    expect(() => computeConfigUpdate('mychannel', original, config(spec()))).toThrow('no differences detected');
    // The same Capabilities map written with its keys in another order (Go does not sort).
    const two = common.Capabilities.encode({ capabilities: { V1_4_3: {}, V2_0: {} } });
    const swapped = new Uint8Array([...common.Capabilities.encode({ capabilities: { V2_0: {} } }), ...common.Capabilities.encode({ capabilities: { V1_4_3: {} } })]);
    expect(Buffer.from(swapped)).not.toEqual(Buffer.from(two));
    expect(common.Capabilities.decode(swapped)).toEqual(common.Capabilities.decode(two));
    const a = config(spec());
    const b = config(spec());
    a.channelGroup!.values['Capabilities']!.value = two;
    b.channelGroup!.values['Capabilities']!.value = swapped;
    expect(() => computeConfigUpdate('mychannel', a, b)).toThrow('no differences detected');
  });

  test('a config without a channel group is refused', () => {
    expect(() => computeConfigUpdate('mychannel', { sequence: 1 }, config(spec()))).toThrow('the original config has no channel group');
  });
});
