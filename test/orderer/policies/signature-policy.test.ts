// Signature policies evaluated as Fabric's cauthdsl does (reference §5.2 rules 1-2).
import { common } from '../../../protos';
import { MAX_ENTRIES_DESCRIBED, parsePolicyDsl, SignaturePolicy, SignaturePolicyError } from '../../../orderer/policies';
import type { SignedData } from '../../../orderer/msgcheck';
import { FakeDeserializer, FakeSigner } from './fake-msp';

const MSPS = ['AMSP', 'BMSP', 'CMSP'];

function policy(dsl: string, deserializer = new FakeDeserializer(MSPS)): SignaturePolicy {
  return new SignaturePolicy('/Channel/Test', parsePolicyDsl(dsl), deserializer);
}

function reasonOf(result: { satisfied: boolean; reason?: string }): string {
  expect(result.satisfied).toBe(false);
  return result.reason ?? '';
}

const a1 = new FakeSigner('AMSP', 'a1');
const a2 = new FakeSigner('AMSP', 'a2');
const aAdmin = new FakeSigner('AMSP', 'a-admin', ['admin']);
const b1 = new FakeSigner('BMSP', 'b1');
const c1 = new FakeSigner('CMSP', 'c1');
const stranger = new FakeSigner('ZMSP', 'z1');

describe('signature policy: n_out_of and signed_by', () => {
  test('OR of one principal: any identity of that MSP, none of another', () => {
    const p = policy("OR('AMSP.member')");
    expect(p.evaluate([a1.signed()]).satisfied).toBe(true);
    const reason = reasonOf(p.evaluate([b1.signed()]));
    expect(reason).toContain("/Channel/Test OR('AMSP.member')");
    expect(reason).toContain('0 of 1 rules satisfied, 1 required');
    expect(reason).toContain('1 signature, 1 valid (BMSP)');
  });

  test('an empty signature set satisfies nothing but a zero threshold', () => {
    expect(policy("OR('AMSP.member')").evaluate([]).satisfied).toBe(false);
    expect(policy("OutOf(0, 'AMSP.member')").evaluate([]).satisfied).toBe(true);
  });

  test('OutOf(2, A, B, C) needs two distinct principals satisfied', () => {
    const p = policy("OutOf(2, 'AMSP.member', 'BMSP.member', 'CMSP.member')");
    expect(p.evaluate([a1.signed()]).satisfied).toBe(false);
    expect(p.evaluate([a1.signed(), c1.signed()]).satisfied).toBe(true);
    expect(p.evaluate([c1.signed(), b1.signed(), a1.signed()]).satisfied).toBe(true);
  });

  test('one identity satisfies one leaf only: AND(A, A) needs two A identities', () => {
    const p = policy("AND('AMSP.member', 'AMSP.member')");
    expect(p.evaluate([a1.signed()]).satisfied).toBe(false);
    expect(p.evaluate([a1.signed(), a2.signed()]).satisfied).toBe(true);
  });

  test('greedy, no backtracking: AND(member, admin) fails when the admin signed first, as in Fabric', () => {
    // A perfect matching exists (a1 -> member, aAdmin -> admin), but the member leaf takes
    // the first identity that satisfies it, the admin, and the admin leaf finds nobody left.
    const p = policy("AND('AMSP.member', 'AMSP.admin')");
    const reason = reasonOf(p.evaluate([aAdmin.signed(), a1.signed()]));
    expect(reason).toContain('1 of 2 rules satisfied, 2 required');
    // The same two signatures in the other order pass.
    expect(p.evaluate([a1.signed(), aAdmin.signed()]).satisfied).toBe(true);
  });

  test('a failed rule gives back what it consumed; a satisfied rule keeps it', () => {
    // The AND takes a1 for its first leaf, then fails for want of a B: its marks are discarded,
    // so the plain 'AMSP.member' rule still finds a1.
    expect(policy("OutOf(1, AND('AMSP.member', 'BMSP.member'), 'AMSP.member')").evaluate([a1.signed()]).satisfied).toBe(true);
    // The OR is satisfied by a1 and keeps it: the second rule needs another A identity.
    const p = policy("AND(OR('AMSP.member'), 'AMSP.member')");
    expect(p.evaluate([a1.signed()]).satisfied).toBe(false);
    expect(p.evaluate([a1.signed(), a2.signed()]).satisfied).toBe(true);
  });

  test('a bare signed_by at the top is evaluated too', () => {
    const envelope = parsePolicyDsl("OR('AMSP.admin')");
    const bare = new SignaturePolicy('/Channel/Bare', { ...envelope, rule: { signedBy: 0 } }, new FakeDeserializer(MSPS));
    expect(bare.evaluate([aAdmin.signed()]).satisfied).toBe(true);
    expect(reasonOf(bare.evaluate([a1.signed()]))).toContain("/Channel/Bare 'AMSP.admin': no valid signature satisfies the principal");
  });
});

describe('signature policy: the signature set (duplicates, bad signatures, unknown MSPs)', () => {
  test('the same identity twice counts once, and its second signature is never verified', () => {
    const msps = new FakeDeserializer(MSPS);
    const p = policy("AND('AMSP.member', 'AMSP.member')", msps);
    const reason = reasonOf(p.evaluate([a1.signed(), a1.signed()]));
    expect(msps.counters.verifications).toBe(1);
    expect(reason).toContain('2 signatures, 1 valid (AMSP); dropped entry 1: duplicate of an identity of AMSP already counted');
  });

  test('a bad signature does not poison a later valid entry of the same identity', () => {
    const msps = new FakeDeserializer(MSPS);
    const p = policy("OR('AMSP.member')", msps);
    expect(p.evaluate([a1.forged(), a1.signed()]).satisfied).toBe(true);
    expect(msps.counters.verifications).toBe(2);
  });

  test('after a bad and a good entry, a third entry of that identity is a duplicate, dropped unverified', () => {
    const msps = new FakeDeserializer(MSPS);
    const p = policy("AND('AMSP.member', 'AMSP.member')", msps);
    const reason = reasonOf(p.evaluate([a1.forged(), a1.signed(), a1.signed()]));
    expect(msps.counters.verifications).toBe(2);
    expect(reason).toContain('dropped entry 0: bad signature by an identity of AMSP; entry 2: duplicate');
  });

  test('an unknown MSP or an identity its MSP refuses is dropped, not fatal to the set', () => {
    const msps = new FakeDeserializer(MSPS, new Set(['revoked']));
    const revoked = new FakeSigner('BMSP', 'revoked');
    const p = policy("OR('AMSP.member')", msps);
    expect(p.evaluate([stranger.signed(), revoked.signed(), a1.signed()]).satisfied).toBe(true);
    const reason = reasonOf(policy("AND('AMSP.member', 'BMSP.member')", msps).evaluate([stranger.signed(), revoked.signed(), a1.signed()]));
    expect(reason).toContain('entry 0: identity refused (MSP ZMSP: unknown MSP)');
    expect(reason).toContain('entry 1: identity refused (MSP BMSP: certificate of revoked is revoked)');
  });

  test('garbage identity bytes are dropped like a refused identity', () => {
    const garbage: SignedData = { data: new Uint8Array([1]), identity: new Uint8Array([0xff, 0xff]), signature: new Uint8Array() };
    const p = policy("OR('AMSP.member')");
    expect(p.evaluate([garbage, a1.signed()]).satisfied).toBe(true);
    expect(reasonOf(p.evaluate([garbage]))).toContain('entry 0: identity refused (');
  });

  test('an MSP bug (an error that is not a refusal) is not swallowed', () => {
    const broken = { deserialize: (): never => { throw new TypeError('bug in the MSP'); } };
    const p = new SignaturePolicy('/Channel/Test', parsePolicyDsl("OR('AMSP.member')"), broken);
    expect(() => p.evaluate([a1.signed()])).toThrow(TypeError);
  });

  test('each entry is verified once however many rules look at it', () => {
    const msps = new FakeDeserializer(MSPS);
    const p = policy("OutOf(3, 'AMSP.admin', 'AMSP.member', 'BMSP.member', OR('CMSP.member', 'AMSP.member'), 'CMSP.member')", msps);
    expect(p.evaluate([a1.signed(), b1.signed(), c1.signed()]).satisfied).toBe(true);
    expect(msps.counters.deserializations).toBe(3);
    expect(msps.counters.verifications).toBe(3);
  });
});

describe('signature policy: compilation (what makes a config unusable)', () => {
  const msps = new FakeDeserializer(MSPS);
  const base = parsePolicyDsl("OR('AMSP.member', 'BMSP.member')");

  test('signed_by out of range is refused when compiling, with the index and the principal count', () => {
    expect(() => new SignaturePolicy('/x', { ...base, rule: { nOutOf: { n: 1, rules: [{ signedBy: 2 }] } } }, msps)).toThrow(
      new SignaturePolicyError('signed_by 2 is out of range: the envelope has 2 principals'),
    );
    expect(() => new SignaturePolicy('/x', { ...base, rule: { signedBy: -1 } }, msps)).toThrow(/signed_by -1 is out of range/);
  });

  test('only version 0; a rule must exist and be signed_by or n_out_of', () => {
    expect(() => new SignaturePolicy('/x', { ...base, version: 1 }, msps)).toThrow(/version 1 is not supported/);
    expect(() => new SignaturePolicy('/x', { version: 0, identities: base.identities }, msps)).toThrow(/empty policy element/);
    expect(() => new SignaturePolicy('/x', { ...base, rule: {} }, msps)).toThrow(/neither signed_by nor n_out_of/);
  });

  test('undecodable envelope bytes are a SignaturePolicyError', () => {
    expect(() => SignaturePolicy.fromBytes('/x', new Uint8Array([0x0a, 0x05]), msps)).toThrow(SignaturePolicyError);
  });

  test('a long policy is quoted shortened in reasons', () => {
    const many = Array.from({ length: 40 }, (_, i) => `'Org${i}MSP.member'`).join(', ');
    const p = new SignaturePolicy('/x', parsePolicyDsl(`OR(${many})`), msps);
    expect(p.formatted.length).toBeLessThanOrEqual(243);
    expect(p.formatted.endsWith('...')).toBe(true);
  });

  test('the principal checks of one run are memoized per identity and principal', () => {
    // Hand-built envelopes (Fabric's Go builders do this) share one principal among leaves.
    const counting = new FakeDeserializer(MSPS);
    const shared = parsePolicyDsl("OR('CMSP.member')");
    const p = new SignaturePolicy('/x', { ...shared, rule: { nOutOf: { n: 4, rules: [0, 0, 0, 0].map((i) => ({ signedBy: i })) } } }, counting);
    expect(p.evaluate([a1.signed(), a2.signed(), b1.signed()]).satisfied).toBe(false);
    // 4 leaves x 3 identities, but only 3 distinct (identity, principal) pairs.
    expect(counting.counters.principalChecks).toBe(3);
  });
});

test('a ROLE principal with a role number beyond the DSL still compiles and simply does not match', () => {
  const envelope: common.SignaturePolicyEnvelope = {
    version: 0,
    rule: { signedBy: 0 },
    identities: [{ principalClassification: common.MSPPrincipal_Classification.ROLE, principal: common.MSPRole.encode({ mspIdentifier: 'AMSP', role: 9 as common.MSPRole_MSPRoleType }) }],
  };
  const p = new SignaturePolicy('/x', envelope, new FakeDeserializer(MSPS));
  expect(p.formatted).toBe('<ROLE 9 of AMSP>');
  expect(p.evaluate([a1.signed()]).satisfied).toBe(false);
});

test('a failure reason lists at most MAX_ENTRIES_DESCRIBED entries of each kind and counts the rest', () => {
  const strangers = Array.from({ length: 20 }, (_, i) => new FakeSigner('ZMSP', `z${i}`).signed());
  const valid = Array.from({ length: 12 }, (_, i) => new FakeSigner('BMSP', `b${i}`).signed());
  const result = policy("OR('AMSP.member')").evaluate([...valid, ...strangers]);
  const reason = result.satisfied ? '' : result.reason;
  expect(reason).toContain(`32 signatures, 12 valid (${Array(MAX_ENTRIES_DESCRIBED).fill('BMSP').join(', ')}, ...)`);
  expect(reason.match(/identity refused/g)).toHaveLength(MAX_ENTRIES_DESCRIBED);
  expect(reason).toContain(`; and ${20 - MAX_ENTRIES_DESCRIBED} more`);
});
