// Which principals an X.509 identity satisfies, with the v1.4.3 rules (Fabric's
// satisfiesPrincipalInternalV142, falling back to V13 and pre-V13). Every identity reaching here
// already validated against its MSP (types.ts), so "valid under this MSP" always holds; the
// checks left are the MSP ID a principal names, roles, OUs and certificate bytes.
// Principal bytes that do not decode satisfy nothing (Fabric returns an error, which a policy
// counts as not satisfied).
import { common, msp } from '../../protos';
import { bytesEqual } from './der';
import type { X509Identity } from './identity';
import type { X509Msp } from './x509-msp';

/** Nested COMBINED principals are flattened (collectPrincipals); an empty one is an error. */
const MAX_COMBINED_DEPTH = 16;

export function satisfiesPrincipal(mspInstance: X509Msp, identity: X509Identity, principal: common.MSPPrincipal): boolean {
  const flat = collectPrincipals(principal, 0);
  return flat !== undefined && flat.every((p) => satisfiesOne(mspInstance, identity, p));
}

function collectPrincipals(principal: common.MSPPrincipal, depth: number): common.MSPPrincipal[] | undefined {
  if (principal.principalClassification !== common.MSPPrincipal_Classification.COMBINED) return [principal];
  if (depth >= MAX_COMBINED_DEPTH) return undefined;
  const combined = decodeOrUndefined(() => common.CombinedPrincipal.decode(principal.principal));
  if (combined === undefined || combined.principals.length === 0) return undefined;
  const out: common.MSPPrincipal[] = [];
  for (const p of combined.principals) {
    const inner = collectPrincipals(p, depth + 1);
    if (inner === undefined) return undefined;
    out.push(...inner);
  }
  return out;
}

function satisfiesOne(mspInstance: X509Msp, identity: X509Identity, principal: common.MSPPrincipal): boolean {
  switch (principal.principalClassification) {
    case common.MSPPrincipal_Classification.ROLE: {
      const role = decodeOrUndefined(() => common.MSPRole.decode(principal.principal));
      if (role === undefined || role.mspIdentifier !== mspInstance.name) return false;
      return satisfiesRole(mspInstance, identity, role.role);
    }
    case common.MSPPrincipal_Classification.IDENTITY: {
      // The principal is a SerializedIdentity of this MSP; Fabric deserializes it (sanitizing its
      // signature to low S) and compares certificate bytes.
      const serialized = decodeOrUndefined(() => msp.SerializedIdentity.decode(principal.principal));
      if (serialized === undefined) return false;
      const other = decodeOrUndefined(() => mspInstance.deserializeIdentity(serialized));
      return other !== undefined && bytesEqual(other.certificateDer, identity.certificateDer);
    }
    case common.MSPPrincipal_Classification.ORGANIZATION_UNIT: {
      const ou = decodeOrUndefined(() => common.OrganizationUnit.decode(principal.principal));
      if (ou === undefined || ou.mspIdentifier !== mspInstance.name) return false;
      return identity.organizationalUnits.some((x) => x.name === ou.organizationalUnitIdentifier && bytesEqual(x.certifiersId, ou.certifiersIdentifier));
    }
    case common.MSPPrincipal_Classification.ANONYMITY: {
      const anonymity = decodeOrUndefined(() => common.MSPIdentityAnonymity.decode(principal.principal));
      // X.509 identities are nominal, never anonymous.
      return anonymity?.anonymityType === common.MSPIdentityAnonymity_MSPIdentityAnonymityType.NOMINAL;
    }
    default:
      return false;
  }
}

function satisfiesRole(mspInstance: X509Msp, identity: X509Identity, role: common.MSPRole_MSPRoleType): boolean {
  const ous = mspInstance.nodeOus;
  switch (role) {
    case common.MSPRole_MSPRoleType.MEMBER:
      return true;
    case common.MSPRole_MSPRoleType.ADMIN:
      // Listed admin certificate, or (NodeOUs on) the admin OU.
      return mspInstance.isAdminCertificate(identity) || mspInstance.hasNodeOu(identity, ous.admin);
    case common.MSPRole_MSPRoleType.CLIENT:
      return mspInstance.hasNodeOu(identity, ous.client);
    case common.MSPRole_MSPRoleType.PEER:
      return mspInstance.hasNodeOu(identity, ous.peer);
    case common.MSPRole_MSPRoleType.ORDERER:
      return mspInstance.hasNodeOu(identity, ous.orderer);
    default:
      return false;
  }
}

function decodeOrUndefined<T>(decode: () => T): T | undefined {
  try {
    return decode();
  } catch {
    return undefined;
  }
}
