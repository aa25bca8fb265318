// The policy manager of a config tree: names absolute and relative, sub-managers, and the
// configs that must not build (reference §5.2 rule 4).
import { common } from '../../../protos';
import { ChannelConfigError } from '../../../orderer/errors';
import { buildPolicyManager, PolicyConfigError } from '../../../orderer/policies';
import { ANY, config, group, implicitMeta, org, rawPolicy, signature } from './config-tree';
import { FakeDeserializer } from './fake-msp';

const msps = new FakeDeserializer(['Org1MSP', 'OrdererMSP']);

const tree = group(
  { Writers: implicitMeta(ANY, 'Writers'), Admins: signature("OR('OrdererMSP.admin')") },
  {
    Orderer: group({ Writers: implicitMeta(ANY, 'Writers'), BlockValidation: implicitMeta(ANY, 'Writers') }, { OrdererOrg: org('OrdererMSP') }),
    Application: group({ Writers: implicitMeta(ANY, 'Writers') }, { Org1MSP: org('Org1MSP') }),
  },
);

describe('policy names', () => {
  const manager = buildPolicyManager(config(tree), msps);

  test('absolute and channel-relative names reach the same policy', () => {
    const absolute = manager.getPolicy('/Channel/Orderer/BlockValidation');
    expect(absolute).toBeDefined();
    expect(manager.getPolicy('Orderer/BlockValidation')).toBe(absolute);
    expect(absolute!.name).toBe('/Channel/Orderer/BlockValidation');
    expect(manager.getPolicy('/Channel/Application/Org1MSP/Admins')).toBe(manager.getPolicy('Application/Org1MSP/Admins'));
    expect(manager.getPolicy('Writers')).toBe(manager.getPolicy('/Channel/Writers'));
  });

  test('names that resolve to nothing are undefined', () => {
    for (const name of ['', '/', '/Channel', '/Channel/', 'Readers', '/Channel/Readers', '/Other/Writers', 'Orderer', '/Channel/Orderer/Nope', 'Writers/']) {
      expect([name, manager.getPolicy(name)]).toEqual([name, undefined]);
    }
  });

  test("an absolute name is cut like Fabric's: '/ChannelXWriters' finds /Channel/Writers", () => {
    // Fabric checks only the "/Channel" prefix and then cuts one more character; a mod_policy
    // written this way passes Fabric's format check, so both must resolve it the same.
    expect(manager.getPolicy('/ChannelXWriters')).toBe(manager.getPolicy('Writers'));
  });

  test('a sub-manager resolves relative names in its group, absolute ones only under its path', () => {
    const application = manager.manager(['Application'])!;
    expect(application.path).toBe('Channel/Application');
    expect(application.getPolicy('Writers')).toBe(manager.getPolicy('/Channel/Application/Writers'));
    expect(application.getPolicy('Org1MSP/Writers')).toBe(manager.getPolicy('/Channel/Application/Org1MSP/Writers'));
    expect(application.getPolicy('/Channel/Application/Org1MSP/Admins')).toBe(manager.getPolicy('Application/Org1MSP/Admins'));
    expect(application.getPolicy('/Channel/Writers')).toBeUndefined();
    expect(manager.manager(['Application', 'Org1MSP'])!.getPolicy('Admins')!.name).toBe('/Channel/Application/Org1MSP/Admins');
    expect(manager.manager([])).toBe(manager);
    expect(manager.manager(['Nope'])).toBeUndefined();
  });

  test('policyNames lists every policy by absolute name', () => {
    expect(manager.policyNames()).toEqual([
      '/Channel/Admins',
      '/Channel/Application/Org1MSP/Admins',
      '/Channel/Application/Org1MSP/Readers',
      '/Channel/Application/Org1MSP/Writers',
      '/Channel/Application/Writers',
      '/Channel/Orderer/BlockValidation',
      '/Channel/Orderer/OrdererOrg/Admins',
      '/Channel/Orderer/OrdererOrg/Readers',
      '/Channel/Orderer/OrdererOrg/Writers',
      '/Channel/Orderer/Writers',
      '/Channel/Writers',
    ]);
  });
});

describe('configs whose policies do not build', () => {
  /** The tree with one extra policy in /Channel/Application/Org1MSP. */
  function withOrgPolicy(policy: common.ConfigPolicyInit): common.Config {
    const org1 = org('Org1MSP');
    return config(group(tree.policies!, { ...tree.groups, Application: group({}, { Org1MSP: { ...org1, policies: { ...org1.policies, Odd: policy } } }) }));
  }

  function buildError(cfg: common.Config): PolicyConfigError {
    try {
      buildPolicyManager(cfg, msps);
    } catch (err) {
      if (err instanceof PolicyConfigError) return err;
      throw err;
    }
    throw new Error('the config built');
  }

  test.each([
    ['MSP', common.Policy_PolicyType.MSP, 'policy type MSP is not supported (only SIGNATURE and IMPLICIT_META)'],
    ['UNKNOWN', common.Policy_PolicyType.UNKNOWN, 'policy type UNKNOWN is not supported'],
    ['a number with no name', 42, 'policy type 42 is not supported'],
  ])('policy type %s fails with the path of the policy', (_label, type, message) => {
    const err = buildError(withOrgPolicy(rawPolicy(type)));
    expect(err).toBeInstanceOf(ChannelConfigError);
    expect(err.status).toBe(common.Status.BAD_REQUEST);
    expect(err.path).toBe('/Channel/Application/Org1MSP/Odd');
    expect(err.message).toContain(`/Channel/Application/Org1MSP/Odd: ${message}`);
  });

  test('a ConfigPolicy without a policy, undecodable values, a bad signature policy: each named by path', () => {
    expect(buildError(withOrgPolicy({ modPolicy: 'Admins' })).message).toBe('/Channel/Application/Org1MSP/Odd: the ConfigPolicy carries no policy');
    expect(buildError(withOrgPolicy(rawPolicy(common.Policy_PolicyType.SIGNATURE, new Uint8Array([0x12, 0x09])))).message).toMatch(
      /^\/Channel\/Application\/Org1MSP\/Odd: does not compile: not a SignaturePolicyEnvelope: /,
    );
    expect(buildError(withOrgPolicy(rawPolicy(common.Policy_PolicyType.IMPLICIT_META, new Uint8Array([0x0a, 0x09])))).message).toMatch(
      /^\/Channel\/Application\/Org1MSP\/Odd: does not compile: not an ImplicitMetaPolicy: /,
    );
    const outOfRange = common.SignaturePolicyEnvelope.encode({ version: 0, rule: { signedBy: 1 }, identities: [] });
    expect(buildError(withOrgPolicy(rawPolicy(common.Policy_PolicyType.SIGNATURE, outOfRange))).message).toBe(
      '/Channel/Application/Org1MSP/Odd: does not compile: signed_by 1 is out of range: the envelope has 0 principals',
    );
  });

  test('a config without a channel group', () => {
    expect(buildError(common.Config.decode(new Uint8Array())).path).toBe('/Channel');
  });
});
