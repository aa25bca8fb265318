// The client side of the channel participation API, as Fabric's internal/osnadmin does it: one
// HTTP(S) request per command (join: POST of a multipart form with the block as file part
// config-block, filename config.block; list: GET; remove: DELETE), and the answer printed the way
// cmd/osnadmin prints it (Go's json.Indent with tabs). cmd/osnadmin.ts only parses flags and
// prints; everything a test would want to reach is here.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { configEnvelopeFromBlock } from '../channelconfig/settings';
import { common } from '../../protos';
import { CONFIG_BLOCK_PART } from './join-block';
import { URL_BASE_V1_CHANNELS } from './rest-api';

/** Fabric's server gives a request two minutes to be answered (fabhttp WriteTimeout); so do we. */
export const ADMIN_CLIENT_TIMEOUT_MS = 120_000;
/** An answer is a small JSON document; anything this large is not one. */
export const ADMIN_CLIENT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export interface AdminClientTls {
  /** PEM CA certificate(s) trusted for the orderer's certificate (osnadmin --ca-file). */
  readonly caPem: Buffer;
  /** The client pair presented for mutual TLS (--client-cert, --client-key). */
  readonly certPem: Buffer;
  readonly keyPem: Buffer;
}

export interface AdminClientOptions {
  /** host:port of the orderer's Admin endpoint. */
  readonly address: string;
  /** https with these when given, else plain http (osnadmin: TLS exactly when --ca-file is set). */
  readonly tls: AdminClientTls | undefined;
}

export interface AdminResponse {
  readonly status: number;
  readonly body: Buffer;
}

/** A transport failure, worded as Go's url.Error: `Post "http://...": <reason>`. */
export class AdminRequestError extends Error {
  override readonly name: string = 'AdminRequestError';
}

/** Go's multipart.Writer: a boundary of 30 random bytes in hex. */
function randomBoundary(): string {
  return randomBytes(30).toString('hex');
}

/** The join form as Go's multipart.Writer.CreateFormFile("config-block", "config.block") writes it. */
export function joinFormBody(blockBytes: Uint8Array, boundary = randomBoundary()): { body: Buffer; contentType: string } {
  const head =
    `--${boundary}\r\n` +
    `Content-Disposition: form-data; name="${CONFIG_BLOCK_PART}"; filename="config.block"\r\n` +
    'Content-Type: application/octet-stream\r\n\r\n';
  return {
    body: Buffer.concat([Buffer.from(head), Buffer.from(blockBytes), Buffer.from(`\r\n--${boundary}--\r\n`)]),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

/**
 * The channel ID in a marshaled block's first envelope (Fabric's protoutil.GetChannelIDFromBlock,
 * as osnadmin join checks it against --channelID). Throws with a readable reason.
 */
export function channelIdOfBlockBytes(blockBytes: Uint8Array): string {
  let block: common.Block;
  try {
    block = common.Block.decode(blockBytes);
  } catch (err) {
    throw new Error(`unmarshalling block: ${(err as Error).message}`, { cause: err });
  }
  return configEnvelopeFromBlock(block).channelId;
}

/** "Post" for POST: Go's url.Error names the method so. */
function goMethodName(method: string): string {
  return method.charAt(0) + method.slice(1).toLowerCase();
}

/** One request to the Admin endpoint; resolves with any HTTP answer, rejects only on transport failure. */
export function adminRequest(
  options: AdminClientOptions,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  upload?: { readonly body: Buffer; readonly contentType: string },
): Promise<AdminResponse> {
  const url = `${options.tls === undefined ? 'http' : 'https'}://${options.address}${path}`;
  const fail = (reason: string): AdminRequestError => new AdminRequestError(`${goMethodName(method)} "${url}": ${reason}`);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (upload !== undefined) {
      headers['Content-Type'] = upload.contentType;
      headers['Content-Length'] = upload.body.length;
    }
    const onResponse = (res: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      let sizeBytes = 0;
      res.on('data', (chunk: Buffer) => {
        sizeBytes += chunk.length;
        if (sizeBytes > ADMIN_CLIENT_MAX_RESPONSE_BYTES) {
          req.destroy(fail(`response body larger than ${ADMIN_CLIENT_MAX_RESPONSE_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', (err) => reject(fail(err.message)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    };
    const tls = options.tls;
    let req: http.ClientRequest;
    try {
      req =
        tls === undefined
          ? http.request(url, { method, headers, agent: false, timeout: ADMIN_CLIENT_TIMEOUT_MS }, onResponse)
          : https.request(url, { method, headers, agent: false, timeout: ADMIN_CLIENT_TIMEOUT_MS, ca: tls.caPem, cert: tls.certPem, key: tls.keyPem }, onResponse);
    } catch (err) {
      // A malformed address (e.g. no port) fails here, synchronously.
      reject(fail((err as Error).message));
      return;
    }
    req.on('timeout', () => req.destroy(new Error(`no answer within ${ADMIN_CLIENT_TIMEOUT_MS} ms`)));
    req.on('error', (err) => reject(err instanceof AdminRequestError ? err : fail(err.message)));
    req.end(upload?.body);
  });
}

export const joinChannel = (o: AdminClientOptions, blockBytes: Uint8Array): Promise<AdminResponse> =>
  adminRequest(o, 'POST', URL_BASE_V1_CHANNELS, joinFormBody(blockBytes));
export const listChannels = (o: AdminClientOptions): Promise<AdminResponse> => adminRequest(o, 'GET', URL_BASE_V1_CHANNELS);
export const listChannel = (o: AdminClientOptions, channelId: string): Promise<AdminResponse> =>
  adminRequest(o, 'GET', `${URL_BASE_V1_CHANNELS}/${encodeURIComponent(channelId)}`);
export const removeChannel = (o: AdminClientOptions, channelId: string): Promise<AdminResponse> =>
  adminRequest(o, 'DELETE', `${URL_BASE_V1_CHANNELS}/${encodeURIComponent(channelId)}`);

const JSON_SPACE = new Set([' ', '\t', '\r', '\n']);

/**
 * Go's json.Indent(dst, src, "", indent): insignificant whitespace dropped, one element per line,
 * `": "` after keys, `{}` and `[]` kept empty, whitespace after the value kept (so a body ending in
 * a newline still does). String contents and number spellings are copied byte for byte. Throws
 * SyntaxError when `src` is not one JSON value.
 */
export function goJsonIndent(src: string, indent = '\t'): string {
  JSON.parse(src);
  let end = src.length;
  while (end > 0 && JSON_SPACE.has(src[end - 1]!)) end--;
  let out = '';
  let depth = 0;
  let pendingNewline = false;
  let inString = false;
  const newline = (): string => `\n${indent.repeat(depth)}`;
  for (let i = 0; i < end; i++) {
    const c = src[i]!;
    if (inString) {
      out += c;
      if (c === '\\') out += src[++i]!;
      else if (c === '"') inString = false;
      continue;
    }
    if (JSON_SPACE.has(c)) continue;
    if (pendingNewline && c !== '}' && c !== ']') {
      out += newline();
      pendingNewline = false;
    }
    switch (c) {
      case '"':
        inString = true;
        out += c;
        break;
      case '{':
      case '[':
        depth++;
        pendingNewline = true;
        out += c;
        break;
      case ',':
        out += c + newline();
        break;
      case ':':
        out += ': ';
        break;
      case '}':
      case ']':
        depth--;
        // An empty object or array stays on one line.
        out += pendingNewline ? c : newline() + c;
        pendingNewline = false;
        break;
      default:
        out += c;
    }
  }
  return out + src.slice(end);
}

/**
 * What osnadmin prints for an answer (before its final newline): `Status: <code>` unless
 * `showStatus` is false, then the body indented; throws SyntaxError when the body is not JSON.
 */
export function formatAdminResponse(response: AdminResponse, showStatus: boolean): string {
  let out = showStatus ? `Status: ${response.status}\n` : '';
  if (response.body.length > 0) out += goJsonIndent(response.body.toString('utf8'));
  return out;
}
