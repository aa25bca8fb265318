// Broadcast load generation, shared by `client broadcast` and the benchmarks: N envelopes over C
// concurrent streams (round-robin over the given orderers), each stream keeping up to a window
// of envelopes unanswered.
//
// Every envelope is a well-formed Fabric transaction envelope built by orderer/envelopes.ts
// (ENDORSER_TRANSACTION header, a tx_id derived from nonce and creator, a timestamp, random
// payload data). Unsigned envelopes claim a placeholder creator and carry a dummy signature (only
// orderers with open Writers policies admit them); with an EnvelopeSigner they are signed as a
// Fabric SDK signs them.
//
// Signing costs the client ~0.1 ms of CPU per envelope (P-256 on the 2-core machine), on the
// same cores as the orderers in a local benchmark, so a signed load is prepared (built and
// signed) before the timed window (prepareLoad) and then only sent. Its envelopes' timestamps are
// then preparation times, so the prepared load records when each one was actually written
// (PreparedLoad.sentAtMs).
import type * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { common, msp } from '../protos';
import { dialOrderer } from '../orderer/atomic-broadcast';
import { BroadcastClient } from '../orderer/deliver-client';
import { buildEnvelope, NONCE_BYTES, type BuiltEnvelope, type EnvelopeSigner } from '../orderer/envelopes';
import { statusName } from '../orderer/errors';

/** Status-table row for envelopes whose stream ended before they were answered. */
export const NO_ANSWER = 'NO_ANSWER';
/** Status-table row for envelopes never sent because their stream could not be used. */
export const NOT_SENT = 'NOT_SENT';

/** The creator all load envelopes claim (a placeholder identity). */
export const LOAD_CREATOR: Uint8Array = msp.SerializedIdentity.encode({
  mspid: 'LoadGenMSP',
  idBytes: Buffer.from('-----BEGIN CERTIFICATE-----\nload generator placeholder\n-----END CERTIFICATE-----\n'),
});

const DUMMY_SIGNATURE_BYTES = 71; // the typical length of a DER-encoded ECDSA P-256 signature

/** How load envelopes are signed; nothing = unsigned (LOAD_CREATOR, dummy signature). */
export interface LoadSigning {
  readonly signer?: EnvelopeSigner;
  /** ChannelHeader.tls_cert_hash, for a client under mutual TLS. */
  readonly tlsCertHash?: Uint8Array;
}

/** One client transaction envelope for `channelId` carrying `dataBytes` random bytes of payload data. */
export function buildLoadEnvelope(channelId: string, dataBytes: number, signing: LoadSigning = {}): BuiltEnvelope {
  const signer = signing.signer;
  // One randomBytes call per envelope (nonce, data and dummy signature are views into it):
  // the three separate calls were a third of the load generator's CPU time.
  const random = randomBytes(NONCE_BYTES + dataBytes + (signer === undefined ? DUMMY_SIGNATURE_BYTES : 0));
  const fields = {
    channelId,
    nonce: random.subarray(0, NONCE_BYTES),
    data: random.subarray(NONCE_BYTES, NONCE_BYTES + dataBytes),
    ...(signing.tlsCertHash !== undefined ? { tlsCertHash: signing.tlsCertHash } : {}),
  };
  return signer === undefined
    ? buildEnvelope({ ...fields, creator: LOAD_CREATOR, signature: random.subarray(NONCE_BYTES + dataBytes) })
    : buildEnvelope({ ...fields, signer });
}

/** The bytes of buildLoadEnvelope. */
export function makeLoadEnvelope(channelId: string, dataBytes: number, signing: LoadSigning = {}): Uint8Array {
  return buildLoadEnvelope(channelId, dataBytes, signing).bytes;
}

/**
 * A load built (and signed) ahead of sending. Envelopes are handed out once, in order, by take(),
 * which records the send time and drops the reference (60,000 signed 1 KB envelopes hold ~130 MB
 * until sent).
 */
export class PreparedLoad {
  /** When each envelope was taken for sending (ms since the epoch; NaN until then). */
  readonly sentAtMs: Float64Array;
  private next = 0;

  constructor(
    private readonly envelopes: (Uint8Array | undefined)[],
    readonly txIds: readonly string[],
    readonly signed: boolean,
    /** How long building and signing took. */
    readonly prepareMs: number,
  ) {
    this.sentAtMs = new Float64Array(envelopes.length).fill(Number.NaN);
  }

  get count(): number {
    return this.envelopes.length;
  }

  /** Envelopes not taken yet. */
  get remaining(): number {
    return this.envelopes.length - this.next;
  }

  /** The next envelope (its send time is now), or undefined when all were taken. */
  take(): Uint8Array | undefined {
    const i = this.next;
    if (i >= this.envelopes.length) return undefined;
    this.next++;
    const envelope = this.envelopes[i];
    this.envelopes[i] = undefined;
    this.sentAtMs[i] = Date.now();
    return envelope;
  }
}

export interface PrepareOptions extends LoadSigning {
  channelId: string;
  count: number;
  sizeBytes: number;
  signal?: AbortSignal;
  /** Called every PREPARE_CHUNK envelopes and at the end. */
  onProgress?: (done: number, total: number) => void;
}

/** Envelopes built between yields to the event loop (so timers, progress and gRPC keepalives run). */
const PREPARE_CHUNK = 2_000;

/** Builds (and, with a signer, signs) `count` load envelopes before a timed run. */
export async function prepareLoad(options: PrepareOptions): Promise<PreparedLoad> {
  const { channelId, count, sizeBytes } = options;
  if (!Number.isSafeInteger(count) || count < 1) throw new RangeError('count must be a positive integer');
  const startedMs = Date.now();
  const envelopes: Uint8Array[] = new Array<Uint8Array>(count);
  const txIds: string[] = new Array<string>(count);
  for (let i = 0; i < count; i++) {
    const built = buildLoadEnvelope(channelId, sizeBytes, options);
    envelopes[i] = built.bytes;
    txIds[i] = built.txId;
    if ((i + 1) % PREPARE_CHUNK === 0 && i + 1 < count) {
      options.onProgress?.(i + 1, count);
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (options.signal?.aborted === true) throw new Error('preparing the load was interrupted');
    }
  }
  options.onProgress?.(count, count);
  return new PreparedLoad(envelopes, txIds, options.signer !== undefined, Date.now() - startedMs);
}

export interface LoadOptions {
  /** Orderer addresses ("host:port"); stream i goes to orderers[i % length]. */
  orderers: readonly string[];
  channelId: string;
  /** Envelopes to send in total. */
  count: number;
  /** Random payload data per envelope. */
  sizeBytes: number;
  /** Concurrent Broadcast streams. */
  streams: number;
  /** Envelopes a stream keeps unanswered at most (default 256). */
  windowPerStream?: number;
  tls?: grpc.ChannelCredentials;
  /** Extra channel options (e.g. the TLS server name override). */
  channelOptions?: grpc.ChannelOptions;
  /** Signs envelopes built during the run (when no `prepared` load is given). */
  signing?: LoadSigning;
  /** Envelopes built ahead (prepareLoad); its count must equal `count`. */
  prepared?: PreparedLoad;
  /** Aborting stops sending; envelopes not sent yet are counted as NOT_SENT. */
  signal?: AbortSignal;
  /** How long to wait for each orderer's connection before giving up (default 5 s). */
  connectTimeoutMs?: number;
}

/** The orderer could not be reached before the load started. */
export class OrdererUnreachableError extends Error {
  override readonly name = 'OrdererUnreachableError';
  constructor(
    readonly address: string,
    reason: string,
  ) {
    super(`cannot reach orderer ${address}: ${reason}`);
  }
}

function waitForConnection(address: string, client: grpc.Client, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    client.waitForReady(Date.now() + timeoutMs, (error) => {
      if (error === undefined || error === null) resolve();
      else reject(new OrdererUnreachableError(address, error.message));
    });
  });
}

/** Live counters, readable while the load runs (progress display). */
export class LoadProgress {
  sent = 0;
  answered = 0;
  succeeded = 0;
  readonly startedAtMs = Date.now();
}

export interface LoadReport {
  readonly orderers: readonly string[];
  readonly channelId: string;
  readonly count: number;
  readonly sizeBytes: number;
  readonly streams: number;
  readonly sent: number;
  readonly elapsedMs: number;
  /** Envelopes per status name (plus NO_ANSWER and NOT_SENT), largest first. */
  readonly statusCounts: Readonly<Record<string, number>>;
  /**
   * The orderer's info texts per non-SUCCESS status name, each with how many answers carried it
   * (at most a few distinct texts per status): why the envelopes were refused.
   */
  readonly statusInfo: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** SUCCESS answers per second over the whole run. */
  readonly successPerSecond: number;
  /** Distinct stream failures seen (at most a few). */
  readonly errors: readonly string[];
  readonly allSucceeded: boolean;
}

const MAX_REPORTED_ERRORS = 5;
/** Distinct info texts kept per status: a refusal usually repeats one reason thousands of times. */
const MAX_INFO_TEXTS_PER_STATUS = 3;

export async function runBroadcastLoad(options: LoadOptions, progress: LoadProgress = new LoadProgress()): Promise<LoadReport> {
  const { orderers, channelId, count, sizeBytes, streams } = options;
  if (orderers.length === 0) throw new RangeError('at least one orderer address is needed');
  for (const [name, value] of [['count', count], ['streams', streams], ['sizeBytes', sizeBytes + 1]] as const) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
  }
  const window = options.windowPerStream ?? 256;
  const prepared = options.prepared;
  if (prepared !== undefined && prepared.remaining !== count) throw new RangeError(`the prepared load holds ${prepared.remaining} envelopes, not ${count}`);
  const signing = options.signing ?? {};
  const nextEnvelope = (): Uint8Array => prepared?.take() ?? makeLoadEnvelope(channelId, sizeBytes, signing);
  const counts = new Map<string, number>();
  const errors = new Set<string>();
  const infos = new Map<string, Map<string, number>>();
  const bump = (status: string, by = 1): void => {
    counts.set(status, (counts.get(status) ?? 0) + by);
  };
  const noteInfo = (status: string, info: string): void => {
    let texts = infos.get(status);
    if (texts === undefined) infos.set(status, (texts = new Map()));
    const seen = texts.get(info);
    if (seen !== undefined) texts.set(info, seen + 1);
    else if (texts.size < MAX_INFO_TEXTS_PER_STATUS) texts.set(info, 1);
  };
  // One connection per orderer, shared by its streams (as an SDK would).
  const clients = new Map<string, grpc.Client>();
  for (const address of new Set(orderers)) clients.set(address, dialOrderer(address, { tls: options.tls, channelOptions: options.channelOptions }));
  try {
    // An unreachable orderer is reported as such, not as thousands of unanswered envelopes.
    await Promise.all([...clients].map(([address, client]) => waitForConnection(address, client, options.connectTimeoutMs ?? 5000)));
  } catch (e) {
    for (const client of clients.values()) client.close();
    throw e;
  }
  const startedMs = Date.now();
  // A function rather than an inline check: TypeScript would narrow the flag across awaits.
  const stopped = (): boolean => options.signal?.aborted === true;

  const worker = async (index: number, quota: number): Promise<void> => {
    const address = orderers[index % orderers.length] as string;
    const client = clients.get(address) as grpc.Client;
    let remaining = quota;
    while (remaining > 0 && !stopped()) {
      const stream = new BroadcastClient(address, { client });
      // Answers still due on this stream, and a wake-up for whoever waits for one to arrive
      // (one resolver rather than racing every pending promise, which costs O(window) per send).
      let unanswered = 0;
      let wake: (() => void) | undefined;
      const answerArrived = (): void => {
        unanswered--;
        progress.answered++;
        const resume = wake;
        wake = undefined;
        resume?.();
      };
      const nextAnswer = (): Promise<void> => new Promise<void>((resolve) => (wake = resolve));
      while (remaining > 0 && !stream.ended && !stopped()) {
        if (unanswered >= window) await nextAnswer();
        await stream.writable();
        if (stream.ended) break;
        remaining--;
        progress.sent++;
        unanswered++;
        stream.send(nextEnvelope()).then(
          (response) => {
            const name = statusName(response.status);
            bump(name);
            if (response.status === common.Status.SUCCESS) progress.succeeded++;
            else noteInfo(name, response.info.length > 0 ? response.info : '(no info text)');
            answerArrived();
          },
          (err: unknown) => {
            bump(NO_ANSWER);
            errors.add(err instanceof Error ? err.message : String(err));
            answerArrived();
          },
        );
      }
      stream.halfClose();
      while (unanswered > 0) await nextAnswer();
      // The orderer closes a stream after a rejection (a new one carries on); a transport
      // failure means the orderer cannot be used.
      if (stream.failure?.grpcCode !== undefined) break;
      await stream.close();
    }
    if (remaining > 0) bump(NOT_SENT, remaining);
  };

  try {
    const base = Math.floor(count / streams);
    const extra = count % streams;
    await Promise.all(Array.from({ length: streams }, (_, i) => worker(i, base + (i < extra ? 1 : 0))));
  } finally {
    for (const client of clients.values()) client.close();
  }
  const elapsedMs = Date.now() - startedMs;
  const statusCounts = Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]));
  const succeeded = counts.get('SUCCESS') ?? 0;
  return {
    orderers,
    channelId,
    count,
    sizeBytes,
    streams,
    sent: progress.sent,
    elapsedMs,
    statusCounts,
    statusInfo: Object.fromEntries([...infos].map(([status, texts]) => [status, Object.fromEntries(texts)])),
    successPerSecond: elapsedMs > 0 ? (succeeded * 1000) / elapsedMs : 0,
    errors: [...errors].slice(0, MAX_REPORTED_ERRORS),
    allSucceeded: succeeded === count,
  };
}
