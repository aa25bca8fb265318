// One GET /metrics of a node's operations endpoint, over https with the operator's client pair
// when TLS is on (the endpoint is protected: Fabric answers 401 without a verified client
// certificate), with a short timeout so one stuck node does not freeze the live view.
import http from 'node:http';
import https from 'node:https';
import { parsePromText, type Sample } from './prom-text';

export interface ScrapeTls {
  readonly caPem: Buffer;
  readonly certPem: Buffer | undefined;
  readonly keyPem: Buffer | undefined;
}

export interface ScrapeTarget {
  readonly name: string;
  /** host:port of the operations endpoint. */
  readonly address: string;
  readonly tls: ScrapeTls | undefined;
}

export const SCRAPE_TIMEOUT_MS = 3_000;
const MAX_SCRAPE_BYTES = 32 * 1024 * 1024;

export class ScrapeError extends Error {
  override readonly name = 'ScrapeError';
}

export function scrapeMetrics(target: ScrapeTarget, timeoutMs = SCRAPE_TIMEOUT_MS): Promise<Sample[]> {
  const url = `${target.tls === undefined ? 'http' : 'https'}://${target.address}/metrics`;
  return new Promise((resolve, reject) => {
    const onResponse = (res: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      let sizeBytes = 0;
      res.on('data', (chunk: Buffer) => {
        sizeBytes += chunk.length;
        if (sizeBytes > MAX_SCRAPE_BYTES) req.destroy(new ScrapeError(`${url}: answer larger than ${MAX_SCRAPE_BYTES} bytes`));
        else chunks.push(chunk);
      });
      res.on('error', (err) => reject(new ScrapeError(`${url}: ${err.message}`)));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) {
          const hint =
            res.statusCode === 401
              ? ' (the endpoint wants a client certificate its ClientRootCAs trust: --client-cert/--client-key)'
              : res.statusCode === 404
                ? ' (is Metrics.Provider prometheus on that node?)'
                : '';
          reject(new ScrapeError(`${url}: HTTP ${res.statusCode ?? '?'}${hint}`));
          return;
        }
        try {
          resolve(parsePromText(body));
        } catch (err) {
          reject(new ScrapeError(`${url}: ${(err as Error).message}`));
        }
      });
    };
    const tls = target.tls;
    let req: http.ClientRequest;
    try {
      req =
        tls === undefined
          ? http.request(url, { method: 'GET', agent: false, timeout: timeoutMs }, onResponse)
          : https.request(url, { method: 'GET', agent: false, timeout: timeoutMs, ca: tls.caPem, cert: tls.certPem, key: tls.keyPem }, onResponse);
    } catch (err) {
      reject(new ScrapeError(`${url}: ${(err as Error).message}`));
      return;
    }
    req.on('timeout', () => req.destroy(new ScrapeError(`${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => reject(err instanceof ScrapeError ? err : new ScrapeError(`${url}: ${err.message}`)));
    req.end();
  });
}
