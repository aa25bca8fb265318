// TLS of one orderer, as Fabric's orderer sets it up (reference §3.14, §6.1): the files named in
// orderer.yaml are read and checked here, once, at start, so a bad file fails the start naming
// its config key and path; what comes out is grpc-js credentials and the certificates the node
// identifies itself and its peers by. node.ts and cmd/orderer.ts only pass the results on.
//
// Choices (Fabric's unless said otherwise):
//   - Client port (General.TLS): server pair Certificate/PrivateKey. ClientAuthRequired: client
//     certificates are required and verified in the handshake against ClientRootCAs plus the
//     cluster roots (orderers dial in: Step on a shared port, block pulls always; Fabric trusts
//     its channels' orderer TLS CAs there likewise). Otherwise a certificate is asked for but not
//     required, as Fabric's RequestClientCert, so that cluster peers on a shared port can still be
//     identified by theirs.
//   - Cluster listener: separate when General.Cluster.ListenAddress/ListenPort name another
//     address than the client port, or ServerCertificate/ServerPrivateKey are set; then all four
//     are required and it is always mutual TLS (client certificates required, verified against
//     the cluster roots), as in Fabric.
//   - Cluster dialer (and the block puller when General.TLS is on; it dials client ports):
//     presents Cluster.ClientCertificate/ClientPrivateKey; when both are unset, the General.TLS
//     pair (Fabric does so for a shared listener; for a separate listener Fabric would dial in
//     plaintext, which no TLS listener accepts, so we use the General.TLS pair there too, and
//     refuse to start if General.TLS is off).
//   - Dialing a consenter, its server certificate must also carry the key of its server_tls_cert
//     (pinned per destination, as Fabric does); a mismatch is logged and the connection refused.
//   - Cluster roots (whom the dialer trusts, and whose client certificates the cluster listener
//     accepts): Cluster.RootCAs plus General.TLS.RootCAs. Fabric also adds, at run time, the TLS
//     root CAs of the channels' orderer organisations; we do not (yet): list them in RootCAs.
//   - Senders on a TLS cluster are identified by certificate (cluster/auth.ts
//     TlsCertSenderAuthenticator); a node finds its own Raft id by matching its server certificate
//     (the cluster listener's if separate, else General.TLS.Certificate) against the consenters'
//     server_tls_cert, by public key. Without TLS anywhere, everything stays plaintext, senders
//     are identified by header and self by General.Cluster.SelfEndpoint (ours).
import * as grpc from '@grpc/grpc-js';
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import type { Logger } from 'pino';
import type { SenderIdentification } from '../cluster/comm';
import type { ClusterMember } from '../cluster/types';
import type { ClusterDialTls } from '../cluster/step-transport';
import type { OrdererConfig } from './config';
import { LocalConfigError } from './errors';

/** What the node needs of TLS; everything undefined means plaintext. */
export interface OrdererTls {
  /** Client port (AtomicBroadcast, and Cluster.Step when shared); plaintext when undefined. */
  readonly serverCredentials: grpc.ServerCredentials | undefined;
  /** The cluster dialer's (for destinations without a pinned certificate); plaintext when undefined. */
  readonly clusterClientCredentials: grpc.ChannelCredentials | undefined;
  /**
   * The block puller's: it dials the other orderers' client ports, so it speaks TLS exactly when
   * General.TLS is on (with the cluster client pair); plaintext when undefined.
   */
  readonly pullCredentials: grpc.ChannelCredentials | undefined;
  /** SHA-256 of the certificate the puller presents with pullCredentials (its seek requests' tls_cert_hash). */
  readonly pullTlsCertHash: Uint8Array | undefined;
  /**
   * The cluster dialer's for one destination: as clusterClientCredentials, and the server must
   * also present a certificate with the public key of the destination's server_tls_cert (Fabric
   * pins it so). Undefined when plaintext.
   */
  readonly clusterDialCredentialsFor: ((member: ClusterMember) => grpc.ChannelCredentials) | undefined;
  /** The same, as material for the cluster's own gRPC client (cluster/step-transport.ts). Undefined when plaintext. */
  readonly clusterDialTlsFor: ((member: ClusterMember) => ClusterDialTls) | undefined;
  /** A separate listener serving only Cluster.Step; undefined when it shares the client port. */
  readonly clusterListener: { readonly host: string; readonly port: number; readonly credentials: grpc.ServerCredentials } | undefined;
  /** DER of the certificate this node serves the cluster with: how it finds its own Raft id. */
  readonly selfServerCert: Uint8Array | undefined;
  readonly senderIdentification: SenderIdentification;
}

/** A file named by the config, read and checked. */
interface LoadedCert {
  readonly pem: Buffer;
  /** Every certificate of the file, in order (a leaf may be followed by its chain). */
  readonly certs: readonly X509Certificate[];
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END CERTIFICATE-----/g;

function readConfigFile(key: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new LocalConfigError(key, file, `cannot be read: ${(err as Error).message}`);
  }
}

/** The PEM certificates of `file` (config key `key`); a file with none, or a damaged one, is refused. */
export function loadCertificates(key: string, file: string): LoadedCert {
  const pem = readConfigFile(key, file);
  const text = pem.toString('latin1');
  const begins = text.split('-----BEGIN CERTIFICATE-----').length - 1;
  const blocks = [...text.matchAll(CERT_BLOCK)];
  if (begins === 0) throw new LocalConfigError(key, file, 'holds no PEM certificate (no "-----BEGIN CERTIFICATE-----" line)');
  if (blocks.length !== begins) throw new LocalConfigError(key, file, 'holds a truncated PEM certificate (a BEGIN line without its END line)');
  const certs = blocks.map((m, i) => {
    try {
      return new X509Certificate(m[0]);
    } catch (err) {
      throw new LocalConfigError(key, file, `certificate ${i + 1} is not a valid X.509 certificate (${(err as Error).message})`);
    }
  });
  return { pem, certs };
}

export function loadPrivateKey(key: string, file: string): { readonly pem: Buffer; readonly key: KeyObject } {
  const pem = readConfigFile(key, file);
  try {
    return { pem, key: createPrivateKey(pem) };
  } catch (err) {
    throw new LocalConfigError(key, file, `is not a PEM private key (${(err as Error).message})`);
  }
}

interface KeyPairFiles {
  readonly certKey: string;
  readonly certFile: string;
  readonly keyKey: string;
  readonly keyFile: string;
}

interface LoadedPair {
  readonly certPem: Buffer;
  readonly keyPem: Buffer;
  readonly leafDer: Uint8Array;
}

/** A certificate and its private key; a key that is not the certificate's is refused (TLS would fail every handshake later). */
export function loadKeyPair(f: KeyPairFiles): LoadedPair {
  const cert = loadCertificates(f.certKey, f.certFile);
  const key = loadPrivateKey(f.keyKey, f.keyFile);
  const leaf = cert.certs[0]!;
  if (!leaf.checkPrivateKey(key.key)) {
    throw new LocalConfigError(f.keyKey, f.keyFile, `is not the private key of ${f.certKey} (${f.certFile})`);
  }
  return { certPem: cert.pem, keyPem: key.pem, leafDer: new Uint8Array(leaf.raw) };
}

/** The CA certificates of several files as one PEM bundle; every file is checked. */
function loadRoots(key: string, files: readonly string[]): Buffer[] {
  return files.map((file) => loadCertificates(key, file).pem);
}

function bundle(parts: readonly Buffer[]): Buffer | null {
  if (parts.length === 0) return null;
  return Buffer.concat(parts.flatMap((p) => [p, Buffer.from('\n')]));
}

/**
 * Server credentials that ask for a client certificate without requiring one (Go's
 * RequestClientCert, Fabric's default on the client port). grpc-js only offers "required and
 * verified" or "not asked"; a client that presents none, or one from a CA not in `ca`, is still
 * served, and grpc-js then reports no peer certificate for its calls, so the cluster refuses it.
 */
class RequestClientCertServerCredentials extends grpc.ServerCredentials {
  constructor(ca: Buffer, pair: LoadedPair) {
    super({ requestCert: true, rejectUnauthorized: false }, { ca, cert: [pair.certPem], key: [pair.keyPem] });
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

function serverCredentials(pair: LoadedPair, ca: Buffer | null, requireClientCert: boolean): grpc.ServerCredentials {
  if (requireClientCert || ca === null) {
    return grpc.ServerCredentials.createSsl(ca, [{ cert_chain: pair.certPem, private_key: pair.keyPem }], requireClientCert);
  }
  return new RequestClientCertServerCredentials(ca, pair);
}

const WILDCARD_HOSTS = new Set(['', '0.0.0.0', '::', '[::]']);

/** True when Cluster.Step gets its own listener (reference §6.1: all four keys, or none). */
export function hasSeparateClusterListener(config: OrdererConfig): boolean {
  const g = config.general;
  const c = g.cluster;
  if (c.serverCertificatePath !== undefined || c.serverPrivateKeyPath !== undefined) return true;
  if (c.listenAddress === undefined || c.listenPort === undefined) return false;
  // The same address as the client port (ours: accepted for files written before the listener existed).
  return !(c.listenPort === g.listenPort && (c.listenAddress === g.listenAddress || WILDCARD_HOSTS.has(c.listenAddress)));
}

/**
 * Reads and checks every TLS file the config names; throws LocalConfigError naming the key and the
 * file (or `configFile` for a missing or inconsistent key).
 */
export function loadOrdererTls(config: OrdererConfig, configFile = 'orderer.yaml', logger?: Logger): OrdererTls {
  // grpc-js reports a refused handshake only as "failed to connect": say here why, once per attempt.
  const log = logger?.child({ component: 'cluster-tls', logger: 'cluster.tls' });
  const g = config.general;
  const c = g.cluster;
  const separate = hasSeparateClusterListener(config);
  if (separate && (c.listenAddress === undefined || c.listenPort === undefined || c.serverCertificatePath === undefined || c.serverPrivateKeyPath === undefined)) {
    throw new LocalConfigError(
      'General.Cluster.ListenAddress',
      configFile,
      'General.Cluster.ListenAddress, ListenPort, ServerCertificate and ServerPrivateKey must be set together (a separate cluster listener is mutual TLS)',
    );
  }
  const clusterTls = g.tls.enabled || separate;
  const generalPair = g.tls.enabled
    ? loadKeyPair({ certKey: 'General.TLS.Certificate', certFile: g.tls.certificatePath!, keyKey: 'General.TLS.PrivateKey', keyFile: g.tls.privateKeyPath! })
    : undefined;
  if (!clusterTls) {
    if (!c.allowPlaintext) {
      throw new LocalConfigError(
        'General.TLS.Enabled',
        configFile,
        'the orderers of a cluster must talk over TLS: without it anyone who can reach the port can pose as a consenter. ' +
          'Enable General.TLS (its pair then serves the cluster too) or a separate cluster listener with General.Cluster.ServerCertificate and friends; ' +
          'for a test network on one machine only, General.Cluster.AllowPlaintext: true (ours, not in Fabric) allows it',
      );
    }
    log?.warn('General.Cluster.AllowPlaintext: the cluster runs without TLS; cluster senders are not authenticated (test networks only)');
    return {
      serverCredentials: undefined,
      clusterClientCredentials: undefined,
      pullCredentials: undefined,
      pullTlsCertHash: undefined,
      clusterDialCredentialsFor: undefined,
      clusterDialTlsFor: undefined,
      clusterListener: undefined,
      selfServerCert: undefined,
      senderIdentification: 'header',
    };
  }

  const clusterRoots = [...loadRoots('General.Cluster.RootCAs', c.rootCaPaths), ...loadRoots('General.TLS.RootCAs', g.tls.rootCaPaths)];
  if (clusterRoots.length === 0) {
    throw new LocalConfigError(
      'General.Cluster.RootCAs',
      configFile,
      'the cluster uses TLS, so General.Cluster.RootCAs or General.TLS.RootCAs must name the CA certificates of the other orderers',
    );
  }

  // Whom this node dials as.
  let clientPair: LoadedPair;
  if (c.clientCertificatePath !== undefined || c.clientPrivateKeyPath !== undefined) {
    if (c.clientCertificatePath === undefined || c.clientPrivateKeyPath === undefined) {
      throw new LocalConfigError('General.Cluster.ClientCertificate', configFile, 'General.Cluster.ClientCertificate and ClientPrivateKey must be set together');
    }
    clientPair = loadKeyPair({
      certKey: 'General.Cluster.ClientCertificate',
      certFile: c.clientCertificatePath,
      keyKey: 'General.Cluster.ClientPrivateKey',
      keyFile: c.clientPrivateKeyPath,
    });
  } else if (generalPair !== undefined) {
    clientPair = generalPair;
  } else {
    throw new LocalConfigError(
      'General.Cluster.ClientCertificate',
      configFile,
      'the separate cluster listener requires mutual TLS, so set General.Cluster.ClientCertificate and ClientPrivateKey (or enable General.TLS, whose pair is then used)',
    );
  }
  // Not null: clusterRoots was checked to hold at least one certificate above.
  const rootBundle = bundle(clusterRoots) ?? Buffer.alloc(0);
  const clusterClientCredentials = grpc.credentials.createSsl(rootBundle, clientPair.keyPem, clientPair.certPem);
  /** The usual name check first (the CA chain was checked before this is called), then the pin of the member's server_tls_cert. */
  const pinnedCheck = (member: ClusterMember & { serverTlsCert: Uint8Array }): ((host: string, cert: PeerCertificate) => Error | undefined) => {
    const pinned = spkiHex(new X509Certificate(member.serverTlsCert));
    return (host, cert) => {
      const nameError = checkServerIdentity(host, cert);
      if (nameError !== undefined) return nameError;
      if (spkiHex(new X509Certificate(cert.raw)) === pinned) return undefined;
      const reason = `${member.host}:${member.port} presented a TLS certificate (CN=${cert.subject.CN ?? '?'}) whose key is not that of node ${member.id}'s server_tls_cert`;
      log?.warn({ node: member.id, endpoint: `${member.host}:${member.port}` }, reason);
      return new Error(reason);
    };
  };
  const clusterDialCredentialsFor = (member: ClusterMember): grpc.ChannelCredentials => {
    if (member.serverTlsCert === undefined) return clusterClientCredentials;
    return grpc.credentials.createSsl(rootBundle, clientPair.keyPem, clientPair.certPem, {
      checkServerIdentity: pinnedCheck({ ...member, serverTlsCert: member.serverTlsCert }),
    });
  };
  const clusterDialTlsFor = (member: ClusterMember): ClusterDialTls => ({
    ca: rootBundle,
    cert: clientPair.certPem,
    key: clientPair.keyPem,
    ...(member.serverTlsCert !== undefined ? { checkServerIdentity: pinnedCheck({ ...member, serverTlsCert: member.serverTlsCert }) } : {}),
  });

  let clusterListener: OrdererTls['clusterListener'];
  let selfServerCert: Uint8Array;
  if (separate) {
    const pair = loadKeyPair({
      certKey: 'General.Cluster.ServerCertificate',
      certFile: c.serverCertificatePath!,
      keyKey: 'General.Cluster.ServerPrivateKey',
      keyFile: c.serverPrivateKeyPath!,
    });
    clusterListener = { host: c.listenAddress!, port: c.listenPort!, credentials: serverCredentials(pair, bundle(clusterRoots), true) };
    selfServerCert = pair.leafDer;
  } else {
    selfServerCert = generalPair!.leafDer;
  }

  let mainCredentials: grpc.ServerCredentials | undefined;
  if (generalPair !== undefined) {
    const clientRoots = loadRoots('General.TLS.ClientRootCAs', g.tls.clientRootCaPaths);
    // Orderers dial in with certificates of the cluster roots: Step on a shared port, and block
    // pulls (Deliver) always. Fabric trusts its channels' orderer TLS CAs here likewise.
    const trusted = [...clientRoots, ...clusterRoots];
    if (g.tls.clientAuthRequired && trusted.length === 0) {
      throw new LocalConfigError('General.TLS.ClientRootCAs', configFile, 'ClientAuthRequired is true, so ClientRootCAs must name at least one CA certificate');
    }
    mainCredentials = serverCredentials(generalPair, bundle(trusted), g.tls.clientAuthRequired);
  }
  return {
    serverCredentials: mainCredentials,
    clusterClientCredentials,
    pullCredentials: generalPair !== undefined ? clusterClientCredentials : undefined,
    pullTlsCertHash: generalPair !== undefined ? new Uint8Array(createHash('sha256').update(clientPair.leafDer).digest()) : undefined,
    clusterDialCredentialsFor,
    clusterDialTlsFor,
    clusterListener,
    selfServerCert,
    senderIdentification: 'tls-certificate',
  };
}

/** DER of the first certificate of PEM bytes (a consenter's certificate in a channel config); undefined when empty or not PEM. */
export function certDerFromPem(pem: Uint8Array): Uint8Array | undefined {
  if (pem.length === 0) return undefined;
  try {
    return new Uint8Array(new X509Certificate(Buffer.from(pem)).raw);
  } catch {
    return undefined;
  }
}

/**
 * Index of the consenter whose server_tls_cert has the public key of `ownCertDer` (Fabric's
 * detectSelfID compares public keys, so a renewed certificate over the same key still matches);
 * -1 when none does.
 */
export function findSelfByServerCert(consenters: readonly { readonly serverTlsCert: Uint8Array }[], ownCertDer: Uint8Array): number {
  const own = spkiHex(new X509Certificate(ownCertDer));
  return consenters.findIndex((cst) => {
    const der = certDerFromPem(cst.serverTlsCert);
    return der !== undefined && spkiHex(new X509Certificate(der)) === own;
  });
}

function spkiHex(cert: X509Certificate): string {
  return cert.publicKey.export({ format: 'der', type: 'spki' }).toString('hex');
}

/** What a channel's Raft members look like to the cluster transport (consenters' client and server certificates as DER). */
export function clusterMembersOf(
  members: readonly { readonly id: number; readonly host: string; readonly port: number }[],
  consenters: readonly { readonly clientTlsCert: Uint8Array; readonly serverTlsCert: Uint8Array }[],
): ClusterMember[] {
  return members.map((m, i) => {
    const client = certDerFromPem(consenters[i]?.clientTlsCert ?? new Uint8Array());
    const server = certDerFromPem(consenters[i]?.serverTlsCert ?? new Uint8Array());
    return {
      id: m.id,
      host: m.host,
      port: m.port,
      ...(client !== undefined ? { clientTlsCert: client } : {}),
      ...(server !== undefined ? { serverTlsCert: server } : {}),
    };
  });
}

/**
 * This node among a channel's Raft members (`members[i]` is `consenters[i]`): by its server TLS
 * certificate when it has one (Fabric's way), else by the host:port it is listed under (ours, for
 * a plaintext cluster). Throws naming what was compared when it is not a consenter.
 */
export function findSelf<M extends { readonly host: string; readonly port: number }>(
  channel: string,
  members: readonly M[],
  consenters: readonly { readonly serverTlsCert: Uint8Array }[],
  self: { readonly serverTlsCert: Uint8Array | undefined; readonly host: string; readonly port: number },
): M {
  if (self.serverTlsCert !== undefined) {
    const i = findSelfByServerCert(consenters, self.serverTlsCert);
    const found = i < 0 ? undefined : members[i];
    if (found === undefined) {
      const subject = new X509Certificate(self.serverTlsCert).subject.replace(/\n/g, ', ');
      throw new Error(
        `this node's server TLS certificate (${subject}) matches none of the server_tls_cert of ${channel}'s consenters (${members.map((m) => `${m.host}:${m.port}`).join(', ')}): it is not a consenter of ${channel}`,
      );
    }
    return found;
  }
  const found = members.find((m) => m.host === self.host && m.port === self.port);
  if (found === undefined) {
    throw new Error(`this node (${self.host}:${self.port}) is not a consenter of ${channel}; consenters: ${members.map((m) => `${m.host}:${m.port}`).join(', ')}`);
  }
  return found;
}
