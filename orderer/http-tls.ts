// What the orderer's two HTTP servers (Admin: participation/http-server.ts; Operations:
// operations/server.ts) share, as Fabric's fabhttp server is shared by both (reference §6.1):
// TLS 1.2 or newer; with ClientAuthRequired a client certificate is required and verified against
// ClientRootCAs in the handshake; without it a certificate is asked for and verified when offered
// (Go's VerifyClientCertIfGiven; Node lets the handshake finish, so a connection whose offered
// certificate fails verification is closed right after it). Protected handlers answer 401 with
// an empty body to a request without a verified client certificate (Fabric's RequireCert).
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { HttpTlsConfig } from './config';
import { LocalConfigError } from './errors';
import { loadCertificates, loadKeyPair } from './tls';

/** Go's http.Server ReadTimeout in Fabric's fabhttp: the whole request, body included. */
export const HTTP_READ_TIMEOUT_MS = 10_000;
/** Fabric's fabhttp Stop: in-flight requests get this long before their connections are cut. */
export const HTTP_STOP_GRACE_MS = 5_000;

/** An HTTP server's TLS material, already read and checked (httpTlsMaterialFromConfig reads the files). */
export interface HttpTlsMaterial {
  readonly certPem: Buffer;
  readonly keyPem: Buffer;
  /** ClientRootCAs: whose client certificates are verified. */
  readonly clientRootPems: readonly Buffer[];
  readonly clientAuthRequired: boolean;
}

/**
 * node:http, or node:https with `tls` as the rules above say. `log` hears of closed connections
 * and failed handshakes.
 */
export function createHttpServer(handler: RequestListener, tls: HttpTlsMaterial | undefined, log: Logger): http.Server {
  let server: http.Server;
  if (tls === undefined) {
    server = http.createServer(handler);
  } else {
    const roots = tls.clientRootPems;
    // Node falls back to its public root CAs when `ca` is empty: never for client certificates.
    if (tls.clientAuthRequired && roots.length === 0) throw new RangeError('client authentication is required but no client root CA is given');
    server = https.createServer(
      {
        cert: tls.certPem,
        key: tls.keyPem,
        minVersion: 'TLSv1.2',
        ...(roots.length > 0 ? { ca: [...roots], requestCert: true } : { requestCert: false }),
        rejectUnauthorized: tls.clientAuthRequired,
      },
      handler,
    );
    server.on('secureConnection', (socket: TLSSocket) => {
      // Offered but not verifiable: Go's VerifyClientCertIfGiven fails the handshake; we close.
      if (!socket.authorized && hasPeerCertificate(socket)) {
        log.warn({ remote: socket.remoteAddress, reason: String(socket.authorizationError) }, 'closing a connection whose client certificate does not verify');
        socket.destroy();
      }
    });
    server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      log.debug({ remote: socket.remoteAddress, err: err.message }, 'TLS handshake failed');
    });
  }
  server.requestTimeout = HTTP_READ_TIMEOUT_MS;
  server.headersTimeout = HTTP_READ_TIMEOUT_MS;
  return server;
}

/** Listens on host:port; resolves with the bound port, rejects when the address cannot be bound. */
export async function listenHttp(server: http.Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** Stops listening; in-flight requests get HTTP_STOP_GRACE_MS, then their connections are cut. */
export async function stopHttp(server: http.Server): Promise<void> {
  if (!server.listening) return;
  await new Promise<void>((resolve) => {
    const cut = setTimeout(() => server.closeAllConnections(), HTTP_STOP_GRACE_MS);
    cut.unref();
    server.close(() => {
      clearTimeout(cut);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/** host:port for logs, with brackets around an IPv6 host. */
export function formatAddress(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Whether the request came over TLS with a client certificate that verified. */
export function clientVerified(req: IncomingMessage): boolean {
  const socket = req.socket as TLSSocket;
  return socket.authorized === true && hasPeerCertificate(socket);
}

/**
 * Fabric's RequireCert: with TLS on and no verified client certificate, answers 401 with an empty
 * body and returns true (the caller stops there). The body, if any, is not read: the connection closes.
 */
export function refuseUnverified(req: IncomingMessage, res: ServerResponse, tlsOn: boolean, log: Logger): boolean {
  if (!tlsOn || clientVerified(req)) return false;
  log.warn('request without a verified client certificate refused (401)');
  const bodyAnnounced = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  res.writeHead(401, { 'Content-Length': 0, ...(bodyAnnounced ? { Connection: 'close' } : {}) });
  res.end();
  return true;
}

function hasPeerCertificate(socket: TLSSocket): boolean {
  const cert = socket.getPeerCertificate();
  return cert !== null && typeof cert === 'object' && Object.keys(cert).length > 0;
}

/** "host:port" of an HTTP ListenAddress key; port 0 (any free port) is allowed. */
export function parseHttpListenAddress(value: string, key: string, configFile: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d+)$/.exec(value.trim());
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || !(port >= 0 && port <= 65535)) {
    throw new LocalConfigError(key, configFile, `expected host:port, got ${JSON.stringify(value)}`);
  }
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

/**
 * Reads and checks the TLS files of an HTTP server's TLS section (`prefix` e.g. "Admin.TLS");
 * undefined when TLS is off. A missing or damaged file throws LocalConfigError naming its key and file.
 */
export function httpTlsMaterialFromConfig(t: HttpTlsConfig, prefix: string, configFile: string): HttpTlsMaterial | undefined {
  if (!t.enabled) return undefined;
  if (t.certificatePath === undefined || t.privateKeyPath === undefined) {
    throw new LocalConfigError(prefix, configFile, 'TLS is enabled, so PrivateKey and Certificate are required');
  }
  const pair = loadKeyPair({ certKey: `${prefix}.Certificate`, certFile: t.certificatePath, keyKey: `${prefix}.PrivateKey`, keyFile: t.privateKeyPath });
  const clientRootPems = t.clientRootCaPaths.map((file) => loadCertificates(`${prefix}.ClientRootCAs`, file).pem);
  if (t.clientAuthRequired && clientRootPems.length === 0) {
    throw new LocalConfigError(`${prefix}.ClientRootCAs`, configFile, 'ClientAuthRequired is true, so ClientRootCAs must name at least one CA certificate');
  }
  return { certPem: pair.certPem, keyPem: pair.keyPem, clientRootPems, clientAuthRequired: t.clientAuthRequired };
}

/**
 * One HTTP(S) server of ours (Admin, Operations): its listener, bound address and graceful stop,
 * and a child logger and a debug line per request. `echoRequestId`: an X-Request-Id the client
 * sent is kept (and a new one made otherwise) and sent back, as Fabric's operations middleware does.
 */
export class HttpListener {
  readonly server: http.Server;
  private boundPort: number | undefined;

  constructor(
    private readonly o: {
      host: string;
      port: number;
      tls: HttpTlsMaterial | undefined;
      log: Logger;
      /** "admin", "operations": names the request and error log lines. */
      name: string;
      echoRequestId: boolean;
      handle(req: IncomingMessage, res: ServerResponse, log: Logger): void;
    },
  ) {
    this.server = createHttpServer((req, res) => this.onRequest(req, res), o.tls, o.log);
  }

  /** Listens; rejects when the address cannot be bound. */
  async listen(): Promise<void> {
    this.boundPort = await listenHttp(this.server, this.o.host, this.o.port);
    this.server.on('error', (err) => this.o.log.error({ err }, `${this.o.name} server error`));
  }

  /** The bound port (after listen()). */
  get port(): number {
    if (this.boundPort === undefined) throw new Error(`the ${this.o.name} server is not started`);
    return this.boundPort;
  }

  /** host:port as bound. */
  get address(): string {
    return formatAddress(this.o.host, this.port);
  }

  /** Stops listening; in-flight requests get HTTP_STOP_GRACE_MS, then their connections are cut. */
  async stop(): Promise<void> {
    await stopHttp(this.server);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const given = this.o.echoRequestId ? req.headers['x-request-id'] : undefined;
    const reqId = typeof given === 'string' && given !== '' ? given : randomUUID();
    if (this.o.echoRequestId) res.setHeader('X-Request-Id', reqId);
    const log = this.o.log.child({ reqId, method: req.method, url: req.url, remote: req.socket.remoteAddress });
    const startedMs = performance.now();
    res.on('finish', () => log.debug({ status: res.statusCode, durationMs: Math.round(performance.now() - startedMs) }, `${this.o.name} request`));
    this.o.handle(req, res, log);
  }
}
