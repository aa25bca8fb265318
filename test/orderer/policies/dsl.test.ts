// The policy DSL: the envelopes configtxgen writes, and back to text.
import { common } from '../../../protos';
import { buildChannelConfig } from '../../../orderer/channelconfig';
import { formatSignaturePolicy, parsePolicyDsl, PolicyDslError } from '../../../orderer/policies';

const ROLE = common.MSPPrincipal_Classification.ROLE;
const { MEMBER, ADMIN, CLIENT, PEER, ORDERER } = common.MSPRole_MSPRoleType;

function role(mspIdentifier: string, r: common.MSPRole_MSPRoleType): common.MSPPrincipalInit {
  return { principalClassification: ROLE, principal: common.MSPRole.encode({ mspIdentifier, role: r }) };
}
const by = (i: number): common.SignaturePolicyInit => ({ signedBy: i });
const outOf = (n: number, ...rules: common.SignaturePolicyInit[]): common.SignaturePolicyInit => ({ nOutOf: { n, rules } });
const envelope = (rule: common.SignaturePolicyInit, identities: common.MSPPrincipalInit[]): Uint8Array =>
  common.SignaturePolicyEnvelope.encode({ version: 0, rule, identities });
const bytesOf = (dsl: string): Uint8Array => common.SignaturePolicyEnvelope.encode(parsePolicyDsl(dsl));

describe('parsePolicyDsl: the envelopes Fabric makes', () => {
  test('OutOf, AND, OR over principals, numbered in order', () => {
    expect(bytesOf("OutOf(1, 'A.member', 'B.member')")).toEqual(envelope(outOf(1, by(0), by(1)), [role('A', MEMBER), role('B', MEMBER)]));
    expect(bytesOf("AND('A.client', 'B.peer')")).toEqual(envelope(outOf(2, by(0), by(1)), [role('A', CLIENT), role('B', PEER)]));
    expect(bytesOf("OR('A.peer', 'B.admin', 'C.orderer', 'D.client')")).toEqual(
      envelope(outOf(1, by(0), by(1), by(2), by(3)), [role('A', PEER), role('B', ADMIN), role('C', ORDERER), role('D', CLIENT)]),
    );
  });

  test("nested gates number their principals first (post-order), as Fabric's parser does", () => {
    expect(bytesOf("OR('A.member', AND('B.member', 'C.member'))")).toEqual(
      envelope(outOf(1, by(2), outOf(2, by(0), by(1))), [role('B', MEMBER), role('C', MEMBER), role('A', MEMBER)]),
    );
    expect(bytesOf("OR(AND('A.member', 'B.member'), OR('C.admin', 'D.member'))")).toEqual(
      envelope(outOf(1, outOf(2, by(0), by(1)), outOf(1, by(2), by(3))), [role('A', MEMBER), role('B', MEMBER), role('C', ADMIN), role('D', MEMBER)]),
    );
  });

  test('every occurrence of a principal is its own identity (no deduplication)', () => {
    expect(parsePolicyDsl("AND('A.member', 'A.member')").identities).toHaveLength(2);
  });

  test('the same bytes as the org policies of buildChannelConfig', () => {
    const cfg = common.Config.decode(
      common.Config.encode(buildChannelConfig({ channelId: 'ch', consenters: [{ host: 'o1', port: 7050 }], ordererOrgs: [{ mspId: 'OrdererMSP' }] })),
    );
    const org = cfg.channelGroup!.groups['Orderer']!.groups['OrdererMSP']!;
    expect(org.policies['Writers']!.policy!.value).toEqual(bytesOf("OR('OrdererMSP.member')"));
    expect(org.policies['Admins']!.policy!.value).toEqual(bytesOf("OR('OrdererMSP.admin')"));
  });

  test('MSP IDs with dots and dashes; the role is the last dotted part', () => {
    const parsed = parsePolicyDsl("OR('MSP.member', 'MSP.WITH.DOTS.member', 'MSP-WITH-DASHES.member')");
    expect(parsed.identities.map((p) => common.MSPRole.decode(p.principal).mspIdentifier)).toEqual(['MSP', 'MSP.WITH.DOTS', 'MSP-WITH-DASHES']);
  });

  test('gate spellings, double quotes, whitespace, a quoted threshold, t = n+1', () => {
    const canonical = bytesOf("OutOf(1, 'A.member', 'B.member')");
    expect(bytesOf('outof(1,"A.member","B.member")')).toEqual(canonical);
    expect(bytesOf("  OUTOF ( '1' ,\n 'A.member' , 'B.member' ) ")).toEqual(canonical);
    expect(bytesOf("or('A.member', 'B.member')")).toEqual(canonical);
    expect(bytesOf("Or('A.member', 'B.member')")).toEqual(canonical);
    expect(bytesOf("and('A.member')")).toEqual(bytesOf("AND('A.member')"));
    expect(parsePolicyDsl("OutOf(3, 'A.member', 'B.member')").rule!.nOutOf!.n).toBe(3);
    expect(parsePolicyDsl("OutOf(0, 'A.member', 'B.member')").rule!.nOutOf!.n).toBe(0);
  });

  test.each([
    ['', /a policy starts with AND, OR or OutOf/],
    ["'A.member'", /a policy starts with AND, OR or OutOf/],
    ['OutOf(1)', /needs at least one principal/],
    ["OutOf(4, 'A.member', 'B.member')", /threshold 4 out of range for 2 arguments \(0 to 3\)/],
    ["OutOf(-1, 'A.member', 'B.member')", /threshold -1 out of range/],
    ["OutOf(true, 'A.member')", /integer threshold/],
    ['OutOf(1, 2)', /expected a quoted principal or a gate/],
    ["OR('A.member', 'Bmember')", /"Bmember" is not a principal/],
    ["OR('A.member', Bmember)", /unknown gate "Bmember"/],
    ["OR('A.superuser')", /is not a principal/],
    ["oR('A.member')", /unknown gate "oR"/],
    ['OR()', /expected a quoted principal or a gate/],
    ["OR('A.member') AND", /unexpected text after the policy/],
    ["OR('A.member'", /expected "," or "\)"/],
    ["OR('A.member)", /unterminated string/],
    ["OR('A.mem\\'ber')", /escapes are not supported/],
  ])('%j is refused', (dsl, message) => {
    expect(() => parsePolicyDsl(dsl)).toThrow(PolicyDslError);
    expect(() => parsePolicyDsl(dsl)).toThrow(message);
  });

  test('the error carries the offset of the problem', () => {
    try {
      parsePolicyDsl("OR('A.member', 'Bmember')");
      throw new Error('parsed');
    } catch (err) {
      expect(err).toBeInstanceOf(PolicyDslError);
      expect((err as PolicyDslError).offset).toBe(15);
    }
  });
});

describe('formatSignaturePolicy', () => {
  test.each([
    ["OR('Org1MSP.member')", "OR('Org1MSP.member')"],
    ["OutOf(1, 'A.member', 'B.member')", "OR('A.member', 'B.member')"],
    ["OutOf(2, 'A.member', 'B.member')", "AND('A.member', 'B.member')"],
    ["OutOf(2, 'A.member', 'B.admin', 'C.peer')", "OutOf(2, 'A.member', 'B.admin', 'C.peer')"],
    ["OR('A.member', AND('B.member', 'C.client'))", "OR('A.member', AND('B.member', 'C.client'))"],
    ["OutOf(0, 'A.orderer')", "OutOf(0, 'A.orderer')"],
    ["OutOf(3, 'A.member', 'B.member')", "OutOf(3, 'A.member', 'B.member')"],
    ["AND(OR('A.admin', 'B.admin'), OutOf(2, 'C.peer', 'D.peer', OR('E.member')), 'F.client')", "AND(OR('A.admin', 'B.admin'), OutOf(2, 'C.peer', 'D.peer', OR('E.member')), 'F.client')"],
  ])('%s formats as %s and parses back to the same bytes', (dsl, formatted) => {
    const parsed = parsePolicyDsl(dsl);
    expect(formatSignaturePolicy(parsed)).toBe(formatted);
    expect(common.SignaturePolicyEnvelope.encode(parsePolicyDsl(formatted))).toEqual(common.SignaturePolicyEnvelope.encode(parsed));
  });

  test('what the DSL cannot say is written readably', () => {
    const ou: common.MSPPrincipal = { principalClassification: common.MSPPrincipal_Classification.ORGANIZATION_UNIT, principal: new Uint8Array() };
    const parsed = parsePolicyDsl("OR('A.member')");
    expect(formatSignaturePolicy({ version: 0, rule: { nOutOf: { n: 1, rules: [{ signedBy: 0 }, { signedBy: 5 }] } }, identities: [ou] })).toBe(
      'OR(<ORGANIZATION_UNIT principal>, <signed_by 5: no such principal>)',
    );
    expect(formatSignaturePolicy({ ...parsed, rule: { signedBy: 0 } })).toBe("'A.member'");
    expect(formatSignaturePolicy({ ...parsed, rule: undefined })).toBe('<empty rule>');
  });
});
