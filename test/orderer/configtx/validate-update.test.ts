// validateConfigUpdate as an operator meets it: a signed CONFIG_UPDATE either yields the next
// config (sequence + 1, the change in it) or is refused with BAD_REQUEST / FORBIDDEN and a reason
// that names the element.
import { common, msp, orderer } from '../../../protos';
import { validateConfigUpdate } from '../../../orderer/configtx';
import { mspConfigFromDir } from '../../../orderer/msp/msp-dir';
import { TestTlsCa } from '../../support/tls-material';
import {
  accessOf,
  batchSizeUpdate,
  CHANNEL,
  consentersUpdate,
  makeFixture,
  newConsenter,
  ordererErrorOf,
  signUpdate,
  versionsOf,
  type Fixture,
} from './fixture';

let f: Fixture;
beforeAll(() => {
  f = makeFixture();
});
afterAll(() => f.cleanup());

function validate(config: common.Config, envelope: common.ConfigUpdateEnvelope, channelId = CHANNEL) {
  return validateConfigUpdate({ channelId, current: config, access: accessOf(config), envelope });
}

const BATCH = { maxMessageCount: 10, absoluteMaxBytes: 1024 * 1024, preferredMaxBytes: 512 * 1024 };

describe('orderer values', () => {
  test('a batch size change signed by the orderer admin gives the next config: sequence + 1, the new value at version 1', () => {
    const before = common.Config.encode(f.genesis);
    const out = validate(f.genesis, signUpdate(batchSizeUpdate(f.genesis, BATCH), [f.ordererAdmin]));
    expect(out.config.sequence).toBe(f.genesis.sequence + 1);
    expect(out.settings.orderer.batchSize).toEqual(BATCH);
    const value = out.config.channelGroup!.groups['Orderer']!.values['BatchSize']!;
    expect(value.version).toBe(1);
    expect(value.modPolicy).toBe('Admins');
    // Everything else is the current config's.
    const { BatchSize: _changed, ...others } = out.config.channelGroup!.groups['Orderer']!.values;
    const { BatchSize: _old, ...currentOthers } = f.genesis.channelGroup!.groups['Orderer']!.values;
    expect(others).toEqual(currentOthers);
    expect(out.update.channelId).toBe(CHANNEL);
    // The inputs are untouched.
    expect(common.Config.encode(f.genesis)).toEqual(before);
  });

  test('a stale read set (the value changed since the update was computed) is BAD_REQUEST', () => {
    const next = validate(f.genesis, signUpdate(batchSizeUpdate(f.genesis, BATCH), [f.ordererAdmin])).config;
    // Computed against the genesis config: reads BatchSize at version 0, but it is at 1 now.
    const stale = signUpdate(batchSizeUpdate(f.genesis, { ...BATCH, maxMessageCount: 20 }), [f.ordererAdmin]);
    const err = ordererErrorOf(() => validate(next, stale));
    expect(err.status).toBe(common.Status.BAD_REQUEST);
    expect(err.message).toContain('read set: value /Channel/Orderer/BatchSize is at version 1, the update read it at version 0');
  });

  test('a changed value must carry the current version + 1', () => {
    const err = ordererErrorOf(() => validate(f.genesis, signUpdate(batchSizeUpdate(f.genesis, BATCH, { version: 2 }), [f.ordererAdmin])));
    expect(err.status).toBe(common.Status.BAD_REQUEST);
    expect(err.message).toContain('value /Channel/Orderer/BatchSize is at version 0, so a change must carry version 1, not 2');
  });

  test('unsigned, or signed by someone its mod_policy does not name: FORBIDDEN, naming the element and the policy', () => {
    const unsigned = ordererErrorOf(() => validate(f.genesis, signUpdate(batchSizeUpdate(f.genesis, BATCH), [])));
    expect(unsigned.status).toBe(common.Status.FORBIDDEN);
    expect(unsigned.message).toContain('may not change value /Channel/Orderer/BatchSize: its mod_policy "Admins" is not satisfied');
    // An application org's admin is not an orderer admin.
    const wrongAdmin = ordererErrorOf(() => validate(f.genesis, signUpdate(batchSizeUpdate(f.genesis, BATCH), [f.org1Admin, f.org1User])));
    expect(wrongAdmin.status).toBe(common.Status.FORBIDDEN);
    expect(wrongAdmin.message).toContain('value /Channel/Orderer/BatchSize');
  });

  test('an update for another channel is BAD_REQUEST', () => {
    const err = ordererErrorOf(() => validate(f.genesis, signUpdate(batchSizeUpdate(f.genesis, BATCH, { channelId: 'otherchannel' }), [f.ordererAdmin])));
    expect(err.status).toBe(common.Status.BAD_REQUEST);
    expect(err.message).toBe('config update is for channel "otherchannel", not "mychannel"');
  });

  test('an update that changes nothing is BAD_REQUEST', () => {
    const root = f.genesis.channelGroup!;
    const update: common.ConfigUpdateInit = { channelId: CHANNEL, readSet: versionsOf(root), writeSet: versionsOf(root) };
    const err = ordererErrorOf(() => validate(f.genesis, signUpdate(update, [f.ordererAdmin])));
    expect(err.status).toBe(common.Status.BAD_REQUEST);
    expect(err.message).toContain('config update changes nothing');
  });

  test('Preferred > Absolute batch size is BAD_REQUEST naming /Channel/Orderer/BatchSize', () => {
    const bad = { maxMessageCount: 10, absoluteMaxBytes: 1000, preferredMaxBytes: 2000 };
    const err = ordererErrorOf(() => validate(f.genesis, signUpdate(batchSizeUpdate(f.genesis, bad), [f.ordererAdmin])));
    expect(err.status).toBe(common.Status.BAD_REQUEST);
    expect(err.message).toContain('/Channel/Orderer/BatchSize: PreferredMaxBytes (2000) must not exceed AbsoluteMaxBytes (1000)');
  });

  test('an invalid element name in the write set is BAD_REQUEST naming it', () => {
    const update = batchSizeUpdate(f.genesis, BATCH);
    update.writeSet!.groups!['Orderer']!.values!['Batch_Size'] = { version: 0, value: new Uint8Array(), modPolicy: 'Admins' };
    const err = ordererErrorOf(() => validate(f.genesis, signUpdate(update, [f.ordererAdmin])));
    expect(err.status).toBe(common.Status.BAD_REQUEST);
    expect(err.message).toContain('write set: value /Channel/Orderer/Batch_Size: name may only contain [a-zA-Z0-9.-]');
  });

  test('a new element must start at version 0 and carry a mod_policy', () => {
    const withVersion = ordererErrorOf(() =>
      validate(f.genesis, signUpdate(ordererValueNew('KafkaBrokers', { version: 3, modPolicy: 'Admins' }), [f.ordererAdmin])),
    );
    expect(withVersion.message).toContain('value /Channel/Orderer/KafkaBrokers is new, so its version must be 0, not 3');
    const noPolicy = ordererErrorOf(() => validate(f.genesis, signUpdate(ordererValueNew('KafkaBrokers', { version: 0, modPolicy: '' }), [f.ordererAdmin])));
    expect(noPolicy.status).toBe(common.Status.BAD_REQUEST);
    expect(noPolicy.message).toContain('value /Channel/Orderer/KafkaBrokers: mod_policy is not set');
  });
});

/** Adds value /Channel/Orderer/`key` by bumping the Orderer group (it must list its children). */
function ordererValueNew(key: string, v: { version: number; modPolicy: string }): common.ConfigUpdateInit {
  const root = f.genesis.channelGroup!;
  const ordererGroup = root.groups['Orderer']!;
  const read = versionsOf(ordererGroup);
  const write = versionsOf(ordererGroup, 'Admins');
  write.version = ordererGroup.version + 1;
  write.values![key] = { version: v.version, value: common.OrdererAddresses.encode({ addresses: ['kafka:9092'] }), modPolicy: v.modPolicy };
  return { channelId: CHANNEL, readSet: { groups: { Orderer: read } }, writeSet: { groups: { Orderer: write } } };
}

describe('groups', () => {
  test('adding an organization: the Application group at version + 1 lists the new org group (version 0)', () => {
    const app = f.genesis.channelGroup!.groups['Application']!;
    const org2 = mspConfigFromDir(f.org2.mspDir, 'Org2MSP');
    const write = versionsOf(app, 'Admins');
    write.version = app.version + 1;
    const member = (role: common.MSPRole_MSPRoleType): common.ConfigPolicyInit => ({
      modPolicy: 'Admins',
      policy: {
        type: common.Policy_PolicyType.SIGNATURE,
        value: common.SignaturePolicyEnvelope.encode({
          rule: { nOutOf: { n: 1, rules: [{ signedBy: 0 }] } },
          identities: [{ principalClassification: common.MSPPrincipal_Classification.ROLE, principal: common.MSPRole.encode({ mspIdentifier: 'Org2MSP', role }) }],
        }),
      },
    });
    write.groups!['Org2MSP'] = {
      modPolicy: 'Admins',
      values: { MSP: { modPolicy: 'Admins', value: msp.MSPConfig.encode(org2) } },
      policies: {
        Readers: member(common.MSPRole_MSPRoleType.MEMBER),
        Writers: member(common.MSPRole_MSPRoleType.MEMBER),
        Admins: member(common.MSPRole_MSPRoleType.ADMIN),
      },
    };
    const update: common.ConfigUpdateInit = { channelId: CHANNEL, readSet: { groups: { Application: versionsOf(app) } }, writeSet: { groups: { Application: write } } };

    // /Channel/Application/Admins is MAJORITY of the application orgs' admins: Org1's admin alone.
    const out = validate(f.genesis, signUpdate(update, [f.org1Admin]));
    expect(out.settings.application!.organizations.map((o) => o.mspId)).toEqual(['Org1MSP', 'Org2MSP']);
    expect(out.config.channelGroup!.groups['Application']!.version).toBe(1);
    // The new org's policies are live in the next config's access.
    expect(out.access.policies.manager.getPolicy('/Channel/Application/Org2MSP/Admins')).toBeDefined();

    // The orderer admin does not administer the Application group.
    const err = ordererErrorOf(() => validate(f.genesis, signUpdate(update, [f.ordererAdmin])));
    expect(err.status).toBe(common.Status.FORBIDDEN);
    expect(err.message).toContain('group /Channel/Application');
  });

  test('removing a value: the group at version + 1 no longer lists it', () => {
    const ordererGroup = f.genesis.channelGroup!.groups['Orderer']!;
    const write = versionsOf(ordererGroup, 'Admins');
    write.version = ordererGroup.version + 1;
    delete write.values!['ChannelRestrictions'];
    const update: common.ConfigUpdateInit = { channelId: CHANNEL, readSet: { groups: { Orderer: versionsOf(ordererGroup) } }, writeSet: { groups: { Orderer: write } } };
    const out = validate(f.genesis, signUpdate(update, [f.ordererAdmin]));
    const values = out.config.channelGroup!.groups['Orderer']!.values;
    expect(Object.keys(values).sort()).toEqual(['BatchSize', 'BatchTimeout', 'Capabilities', 'ConsensusType']);
    // Untouched children keep their content, not the write set's version-only stubs.
    expect(values['BatchSize']).toEqual(ordererGroup.values['BatchSize']);
    expect(out.config.channelGroup!.groups['Orderer']!.groups['OrdererMSP']).toEqual(ordererGroup.groups['OrdererMSP']);
  });

  test("an organization's MSP ID may not change", () => {
    const orgGroup = f.genesis.channelGroup!.groups['Application']!.groups['Org1MSP']!;
    const mspConfig = msp.MSPConfig.decode(orgGroup.values['MSP']!.value);
    const fabric = msp.FabricMSPConfig.decode(mspConfig.config);
    const renamed = msp.MSPConfig.encode({ type: 0, config: msp.FabricMSPConfig.encode({ ...fabric, name: 'Org9MSP' }) });
    const update: common.ConfigUpdateInit = {
      channelId: CHANNEL,
      readSet: { groups: { Application: { groups: { Org1MSP: { values: { MSP: { version: 0 } } } } } } },
      writeSet: { groups: { Application: { groups: { Org1MSP: { values: { MSP: { version: 1, value: renamed, modPolicy: 'Admins' } } } } } } },
    };
    const err = ordererErrorOf(() => validate(f.genesis, signUpdate(update, [f.org1Admin])));
    expect(err.status).toBe(common.Status.BAD_REQUEST);
    expect(err.message).toContain('/Channel/Application/Org1MSP/MSP: application organization Org1MSP may not change its MSP ID from Org1MSP to Org9MSP');
  });
});

describe('consenters in a config update', () => {
  const consenters = () => f.ordererConsenters.slice(0, 3);

  test('adding one consenter whose certificate the orderer org TLS CA issued validates', () => {
    const out = validate(f.genesis, signUpdate(consentersUpdate(f.genesis, [...consenters(), f.ordererConsenters[3]!]), [f.ordererAdmin]));
    expect(out.settings.orderer.consensus.consenters.map((c) => c.host)).toEqual([1, 2, 3, 4].map((i) => `orderer${i}.example.com`));
  });

  test('two consenters added at once is BAD_REQUEST', () => {
    const update = consentersUpdate(f.genesis, [...consenters(), f.ordererConsenters[3]!, f.ordererConsenters[4]!]);
    const err = ordererErrorOf(() => validate(f.genesis, signUpdate(update, [f.ordererAdmin])));
    expect(err.status).toBe(common.Status.BAD_REQUEST);
    expect(err.message).toContain('only one consenter may be added or removed at a time');
    expect(err.message).toContain('adds 2 and removes 0');
  });

  test('a consenter certificate from a CA outside the orderer orgs is BAD_REQUEST', () => {
    const foreign = new TestTlsCa('tlsca.evil.example.com').issue('orderer9.evil.example.com');
    const pem = new TextEncoder().encode(foreign.certPem);
    const update = consentersUpdate(f.genesis, [...consenters(), { host: 'orderer9.evil.example.com', port: 7050, clientTlsCert: pem, serverTlsCert: pem }]);
    const err = ordererErrorOf(() => validate(f.genesis, signUpdate(update, [f.ordererAdmin])));
    expect(err.status).toBe(common.Status.BAD_REQUEST);
    expect(err.message).toContain('/Channel/Orderer/ConsensusType: consenter orderer9.evil.example.com:7050: client TLS certificate');
    expect(err.message).toContain('signed by unknown authority');
  });

  test('a certificate used by two consenters is BAD_REQUEST', () => {
    const [a, b, c] = consenters();
    const update = consentersUpdate(f.genesis, [a!, b!, { ...c!, serverTlsCert: a!.serverTlsCert! }]);
    const err = ordererErrorOf(() => validate(f.genesis, signUpdate(update, [f.ordererAdmin])));
    expect(err.status).toBe(common.Status.BAD_REQUEST);
    expect(err.message).toContain(`consenter ${c!.host}:${c!.port} repeats a TLS certificate of consenter ${a!.host}:${a!.port}`);
  });

  test('consenter changes need the orderer admins (mod_policy of ConsensusType)', () => {
    const update = consentersUpdate(f.genesis, [...consenters(), newConsenter(f.ordererTlsCa, 'orderer6.example.com', 7056)]);
    const err = ordererErrorOf(() => validate(f.genesis, signUpdate(update, [f.org1Admin])));
    expect(err.status).toBe(common.Status.FORBIDDEN);
    expect(err.message).toContain('value /Channel/Orderer/ConsensusType');
  });

  test('a consensus type other than etcdraft is BAD_REQUEST naming ConsensusType', () => {
    const update = batchSizeUpdate(f.genesis, BATCH);
    const w = update.writeSet!.groups!['Orderer']!;
    w.values = { ConsensusType: { version: 1, value: orderer.ConsensusType.encode({ type: 'solo' }), modPolicy: 'Admins' } };
    update.readSet!.groups!['Orderer']!.values = { ConsensusType: { version: 0 } };
    const err = ordererErrorOf(() => validate(f.genesis, signUpdate(update, [f.ordererAdmin])));
    expect(err.status).toBe(common.Status.BAD_REQUEST);
    expect(err.message).toContain('/Channel/Orderer/ConsensusType');
  });
});
