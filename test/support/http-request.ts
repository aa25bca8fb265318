// One HTTP(S) request from a test, with the whole answer collected: node:http(s) rather than
// fetch, because the Admin server tests need client certificates and raw control of the body.
import http from 'node:http';
import https from 'node:https';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  /** The body parsed as JSON (undefined when empty). */
  readonly json: unknown;
}

export interface HttpRequestOptions {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer | string;
  /** https: the CA to trust, and the client pair to present (if any). */
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

export function httpRequest(url: string, options: HttpRequestOptions = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const isHttps = url.startsWith('https:');
    const common = { method: options.method ?? 'GET', headers: { ...(options.headers ?? {}) }, agent: false as const };
    const onResponse = (res: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        let json: unknown = undefined;
        if (body.length > 0 && String(res.headers['content-type'] ?? '').startsWith('application/json')) json = JSON.parse(body.toString('utf8'));
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
      });
    };
    const req = isHttps
      ? https.request(url, { ...common, ...(options.ca !== undefined ? { ca: options.ca } : {}), ...(options.cert !== undefined ? { cert: options.cert, key: options.key } : {}) }, onResponse)
      : http.request(url, common, onResponse);
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A multipart/form-data body with the given parts, as Go's multipart.Writer lays it out. */
export function multipartBody(
  parts: readonly { readonly name: string; readonly filename?: string; readonly data: Uint8Array | string }[],
  boundary = 'test-boundary-5a1f',
): { body: Buffer; contentType: string } {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disposition = `form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}`;
    const type = p.filename !== undefined ? 'Content-Type: application/octet-stream\r\n' : '';
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${type}\r\n`), Buffer.from(p.data), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}
