// The element map behind config updates: names, mod_policy syntax, the rebuild (children per
// winning group copy) and Fabric's legacy repair of empty mod_policies.
import { common } from '../../../protos';
import {
  applyConfigUpdate,
  configNameProblem,
  flattenConfig,
  modPolicyProblem,
  rebuildConfig,
} from '../../../orderer/configtx';
import type { ChannelPolicies } from '../../../orderer/policies/channel-policies';
import type { Policy } from '../../../orderer/policies/types';
import { ordererErrorOf } from './fixture';

function decodeGroup(g: common.ConfigGroupInit): common.ConfigGroup {
  return common.ConfigGroup.decode(common.ConfigGroup.encode(g));
}

describe('names', () => {
  test.each([
    ['Org1MSP', undefined],
    ['a.b-c', undefined],
    ['', 'is empty'],
    ['.', 'may not be "."'],
    ['..', 'may not be ".."'],
    ['a/b', 'may only contain [a-zA-Z0-9.-]'],
    ['x'.repeat(249), undefined],
    ['x'.repeat(250), 'is longer than 249 characters'],
  ])('%j -> %s', (name, problem) => {
    expect(configNameProblem(name)).toBe(problem);
  });

  test('mod_policy: absolute or relative, every path element a valid name', () => {
    expect(modPolicyProblem('Admins')).toBeUndefined();
    expect(modPolicyProblem('/Channel/Orderer/Admins')).toBeUndefined();
    expect(modPolicyProblem('Org1MSP/Admins')).toBeUndefined();
    expect(modPolicyProblem('')).toBe('mod_policy is not set');
    expect(modPolicyProblem('/Channel//Admins')).toContain('path element 1 is empty');
    expect(modPolicyProblem('Admins/')).toContain('path element 1 is empty');
  });
});

describe('flatten and rebuild', () => {
  const tree = decodeGroup({
    modPolicy: 'Admins',
    values: { A: { value: new Uint8Array([1]), modPolicy: '' } },
    groups: { Orderer: { values: { Capabilities: { value: new Uint8Array([2]), modPolicy: 'Admins' } }, policies: { P: { modPolicy: '' } } } },
  });

  test('keys by kind and path; a group and a value may share a name', () => {
    const map = flattenConfig(
      decodeGroup({ groups: { X: {} }, values: { X: { modPolicy: 'Admins' } } }),
      'test',
    );
    expect([...map.keys()].sort()).toEqual(['group /Channel', 'group /Channel/X', 'value /Channel/X']);
  });

  test('with /Channel/Orderer/Capabilities present, empty mod_policies become Admins (legacy repair)', () => {
    const rebuilt = rebuildConfig(flattenConfig(tree, 'test'));
    expect(rebuilt.values['A']!.modPolicy).toBe('Admins');
    expect(rebuilt.groups['Orderer']!.modPolicy).toBe('Admins');
    expect(rebuilt.groups['Orderer']!.policies['P']!.modPolicy).toBe('Admins');
    // The input tree is untouched.
    expect(tree.values['A']!.modPolicy).toBe('');
  });

  test('without orderer capabilities, empty mod_policies stay empty', () => {
    const noCaps = decodeGroup({ values: { A: { value: new Uint8Array([1]) } }, groups: { Orderer: {} } });
    const rebuilt = rebuildConfig(flattenConfig(noCaps, 'test'));
    expect(rebuilt.values['A']!.modPolicy).toBe('');
  });
});

describe('children follow the winning copy of their group', () => {
  const current: common.Config = {
    sequence: 4,
    channelGroup: decodeGroup({
      modPolicy: 'Admins',
      groups: { G: { modPolicy: 'Admins', values: { Old: { value: new Uint8Array([1]), modPolicy: 'Admins' } } } },
    }),
  };
  const allowAll: Policy = { evaluate: () => ({ satisfied: true }) };
  const access = { policies: { modPolicy: () => allowAll } as unknown as ChannelPolicies };
  const envelope = (update: common.ConfigUpdateInit): common.ConfigUpdateEnvelope => ({
    configUpdate: common.ConfigUpdate.encode({ channelId: 'ch', ...update }),
    signatures: [],
  });

  test('a new value under a group at an unchanged version is dropped from the result, as on a Fabric node', () => {
    const out = applyConfigUpdate({
      channelId: 'ch',
      current,
      access,
      envelope: envelope({
        readSet: { groups: { G: {} } },
        writeSet: { groups: { G: { values: { New: { value: new Uint8Array([2]), modPolicy: 'Admins' } } } } },
      }),
    });
    expect(out.config.sequence).toBe(5);
    expect(Object.keys(out.config.channelGroup!.groups['G']!.values)).toEqual(['Old']);
  });

  test('the same value under the group at version + 1 (listing Old) is added', () => {
    const out = applyConfigUpdate({
      channelId: 'ch',
      current,
      access,
      envelope: envelope({
        readSet: { groups: { G: { values: { Old: {} } } } },
        writeSet: { groups: { G: { version: 1, modPolicy: 'Admins', values: { Old: {}, New: { value: new Uint8Array([2]), modPolicy: 'Admins' } } } } },
      }),
    });
    const g = out.config.channelGroup!.groups['G']!;
    expect(g.version).toBe(1);
    expect(Object.keys(g.values).sort()).toEqual(['New', 'Old']);
    expect(g.values['Old']!.value).toEqual(new Uint8Array([1]));
  });

  test('a read-set element the config does not have is BAD_REQUEST', () => {
    const err = ordererErrorOf(() =>
      applyConfigUpdate({ channelId: 'ch', current, access, envelope: envelope({ readSet: { groups: { H: {} } }, writeSet: { groups: { H: { version: 1 } } } }) }),
    );
    expect(err.status).toBe(common.Status.BAD_REQUEST);
    expect(err.message).toBe('read set: group /Channel/H does not exist in the current config');
  });

  test('a mod_policy naming no policy is FORBIDDEN', () => {
    const none = { policies: { modPolicy: () => undefined } as unknown as ChannelPolicies };
    const err = ordererErrorOf(() =>
      applyConfigUpdate({
        channelId: 'ch',
        current,
        access: none,
        envelope: envelope({ readSet: { groups: { G: {} } }, writeSet: { groups: { G: { values: { Old: { version: 1, modPolicy: 'Admins' } } } } } }),
      }),
    );
    expect(err.status).toBe(common.Status.FORBIDDEN);
    expect(err.message).toContain('value /Channel/G/Old: its mod_policy "Admins" names no policy');
  });

  test('the policy scope of a group element is the group itself', () => {
    const scopes: string[][] = [];
    const recording = {
      policies: {
        modPolicy: (scope: readonly string[]) => {
          scopes.push([...scope]);
          return allowAll;
        },
      } as unknown as ChannelPolicies,
    };
    applyConfigUpdate({
      channelId: 'ch',
      current,
      access: recording,
      envelope: envelope({
        readSet: { groups: { G: { values: { Old: {} } } } },
        writeSet: { version: 1, modPolicy: 'Admins', groups: { G: { version: 1, modPolicy: 'Admins', values: { Old: { version: 1, modPolicy: 'Admins' } } } } },
      }),
    });
    // Sorted delta order: group /Channel, group /Channel/G, value /Channel/G/Old.
    expect(scopes).toEqual([[], ['G'], ['G']]);
  });
});
