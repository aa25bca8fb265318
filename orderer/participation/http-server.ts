// The orderer's Admin server (reference §6.1): node:http, or node:https when Admin.TLS is on,
// serving the channel participation API (rest-api.ts) under /participation/v1/, as Fabric's
// fabhttp server with the participation handler registered "secure" when TLS is on.
//
// TLS as ../http-tls.ts says (shared with the Operations server). With TLS on, /participation/v1/
// answers 401 with an empty body to a request without a verified client certificate (Fabric's
// RequireCert middleware), before anything else, the disabled check included. Paths outside
// /participation/v1/ are 404, as Go's ServeMux.
import type http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { OrdererConfig } from '../config';
import {
  HTTP_READ_TIMEOUT_MS,
  HTTP_STOP_GRACE_MS,
  HttpListener,
  httpTlsMaterialFromConfig,
  parseHttpListenAddress,
  refuseUnverified,
  type HttpTlsMaterial,
} from '../http-tls';
import { sendNotFound, serveParticipation, URL_BASE_V1 } from './rest-api';
import type { ChannelParticipation } from './types';

/** Go's http.Server ReadTimeout in Fabric's fabhttp: the whole request, body included. */
export const ADMIN_READ_TIMEOUT_MS = HTTP_READ_TIMEOUT_MS;
/** Fabric's fabhttp Stop: in-flight requests get this long before their connections are cut. */
export const ADMIN_STOP_GRACE_MS = HTTP_STOP_GRACE_MS;

/** The Admin server's TLS material, already read and checked (adminServerFromConfig reads the files). */
export type AdminTlsMaterial = HttpTlsMaterial;

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
  private readonly listener: HttpListener;
  private readonly log: Logger;

  constructor(private readonly options: AdminServerOptions) {
    this.log = options.logger.child({ component: 'admin', logger: 'orderer.participation' });
    if (!Number.isSafeInteger(options.maxRequestBodySizeBytes) || options.maxRequestBodySizeBytes < 1) {
      throw new RangeError(`maxRequestBodySizeBytes must be a positive integer, got ${options.maxRequestBodySizeBytes}`);
    }
    this.listener = new HttpListener({
      host: options.host,
      port: options.port,
      tls: options.tls,
      log: this.log,
      name: 'admin',
      echoRequestId: false,
      handle: (req, res, log) => this.handle(req, res, log),
    });
  }

  /** Listens; rejects when the address cannot be bound. */
  async start(): Promise<void> {
    await this.listener.listen();
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
    return this.listener.port;
  }

  /** host:port as bound. */
  get address(): string {
    return this.listener.address;
  }

  /** Stops listening; in-flight requests get ADMIN_STOP_GRACE_MS, then their connections are cut. */
  async stop(): Promise<void> {
    await this.listener.stop();
  }

  private handle(req: IncomingMessage, res: ServerResponse, log: Logger): void {
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
    if (refuseUnverified(req, res, this.options.tls !== undefined, log)) return;
    void serveParticipation(
      req,
      res,
      pathname,
      { participation: this.options.participation, enabled: this.options.participationEnabled, maxRequestBodySizeBytes: this.options.maxRequestBodySizeBytes },
      log,
    );
  }
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
  const { host, port } = parseHttpListenAddress(config.admin.listenAddress, 'Admin.ListenAddress', configFile);
  const tls = httpTlsMaterialFromConfig(config.admin.tls, 'Admin.TLS', configFile);
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
