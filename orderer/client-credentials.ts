// What a client of the ordering service (the CLI, the benchmark, its observer thread) needs to
// talk to an orderer as a Fabric client does: a signing identity for its envelopes and seek
// requests (reference §5.1: signature over the marshaled Payload, creator in the SignatureHeader)
// and TLS credentials for the connection. Both come from files named by plain strings, so the
// same description can cross into a worker thread and be loaded there again.
//
// Without any of it a client is what it was before identities existed: unsigned and plaintext.
// Orderers with open Writers/Readers policies (the benchmark's network, Fabric's anchor with
// OPEN_POLICY=1) admit such envelopes; any other orderer refuses them with FORBIDDEN.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { EnvelopeSigner } from './envelopes';
import { decodePem } from './msp/der';
import { LocalMspError, loadLocalSigningIdentity, loadSigningIdentityFromFiles, type LocalSigningIdentity } from './msp/local-msp';

/** Where a client's identity and TLS material are: file paths only (structured-clonable). */
export interface ClientFiles {
  /** The identity's MSP ID; needed with certPath/keyPath and with mspDir. */
  readonly mspId?: string;
  /** The signing certificate (PEM) and its private key (PKCS#8 or SEC1 PEM). */
  readonly certPath?: string;
  readonly keyPath?: string;
  /** Or an MSP folder (signcerts/, keystore/), as an orderer's LocalMSPDir. */
  readonly mspDir?: string;
  /** The CA that issued the orderers' TLS certificates: dial with TLS, trusting only it. */
  readonly tlsCaPath?: string;
  /** The client's TLS pair, for orderers that require client certificates (mutual TLS). */
  readonly tlsCertPath?: string;
  readonly tlsKeyPath?: string;
  /**
   * The host name to expect in the orderer's certificate when it differs from the dialled one
   * (e.g. dialling 127.0.0.1 while the certificate names orderer1.example.com).
   */
  readonly tlsServerName?: string;
}

/** The client description does not add up (a flag without its partner). */
export class ClientFilesError extends Error {
  override readonly name = 'ClientFilesError';
}

export interface ClientCredentials {
  /** Signs envelopes and seek requests; undefined = unsigned. */
  readonly signer: (EnvelopeSigner & { readonly mspId: string }) | undefined;
  /** TLS credentials; undefined = plaintext. */
  readonly tls: grpc.ChannelCredentials | undefined;
  /** Channel options TLS needs (the server name override). */
  readonly channelOptions: grpc.ChannelOptions;
  /** SHA-256 of the client TLS certificate's DER (ChannelHeader.tls_cert_hash) under mutual TLS. */
  readonly tlsCertHash: Uint8Array | undefined;
  /** One line for humans: who signs, how the connection is made. */
  readonly description: string;
}

/** Which of the flags were given, checked for the combinations that make sense. */
function validate(files: ClientFiles): void {
  const hasPair = files.certPath !== undefined || files.keyPath !== undefined;
  if (hasPair && files.mspDir !== undefined) throw new ClientFilesError('give either --cert/--key or --msp-dir, not both');
  if (hasPair && (files.certPath === undefined || files.keyPath === undefined)) throw new ClientFilesError('--cert and --key go together');
  if ((hasPair || files.mspDir !== undefined) && (files.mspId === undefined || files.mspId === '')) {
    throw new ClientFilesError('--mspid is needed to sign (the MSP ID the identity belongs to)');
  }
  if (!hasPair && files.mspDir === undefined && files.mspId !== undefined) throw new ClientFilesError('--mspid needs --cert and --key, or --msp-dir');
  const hasTlsPair = files.tlsCertPath !== undefined || files.tlsKeyPath !== undefined;
  if (hasTlsPair && (files.tlsCertPath === undefined || files.tlsKeyPath === undefined)) throw new ClientFilesError('--tls-cert and --tls-key go together');
  if ((hasTlsPair || files.tlsServerName !== undefined) && files.tlsCaPath === undefined) {
    throw new ClientFilesError('--tls-cert, --tls-key and --tls-server-name need --tls-ca (TLS is off without it)');
  }
}

function readPem(file: string, what: string): Buffer {
  if (!existsSync(file)) throw new LocalMspError(file, 'does not exist');
  const bytes = readFileSync(file);
  if (decodePem(bytes) === undefined) throw new LocalMspError(file, `is not PEM (expected ${what})`);
  return bytes;
}

/** The signing identity `files` name, if any (throws LocalMspError naming the bad file). */
export function loadClientIdentity(files: ClientFiles): LocalSigningIdentity | undefined {
  validate(files);
  if (files.mspDir !== undefined) return loadLocalSigningIdentity(files.mspDir, files.mspId ?? '');
  if (files.certPath !== undefined && files.keyPath !== undefined) {
    return loadSigningIdentityFromFiles({ mspId: files.mspId ?? '', certPath: files.certPath, keyPath: files.keyPath });
  }
  return undefined;
}

/** Loads everything `files` names. Throws ClientFilesError or LocalMspError. */
export function loadClientCredentials(files: ClientFiles): ClientCredentials {
  const identity = loadClientIdentity(files);
  const signer = identity === undefined ? undefined : { mspId: identity.mspId, creator: identity.serialized, sign: (payload: Uint8Array) => identity.sign(payload) };
  let tls: grpc.ChannelCredentials | undefined;
  let tlsCertHash: Uint8Array | undefined;
  const channelOptions: grpc.ChannelOptions = {};
  if (files.tlsCaPath !== undefined) {
    const ca = readPem(files.tlsCaPath, 'a CA certificate');
    if (files.tlsCertPath !== undefined && files.tlsKeyPath !== undefined) {
      const cert = readPem(files.tlsCertPath, 'a certificate');
      const key = readPem(files.tlsKeyPath, 'a private key');
      tls = grpc.credentials.createSsl(ca, key, cert);
      // Fabric binds envelopes to the TLS session of a mutual-TLS client: the orderer compares
      // ChannelHeader.tls_cert_hash with SHA-256 of the certificate the client presented.
      const der = decodePem(cert)?.der ?? new Uint8Array(0);
      tlsCertHash = new Uint8Array(createHash('sha256').update(der).digest());
    } else {
      tls = grpc.credentials.createSsl(ca);
    }
    if (files.tlsServerName !== undefined) channelOptions['grpc.ssl_target_name_override'] = files.tlsServerName;
  }
  const who = signer === undefined ? 'unsigned' : `signed as ${signer.mspId} (${files.mspDir ?? files.certPath})`;
  const how = tls === undefined ? 'plaintext' : tlsCertHash === undefined ? `TLS (CA ${files.tlsCaPath})` : `mutual TLS (CA ${files.tlsCaPath}, client ${files.tlsCertPath})`;
  return { signer, tls, channelOptions, tlsCertHash, description: `${who}, ${how}` };
}
