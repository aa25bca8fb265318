// The channel participation REST API under /participation/v1/ (reference §6.2), answered exactly
// as Fabric's orderer/common/channelparticipation/restapi.go answers: the same routes, status
// codes, headers (Allow, Location, Cache-Control: no-store) and JSON shapes, and the same check
// order (Accept before channel ID before the node). The server (http-server.ts) has already
// checked the client certificate when TLS is on; this module only routes and answers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { ParticipationError } from './errors';
import { CONFIG_BLOCK_PART, validateJoinBlock } from './join-block';
import { formBoundary, MultipartError, parseMediaType, parseMultipartForm, type FormPart } from './multipart';
import type { ChannelInfo, ChannelParticipation } from './types';
import { isValidChannelId } from '../channelconfig/settings';

export const URL_BASE_V1 = '/participation/v1/';
export const URL_BASE_V1_CHANNELS = `${URL_BASE_V1}channels`;
/** Fabric's ChannelParticipation.MaxRequestBodySize default. */
export const DEFAULT_MAX_REQUEST_BODY_SIZE_BYTES = 1024 * 1024;

export interface ParticipationApiOptions {
  readonly participation: ChannelParticipation;
  /** ChannelParticipation.Enabled: when false every request is answered 503. */
  readonly enabled: boolean;
  /** ChannelParticipation.MaxRequestBodySize: a larger join body is refused (400) unread. */
  readonly maxRequestBodySizeBytes: number;
}

/** The JSON of one channel (Fabric's types.ChannelInfo): the node's view plus its url. */
export interface ChannelInfoJson {
  readonly name: string;
  readonly url: string;
  readonly consensusRelation: ChannelInfo['consensusRelation'];
  readonly status: ChannelInfo['status'];
  readonly height: number;
}

/** Fabric's types.ChannelList; `channels` is null when there are none (a nil Go slice). */
export interface ChannelListJson {
  readonly systemChannel: null;
  readonly channels: { readonly name: string; readonly url: string }[] | null;
}

/** A refusal to answer as `{"error": message}`. */
class ApiError extends Error {
  constructor(
    readonly httpStatus: number,
    message: string,
    readonly allow: readonly string[] = [],
  ) {
    super(message);
  }
}

export function channelUrl(channelId: string): string {
  return `${URL_BASE_V1_CHANNELS}/${channelId}`;
}

function infoJson(info: ChannelInfo): ChannelInfoJson {
  return { name: info.name, url: channelUrl(info.name), consensusRelation: info.consensusRelation, status: info.status, height: info.height };
}

// Go's encoding/json escapes these so the output is safe inside HTML and JavaScript; we write
// the same bytes so a client comparing answers with Fabric's sees no difference.
const GO_JSON_ESCAPES: Readonly<Record<string, string>> = { '<': '\\u003c', '>': '\\u003e', '&': '\\u0026', '\u2028': '\\u2028', '\u2029': '\\u2029' };

/** JSON as Go's json.Encoder writes it: compact, HTML characters escaped, a newline at the end. */
export function goJson(value: unknown): string {
  return `${JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => GO_JSON_ESCAPES[c] ?? c)}\n`;
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const body = goJson(value);
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function sendError(req: IncomingMessage, res: ServerResponse, err: ApiError): void {
  const headers: Record<string, string> = {};
  if (err.allow.length > 0) headers.Allow = err.allow.join(', ');
  // A body left unread (refused before or while reading it) is not drained: the connection closes.
  if (bodyUnread(req)) headers.Connection = 'close';
  sendJson(res, err.httpStatus, { error: err.message }, headers);
}

/** Go's net/http answer for a path no handler serves. */
export function sendNotFound(res: ServerResponse): void {
  const body = '404 page not found\n';
  res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function sendRedirect(res: ServerResponse, status: 301 | 302, location: string, text: string): void {
  const body = `<a href="${location}">${text}</a>.\n\n`;
  res.writeHead(status, { Location: location, 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** Fabric's negotiateContentType: an empty Accept, or one naming JSON or a wildcard that covers it. */
function checkAccept(req: IncomingMessage): void {
  const accept = req.headers.accept ?? '';
  if (accept === '') return;
  const acceptable = accept.split(',').some((opt) => opt.includes('application/json') || opt.includes('application/*') || opt.includes('*/*'));
  if (!acceptable) throw new ApiError(406, 'response Content-Type is application/json only');
}

function checkChannelId(rawSegment: string): string {
  let channelId: string;
  try {
    channelId = decodeURIComponent(rawSegment);
  } catch {
    throw new ApiError(400, `invalid channel ID: '${rawSegment}' is not a valid URL path segment`);
  }
  if (!isValidChannelId(channelId)) {
    // configtx.ValidateChannelID's messages.
    const reason = channelId.length > 249 ? 'channel ID illegal, cannot be longer than 249' : `'${channelId}' contains illegal characters`;
    throw new ApiError(400, `invalid channel ID: ${reason}`);
  }
  return channelId;
}

class BodyTooLargeError extends Error {}

/** The client went away before its body ended: nobody to answer, nothing to report loudly. */
class ClientGoneError extends Error {}

/** A body was announced and not (all) read: answering must close the connection, not drain it. */
function bodyUnread(req: IncomingMessage): boolean {
  const announced = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  return announced && !req.readableEnded;
}

/**
 * The request body, refusing it as soon as it passes `maxBytes` (a Content-Length above it is
 * refused before reading anything): at most `maxBytes` are ever held.
 */
function readBodyLimited(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > maxBytes) return Promise.reject(new BodyTooLargeError());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let sizeBytes = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      sizeBytes += chunk.length;
      if (sizeBytes > maxBytes) {
        cleanup();
        // Stop reading; the answer carries Connection: close, so the rest is never read.
        req.pause();
        reject(new BodyTooLargeError());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, sizeBytes));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(new ClientGoneError(`reading the body failed: ${err.message}`));
    };
    const onClose = (): void => {
      cleanup();
      reject(new ClientGoneError('the client closed the connection before the body ended'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** The config block of a join request: exactly one file part named config-block. */
async function readJoinBlockBytes(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  let boundary: string;
  try {
    const contentType = parseMediaType(req.headers['content-type'] ?? '');
    boundary = formBoundary(contentType);
  } catch (err) {
    if (err instanceof MultipartError) throw new ApiError(400, `cannot parse Mime media type: ${err.message}`);
    throw err;
  }
  let body: Buffer;
  try {
    body = await readBodyLimited(req, maxBytes);
  } catch (err) {
    if (err instanceof BodyTooLargeError) {
      throw new ApiError(400, `cannot read form from request body: request body too large (ChannelParticipation.MaxRequestBodySize is ${maxBytes} bytes)`);
    }
    throw err;
  }
  let parts: FormPart[];
  try {
    parts = parseMultipartForm(body, boundary);
  } catch (err) {
    if (err instanceof MultipartError) throw new ApiError(400, `cannot read form from request body: ${err.message}`);
    throw err;
  }
  const blockPart = parts.find((p) => p.name === CONFIG_BLOCK_PART && p.filename !== undefined);
  // Fabric's texts, grammar included.
  if (blockPart === undefined) throw new ApiError(400, `form does not contains part key: ${CONFIG_BLOCK_PART}`);
  if (parts.length !== 1) throw new ApiError(400, 'form contains too many parts');
  return blockPart.data;
}

/** A ParticipationError thrown by the node as its answer; anything else is 400, as in Fabric. */
function nodeRefusal(what: 'join' | 'remove', err: unknown, log: Logger): ApiError {
  if (err instanceof ParticipationError) {
    log.info({ err: err.message, status: err.httpStatus }, `cannot ${what}`);
    return new ApiError(err.httpStatus, `cannot ${what}: ${err.message}`, err.allow);
  }
  // Not classified by the node: Fabric answers 400; we also log it loudly, it may be our bug.
  log.error({ err }, `${what} failed with an unclassified error`);
  return new ApiError(400, `cannot ${what}: ${err instanceof Error ? err.message : String(err)}`);
}

async function serveJoin(req: IncomingMessage, res: ServerResponse, opts: ParticipationApiOptions, log: Logger): Promise<void> {
  checkAccept(req);
  const bytes = await readJoinBlockBytes(req, opts.maxRequestBodySizeBytes);
  const { block, channelId } = validateJoinBlock(bytes);
  let info: ChannelInfo;
  try {
    info = await opts.participation.joinChannel(block);
  } catch (err) {
    throw nodeRefusal('join', err, log.child({ channel: channelId }));
  }
  const json = infoJson(info);
  log.info({ channel: info.name, height: info.height, relation: info.consensusRelation, status: info.status, joinBlock: block.header?.number }, 'joined channel');
  sendJson(res, 201, json, { Location: json.url });
}

async function serveRemove(req: IncomingMessage, res: ServerResponse, rawId: string, opts: ParticipationApiOptions, log: Logger): Promise<void> {
  checkAccept(req);
  const channelId = checkChannelId(rawId);
  try {
    await opts.participation.removeChannel(channelId);
  } catch (err) {
    throw nodeRefusal('remove', err, log.child({ channel: channelId }));
  }
  log.info({ channel: channelId }, 'removed channel');
  res.writeHead(204);
  res.end();
}

function serveListAll(req: IncomingMessage, res: ServerResponse, opts: ParticipationApiOptions): void {
  checkAccept(req);
  const channels = opts.participation
    .listChannels()
    .map((c) => ({ name: c.name, url: channelUrl(c.name) }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const list: ChannelListJson = { systemChannel: null, channels: channels.length === 0 ? null : channels };
  sendJson(res, 200, list, { 'Cache-Control': 'no-store' });
}

function serveListOne(req: IncomingMessage, res: ServerResponse, rawId: string, opts: ParticipationApiOptions): void {
  checkAccept(req);
  const channelId = checkChannelId(rawId);
  const info = opts.participation.channelInfo(channelId);
  if (info === undefined) throw new ApiError(404, 'channel does not exist');
  sendJson(res, 200, infoJson(info), { 'Cache-Control': 'no-store' });
}

async function route(req: IncomingMessage, res: ServerResponse, pathname: string, opts: ParticipationApiOptions, log: Logger): Promise<void> {
  const method = req.method ?? '';
  const rest = pathname.slice(URL_BASE_V1.length);
  if (rest === '') {
    if (method !== 'GET') {
      // gorilla/mux: the path matched, the method did not; no body.
      res.writeHead(405, { 'Content-Length': 0 });
      res.end();
      return;
    }
    sendRedirect(res, 302, URL_BASE_V1_CHANNELS, 'Found');
    return;
  }
  if (rest === 'channels') {
    if (method === 'GET') return serveListAll(req, res, opts);
    if (method === 'POST') {
      // Fabric routes on Content-Type matching "multipart/form-data*" (a regexp, anywhere in the value).
      const contentType = req.headers['content-type'];
      if (contentType !== undefined && /multipart\/form-dat/.test(contentType)) return serveJoin(req, res, opts, log);
      throw new ApiError(400, `unsupported Content-Type: [${contentType ?? ''}]`);
    }
    throw new ApiError(405, `invalid request method: ${method}`, ['GET', 'POST']);
  }
  const one = /^channels\/([^/]+)$/.exec(rest);
  if (one !== null) {
    const rawId = one[1]!;
    if (method === 'GET') return serveListOne(req, res, rawId, opts);
    if (method === 'DELETE') return serveRemove(req, res, rawId, opts, log);
    throw new ApiError(405, `invalid request method: ${method}`, ['GET', 'DELETE']);
  }
  sendNotFound(res);
}

/**
 * Answers one request whose path starts with /participation/v1/. Never throws: a failure becomes
 * the answer (`{"error": ...}`), and one we did not expect is logged and answered 500.
 */
export async function serveParticipation(
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  opts: ParticipationApiOptions,
  log: Logger,
): Promise<void> {
  try {
    if (!opts.enabled) throw new ApiError(503, 'channel participation API is disabled');
    await route(req, res, pathname, opts, log);
  } catch (err) {
    if (err instanceof ClientGoneError) {
      log.debug({ reason: err.message }, 'client went away');
      res.destroy();
      return;
    }
    let apiError: ApiError;
    if (err instanceof ApiError) {
      apiError = err;
    } else if (err instanceof ParticipationError) {
      // validateJoinBlock's InvalidJoinBlockError.
      apiError = new ApiError(err.httpStatus, err.message, err.allow);
    } else {
      log.error({ err }, 'participation request failed');
      apiError = new ApiError(500, `internal error: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (res.headersSent) {
      log.error({ err }, 'participation request failed after its answer started');
      res.destroy();
      return;
    }
    if (apiError.httpStatus >= 500) log.error({ status: apiError.httpStatus, error: apiError.message }, 'participation request failed');
    else log.debug({ status: apiError.httpStatus, error: apiError.message }, 'participation request refused');
    sendError(req, res, apiError);
  }
}
