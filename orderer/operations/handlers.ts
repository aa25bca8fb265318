// The small handlers of the Operations server (reference §6.4): /version (Fabric's
// core/operations version handler), /logspec (common/flogging/httpadmin) and /metrics.
// Bodies are JSON with Go's json.Encoder trailing newline. Fabric sets the JSON Content-Type of
// /version and /logspec after writing the status, so Go sniffs them as text/plain; we send
// application/json, which is what they are.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';

/** Fabric's metadata.CommitSHA when the build did not set it. */
export const DEVELOPMENT_BUILD = 'development build';

/** PUT /logspec bodies larger than this are refused (Fabric reads any size within its read timeout). */
export const MAX_LOGSPEC_BODY_BYTES = 64 * 1024;

export interface VersionInfo {
  readonly Version: string;
  readonly CommitSHA: string;
}

/** What /logspec reads and changes (OrdererLogging has it). */
export interface LogSpecTarget {
  spec(): string;
  /** Throws (its message is the 400 answer) when the spec is bad. */
  setSpec(spec: string): void;
}

/** What /metrics serves: a prom-client Registry has it. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

let cachedVersion: VersionInfo | undefined;

/**
 * This package's version (package.json, found upwards from here: the source tree and dist/ both
 * have it above them) and the commit it was built from: no build step records one, so Fabric's
 * "development build", unless ORDERER_COMMIT_SHA was set for the process.
 */
export function packageVersion(): VersionInfo {
  if (cachedVersion !== undefined) return cachedVersion;
  let version = 'unknown';
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'fabric-raft-orderer' && typeof pkg.version === 'string') {
        version = pkg.version;
        break;
      }
    } catch {
      // not here: one level up
    }
    if (path.dirname(dir) === dir) break;
  }
  const sha = process.env['ORDERER_COMMIT_SHA'];
  cachedVersion = { Version: version, CommitSHA: sha !== undefined && sha !== '' ? sha : DEVELOPMENT_BUILD };
  return cachedVersion;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** GET -> 200 {"CommitSHA","Version"}; any other method -> 400 {"Error":"invalid request method: X"}. */
export function serveVersion(req: IncomingMessage, res: ServerResponse, info: VersionInfo): void {
  if (req.method !== 'GET') {
    sendJson(res, 400, { Error: `invalid request method: ${req.method ?? ''}` });
    return;
  }
  sendJson(res, 200, { CommitSHA: info.CommitSHA, Version: info.Version });
}

/**
 * GET -> {"spec": current}; PUT {"spec": s} -> 204 and s applied; a body that is not such JSON or
 * a spec Fabric's rules refuse -> 400 {"error": why}; any other method -> 400.
 */
export async function serveLogSpec(req: IncomingMessage, res: ServerResponse, target: LogSpecTarget): Promise<void> {
  if (req.method === 'GET') {
    const spec = target.spec();
    // Go's `json:"spec,omitempty"`: an empty spec is left out.
    sendJson(res, 200, spec === '' ? {} : { spec });
    return;
  }
  if (req.method !== 'PUT') {
    sendJson(res, 400, { error: `invalid request method: ${req.method ?? ''}` });
    return;
  }
  let body: Buffer;
  try {
    body = await readBody(req, MAX_LOGSPEC_BODY_BYTES);
  } catch (err) {
    res.setHeader('Connection', 'close');
    sendJson(res, 400, { error: (err as Error).message });
    return;
  }
  let spec: string;
  try {
    spec = logSpecOf(body);
  } catch (err) {
    sendJson(res, 400, { error: (err as Error).message });
    return;
  }
  try {
    target.setSpec(spec);
  } catch (err) {
    sendJson(res, 400, { error: err instanceof Error ? err.message : String(err) });
    return;
  }
  res.writeHead(204);
  res.end();
}

/** The spec of a PUT body, refused as Go's json.Decoder into struct { Spec string } refuses. */
function logSpecOf(body: Buffer): string {
  const text = body.toString('utf8');
  if (text.trim() === '') throw new Error('EOF');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`invalid JSON: ${(err as Error).message}`);
  }
  if (value === null) return '';
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`json: cannot unmarshal ${jsonKind(value)} into Go value of type httpadmin.LogSpec`);
  }
  const spec = (value as Record<string, unknown>)['spec'];
  if (spec === undefined || spec === null) return '';
  if (typeof spec !== 'string') throw new Error(`json: cannot unmarshal ${jsonKind(spec)} into Go struct field LogSpec.spec of type string`);
  return spec;
}

function jsonKind(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'boolean') return 'bool';
  return typeof value;
}

function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      total += chunk.length;
      if (total > maxBytes) {
        done = true;
        req.pause();
        reject(new Error(`request body larger than ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => {
      if (done) return;
      done = true;
      reject(err);
    });
  });
}

/** The registry's exposition, any method (as Prometheus' handler); a failing registry is a 500. */
export async function serveMetrics(res: ServerResponse, source: MetricsSource): Promise<void> {
  let text: string;
  try {
    text = await source.metrics();
  } catch (err) {
    const msg = `An error has occurred while gathering metrics:\n\n${err instanceof Error ? err.message : String(err)}\n`;
    res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(msg) });
    res.end(msg);
    return;
  }
  res.writeHead(200, { 'Content-Type': source.contentType, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
