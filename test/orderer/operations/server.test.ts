// The Operations server (reference §6.4): each endpoint's statuses, bodies and headers over
// plain HTTP, and over TLS with and without client certificates (401 on /logspec and /metrics
// without a verified one); /healthz with failing and slow checkers.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { parseOrdererConfig, toLoggingSpec } from '../../../orderer/config';
import { LocalConfigError } from '../../../orderer/errors';
import { OrdererLogging } from '../../../orderer/logging';
import { channelHealthCheckers, diskSpaceChecker, OperationsServer, operationsServerFromConfig, type HealthChecker, type MetricsSource, type OperationsServerOptions } from '../../../orderer/operations';
import { httpRequest } from '../../support/http-request';
import { TestTlsCa, writeCa, writePair } from '../../support/tls-material';

const silent = pino({ level: 'silent' });
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const PACKAGE_VERSION = (JSON.parse(readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8')) as { version: string }).version;

const fakeMetrics: MetricsSource = {
  contentType: 'text/plain; version=0.0.4; charset=utf-8',
  metrics: async () => '# HELP fabric_version The active version of Fabric.\n# TYPE fabric_version gauge\nfabric_version{version="0.1.0"} 1\n',
};

let server: OperationsServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

function newLogging(spec = 'info'): OrdererLogging {
  return new OrdererLogging({ spec: toLoggingSpec(spec), base: {}, destination: { write: () => undefined } });
}

async function start(overrides: Partial<OperationsServerOptions> = {}): Promise<string> {
  server = new OperationsServer({
    host: '127.0.0.1',
    port: 0,
    tls: undefined,
    logger: silent,
    logging: newLogging(),
    metrics: fakeMetrics,
    healthCheckers: () => [],
    ...overrides,
  });
  await server.start();
  return `${overrides.tls !== undefined ? 'https' : 'http'}://127.0.0.1:${server.port}`;
}

const failing = (component: string, reason: string): HealthChecker => ({ component, check: async () => Promise.reject(new Error(reason)) });

describe('/healthz', () => {
  test('no failing checks: 200 {"status":"OK","time":RFC 3339} as JSON, with a request id', async () => {
    const base = await start({ healthCheckers: () => [{ component: 'fine', check: async () => undefined }] });
    const r = await httpRequest(`${base}/healthz`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(Object.keys(r.json as object)).toEqual(['status', 'time']);
    expect((r.json as { status: string }).status).toBe('OK');
    expect((r.json as { time: string }).time).toMatch(RFC3339);
  });

  test('a failing check: 503 "Service Unavailable" with failed_checks, sorted by component', async () => {
    const base = await start({ healthCheckers: () => [failing('disk:wal', 'full'), { component: 'ok', check: async () => undefined }, failing('channel:a', 'halted')] });
    const r = await httpRequest(`${base}/healthz`);
    expect(r.status).toBe(503);
    expect(r.json).toEqual({
      status: 'Service Unavailable',
      time: expect.stringMatching(RFC3339),
      failed_checks: [
        { component: 'channel:a', reason: 'halted' },
        { component: 'disk:wal', reason: 'full' },
      ],
    });
  });

  test('checks that do not finish within the timeout: 408 with an empty body', async () => {
    const base = await start({
      healthCheckTimeoutMs: 100,
      healthCheckers: () => [{ component: 'slow', check: () => new Promise<void>((resolve) => setTimeout(resolve, 2_000).unref()) }],
    });
    const r = await httpRequest(`${base}/healthz`);
    expect([r.status, r.body.length]).toEqual([408, 0]);
  });

  test('any other method: 405', async () => {
    const base = await start();
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const r = await httpRequest(`${base}/healthz`, { method });
      expect([method, r.status, r.body.length]).toEqual([method, 405, 0]);
    }
  });

  test('a halted channel and a full disk fail with their component and reason', async () => {
    const statuses = new Map([
      ['good', { halted: false, haltReason: undefined }],
      ['bad', { halted: true, haltReason: 'a Raft invariant is broken' }],
    ]);
    const node = { channelIds: () => [...statuses.keys()], chain: (id: string) => ({ status: () => statuses.get(id)! }) };
    const base = await start({
      healthCheckers: () => [...channelHealthCheckers(node), diskSpaceChecker('disk:ledger', __dirname, Number.MAX_SAFE_INTEGER), diskSpaceChecker('disk:wal', __dirname, 0)],
    });
    const r = await httpRequest(`${base}/healthz`);
    expect(r.status).toBe(503);
    const failed = (r.json as { failed_checks: Array<{ component: string; reason: string }> }).failed_checks;
    expect(failed.map((f) => f.component)).toEqual(['channel:bad', 'disk:ledger']);
    expect(failed[0]!.reason).toBe('a Raft invariant is broken');
    expect(failed[1]!.reason).toMatch(/bytes free, below the \d+ bytes/);
  });
});

describe('/version', () => {
  test('GET: CommitSHA and Version', async () => {
    const base = await start();
    const r = await httpRequest(`${base}/version`);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ CommitSHA: 'development build', Version: PACKAGE_VERSION });
  });

  test('another method: 400 {"Error":...}', async () => {
    const base = await start();
    const r = await httpRequest(`${base}/version`, { method: 'POST' });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ Error: 'invalid request method: POST' });
  });
});

describe('/logspec', () => {
  test('GET the spec, PUT a new one (204), and the loggers follow it', async () => {
    const lines: string[] = [];
    const logging = new OrdererLogging({ spec: toLoggingSpec('info'), base: {}, destination: { write: (s: string) => void lines.push(s) } });
    const chainBefore = logging.root.child({ logger: 'orderer.chain', channel: 'a' });
    const base = await start({ logging });
    expect((await httpRequest(`${base}/logspec`)).json).toEqual({ spec: 'info' });

    const put = await httpRequest(`${base}/logspec`, { method: 'PUT', body: JSON.stringify({ spec: 'info:orderer.chain=debug' }) });
    expect([put.status, put.body.length]).toEqual([204, 0]);
    expect((await httpRequest(`${base}/logspec`)).json).toEqual({ spec: 'info:orderer.chain=debug' });

    const chainAfter = logging.root.child({ logger: 'orderer.chain', channel: 'b' });
    chainBefore.debug('from a');
    chainAfter.debug('from b');
    logging.root.child({ logger: 'orderer.node' }).debug('not shown');
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['from a', 'from b']);
  });

  test.each([
    ['not JSON', 'spec=debug', /^invalid JSON: /],
    ['an empty body', '', /^EOF$/],
    ['a spec that is not a string', '{"spec":5}', /^json: cannot unmarshal number into Go struct field LogSpec.spec of type string$/],
    ['a bad spec', '{"spec":"info:orderer=loud"}', /^invalid logging specification 'info:orderer=loud': bad segment 'orderer=loud'$/],
  ])('PUT with %s: 400 {"error":...}, nothing changes', async (_what, body, message) => {
    const logging = newLogging('warn');
    const base = await start({ logging });
    const r = await httpRequest(`${base}/logspec`, { method: 'PUT', body });
    expect(r.status).toBe(400);
    expect(Object.keys(r.json as object)).toEqual(['error']);
    expect((r.json as { error: string }).error).toMatch(message);
    expect(logging.spec()).toBe('warn');
  });

  test('another method: 400 {"error":"invalid request method: ..."}', async () => {
    const base = await start();
    const r = await httpRequest(`${base}/logspec`, { method: 'POST', body: '{"spec":"debug"}' });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ error: 'invalid request method: POST' });
  });
});

describe('/metrics and other paths', () => {
  test('with a registry (Metrics.Provider prometheus): its exposition with its content type', async () => {
    const base = await start();
    const r = await httpRequest(`${base}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe(fakeMetrics.contentType);
    expect(r.body.toString()).toContain('fabric_version{version="0.1.0"} 1');
  });

  test('without one (any other provider): 404, as Fabric registers no handler', async () => {
    const base = await start({ metrics: undefined });
    const r = await httpRequest(`${base}/metrics`);
    expect(r.status).toBe(404);
    expect(r.body.toString()).toBe('404 page not found\n');
  });

  test('an unknown path: 404', async () => {
    const base = await start();
    expect((await httpRequest(`${base}/healthz/extra`)).status).toBe(404);
    expect((await httpRequest(`${base}/`)).status).toBe(404);
  });
});

describe('over TLS', () => {
  const ca = new TestTlsCa('tlsca.example.com');
  const serverPair = ca.issue('orderer0.example.com');
  const operatorPair = ca.issue('operator.example.com');
  const strangerPair = new TestTlsCa('tlsca.elsewhere.com').issue('operator.elsewhere.com');
  const withCert = { ca: ca.certPem, cert: operatorPair.certPem, key: operatorPair.keyPem };
  const anonymous = { ca: ca.certPem };
  const tls = (clientAuthRequired: boolean): OperationsServerOptions['tls'] => ({
    certPem: Buffer.from(serverPair.certPem),
    keyPem: Buffer.from(serverPair.keyPem),
    clientRootPems: [Buffer.from(ca.certPem)],
    clientAuthRequired,
  });

  test('ClientAuthRequired false: /healthz and /version open to all; /logspec and /metrics 401 (empty) without a verified certificate', async () => {
    const base = await start({ tls: tls(false) });
    expect((await httpRequest(`${base}/healthz`, anonymous)).status).toBe(200);
    expect((await httpRequest(`${base}/version`, anonymous)).status).toBe(200);
    for (const p of ['/logspec', '/metrics']) {
      const r = await httpRequest(`${base}${p}`, anonymous);
      expect([p, r.status, r.body.length]).toEqual([p, 401, 0]);
    }
    const put = await httpRequest(`${base}/logspec`, { ...anonymous, method: 'PUT', body: '{"spec":"debug"}' });
    expect(put.status).toBe(401);
    expect((await httpRequest(`${base}/logspec`, withCert)).json).toEqual({ spec: 'info' });
    expect((await httpRequest(`${base}/metrics`, withCert)).status).toBe(200);
  });

  test('ClientAuthRequired false: a certificate from an unknown CA is not served at all', async () => {
    const base = await start({ tls: tls(false) });
    await expect(httpRequest(`${base}/healthz`, { ca: ca.certPem, cert: strangerPair.certPem, key: strangerPair.keyPem })).rejects.toThrow();
  });

  test('ClientAuthRequired true: no certificate, no handshake; a verified one is served', async () => {
    const base = await start({ tls: tls(true) });
    await expect(httpRequest(`${base}/healthz`, anonymous)).rejects.toThrow();
    expect((await httpRequest(`${base}/logspec`, withCert)).status).toBe(200);
  });

  test('plaintext HTTP to the TLS port is not served', async () => {
    const base = await start({ tls: tls(false) });
    await expect(httpRequest(`${base.replace('https:', 'http:')}/healthz`)).rejects.toThrow();
  });
});

describe('operationsServerFromConfig', () => {
  const ca = new TestTlsCa('tlsca.example.com');
  const serverPair = ca.issue('orderer0.example.com');
  const operatorPair = ca.issue('operator.example.com');
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'operations-config-'));
    writePair(dir, 'server', serverPair);
    writeCa(dir, 'ca', ca);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const deps = { logger: silent, logging: newLogging(), metrics: undefined, healthCheckers: () => [] };
  function config(lines: string[]): ReturnType<typeof parseOrdererConfig>['config'] {
    return parseOrdererConfig(['Operations:', ...lines.map((l) => `  ${l}`), ''].join('\n'), { baseDir: dir }).config;
  }

  test('serves over TLS with the files of orderer.yaml, protecting /logspec', async () => {
    server = operationsServerFromConfig(
      config(['ListenAddress: 127.0.0.1:0', 'TLS:', '  Enabled: true', '  Certificate: server.crt', '  PrivateKey: server.key', '  ClientRootCAs: [ca.crt]']),
      deps,
    );
    await server.start();
    const base = `https://127.0.0.1:${server.port}`;
    expect((await httpRequest(`${base}/logspec`, { ca: ca.certPem })).status).toBe(401);
    expect((await httpRequest(`${base}/logspec`, { ca: ca.certPem, cert: operatorPair.certPem, key: operatorPair.keyPem })).json).toEqual({ spec: 'info' });
  });

  test.each([
    ['a bad listen address', ['ListenAddress: nowhere'], 'Operations.ListenAddress'],
    ['a missing certificate file', ['TLS:', '  Enabled: true', '  Certificate: missing.crt', '  PrivateKey: server.key'], 'Operations.TLS.Certificate'],
    ['ClientAuthRequired without ClientRootCAs', ['TLS:', '  Enabled: true', '  Certificate: server.crt', '  PrivateKey: server.key', '  ClientAuthRequired: true'], 'Operations.TLS.ClientRootCAs'],
  ])('%s fails naming its key', (_what, lines, key) => {
    let err: unknown;
    try {
      operationsServerFromConfig(config(lines), deps);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LocalConfigError);
    expect((err as LocalConfigError).message).toContain(key);
  });
});
