// The identity and TLS flags every client command shares (`client broadcast`, `client deliver`,
// the benchmark): parseArgs option declarations, their usage text, and their mapping onto
// ClientFiles (orderer/client-credentials.ts), which does the loading.
import type { ClientFiles } from '../orderer/client-credentials';

export const CLIENT_FLAG_OPTIONS = {
  mspid: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'msp-dir': { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-server-name': { type: 'string' },
} as const;

export type ClientFlagValues = { readonly [K in keyof typeof CLIENT_FLAG_OPTIONS]?: string | undefined };

export const CLIENT_FLAGS_USAGE = `identity and TLS options:
  --mspid ID            MSP ID of the signing identity (e.g. Org1MSP)
  --cert FILE           signing certificate (PEM); with --key and --mspid, envelopes
                        and seek requests are signed (ECDSA over the marshaled Payload,
                        the identity as the SignatureHeader creator)
  --key FILE            its private key (PKCS#8 or SEC1 PEM)
  --msp-dir DIR         or an MSP folder (signcerts/, keystore/) instead of --cert/--key
  --tls-ca FILE         dial with TLS, trusting this CA for the orderer's certificate
  --tls-cert FILE       client TLS certificate for mutual TLS (with --tls-key); its
  --tls-key FILE        SHA-256 goes into each ChannelHeader.tls_cert_hash, as Fabric wants
  --tls-server-name N   expect N in the orderer's certificate (when dialling an IP
                        address the certificate does not name)
Without them envelopes are unsigned (a placeholder creator and dummy signature: only
orderers with open Writers/Readers policies admit them) and the connection is plaintext.`;

export function clientFilesFromFlags(values: ClientFlagValues): ClientFiles {
  const files: { -readonly [K in keyof ClientFiles]: ClientFiles[K] } = {};
  if (values.mspid !== undefined) files.mspId = values.mspid;
  if (values.cert !== undefined) files.certPath = values.cert;
  if (values.key !== undefined) files.keyPath = values.key;
  if (values['msp-dir'] !== undefined) files.mspDir = values['msp-dir'];
  if (values['tls-ca'] !== undefined) files.tlsCaPath = values['tls-ca'];
  if (values['tls-cert'] !== undefined) files.tlsCertPath = values['tls-cert'];
  if (values['tls-key'] !== undefined) files.tlsKeyPath = values['tls-key'];
  if (values['tls-server-name'] !== undefined) files.tlsServerName = values['tls-server-name'];
  return files;
}
