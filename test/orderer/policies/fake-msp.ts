// Fake identities for policy tests: they implement the MSP contract (orderer/msp/types.ts)
// without certificates. An identity's "certificate" is the text "<name>:<role>,<role>" in
// SerializedIdentity.id_bytes; its "signature" over data is SHA-256(name ‖ data). Principals
// are matched by MSP ID and role (ROLE principals only; every identity is a MEMBER).
import { createHash } from 'node:crypto';
import { common, msp } from '../../../protos';
import { IdentityError, type Identity, type IdentityDeserializer } from '../../../orderer/msp/types';
import type { SignedData } from '../../../orderer/msgcheck';

const enc = new TextEncoder();
const dec = new TextDecoder();

export type FakeRole = 'admin' | 'client' | 'peer' | 'orderer';

const ROLE_VALUES: Readonly<Record<FakeRole, common.MSPRole_MSPRoleType>> = {
  admin: common.MSPRole_MSPRoleType.ADMIN,
  client: common.MSPRole_MSPRoleType.CLIENT,
  peer: common.MSPRole_MSPRoleType.PEER,
  orderer: common.MSPRole_MSPRoleType.ORDERER,
};

function fakeSignature(name: string, data: Uint8Array): Uint8Array {
  return createHash('sha256').update(name).update(data).digest();
}

/** Someone who can sign: `signed(data)` makes a SignedData entry for the policy evaluator. */
export class FakeSigner {
  readonly serialized: Uint8Array;

  constructor(
    readonly mspId: string,
    readonly name: string,
    readonly roles: readonly FakeRole[] = [],
  ) {
    this.serialized = msp.SerializedIdentity.encode({ mspid: mspId, idBytes: enc.encode(`${name}:${roles.join(',')}`) });
  }

  signed(data: Uint8Array = enc.encode('payload')): SignedData {
    return { data, identity: this.serialized, signature: fakeSignature(this.name, data) };
  }

  /** An entry claiming to be this signer, with a signature that does not verify. */
  forged(data: Uint8Array = enc.encode('payload')): SignedData {
    return { data, identity: this.serialized, signature: enc.encode('not a signature') };
  }
}

class FakeIdentity implements Identity {
  readonly certificateDer: Uint8Array;
  readonly key: string;
  readonly notAfterMs = Number.MAX_SAFE_INTEGER;
  readonly notBeforeMs = 0;

  constructor(
    readonly mspId: string,
    readonly name: string,
    readonly roles: readonly FakeRole[],
    idBytes: Uint8Array,
    private readonly counters: FakeMspCounters,
  ) {
    this.certificateDer = idBytes;
    this.key = mspId + createHash('sha256').update(idBytes).digest('hex');
  }

  verify(data: Uint8Array, signature: Uint8Array): boolean {
    this.counters.verifications++;
    return Buffer.from(fakeSignature(this.name, data)).equals(Buffer.from(signature));
  }

  satisfiesPrincipal(principal: common.MSPPrincipal): boolean {
    this.counters.principalChecks++;
    if (principal.principalClassification !== common.MSPPrincipal_Classification.ROLE) return false;
    const role = common.MSPRole.decode(principal.principal);
    if (role.mspIdentifier !== this.mspId) return false;
    if (role.role === common.MSPRole_MSPRoleType.MEMBER) return true;
    return this.roles.some((r) => ROLE_VALUES[r] === role.role);
  }
}

export interface FakeMspCounters {
  deserializations: number;
  verifications: number;
  principalChecks: number;
}

/** The channel's MSPs: identities of `mspIds` deserialize; `invalid` names are refused by their MSP. */
export class FakeDeserializer implements IdentityDeserializer {
  readonly counters: FakeMspCounters = { deserializations: 0, verifications: 0, principalChecks: 0 };
  private readonly known: ReadonlySet<string>;

  constructor(
    mspIds: readonly string[],
    private readonly invalidNames: ReadonlySet<string> = new Set(),
  ) {
    this.known = new Set(mspIds);
  }

  deserialize(serializedIdentity: Uint8Array): Identity {
    this.counters.deserializations++;
    const sid = msp.SerializedIdentity.decode(serializedIdentity);
    if (!this.known.has(sid.mspid)) throw new IdentityError(sid.mspid, 'unknown MSP');
    const [name = '', roles = ''] = dec.decode(sid.idBytes).split(':');
    if (this.invalidNames.has(name)) throw new IdentityError(sid.mspid, `certificate of ${name} is revoked`);
    const parsedRoles = roles === '' ? [] : (roles.split(',') as FakeRole[]);
    return new FakeIdentity(sid.mspid, name, parsedRoles, sid.idBytes, this.counters);
  }
}
