// ImplicitMeta policies (reference §5.2 rule 3): thresholds over the direct child groups.
import { common } from '../../../protos';
import { buildPolicyManager, implicitMetaThreshold } from '../../../orderer/policies';
import { ALL, ANY, config, group, implicitMeta, MAJORITY, org } from './config-tree';
import { FakeDeserializer, FakeSigner } from './fake-msp';

const ORG_MSPS = ['Org1MSP', 'Org2MSP', 'Org3MSP'];
const members = ORG_MSPS.map((m) => new FakeSigner(m, `${m}-member`));

/** /Channel with `childCount` org groups and a Writers policy `rule Writers` over them. */
function channelWithChildren(rule: number, childCount: number, msps = new FakeDeserializer(ORG_MSPS)) {
  const groups: Record<string, common.ConfigGroupInit> = {};
  for (const mspId of ORG_MSPS.slice(0, childCount)) groups[mspId] = org(mspId);
  const manager = buildPolicyManager(config(group({ Writers: implicitMeta(rule, 'Writers') }, groups)), msps);
  return manager.getPolicy('Writers')!;
}

describe('ImplicitMeta thresholds', () => {
  test("Fabric's thresholds: ANY 1, ALL count, MAJORITY floor(count/2)+1, no children 0", () => {
    const table = [0, 1, 2, 3].map((count) => [implicitMetaThreshold(ANY, count), implicitMetaThreshold(ALL, count), implicitMetaThreshold(MAJORITY, count)]);
    expect(table).toEqual([
      [0, 0, 0],
      [1, 1, 1],
      [1, 2, 2],
      [1, 3, 2],
    ]);
  });

  const cases: [string, number, number[]][] = [
    // rule, child count, the numbers of satisfied children that pass
    ['ANY', 0, [0]],
    ['ALL', 0, [0]],
    ['MAJORITY', 0, [0]],
    ['ANY', 1, [1]],
    ['ALL', 1, [1]],
    ['MAJORITY', 1, [1]],
    ['ANY', 2, [1, 2]],
    ['ALL', 2, [2]],
    ['MAJORITY', 2, [2]],
    ['ANY', 3, [1, 2, 3]],
    ['ALL', 3, [3]],
    ['MAJORITY', 3, [2, 3]],
  ];
  test.each(cases)('%s over %i children passes with exactly these satisfied: %j', (ruleName, childCount, passing) => {
    const rule = common.ImplicitMetaPolicy_Rule[ruleName as keyof typeof common.ImplicitMetaPolicy_Rule];
    const policy = channelWithChildren(rule, childCount);
    const passes = [];
    for (let satisfied = 0; satisfied <= childCount; satisfied++) {
      if (policy.evaluate(members.slice(0, satisfied).map((m) => m.signed())).satisfied) passes.push(satisfied);
    }
    expect(passes).toEqual(passing);
  });

  test('no child groups: satisfied by an empty signature set', () => {
    expect(channelWithChildren(ALL, 0).evaluate([])).toEqual({ satisfied: true });
  });

  test('the failure reason says how many of how many sub-policies, and which failed why', () => {
    const result = channelWithChildren(MAJORITY, 3).evaluate([members[0]!.signed()]);
    expect(result.satisfied).toBe(false);
    const reason = result.satisfied ? '' : result.reason;
    expect(reason).toContain('policy /Channel/Writers (MAJORITY Writers): 1 of 3 sub-policies satisfied, 2 required');
    expect(reason).toContain("policy /Channel/Org2MSP/Writers OR('Org2MSP.member'): 0 of 1 rules satisfied, 1 required");
    // What became of the signatures is told once, not once per sub-policy.
    expect(reason.match(/1 signature, 1 valid/g)).toHaveLength(1);
  });

  test('the signature set is verified once for all sub-policies', () => {
    const msps = new FakeDeserializer(ORG_MSPS);
    const policy = channelWithChildren(ALL, 3, msps);
    expect(policy.evaluate(members.map((m) => m.signed())).satisfied).toBe(true);
    expect(msps.counters.deserializations).toBe(3);
    expect(msps.counters.verifications).toBe(3);
  });
});

describe('ImplicitMeta: missing sub-policies count as failed', () => {
  // Org3 has no Writers policy.
  const groups = {
    Org1MSP: org('Org1MSP'),
    Org2MSP: org('Org2MSP'),
    Org3MSP: group({ Readers: org('Org3MSP').policies!['Readers']! }),
  };
  const manager = (rule: number) =>
    buildPolicyManager(config(group({ Writers: implicitMeta(rule, 'Writers') }, groups)), new FakeDeserializer(ORG_MSPS));

  test('MAJORITY of 3 still needs 2 of the 2 that exist; ALL can never pass', () => {
    const both = [members[0]!.signed(), members[1]!.signed()];
    expect(manager(MAJORITY).getPolicy('Writers')!.evaluate(both).satisfied).toBe(true);
    expect(manager(MAJORITY).getPolicy('Writers')!.evaluate([members[0]!.signed()]).satisfied).toBe(false);
    const all = manager(ALL).getPolicy('Writers')!.evaluate(members.map((m) => m.signed()));
    expect(all).toEqual({
      satisfied: false,
      reason: 'policy /Channel/Writers (ALL Writers): 2 of 3 sub-policies satisfied, 3 required (/Channel/Org3MSP/Writers: no such policy) [3 signatures, 3 valid (Org1MSP, Org2MSP, Org3MSP)]',
    });
  });

  test('a sub-policy no child has: ANY fails, and nothing is verified', () => {
    const msps = new FakeDeserializer(ORG_MSPS);
    const m = buildPolicyManager(config(group({ Writers: implicitMeta(ANY, 'Nonexistent') }, groups)), msps);
    const result = m.getPolicy('Writers')!.evaluate(members.map((s) => s.signed()));
    expect(result.satisfied).toBe(false);
    expect(msps.counters.deserializations).toBe(0);
  });
});

test('an unknown rule number leaves the threshold at 0, and then, like Fabric, holds only if NO sub-policy holds', () => {
  const policy = channelWithChildren(7, 2);
  expect(policy.evaluate([]).satisfied).toBe(true);
  const result = policy.evaluate([members[0]!.signed()]);
  expect(result.satisfied).toBe(false);
  expect(result.satisfied ? '' : result.reason).toContain('(rule 7 Writers): 1 of 2 sub-policies satisfied, none may be (unknown rule 7)');
});

test('ImplicitMeta over ImplicitMeta: /Channel/Writers -> /Channel/Application/Writers -> org Writers', () => {
  const tree = group(
    { Writers: implicitMeta(ANY, 'Writers') },
    {
      Application: group({ Writers: implicitMeta(ALL, 'Writers') }, { Org1MSP: org('Org1MSP'), Org2MSP: org('Org2MSP') }),
    },
  );
  const writers = buildPolicyManager(config(tree), new FakeDeserializer(ORG_MSPS)).getPolicy('/Channel/Writers')!;
  expect(writers.evaluate([members[0]!.signed()]).satisfied).toBe(false);
  expect(writers.evaluate([members[1]!.signed(), members[0]!.signed()]).satisfied).toBe(true);
});
