// The orderer's Admin server (reference §6.1): node:http, or node:https when Admin.TLS is on,
// serving the channel participation API (rest-api.ts) under /participation/v1/, as Fabric's
// fabhttp server with the participation handler registered "secure" when TLS is on.
//
// TLS, as Fabric's fabhttp.TLS.Config: TLS 1.2 or newer; with ClientAuthRequired a client
// certificate is required and verified against ClientRootCAs in the handshake; without it a
// certificate is asked for and verified when offered (Go's VerifyClientCertIfGiven; Node lets
// the handshake finish, so a connection whose offered certificate fails verification is closed
// right after it). With TLS on, /participation/v1/ answers 401 with an empty body to a request
// without a verified client certificate (Fabric's RequireCert middleware), before anything else,
// the disabled check included. Paths outside /participation/v1/ are 404, as Go's ServeMux.
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { OrdererConfig } from '../config';
import { LocalConfigError } from '../errors';
import { loadCertificates, loadKeyPair } from '../tls';
import { sendNotFound, serveParticipation, URL_BASE_V1 } from './rest-api';
import type { ChannelParticipation } from './types';

/** Go's http.Server ReadTimeout in Fabric's fabhttp: the whole request, body included. */
export const ADMIN_READ_TIMEOUT_MS = 10_000;
/** Fabric's fabhttp Stop: in-flight requests get this long before their connections are cut. */
export const ADMIN_STOP_GRACE_MS = 5_000;

/** The Admin server's TLS material, already read and checked (adminServerFromConfig reads the files). */
export interface AdminTlsMaterial {
  readonly certPem: Buffer;
  readonly keyPem: Buffer;
  /** ClientRootCAs: whose client certificates are verified. */
  readonly clientRootPems: readonly Buffer[];
  readonly clientAuthRequired: boolean;
}

export interface AdminServerOptions {
  readonly host: string;
  /** 0 picks a free port; AdminServer.port tells which after start(). */
  readonly port: number;
  /** Undefined: plaintext HTTP, and no client is authenticated (Fabric then protects nothing). */
  readonly tls: AdminTlsMaterial | undefined;
  readonly participation: ChannelParticipation;
  /** ChannelParticipation.Enabled. */
  readonly participationEnabled: boolean;
  /** ChannelParticipation.MaxRequestBodySize. */
  readonly maxRequestBodySizeBytes: number;
  readonly logger: Logger;
}

export class AdminServer {
  private readonly server: http.Server;
  private readonly log: Logger;
  private boundPort: number | undefined;

  constructor(private readonly options: AdminServerOptions) {
    this.log = options.logger.child({ component: 'admin' });
    if (!Number.isSafeInteger(options.maxRequestBodySizeBytes) || options.maxRequestBodySizeBytes < 1) {
      throw new RangeError(`maxRequestBodySizeBytes must be a positive integer, got ${options.maxRequestBodySizeBytes}`);
    }
    const handler = (req: IncomingMessage, res: ServerResponse): void => this.handle(req, res);
    const tls = options.tls;
    if (tls === undefined) {
      this.server = http.createServer(handler);
    } else {
      const roots = tls.clientRootPems;
      // Node falls back to its public root CAs when `ca` is empty: never for client certificates.
      if (tls.clientAuthRequired && roots.length === 0) throw new RangeError('client authentication is required but no client root CA is given');
      this.server = https.createServer(
        {
          cert: tls.certPem,
          key: tls.keyPem,
          minVersion: 'TLSv1.2',
          ...(roots.length > 0 ? { ca: [...roots], requestCert: true } : { requestCert: false }),
          rejectUnauthorized: tls.clientAuthRequired,
        },
        handler,
      );
      this.server.on('secureConnection', (socket: TLSSocket) => {
        // Offered but not verifiable: Go's VerifyClientCertIfGiven fails the handshake; we close.
        if (!socket.authorized && hasPeerCertificate(socket)) {
          this.log.warn({ remote: socket.remoteAddress, reason: String(socket.authorizationError) }, 'closing a connection whose client certificate does not verify');
          socket.destroy();
        }
      });
      this.server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
        this.log.debug({ remote: socket.remoteAddress, err: err.message }, 'TLS handshake failed');
      });
    }
    this.server.requestTimeout = ADMIN_READ_TIMEOUT_MS;
    this.server.headersTimeout = ADMIN_READ_TIMEOUT_MS;
  }

  /** Listens; rejects when the address cannot be bound. */
  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.boundPort = (this.server.address() as AddressInfo).port;
    this.server.on('error', (err) => this.log.error({ err }, 'admin server error'));
    const tls = this.options.tls;
    if (tls === undefined) {
      this.log.warn({ address: this.address }, 'Admin server listening without TLS: anyone who can reach it can join and remove channels');
    } else if (tls.clientRootPems.length === 0) {
      this.log.warn({ address: this.address }, 'Admin server has no Admin.TLS.ClientRootCAs: no client can authenticate, every participation request is answered 401');
    } else {
      this.log.info({ address: this.address, clientAuthRequired: tls.clientAuthRequired }, 'Admin server listening with TLS');
    }
  }

  /** The bound port (after start()). */
  get port(): number {
    if (this.boundPort === undefined) throw new Error('the Admin server is not started');
    return this.boundPort;
  }

  /** host:port as bound. */
  get address(): string {
    const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    return `${host}:${this.port}`;
  }

  /** Stops listening; in-flight requests get ADMIN_STOP_GRACE_MS, then their connections are cut. */
  async stop(): Promise<void> {
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      const cut = setTimeout(() => this.server.closeAllConnections(), ADMIN_STOP_GRACE_MS);
      cut.unref();
      this.server.close(() => {
        clearTimeout(cut);
        resolve();
      });
      this.server.closeIdleConnections();
    });
  }

  private clientVerified(req: IncomingMessage): boolean {
    const socket = req.socket as TLSSocket;
    return socket.authorized === true && hasPeerCertificate(socket);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const log = this.log.child({ reqId: randomUUID(), method: req.method, url: req.url, remote: req.socket.remoteAddress });
    const startedMs = performance.now();
    res.on('finish', () => log.debug({ status: res.statusCode, durationMs: Math.round(performance.now() - startedMs) }, 'admin request'));
    let pathname: string;
    try {
      // Resolves dot segments as Go's ServeMux path cleaning would; percent-escapes stay escaped.
      pathname = new URL(req.url ?? '/', 'http://admin').pathname;
    } catch {
      res.writeHead(400, { 'Content-Length': 0, Connection: 'close' });
      res.end();
      return;
    }
    if (pathname === URL_BASE_V1.slice(0, -1)) {
      // ServeMux redirects a subtree's root without its slash.
      res.writeHead(301, { Location: URL_BASE_V1, 'Content-Length': 0 });
      res.end();
      return;
    }
    if (!pathname.startsWith(URL_BASE_V1)) {
      sendNotFound(res);
      return;
    }
    if (this.options.tls !== undefined && !this.clientVerified(req)) {
      log.warn('request without a verified client certificate refused (401)');
      // The body (if any) is not read: close rather than drain it.
      const bodyAnnounced = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
      res.writeHead(401, { 'Content-Length': 0, ...(bodyAnnounced ? { Connection: 'close' } : {}) });
      res.end();
      return;
    }
    void serveParticipation(
      req,
      res,
      pathname,
      { participation: this.options.participation, enabled: this.options.participationEnabled, maxRequestBodySizeBytes: this.options.maxRequestBodySizeBytes },
      log,
    );
  }
}

function hasPeerCertificate(socket: TLSSocket): boolean {
  const cert = socket.getPeerCertificate();
  return cert !== null && typeof cert === 'object' && Object.keys(cert).length > 0;
}

/** "host:port" of Admin.ListenAddress; port 0 (any free port) is allowed, for tests. */
function parseListenAddress(value: string, configFile: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d+)$/.exec(value.trim());
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || !(port >= 0 && port <= 65535)) {
    throw new LocalConfigError('Admin.ListenAddress', configFile, `expected host:port, got ${JSON.stringify(value)}`);
  }
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

/**
 * The Admin server of an orderer.yaml (Admin.*, ChannelParticipation.*), not yet started. Reads
 * and checks the TLS files now; a missing or damaged one throws LocalConfigError naming its config
 * key and file (e.g. "Admin.TLS.Certificate (/etc/x.crt): holds no PEM certificate").
 */
export function adminServerFromConfig(
  config: OrdererConfig,
  participation: ChannelParticipation,
  logger: Logger,
  configFile = 'orderer.yaml',
): AdminServer {
  const { host, port } = parseListenAddress(config.admin.listenAddress, configFile);
  const t = config.admin.tls;
  let tls: AdminTlsMaterial | undefined;
  if (t.enabled) {
    if (t.certificatePath === undefined || t.privateKeyPath === undefined) {
      throw new LocalConfigError('Admin.TLS', configFile, 'TLS is enabled, so PrivateKey and Certificate are required');
    }
    const pair = loadKeyPair({ certKey: 'Admin.TLS.Certificate', certFile: t.certificatePath, keyKey: 'Admin.TLS.PrivateKey', keyFile: t.privateKeyPath });
    const clientRootPems = t.clientRootCaPaths.map((file) => loadCertificates('Admin.TLS.ClientRootCAs', file).pem);
    if (t.clientAuthRequired && clientRootPems.length === 0) {
      throw new LocalConfigError('Admin.TLS.ClientRootCAs', configFile, 'ClientAuthRequired is true, so ClientRootCAs must name at least one CA certificate');
    }
    tls = { certPem: pair.certPem, keyPem: pair.keyPem, clientRootPems, clientAuthRequired: t.clientAuthRequired };
  }
  return new AdminServer({
    host,
    port,
    tls,
    participation,
    participationEnabled: config.channelParticipation.enabled,
    maxRequestBodySizeBytes: config.channelParticipation.maxRequestBodySizeBytes,
    logger,
  });
}
