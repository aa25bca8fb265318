// A channel's MSP manager: routing by MSP ID, the bounded identity cache, and building it from a
// channel config (every org under Application, Orderer and Consortiums).
import { common, msp } from '../../../protos';
import { buildChannelConfig } from '../../../orderer/channelconfig';
import { ChannelConfigError } from '../../../orderer/errors';
import { collectMspConfigs, MspManager, mspManagerFromConfig } from '../../../orderer/msp/manager';
import { IdentityError } from '../../../orderer/msp/types';
import { X509Msp } from '../../../orderer/msp/x509-msp';
import { enc, makeOrg, mspConfigOf, mspConfigValue, serialize } from './fixtures';

const org1 = makeOrg('Org1MSP');
const org2 = makeOrg('Org2MSP', { intermediate: true });
const ordererOrg = makeOrg('OrdererMSP');

function channelConfig(): common.Config {
  const spec = (org: typeof org1) => ({ mspId: org.mspId, rootCerts: [enc(org.root.certificate.pem)], intermediateCerts: org.intermediate ? [enc(org.intermediate.certificate.pem)] : [], adminCerts: [enc(org.admin.certificate.pem)] });
  const init = buildChannelConfig({
    channelId: 'ch1',
    consenters: [{ host: 'o1', port: 7050 }],
    ordererOrgs: [{ ...spec(ordererOrg), endpoints: ['o1:7050'] }],
    applicationOrgs: [spec(org1), spec(org2)],
  });
  return common.Config.decode(common.Config.encode(init));
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

describe('mspManagerFromConfig', () => {
  it('collects the MSP of every org and routes identities by MSP ID', () => {
    const config = channelConfig();
    expect(collectMspConfigs(config).map((c) => c.path)).toEqual([
      '/Channel/Application/Org1MSP/MSP',
      '/Channel/Application/Org2MSP/MSP',
      '/Channel/Orderer/OrdererMSP/MSP',
    ]);
    const manager = mspManagerFromConfig(config);
    expect([...manager.mspIds].sort()).toEqual(['OrdererMSP', 'Org1MSP', 'Org2MSP']);
    expect(manager.deserialize(serialize('Org2MSP', org2.issue({ ous: ['client'] }).certificate.pem)).mspId).toBe('Org2MSP');
    const err = thrown(() => manager.deserialize(serialize('Org9MSP', org1.admin.certificate.pem)));
    expect(err).toBeInstanceOf(IdentityError);
    expect(err.message).toMatch(/Org9MSP.*not defined in the channel/);
    // An Org1 certificate presented as Org2's is refused by Org2's MSP.
    expect(thrown(() => manager.deserialize(serialize('Org2MSP', org1.admin.certificate.pem))).message).toMatch(/unknown authority/);
    expect(thrown(() => manager.deserialize(enc('\xff\xff\xff')))).toBeInstanceOf(IdentityError);
  });

  it('includes consortium orgs, reports a bad MSP with its config path, and refuses two versions of one MSP', () => {
    const config = channelConfig();
    const group = (values: Record<string, Uint8Array>): common.ConfigGroup =>
      common.ConfigGroup.decode(common.ConfigGroup.encode({ values: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { value: v, modPolicy: 'Admins' }])) }));
    const withConsortium = (mspValue: msp.MSPConfig): common.Config => {
      const copy = common.Config.decode(common.Config.encode(config));
      const consortium = common.ConfigGroup.decode(common.ConfigGroup.encode({ groups: { Org3: group({ MSP: msp.MSPConfig.encode(mspValue) }) } }));
      copy.channelGroup!.groups['Consortiums'] = common.ConfigGroup.decode(common.ConfigGroup.encode({ groups: { SampleConsortium: consortium } }));
      return copy;
    };
    const org3 = makeOrg('Org3MSP');
    const manager = mspManagerFromConfig(withConsortium(mspConfigValue(org3)));
    expect(manager.mspIds).toContain('Org3MSP');

    const bad = thrown(() => mspManagerFromConfig(withConsortium(mspConfigValue(org3, { rootCerts: [enc('junk')] }))));
    expect(bad).toBeInstanceOf(ChannelConfigError);
    expect(bad.message).toMatch(/^\/Channel\/Consortiums\/SampleConsortium\/Org3\/MSP: MSP Org3MSP: root_certs\[0\] is not PEM/);

    const twin = thrown(() => mspManagerFromConfig(withConsortium(mspConfigValue(org3, { name: 'Org1MSP' }))));
    expect(twin.message).toMatch(/Org1MSP is defined differently/);
    // The same definition twice is fine.
    const same = msp.MSPConfig.decode(config.channelGroup!.groups['Application']!.groups['Org1MSP']!.values['MSP']!.value);
    expect(mspManagerFromConfig(withConsortium(same)).mspIds).toContain('Org1MSP');

    const idemix = mspManagerFromConfig(withConsortium({ type: 1, config: msp.FabricMSPConfig.encode({ name: 'IdemixMSP' }) }));
    expect(thrown(() => idemix.deserialize(serialize('IdemixMSP', org1.admin.certificate.pem))).message).toMatch(/idemix identities are not supported/);
  });
});

describe('identity cache', () => {
  const msps = new Map([['Org1MSP', new X509Msp(mspConfigOf(org1))]]);

  it('returns the cached identity for the same bytes and evicts the least recently used past its bound', () => {
    const manager = new MspManager(msps, new Map(), { identityCacheEntries: 3 });
    const creators = [0, 1, 2, 3].map((i) => serialize('Org1MSP', org1.issue({ ous: [`u${i}`] }).certificate.pem));
    const first = manager.deserialize(creators[0]!);
    expect(manager.deserialize(creators[0]!)).toBe(first);
    manager.deserialize(creators[1]!);
    manager.deserialize(creators[2]!);
    manager.deserialize(creators[0]!); // 0 becomes the most recently used; 1 is now the oldest
    manager.deserialize(creators[3]!); // evicts 1
    expect(manager.cacheStats()).toMatchObject({ entries: 3, maxEntries: 3, hits: 2, misses: 4 });
    expect(manager.deserialize(creators[0]!)).toBe(first);
    const again = manager.deserialize(creators[1]!);
    expect(manager.cacheStats().misses).toBe(5);
    expect(again.key).toBe(manager.deserialize(creators[1]!).key);
  });

  it('many clients at once: creators past the few compared by bytes are still cache hits, and a changed buffer is not mistaken for the creator it held', () => {
    const manager = new MspManager(msps, new Map(), { identityCacheEntries: 64 });
    const creators = Array.from({ length: 12 }, (_, i) => serialize('Org1MSP', org1.issue({ ous: [`c${i}`] }).certificate.pem));
    const first = creators.map((c) => manager.deserialize(c));
    for (let round = 0; round < 2; round++) creators.forEach((c, i) => expect(manager.deserialize(c)).toBe(first[i]));
    expect(manager.cacheStats()).toMatchObject({ hits: 24, misses: 12 });
    // The cache kept copies: the caller's buffer, reused for other bytes, names another creator.
    const reused = Buffer.from(creators[0]!);
    expect(manager.deserialize(reused)).toBe(first[0]);
    Buffer.from(creators[1]!).copy(reused);
    expect(manager.deserialize(reused)).toBe(first[1]);
  });

  it('remembers a refusal apart from the identities: the same error again without a parse, and a flood of refused creators evicts no honest identity', () => {
    const manager = new MspManager(msps, new Map(), { identityCacheEntries: 2 });
    const honest = manager.deserialize(serialize('Org1MSP', org1.admin.certificate.pem));
    const foreign = serialize('Org1MSP', makeOrg('EvilMSP').admin.certificate.pem);
    const first = thrown(() => manager.deserialize(foreign));
    expect(first).toBeInstanceOf(IdentityError);
    const misses = manager.cacheStats().misses;
    const second = thrown(() => manager.deserialize(foreign));
    expect(second).toBe(first);
    // The per-envelope checks get the refusal as a value, the same one.
    expect(manager.deserializeOrRefusal(foreign)).toBe(first);
    expect(manager.deserializeOrRefusal(serialize('Org1MSP', org1.admin.certificate.pem))).toBe(honest);
    expect(manager.cacheStats().misses).toBe(misses);
    for (let i = 0; i < 300; i++) expect(() => manager.deserialize(serialize('NoSuchMSP', `garbage ${i}`))).toThrow(/not defined in the channel/);
    expect(manager.deserialize(serialize('Org1MSP', org1.admin.certificate.pem))).toBe(honest);
    // The refusals are bounded: the first one was pushed out by the flood and is made again.
    const third = thrown(() => manager.deserialize(foreign));
    expect(third).not.toBe(first);
    expect(third.message).toBe(first.message);
  });

  it('does not keep refusals in the identity cache, and a bound of 0 disables caching', () => {
    const manager = new MspManager(msps, new Map(), { identityCacheEntries: 0 });
    const creator = serialize('Org1MSP', org1.admin.certificate.pem);
    expect(manager.deserialize(creator)).not.toBe(manager.deserialize(creator));
    const bounded = new MspManager(msps, new Map(), { identityCacheEntries: 2 });
    expect(() => bounded.deserialize(serialize('Org1MSP', 'garbage'))).toThrow(IdentityError);
    expect(bounded.cacheStats().entries).toBe(0);
    expect(() => new MspManager(msps, new Map(), { identityCacheEntries: -1 })).toThrow(RangeError);
  });
});
