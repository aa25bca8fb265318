// The orderer's Operations server (reference §6.1, §6.4): node:http, or node:https when
// Operations.TLS is on (rules in ../http-tls.ts, shared with the Admin server), as Fabric's
// operations System over its fabhttp server:
//   /healthz  unprotected   healthz.ts
//   /version  unprotected   handlers.ts
//   /logspec  protected     handlers.ts
//   /metrics  protected     only when Metrics.Provider is prometheus (else no handler: 404)
// Protected means: with TLS on, a request without a verified client certificate is answered 401
// with an empty body. Every answer carries an X-Request-Id (the request's own, else a new UUID),
// as Fabric's request-id middleware does. Other paths are 404 as Go's ServeMux says it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { OrdererConfig } from '../config';
import { HttpListener, httpTlsMaterialFromConfig, parseHttpListenAddress, refuseUnverified, type HttpTlsMaterial } from '../http-tls';
import { packageVersion, serveLogSpec, serveMetrics, serveVersion, type LogSpecTarget, type MetricsSource, type VersionInfo } from './handlers';
import { HEALTH_CHECK_TIMEOUT_MS, serveHealthz, type HealthChecker } from './healthz';

export interface OperationsServerOptions {
  readonly host: string;
  /** 0 picks a free port; OperationsServer.port tells which after start(). */
  readonly port: number;
  /** Undefined: plaintext HTTP, nothing protected. */
  readonly tls: HttpTlsMaterial | undefined;
  readonly logger: Logger;
  /** What /logspec reads and sets (OrdererLogging). */
  readonly logging: LogSpecTarget;
  /** Served on /metrics; undefined (Metrics.Provider not prometheus): /metrics is 404. */
  readonly metrics: MetricsSource | undefined;
  /** The checkers of one /healthz request (asked each time: channels come and go). */
  readonly healthCheckers: () => readonly HealthChecker[];
  /** How long /healthz waits for its checks before answering 408 (Fabric: 30s). */
  readonly healthCheckTimeoutMs?: number;
  /** /version's answer; this package's version by default. */
  readonly version?: VersionInfo;
}

export class OperationsServer {
  private readonly listener: HttpListener;
  private readonly log: Logger;

  constructor(private readonly options: OperationsServerOptions) {
    this.log = options.logger.child({ logger: 'operations' });
    this.listener = new HttpListener({
      host: options.host,
      port: options.port,
      tls: options.tls,
      log: this.log,
      name: 'operations',
      echoRequestId: true,
      handle: (req, res, log) => this.handle(req, res, log),
    });
  }

  /** Listens; rejects when the address cannot be bound. */
  async start(): Promise<void> {
    await this.listener.listen();
    const tls = this.options.tls;
    if (tls !== undefined && tls.clientRootPems.length === 0) {
      this.log.warn({ address: this.address }, 'Operations server has no Operations.TLS.ClientRootCAs: no client can authenticate, /logspec and /metrics answer 401');
    }
    this.log.info({ address: this.address, tls: tls !== undefined, metrics: this.options.metrics !== undefined }, 'operations server listening');
  }

  /** The bound port (after start()). */
  get port(): number {
    return this.listener.port;
  }

  /** host:port as bound. */
  get address(): string {
    return this.listener.address;
  }

  /** Stops listening; in-flight requests get a grace period, then their connections are cut. */
  async stop(): Promise<void> {
    await this.listener.stop();
  }

  private handle(req: IncomingMessage, res: ServerResponse, log: Logger): void {
    let pathname: string;
    try {
      pathname = new URL(req.url ?? '/', 'http://operations').pathname;
    } catch {
      res.writeHead(400, { 'Content-Length': 0, Connection: 'close' });
      res.end();
      return;
    }
    const tlsOn = this.options.tls !== undefined;
    const failed = (err: unknown): void => {
      log.error({ err }, 'operations request failed');
      if (!res.headersSent) res.writeHead(500, { 'Content-Length': 0 });
      res.end();
    };
    switch (pathname) {
      case '/healthz':
        serveHealthz(req, res, this.options.healthCheckers(), this.options.healthCheckTimeoutMs ?? HEALTH_CHECK_TIMEOUT_MS).catch(failed);
        return;
      case '/version':
        serveVersion(req, res, this.options.version ?? packageVersion());
        return;
      case '/logspec':
        if (refuseUnverified(req, res, tlsOn, log)) return;
        serveLogSpec(req, res, this.options.logging).then(() => {
          if (req.method === 'PUT' && res.statusCode === 204) log.info({ spec: this.options.logging.spec() }, 'logging spec changed');
        }, failed);
        return;
      case '/metrics':
        if (this.options.metrics === undefined) break;
        if (refuseUnverified(req, res, tlsOn, log)) return;
        serveMetrics(res, this.options.metrics).catch(failed);
        return;
    }
    const text = '404 page not found\n';
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }
}

export interface OperationsDeps {
  readonly logger: Logger;
  readonly logging: LogSpecTarget;
  readonly metrics: MetricsSource | undefined;
  readonly healthCheckers: () => readonly HealthChecker[];
}

/**
 * The Operations server of an orderer.yaml (Operations.*), not yet started. Reads and checks the
 * TLS files now; a missing or damaged one throws LocalConfigError naming its key and file.
 */
export function operationsServerFromConfig(config: OrdererConfig, deps: OperationsDeps, configFile = 'orderer.yaml'): OperationsServer {
  const { host, port } = parseHttpListenAddress(config.operations.listenAddress, 'Operations.ListenAddress', configFile);
  const tls = httpTlsMaterialFromConfig(config.operations.tls, 'Operations.TLS', configFile);
  return new OperationsServer({ host, port, tls, ...deps });
}
