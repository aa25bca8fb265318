// The identity layer (reference §5): the X.509 MSP, a channel's MSP manager, the local signing
// identity, ECDSA helpers and the certificate builder. See README.md in this folder.
export * from './types';
export { MspConfigError } from './errors';
export { X509Msp, FABRIC_MSP_TYPE, IDEMIX_MSP_TYPE, type NodeOu, type NodeOus } from './x509-msp';
export { X509Identity, type OrganizationalUnit } from './identity';
export { MspManager, mspManagerFromConfig, collectMspConfigs, DEFAULT_IDENTITY_CACHE_ENTRIES, type MspManagerOptions, type MspConfigAt } from './manager';
export { LocalSigningIdentity, LocalMspError, loadLocalSigningIdentity, loadSigningIdentityFromFiles, type LocalMspOptions, type SigningIdentityFiles } from './local-msp';
export { signEcdsa, verifyEcdsa, parseEcdsaSignature, encodeEcdsaSignature, isLowS, toLowS, P256, P384, P521, type Curve } from './ecdsa';
export { parseCertificate, CertificateError, type ParsedCertificate } from './certificate';
