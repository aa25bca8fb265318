// The X.509 MSP with Fabric's v1.4.3 rules (MSPv1_4_3, selected by channel capability V1_4_3 or
// V2_0; reference §5.3). Built from a msp.FabricMSPConfig, which it checks as Fabric's setup does
// (throwing MspConfigError); then deserializes and validates identities (throwing IdentityError)
// and answers principal questions (principals.ts).
import { createHash } from 'node:crypto';
import { msp, type common } from '../../protos';
import { bytesEqual, decodePem } from './der';
import { isEcdsaSignatureAlgorithm, isSignedBy, parseCertificate, withLowSSignature, type ParsedCertificate } from './certificate';
import { CertificatePool, ChainError, mspCheckTimeMs, type CertificateChain } from './chain';
import { isCrlSignedBy, parseCrl, type ParsedCrl } from './crl';
import type { DigestName } from './ecdsa';
import { messageOf, MspConfigError } from './errors';
import { X509Identity, type OrganizationalUnit } from './identity';
import { satisfiesPrincipal } from './principals';
import { IdentityError } from './types';

export const FABRIC_MSP_TYPE = 0;
export const IDEMIX_MSP_TYPE = 1;

/** A NodeOU role identifier: the OU value and, when a certificate was named, its certifiers identifier. */
export interface NodeOu {
  readonly name: string;
  readonly certifiersId: Uint8Array | undefined;
}

export interface NodeOus {
  readonly enforced: boolean;
  readonly client: NodeOu | undefined;
  readonly peer: NodeOu | undefined;
  readonly admin: NodeOu | undefined;
  readonly orderer: NodeOu | undefined;
}

const SIGNATURE_HASH_FAMILIES: ReadonlyMap<string, DigestName> = new Map([
  ['SHA2', 'sha256'],
  ['SHA3', 'sha3-256'],
]);
const IDENTIFIER_HASHES: ReadonlyMap<string, string> = new Map([
  ['SHA256', 'sha256'],
  ['SHA384', 'sha384'],
  ['SHA3_256', 'sha3-256'],
  ['SHA3_384', 'sha3-384'],
]);

export class X509Msp {
  private readonly pool: CertificatePool;
  /** CAs that issued an intermediate: an identity's direct issuer must not be one of them. */
  private readonly internalNodes: readonly ParsedCertificate[];
  private readonly crls: readonly ParsedCrl[];
  readonly admins: readonly ParsedCertificate[];
  readonly nodeOus: NodeOus;
  /** OU value -> certifiers identifiers accepted with it (FabricMSPConfig.organizational_unit_identifiers). */
  private readonly ouIdentifiers: ReadonlyMap<string, readonly Uint8Array[]>;
  readonly signatureDigest: DigestName;
  private readonly identifierHash: string;
  /** Things in the config that are legal but probably not what was meant (logged by the caller). */
  readonly warnings: readonly string[];

  /** From a msp.MSPConfig of type FABRIC; throws MspConfigError for any other type or a bad config. */
  static fromMspConfig(config: msp.MSPConfig): X509Msp {
    if (config.type !== FABRIC_MSP_TYPE) throw new MspConfigError('', `MSP type ${config.type} is not supported (only X.509, type 0)`);
    let fabric: msp.FabricMSPConfig;
    try {
      fabric = msp.FabricMSPConfig.decode(config.config);
    } catch (err) {
      throw new MspConfigError('', `FabricMSPConfig does not decode: ${messageOf(err)}`, { cause: err });
    }
    return new X509Msp(fabric);
  }

  constructor(readonly config: msp.FabricMSPConfig) {
    this.name = config.name;
    const fail = (reason: string, cause?: unknown): MspConfigError => new MspConfigError(this.name, reason, { cause });
    const warnings: string[] = [];
    if (this.name === '') throw fail('the MSP name (MSP ID) is empty');

    // Crypto config (setupCrypto): empty fields take Fabric's defaults.
    const family = config.cryptoConfig?.signatureHashFamily || 'SHA2';
    const identifierFn = config.cryptoConfig?.identityIdentifierHashFunction || 'SHA256';
    const digest = SIGNATURE_HASH_FAMILIES.get(family);
    const identifierHash = IDENTIFIER_HASHES.get(identifierFn);
    if (digest === undefined) throw fail(`crypto_config.signature_hash_family ${JSON.stringify(family)} is not SHA2 or SHA3`);
    if (identifierHash === undefined) throw fail(`crypto_config.identity_identifier_hash_function ${JSON.stringify(identifierFn)} is not supported`);
    this.signatureDigest = digest;
    this.identifierHash = identifierHash;

    // CAs (setupCAs): parse, then normalise each to low S against its own chain.
    if (config.rootCerts.length === 0) throw fail('expected at least one root CA certificate (root_certs is empty)');
    const rawRoots = config.rootCerts.map((pem, i) => this.certFromPem(pem, `root_certs[${i}]`));
    const rawIntermediates = config.intermediateCerts.map((pem, i) => this.certFromPem(pem, `intermediate_certs[${i}]`));
    // Fabric finds a non-CA here only after failing to sanitize it; naming the cause is clearer.
    rawRoots.forEach((c, i) => {
      if (!c.isCA) throw fail(`root_certs[${i}] (${c.description}) is not a CA certificate (BasicConstraints CA is not true)`);
    });
    rawIntermediates.forEach((c, i) => {
      if (!c.isCA) throw fail(`intermediate_certs[${i}] (${c.description}) is not a CA certificate (BasicConstraints CA is not true)`);
    });
    const rawPool = new CertificatePool(rawRoots, rawIntermediates);
    const roots = rawRoots.map((c, i) => this.sanitizeConfigCert(c, rawPool, `root_certs[${i}]`));
    const intermediates = rawIntermediates.map((c, i) => this.sanitizeConfigCert(c, rawPool, `intermediate_certs[${i}]`));
    this.pool = new CertificatePool(roots, intermediates);

    // CRLs (setupCRLs).
    this.crls = config.revocationList.map((bytes, i) => {
      try {
        return parseCrl(bytes);
      } catch (err) {
        throw fail(`revocation_list[${i}]: ${messageOf(err)}`, err);
      }
    });
    this.crls.forEach((crl, i) => {
      if (![...roots, ...intermediates].some((ca) => isCrlSignedBy(crl, ca))) {
        // Fabric accepts such a CRL and skips it when checking revocation; refusing it here would
        // refuse config updates that Fabric orderers accept.
        warnings.push(`revocation_list[${i}] is signed by none of the MSP's CAs: it revokes nothing`);
      }
    });

    // finalizeSetupCAs: every CA is a CA, has an SKI, chains (intermediates are not revoked).
    const internal: ParsedCertificate[] = [];
    [...roots.map((c, i) => [c, `root_certs[${i}]`] as const), ...intermediates.map((c, i) => [c, `intermediate_certs[${i}]`] as const)].forEach(([ca, where]) => {
      if (!ca.isCA) throw fail(`${where} (${ca.description}) is not a CA certificate (BasicConstraints CA is not true)`);
      if (ca.subjectKeyId === undefined) throw fail(`${where} (${ca.description}) has no Subject Key Identifier extension`);
      let chain: CertificateChain;
      try {
        chain = this.pool.uniqueChain(ca, mspCheckTimeMs(ca));
        if (chain.length > 1) this.checkNotRevoked(chain);
      } catch (err) {
        throw fail(`${where} (${ca.description}) is not valid: ${messageOf(err)}`, err);
      }
      if (where.startsWith('intermediate')) for (const parent of chain.slice(1)) if (!internal.some((c) => bytesEqual(c.der, parent.der))) internal.push(parent);
    });
    this.internalNodes = internal;

    if (config.signingIdentity !== undefined) {
      warnings.push('signing_identity in a channel MSP config is ignored (an orderer signs with its local MSP)');
    }
    this.checkTlsCas(config);

    // OU identifiers (setupOUs).
    const ouIds = new Map<string, Uint8Array[]>();
    config.organizationalUnitIdentifiers.forEach((ou, i) => {
      const id = this.certifiersIdOfConfigCert(ou.certificate, `organizational_unit_identifiers[${i}].certificate`);
      const list = ouIds.get(ou.organizationalUnitIdentifier) ?? [];
      if (!list.some((x) => bytesEqual(x, id))) list.push(id);
      ouIds.set(ou.organizationalUnitIdentifier, list);
    });
    this.ouIdentifiers = ouIds;

    // NodeOUs (setupNodeOUsV142): enforcement needs at least one role identifier.
    const nodeOus = config.fabricNodeOus;
    const role = (id: msp.FabricOUIdentifier | undefined, where: string): NodeOu | undefined =>
      id === undefined
        ? undefined
        : Object.freeze({
            name: id.organizationalUnitIdentifier,
            certifiersId: id.certificate.length === 0 ? undefined : this.certifiersIdOfConfigCert(id.certificate, `fabric_node_ous.${where}.certificate`),
          });
    const client = role(nodeOus?.clientOuIdentifier, 'client_ou_identifier');
    const peer = role(nodeOus?.peerOuIdentifier, 'peer_ou_identifier');
    const admin = role(nodeOus?.adminOuIdentifier, 'admin_ou_identifier');
    const orderer = role(nodeOus?.ordererOuIdentifier, 'orderer_ou_identifier');
    const anyRole = client !== undefined || peer !== undefined || admin !== undefined || orderer !== undefined;
    this.nodeOus = Object.freeze({ enforced: (nodeOus?.enable ?? false) && anyRole, client, peer, admin, orderer });

    // Admins (setupAdminsV142, postSetupV142).
    this.admins = config.admins.map((pem, i) => {
      const cert = this.certFromPem(pem, `admins[${i}]`);
      try {
        return this.sanitize(cert, this.pool);
      } catch (err) {
        throw fail(`admins[${i}] (${cert.description}) does not chain to this MSP's CAs: ${messageOf(err)}`, err);
      }
    });
    if (this.admins.length === 0 && (!this.nodeOus.enforced || this.nodeOus.admin === undefined)) {
      throw fail('administrators must be declared (admins) when no admin OU classification is set');
    }
    this.admins.forEach((cert, i) => {
      if (this.nodeOus.enforced) {
        // postSetupV142 with NodeOUs: only the OU values matter (a CA certificate has none, as Fabric
        // computes OUs through the identity chain, which a CA does not have).
        const ous = cert.isCA ? [] : cert.organizationalUnits;
        const has = (role: NodeOu | undefined): boolean => role !== undefined && ous.includes(role.name);
        if (!has(this.nodeOus.client) && !has(this.nodeOus.admin)) {
          throw fail(`admins[${i}] (${cert.description}) must carry the client or the admin OU when NodeOUs are enabled`);
        }
        return;
      }
      try {
        this.validate(cert);
      } catch (err) {
        throw fail(`admins[${i}] (${cert.description}) is invalid: ${messageOf(err)}`, err);
      }
    });
    this.warnings = Object.freeze(warnings);
  }

  readonly name: string;

  /**
   * Deserializes a marshaled msp.SerializedIdentity for this MSP and validates it. Throws
   * IdentityError naming what is wrong.
   */
  deserializeIdentity(serialized: msp.SerializedIdentity): X509Identity {
    if (serialized.mspid !== this.name) throw new IdentityError(this.name, `expected MSP ID ${this.name}, received ${JSON.stringify(serialized.mspid)}`);
    const block = decodePem(serialized.idBytes);
    if (block === undefined) throw new IdentityError(this.name, 'id_bytes is not a PEM block');
    // Fabric's orderer reads the first block only; its peers refuse trailing bytes (IsWellFormed).
    // One block, as the peers demand, so the orderer never orders what every peer will refuse.
    if (Buffer.from(block.rest).toString('latin1').trim() !== '') throw new IdentityError(this.name, 'id_bytes holds more than one PEM block or trailing bytes');
    let cert: ParsedCertificate;
    try {
      cert = parseCertificate(block.der);
    } catch (err) {
      throw new IdentityError(this.name, `id_bytes: ${messageOf(err)}`, { cause: err });
    }
    let sanitized: { readonly cert: ParsedCertificate; readonly chain: CertificateChain | undefined };
    try {
      sanitized = this.sanitizeWithChain(cert, this.pool);
    } catch (err) {
      throw new IdentityError(this.name, `the certificate (${cert.description}) is not valid: ${messageOf(err)}`, { cause: err });
    }
    return this.validate(sanitized.cert, sanitized.chain);
  }

  /** Fabric's validateIdentity on a sanitized certificate; returns the identity or throws IdentityError. */
  private validate(cert: ParsedCertificate, knownChain?: CertificateChain): X509Identity {
    const refuse = (reason: string, cause?: unknown): IdentityError => new IdentityError(this.name, `certificate ${cert.description}: ${reason}`, { cause });
    if (cert.curve === undefined) throw refuse('its public key is not an ECDSA key on a supported curve');
    if (cert.isCA) throw refuse('a CA certificate (BasicConstraints CA true) cannot be used as an identity');
    let chain: CertificateChain;
    try {
      chain = knownChain ?? this.pool.uniqueChain(cert, mspCheckTimeMs(cert));
    } catch (err) {
      throw refuse(messageOf(err), err);
    }
    if (chain.length < 2) throw refuse(`expected a chain of length at least 2, got ${chain.length}`);
    if (this.internalNodes.some((n) => bytesEqual(n.der, chain[1]!.der))) {
      throw refuse('its issuer is not a leaf of the certification tree (it issued an intermediate CA of this MSP)');
    }
    try {
      this.checkNotRevoked(chain);
    } catch (err) {
      throw refuse(messageOf(err), err);
    }
    const certifiersId = this.chainIdentifier(chain.slice(1));
    const ous: OrganizationalUnit[] = cert.organizationalUnits.map((name) => Object.freeze({ name, certifiersId }));
    this.checkOus(cert, ous, refuse);
    const key = this.name + createHash(this.identifierHash).update(cert.der).digest('hex');
    return new X509Identity(this.name, key, cert, Object.freeze(ous), cert.curve, this.signatureDigest, this);
  }

  satisfiesPrincipal(identity: X509Identity, principal: common.MSPPrincipal): boolean {
    return satisfiesPrincipal(this, identity, principal);
  }

  /** Whether `identity` has the OU of `role`'s NodeOU (Fabric's hasOURoleInternal: by OU value only). */
  hasNodeOu(identity: X509Identity, role: NodeOu | undefined): boolean {
    return this.nodeOus.enforced && role !== undefined && identity.hasOrganizationalUnit(role.name);
  }

  isAdminCertificate(identity: X509Identity): boolean {
    return this.admins.some((a) => bytesEqual(a.der, identity.certificateDer));
  }

  /** validateIdentityOUsV142. */
  private checkOus(cert: ParsedCertificate, ous: readonly OrganizationalUnit[], refuse: (reason: string) => IdentityError): void {
    if (this.ouIdentifiers.size > 0) {
      const known = ous.some((ou) => (this.ouIdentifiers.get(ou.name) ?? []).some((id) => bytesEqual(id, ou.certifiersId)));
      if (!known) {
        throw refuse(ous.length === 0 ? 'the certificate has no Organizational Unit (OU)' : `none of its OUs [${ous.map((o) => o.name).join(', ')}] is an OU of this MSP`);
      }
    }
    if (!this.nodeOus.enforced) return;
    const roles = [this.nodeOus.client, this.nodeOus.peer, this.nodeOus.admin, this.nodeOus.orderer].filter((r): r is NodeOu => r !== undefined);
    let count = 0;
    for (const ou of ous) {
      // Like Go's map of role OUs, a later role with the same OU value shadows an earlier one.
      const role = roles.filter((r) => r.name === ou.name).pop();
      if (role === undefined) continue;
      if (role.certifiersId !== undefined && !bytesEqual(role.certifiersId, ou.certifiersId)) {
        throw refuse(`its ${ou.name} OU was not certified by the CA the NodeOU configuration names`);
      }
      if (++count > 1) break;
    }
    if (count === 0) throw refuse(`it has no OU resolving to the client, peer, orderer or admin role (OUs: [${cert.organizationalUnits.join(', ')}])`);
    if (count > 1) throw refuse(`it must have exactly one of the client, peer, orderer or admin OUs, not several (OUs: [${cert.organizationalUnits.join(', ')}])`);
  }

  /** validateCertAgainstChain: a CRL from the issuer (AKI = issuer SKI, signed by it) listing the serial revokes. */
  private checkNotRevoked(chain: CertificateChain): void {
    const cert = chain[0]!;
    const issuer = chain[1]!;
    const ski = issuer.subjectKeyId;
    if (ski === undefined) throw new ChainError('its issuer has no Subject Key Identifier');
    for (const crl of this.crls) {
      // Fabric fails every validation when a CRL has no AKI; so do we, rather than guess.
      if (crl.authorityKeyId === undefined) throw new ChainError('a CRL of this MSP has no Authority Key Identifier');
      if (!bytesEqual(crl.authorityKeyId, ski) || !crl.revokedSerials.has(cert.serial.toString())) continue;
      if (!isCrlSignedBy(crl, issuer)) continue;
      throw new ChainError('the certificate has been revoked');
    }
  }

  private chainIdentifier(cas: CertificateChain): Uint8Array {
    const hash = createHash(this.identifierHash);
    for (const ca of cas) hash.update(ca.der);
    return new Uint8Array(hash.digest());
  }

  /** getCertifiersIdentifier: the named certificate must be one of the CAs and a leaf of the CA tree. */
  private certifiersIdOfConfigCert(pem: Uint8Array, where: string): Uint8Array {
    const cert = this.certFromPem(pem, where);
    let sanitized: ParsedCertificate;
    try {
      sanitized = this.sanitize(cert, this.pool);
    } catch (err) {
      throw new MspConfigError(this.name, `${where} (${cert.description}) does not chain to this MSP's CAs: ${messageOf(err)}`, { cause: err });
    }
    if (this.pool.isRoot(sanitized)) return this.chainIdentifier([sanitized]);
    if (!this.pool.intermediates.some((c) => bytesEqual(c.der, sanitized.der))) {
      throw new MspConfigError(this.name, `${where} (${cert.description}) is not one of the MSP's root or intermediate certificates`);
    }
    const chain = this.pool.uniqueChain(sanitized, mspCheckTimeMs(sanitized));
    if (this.internalNodes.some((n) => bytesEqual(n.der, sanitized.der))) {
      throw new MspConfigError(this.name, `${where} (${cert.description}) is not a leaf of the certification tree`);
    }
    return this.chainIdentifier(chain);
  }

  /** setupTLSCAs: TLS roots and intermediates must be CAs with an SKI, and chain among themselves. */
  private checkTlsCas(config: msp.FabricMSPConfig): void {
    const roots = config.tlsRootCerts.map((pem, i) => this.certFromPem(pem, `tls_root_certs[${i}]`));
    const intermediates = config.tlsIntermediateCerts.map((pem, i) => this.certFromPem(pem, `tls_intermediate_certs[${i}]`));
    const pool = new CertificatePool(roots, intermediates);
    [...roots.map((c, i) => [c, `tls_root_certs[${i}]`] as const), ...intermediates.map((c, i) => [c, `tls_intermediate_certs[${i}]`] as const)].forEach(([ca, where]) => {
      if (!ca.isCA) throw new MspConfigError(this.name, `${where} (${ca.description}) is not a CA certificate`);
      if (ca.subjectKeyId === undefined) throw new MspConfigError(this.name, `${where} (${ca.description}) has no Subject Key Identifier extension`);
      try {
        const chain = pool.uniqueChain(ca, mspCheckTimeMs(ca));
        if (chain.length > 1) this.checkNotRevoked(chain);
      } catch (err) {
        throw new MspConfigError(this.name, `${where} (${ca.description}) is not valid: ${messageOf(err)}`, { cause: err });
      }
    });
  }

  /** getCertFromPem: the first PEM block, parsed; the PEM label is not checked. */
  private certFromPem(pem: Uint8Array, where: string): ParsedCertificate {
    const block = decodePem(pem);
    if (block === undefined) throw new MspConfigError(this.name, `${where} is not PEM`);
    try {
      return parseCertificate(block.der);
    } catch (err) {
      throw new MspConfigError(this.name, `${where}: ${messageOf(err)}`, { cause: err });
    }
  }

  private sanitizeConfigCert(cert: ParsedCertificate, pool: CertificatePool, where: string): ParsedCertificate {
    try {
      return this.sanitize(cert, pool);
    } catch (err) {
      throw new MspConfigError(this.name, `${where} (${cert.description}) is not valid: ${messageOf(err)}`, { cause: err });
    }
  }

  /**
   * sanitizeCert: a self-signed CA is normalised against itself; anything else against the issuer
   * of its one chain (which must exist: Fabric cannot even deserialize a certificate without it).
   */
  private sanitize(cert: ParsedCertificate, pool: CertificatePool): ParsedCertificate {
    return this.sanitizeWithChain(cert, pool).cert;
  }

  /**
   * As sanitize, also returning the chain found for a non-CA certificate with the sanitized copy
   * in front: both encodings of the signature verify, so the path is the same, and validation
   * need not build it (and verify the issuer's signature) a second time.
   */
  private sanitizeWithChain(cert: ParsedCertificate, pool: CertificatePool): { readonly cert: ParsedCertificate; readonly chain: CertificateChain | undefined } {
    if (!isEcdsaSignatureAlgorithm(cert.signatureAlgorithmOid)) return { cert, chain: undefined };
    if (cert.isCA && isSignedBy(cert, cert)) {
      const self = withLowSSignature(cert, cert.curve);
      new CertificatePool([self], []).uniqueChain(self, mspCheckTimeMs(self));
      return { cert: self, chain: undefined };
    }
    const chain = pool.uniqueChain(cert, mspCheckTimeMs(cert));
    if (chain.length < 2) throw new ChainError('failed to traverse the verification chain (a root that is not self-signed?)');
    const sanitized = withLowSSignature(cert, chain[1]!.curve);
    return { cert: sanitized, chain: [sanitized, ...chain.slice(1)] };
  }
}
