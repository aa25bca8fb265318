// Test organisations: a root CA (optionally an intermediate under it), certificates issued with
// chosen OUs, and the msp.FabricMSPConfig naming them.
import { common, msp } from '../../../protos';
import { encodePem } from '../../../orderer/msp/der';
import { createIntermediateCa, createLeaf, createSelfSignedCa, type IssuedWithKey, type LeafSpec } from '../../../orderer/msp/x509-build';

export const DAY_MS = 86_400_000;

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

export interface TestOrg {
  readonly mspId: string;
  readonly root: IssuedWithKey;
  readonly intermediate: IssuedWithKey | undefined;
  /** The CA that issues identities: the intermediate when there is one. */
  readonly issuer: IssuedWithKey;
  readonly admin: IssuedWithKey;
  issue(spec: Partial<LeafSpec> & { readonly ous?: readonly string[] }): IssuedWithKey;
}

export function makeOrg(mspId: string, options: { readonly intermediate?: boolean } = {}): TestOrg {
  // CAs made a year ago, so tests can issue certificates whose validity starts in the past.
  const notBefore = new Date(Math.floor((Date.now() - 365 * DAY_MS) / 1000) * 1000);
  const notAfter = new Date(notBefore.getTime() + 10 * 365 * DAY_MS);
  const root = createSelfSignedCa({ subject: { commonName: `ca.${mspId}`, organization: mspId }, notBefore, notAfter });
  const intermediate = options.intermediate
    ? createIntermediateCa(root, { subject: { commonName: `ica.${mspId}`, organization: mspId }, notBefore, notAfter })
    : undefined;
  const issuer = intermediate ?? root;
  const issue = (spec: Partial<LeafSpec> & { readonly ous?: readonly string[] }): IssuedWithKey =>
    createLeaf(issuer, { ...spec, subject: spec.subject ?? { commonName: `user.${mspId}`, organization: mspId, organizationalUnits: spec.ous ?? [] } });
  const admin = issue({ subject: { commonName: `Admin@${mspId}`, organization: mspId, organizationalUnits: ['admin'] } });
  return { mspId, root, intermediate, issuer, admin, issue };
}

export const NODE_OUS: msp.FabricNodeOUsInit = {
  enable: true,
  clientOuIdentifier: { organizationalUnitIdentifier: 'client' },
  peerOuIdentifier: { organizationalUnitIdentifier: 'peer' },
  adminOuIdentifier: { organizationalUnitIdentifier: 'admin' },
  ordererOuIdentifier: { organizationalUnitIdentifier: 'orderer' },
};

/** The org's FabricMSPConfig (decoded form), with `overrides` applied. */
export function mspConfigOf(org: TestOrg, overrides: msp.FabricMSPConfigInit = {}): msp.FabricMSPConfig {
  const init: msp.FabricMSPConfigInit = {
    name: org.mspId,
    rootCerts: [enc(org.root.certificate.pem)],
    intermediateCerts: org.intermediate === undefined ? [] : [enc(org.intermediate.certificate.pem)],
    admins: [enc(org.admin.certificate.pem)],
    ...overrides,
  };
  return msp.FabricMSPConfig.decode(msp.FabricMSPConfig.encode(init));
}

export function mspConfigValue(org: TestOrg, overrides: msp.FabricMSPConfigInit = {}): msp.MSPConfig {
  return { type: 0, config: msp.FabricMSPConfig.encode(mspConfigOf(org, overrides)) };
}

export function serialize(mspId: string, certPemOrDer: string | Uint8Array): Uint8Array {
  const pem = typeof certPemOrDer === 'string' ? certPemOrDer : encodePem('CERTIFICATE', certPemOrDer);
  return msp.SerializedIdentity.encode({ mspid: mspId, idBytes: enc(pem) });
}

export function rolePrincipal(mspId: string, role: common.MSPRole_MSPRoleType): common.MSPPrincipal {
  return { principalClassification: common.MSPPrincipal_Classification.ROLE, principal: common.MSPRole.encode({ mspIdentifier: mspId, role }) };
}
