// The Deliver service (reference §4.3, §4.4): a client sends envelopes carrying a SeekInfo and
// receives the blocks it asked for, then a SUCCESS status, then may ask again on the same
// stream. Any other status ends the stream.
//
// Blocks are sent as the ledger stored them: the DeliverResponse is the block's bytes behind a
// tag and a length (encodeDeliverBlockResponse). A block the ledger keeps in two pieces (the Raft
// entry's header and data, and the metadata this node filled in) goes out as a few bytes of
// prefix and the two pieces, uncopied (encodeDeliverBlockResponsePieces). A block kept whole
// that this node encoded has room in front for the prefix, which is then written in place: no
// copy. Other framed bytes are shared by every stream that sends the same StoredBlock object,
// so many clients following the tip cost one copy per block, not one per client.
//
// Each stream waits for its own client: a block is written only once the previous one was
// taken by gRPC ('drain'), so a slow client holds at most grpc-js' small write buffer and
// never slows the chain or other clients. A client that goes away aborts its stream's signal,
// which ends the ledger iterator at once, even while it waits for a block.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import * as grpc from '@grpc/grpc-js';
import type { StoredBlock } from '../ledger/block-store';
import { BlockStoreError } from '../ledger/errors';
import { common, orderer, ProtoDecodeError } from '../protos';
import { OrdererError, statusName } from './errors';
import { deliverFramesInPlace, encodeDeliverBlockResponse, encodeDeliverBlockResponsePieces, encodeDeliverStatusResponse, type DeliverCall } from './atomic-broadcast';
import { failCall, InboundMessages, writeWithBackpressure } from './grpc-streams';
import { checkPolicy, envelopeSignedData, parseEnvelopeHeaders } from './msgcheck';
import { DISABLED_METRICS, type DeliverMetrics, type RpcTracker } from './metrics';
import type { ChainHandle, ChainRegistry } from './types';
import type { CertificateValidity } from './policies/channel-access';

/** Policies a seek request must satisfy (reference §4.3). */
export const CHANNEL_READERS_POLICY = '/Channel/Readers';
/** In maintenance mode only orderer-org readers may pull blocks. */
export const ORDERER_READERS_POLICY = '/Channel/Orderer/Readers';

export function readersPolicyName(maintenanceMode: boolean): string {
  return maintenanceMode ? ORDERER_READERS_POLICY : CHANNEL_READERS_POLICY;
}

export const DEFAULT_MAX_CONCURRENT_DELIVER_STREAMS = 10_000;
/** Fabric's General.Authentication.TimeWindow default. */
export const DEFAULT_TIME_WINDOW_MS = 15 * 60 * 1000;
/** How often chains with STRICT streams waiting for a block are asked whether they errored. */
export const DEFAULT_ERRORED_POLL_INTERVAL_MS = 100;
/** At most one "stream limit reached" warning per this interval, however many are refused. */
const LIMIT_WARNING_INTERVAL_MS = 10_000;

export interface DeliverServiceOptions {
  registry: ChainRegistry;
  logger: Logger;
  /** deliver_* metrics; nothing recorded when absent. */
  metrics?: DeliverMetrics;
  /** Deliver streams open at once in this process; more are refused with RESOURCE_EXHAUSTED. */
  maxConcurrentStreams?: number;
  /** A seek request's timestamp may differ from our clock by at most this much. */
  timeWindowMs?: number;
  erroredPollIntervalMs?: number;
  /** Wall clock for the timestamp check (tests move it). */
  nowMs?: () => number;
  /**
   * Mutual TLS on the client port (General.TLS.Enabled and ClientAuthRequired): a seek request's
   * ChannelHeader.tls_cert_hash must be the SHA-256 of the client certificate of its connection,
   * so a signed request recorded on one connection cannot be replayed on another (Fabric's
   * binding check, reference §4.3).
   */
  requireTlsBinding?: boolean;
}

/** BAD_REQUEST unless the seek names, by hash, the TLS client certificate of its own connection. */
function checkTlsBinding(call: DeliverCall, channelHeader: common.ChannelHeader): void {
  const raw = call.getAuthContext().sslPeerCertificate?.raw;
  if (raw === undefined) throw OrdererError.badRequest('mutual TLS is required, but the connection has no client certificate');
  if (channelHeader.tlsCertHash.length === 0) throw OrdererError.badRequest('client did not include its TLS certificate hash (tls_cert_hash) in the seek request');
  const expected = createHash('sha256').update(raw).digest();
  if (!expected.equals(Buffer.from(channelHeader.tlsCertHash))) {
    throw OrdererError.badRequest('tls_cert_hash of the seek request does not match the client certificate of this connection');
  }
}

export interface DeliverServiceStats {
  activeStreams: number;
  /** Streams refused because the limit was reached, since the service started. */
  refusedStreams: number;
}

/** Where a seek starts and stops, from a SeekInfo and the height when the request arrived. */
export interface SeekPlan {
  readonly startNumber: number;
  /** The stream ends after sending the block with exactly this number (so it may never end). */
  readonly stopNumber: number;
  /** A specified start beyond the height: answered NOT_FOUND (unless BAD_REQUEST applies first). */
  readonly startBeyondHeight: boolean;
}

function positionKind(position: orderer.SeekPosition): 'oldest' | 'newest' | 'specified' | 'nextCommit' | undefined {
  if (position.oldest !== undefined) return 'oldest';
  if (position.newest !== undefined) return 'newest';
  if (position.specified !== undefined) return 'specified';
  if (position.nextCommit !== undefined) return 'nextCommit';
  return undefined;
}

/**
 * Reference §4.4. Throws OrdererError BAD_REQUEST when start or stop is missing (or sets no
 * position at all) and when a specified stop lies before the start.
 */
export function planSeek(seekInfo: orderer.SeekInfo, height: number): SeekPlan {
  const { start, stop } = seekInfo;
  if (start === undefined) throw OrdererError.badRequest('seek info has no start position');
  if (stop === undefined) throw OrdererError.badRequest('seek info has no stop position');
  const startKind = positionKind(start);
  const stopKind = positionKind(stop);
  // Fabric would answer an empty start NOT_FOUND and treat an empty stop as 0; both are
  // malformed requests, and saying so is more useful to the client.
  if (startKind === undefined) throw OrdererError.badRequest('seek start position sets none of oldest, newest, specified, next_commit');
  if (stopKind === undefined) throw OrdererError.badRequest('seek stop position sets none of oldest, newest, specified, next_commit');

  let startNumber: number;
  let startBeyondHeight = false;
  switch (startKind) {
    case 'oldest':
      startNumber = 0;
      break;
    case 'newest':
      startNumber = Math.max(height - 1, 0);
      break;
    case 'specified':
      startNumber = start.specified?.number ?? 0;
      // N = height waits for the next block; beyond that the block may never exist here.
      startBeyondHeight = startNumber > height;
      break;
    case 'nextCommit':
      startNumber = height;
      break;
  }

  let stopNumber: number;
  switch (stopKind) {
    case 'oldest':
      stopNumber = startNumber;
      break;
    case 'newest':
      // newest..newest is exactly one block even if another lands meanwhile; otherwise the
      // newest block at request time. An empty ledger has no newest block: never stop (-1 is
      // never a block number), as Fabric's unsigned height-1 wraps to "forever".
      stopNumber = startKind === 'newest' ? startNumber : height - 1;
      break;
    case 'specified':
      stopNumber = stop.specified?.number ?? 0;
      if (stopNumber < startNumber) {
        throw OrdererError.badRequest(`seek stop block ${stopNumber} is before start block ${startNumber}`);
      }
      break;
    case 'nextCommit':
      // Fabric leaves the stop at 0 here, so such a stream stops only if it started at block 0.
      stopNumber = 0;
      break;
  }
  return { startNumber, stopNumber, startBeyondHeight };
}

/** True once the chain halted on broken state: nothing it holds may be served. */
function isBroken(chain: ChainHandle): boolean {
  return chain.brokenReason?.() !== undefined;
}

/**
 * Resolves a waiter when a watched chain reports errored() (STRICT waiters) or broken (every
 * waiter), checking every watched chain on one timer.
 */
class ErroredWatch {
  private readonly watchers = new Map<ChainHandle, Map<() => void, boolean>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs: number) {}

  /**
   * `errored` resolves when the chain is seen broken, or errored when `strict`; call cancel()
   * when no longer waiting.
   */
  watch(chain: ChainHandle, strict: boolean): { errored: Promise<'errored'>; cancel: () => void } {
    let fire: () => void = () => undefined;
    const errored = new Promise<'errored'>((resolve) => {
      fire = () => resolve('errored');
    });
    let set = this.watchers.get(chain);
    if (set === undefined) {
      set = new Map();
      this.watchers.set(chain, set);
    }
    set.set(fire, strict);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref();
    }
    const cancel = (): void => {
      const current = this.watchers.get(chain);
      current?.delete(fire);
      if (current?.size === 0) this.watchers.delete(chain);
      this.stopIfIdle();
    };
    return { errored, cancel };
  }

  close(): void {
    for (const set of this.watchers.values()) for (const fire of set.keys()) fire();
    this.watchers.clear();
    this.stopIfIdle();
  }

  private tick(): void {
    for (const [chain, set] of this.watchers) {
      if (!chain.errored()) continue; // a broken chain is errored too
      const broken = isBroken(chain);
      for (const [fire, strict] of set) {
        if (!strict && !broken) continue;
        set.delete(fire);
        fire();
      }
      if (set.size === 0) this.watchers.delete(chain);
    }
    this.stopIfIdle();
  }

  private stopIfIdle(): void {
    if (this.watchers.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

/** The stream's client went away (or the service closed): nothing more can be sent. */
const GONE = 'gone';
type SeekOutcome = common.Status | typeof GONE;

/**
 * Framed blocks kept for streams at the tip: a few blocks, at most this many bytes (one larger
 * block still fits). One cache for all channels of the process; keys are the ledgers' block objects.
 */
const FRAMED_BLOCKS_KEPT = 8;
const FRAMED_BLOCKS_MAX_BYTES = 4 * 1024 * 1024;

/** The channel of a seek request once it was found (deliver_requests_completed). */
interface SeekLabels {
  channelId: string | undefined;
}

const NO_RPC: RpcTracker = DISABLED_METRICS.grpc.streamStarted('', '');

export class DeliverService {
  private readonly metrics: DeliverMetrics;
  private readonly registry: ChainRegistry;
  private readonly logger: Logger;
  private readonly maxConcurrentStreams: number;
  private readonly timeWindowMs: number;
  private readonly noExpirationChecks: boolean;
  private readonly requireTlsBinding: boolean;
  private readonly nowMs: () => number;
  private readonly erroredWatch: ErroredWatch;
  /**
   * DeliverResponse bytes of the last few blocks sent, shared by the streams that follow the tip.
   * Bounded on its own: tied to the ledger's recent-block cache (a WeakMap on its entries) it held
   * a second copy of every cached block, 16 MB per channel.
   */
  private readonly framedBlocks = new Map<StoredBlock, Buffer>();
  private framedBytes = 0;
  private readonly streams = new Set<AbortController>();
  private refusedStreams = 0;
  private lastLimitWarningMs = -Infinity;

  constructor(options: DeliverServiceOptions) {
    this.registry = options.registry;
    this.logger = options.logger;
    this.metrics = options.metrics ?? DISABLED_METRICS.deliver;
    this.maxConcurrentStreams = options.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_DELIVER_STREAMS;
    this.timeWindowMs = options.timeWindowMs ?? DEFAULT_TIME_WINDOW_MS;
    this.noExpirationChecks = options.registry.noExpirationChecks === true;
    this.requireTlsBinding = options.requireTlsBinding === true;
    this.nowMs = options.nowMs ?? Date.now;
    this.erroredWatch = new ErroredWatch(options.erroredPollIntervalMs ?? DEFAULT_ERRORED_POLL_INTERVAL_MS);
    if (!(this.maxConcurrentStreams >= 1)) throw new RangeError(`maxConcurrentStreams must be at least 1`);
    if (!(this.timeWindowMs >= 0)) throw new RangeError(`timeWindowMs must not be negative`);
  }

  stats(): DeliverServiceStats {
    return { activeStreams: this.streams.size, refusedStreams: this.refusedStreams };
  }

  /** Ends every open stream (their iterators stop) and the errored-poll timer. */
  close(): void {
    for (const stream of this.streams) stream.abort();
    this.erroredWatch.close();
  }

  /** FORBIDDEN once the reader's certificate has expired (reference §4.3), or before it is valid (see msgcheck.ts). */
  private checkValidity(validity: CertificateValidity | undefined): void {
    if (validity === undefined) return;
    const nowMs = this.nowMs();
    if (nowMs > validity.notAfterMs) throw OrdererError.forbidden(`deliver client identity expired at ${new Date(validity.notAfterMs).toISOString()}`);
    if (nowMs < validity.notBeforeMs) throw OrdererError.forbidden(`deliver client identity is not valid before ${new Date(validity.notBeforeMs).toISOString()}`);
  }

  /** The grpc-js handler for one Deliver stream. Never rejects. */
  async handle(call: DeliverCall, rpc: RpcTracker = NO_RPC): Promise<void> {
    if (this.streams.size >= this.maxConcurrentStreams) {
      this.refuse(call);
      return;
    }
    this.metrics.streamOpened();
    const stream = new AbortController();
    this.streams.add(stream);
    const onGone = (): void => stream.abort();
    call.on('cancelled', onGone);
    call.on('close', onGone);
    call.on('error', onGone);
    const inbound = new InboundMessages<Uint8Array>(call);
    try {
      for (;;) {
        const envelopeBytes = await inbound.next();
        if (envelopeBytes === undefined || stream.signal.aborted) break;
        rpc.messageReceived();
        const seek: SeekLabels = { channelId: undefined };
        const outcome = await this.serveSeek(call, envelopeBytes, stream.signal, seek, rpc);
        // Fabric counts a request once its channel is known; one refused before has no channel label to count under.
        if (seek.channelId !== undefined) this.metrics.requestCompleted(seek.channelId, outcome === common.Status.SUCCESS);
        if (outcome === GONE) break;
        const sent = await writeWithBackpressure(call, encodeDeliverStatusResponse(outcome), stream.signal);
        if (sent) rpc.messageSent();
        if (!sent || outcome !== common.Status.SUCCESS) break;
      }
    } catch (err) {
      // The request stream failed (reset by the client); there is nobody to answer.
      this.logger.debug({ err }, 'deliver stream failed while reading');
    } finally {
      inbound.dispose();
      call.off('cancelled', onGone);
      call.off('close', onGone);
      call.off('error', onGone);
      stream.abort();
      this.streams.delete(stream);
      this.metrics.streamClosed();
      // Ends with gRPC OK after a final status, and when the client half-closed, as Fabric does.
      if (!call.destroyed && !call.writableEnded) call.end();
    }
  }

  private refuse(call: DeliverCall): void {
    this.refusedStreams++;
    const now = Date.now();
    if (now - this.lastLimitWarningMs >= LIMIT_WARNING_INTERVAL_MS) {
      this.lastLimitWarningMs = now;
      this.logger.warn(
        { limit: this.maxConcurrentStreams, refusedStreams: this.refusedStreams },
        'refusing Deliver streams: concurrent stream limit reached',
      );
    }
    failCall(
      call,
      grpc.status.RESOURCE_EXHAUSTED,
      `too many concurrent Deliver streams on this orderer (limit ${this.maxConcurrentStreams}); retry later`,
    );
  }

  /** One SeekInfo request: sends its blocks and returns the status that ends it. */
  private async serveSeek(call: DeliverCall, envelopeBytes: Uint8Array, signal: AbortSignal, seek: SeekLabels, rpc: RpcTracker): Promise<SeekOutcome> {
    let chain: ChainHandle;
    let seekInfo: orderer.SeekInfo;
    let plan: SeekPlan;
    let policyName: string;
    let signedData: ReturnType<typeof envelopeSignedData>;
    let policySequence: number;
    let validity: CertificateValidity | undefined;
    try {
      const { envelope, payload, channelHeader } = parseEnvelopeHeaders(envelopeBytes);
      this.checkTimestamp(channelHeader);
      if (this.requireTlsBinding) checkTlsBinding(call, channelHeader);
      const found = this.registry.get(channelHeader.channelId);
      if (found === undefined) throw OrdererError.notFound(`channel ${channelHeader.channelId} not served here`);
      chain = found;
      seek.channelId = chain.channelId;
      this.metrics.requestReceived(chain.channelId);
      // Unlike Fabric (which serves BEST_EFFORT readers from a halted chain), a chain that found
      // its own state broken may hold stale or wrong blocks: nobody is served from it.
      const broken = chain.brokenReason?.();
      if (broken !== undefined) throw OrdererError.serviceUnavailable(`channel ${chain.channelId} is halted: ${broken}`);
      try {
        seekInfo = orderer.SeekInfo.decode(payload.data);
      } catch (err) {
        if (err instanceof ProtoDecodeError) throw OrdererError.badRequest(`bad seek info: ${err.message}`, { cause: err });
        throw err;
      }
      if (seekInfo.errorResponse === orderer.SeekInfo_SeekErrorResponse.STRICT && chain.errored()) {
        throw OrdererError.serviceUnavailable(`channel ${chain.channelId} cannot vouch for its blocks right now (no leader)`);
      }
      const settings = chain.settings();
      policyName = readersPolicyName(settings.maintenanceMode);
      const access = chain.access();
      policySequence = access.configSequence;
      signedData = envelopeSignedData({ envelope, payload });
      // The stream ends when the reader's certificate does (Fabric's session end time).
      validity = this.noExpirationChecks ? undefined : access.creatorValidity(signedData[0]!.identity);
      this.checkValidity(validity);
      await checkPolicy(access.evaluator, policyName, signedData);
      plan = planSeek(seekInfo, chain.blockStore.readableHeight());
    } catch (err) {
      return this.statusOf(err);
    }
    this.logger.debug(
      { channel: chain.channelId, start: plan.startNumber, stop: plan.stopNumber, behavior: seekInfo.behavior, errorResponse: seekInfo.errorResponse },
      'deliver seek',
    );

    const strict = seekInfo.errorResponse === orderer.SeekInfo_SeekErrorResponse.STRICT;
    const failIfNotReady = seekInfo.behavior === orderer.SeekInfo_SeekBehavior.FAIL_IF_NOT_READY;
    const store = chain.blockStore;
    if (plan.startBeyondHeight) {
      return common.Status.NOT_FOUND;
    }
    const iterator = store.iterate(plan.startNumber, { signal });
    try {
      for (let wanted = plan.startNumber; ; wanted++) {
        if (failIfNotReady && wanted > store.readableHeight() - 1) return common.Status.NOT_FOUND;
        if (strict && chain.errored()) return common.Status.SERVICE_UNAVAILABLE;
        if (isBroken(chain)) return common.Status.SERVICE_UNAVAILABLE;
        let next: IteratorResult<StoredBlock> | 'errored';
        try {
          if (wanted >= store.readableHeight() && (strict || chain.brokenReason !== undefined)) {
            // Waiting for a block that may not come while the chain is errored: STRICT clients
            // want to hear about that (and go to another orderer) rather than wait. Every client
            // hears when the chain turns out broken.
            const watch = this.erroredWatch.watch(chain, strict);
            try {
              next = await Promise.race([iterator.next(), watch.errored]);
            } finally {
              watch.cancel();
            }
          } else {
            next = await iterator.next();
          }
        } catch (err) {
          if (signal.aborted) return GONE;
          if (err instanceof BlockStoreError && err.reason === 'closed') {
            // The channel's ledger closed under the stream (shutdown, channel removed): expected, not an alarm.
            this.logger.debug({ channel: chain.channelId }, 'deliver stream ends: the ledger was closed');
          } else {
            this.logger.error({ err, channel: chain.channelId, block: wanted }, 'deliver cannot read the ledger');
          }
          return common.Status.SERVICE_UNAVAILABLE;
        }
        if (next === 'errored') return common.Status.SERVICE_UNAVAILABLE;
        if (next.done === true) return GONE;
        const stored = next.value;
        // Broken while this read was waiting for the disk: not one more block from it.
        if (isBroken(chain)) return common.Status.SERVICE_UNAVAILABLE;

        // Before every block, as Fabric does: the reader's certificate may have expired during a
        // long stream, and a config change may have taken its access away.
        try {
          this.checkValidity(validity);
          const access = chain.access();
          if (access.configSequence !== policySequence) {
            policySequence = access.configSequence;
            policyName = readersPolicyName(chain.settings().maintenanceMode);
            await checkPolicy(access.evaluator, policyName, signedData);
          }
        } catch (err) {
          return this.statusOf(err);
        }

        // Only blocks at the tip are shared by many streams; a reader catching up from disk gets
        // its own copies and must not push the tip's out of the small cache.
        const nearTip = stored.number + FRAMED_BLOCKS_KEPT >= chain.blockStore.height();
        // A block the ledger keeps in two pieces goes out as them, uncopied, with a few bytes in front.
        const framed =
          stored.pieces !== undefined ? encodeDeliverBlockResponsePieces(stored.pieces) : nearTip ? this.framed(stored) : encodeDeliverBlockResponse(stored.bytes);
        if (!(await writeWithBackpressure(call, framed, signal))) return GONE;
        rpc.messageSent();
        this.metrics.blockSent(chain.channelId);
        if (stored.number === plan.stopNumber) return common.Status.SUCCESS;
      }
    } finally {
      await iterator.return();
    }
  }

  private framed(stored: StoredBlock): Buffer {
    // Framed in place, in the room the ledger's bytes have for it: nothing to share.
    if (deliverFramesInPlace(stored.bytes)) return encodeDeliverBlockResponse(stored.bytes);
    let bytes = this.framedBlocks.get(stored);
    if (bytes === undefined) {
      bytes = encodeDeliverBlockResponse(stored.bytes);
      this.framedBlocks.set(stored, bytes);
      this.framedBytes += bytes.length;
      for (const [old, oldBytes] of this.framedBlocks) {
        if (this.framedBlocks.size <= FRAMED_BLOCKS_KEPT && this.framedBytes <= FRAMED_BLOCKS_MAX_BYTES) break;
        if (old === stored) break;
        this.framedBlocks.delete(old);
        this.framedBytes -= oldBytes.length;
      }
    }
    return bytes;
  }

  /** Fabric rejects seek requests without a timestamp or outside the time window (replay protection). */
  private checkTimestamp(channelHeader: common.ChannelHeader): void {
    const timestamp = channelHeader.timestamp;
    if (timestamp === undefined) throw OrdererError.badRequest('seek request has no timestamp');
    const requestMs = timestamp.seconds * 1000 + Math.floor(timestamp.nanos / 1_000_000);
    const skewMs = Math.abs(this.nowMs() - requestMs);
    if (skewMs > this.timeWindowMs) {
      throw OrdererError.badRequest(
        `seek request timestamp ${new Date(requestMs).toISOString()} is ${Math.round(skewMs / 1000)} s away from the orderer's clock (allowed ${Math.round(this.timeWindowMs / 1000)} s)`,
      );
    }
  }

  private statusOf(err: unknown): common.Status {
    if (err instanceof OrdererError) {
      this.logger.debug({ status: statusName(err.status), reason: err.message }, 'deliver request refused');
      return err.status;
    }
    this.logger.error({ err }, 'deliver request failed');
    return common.Status.INTERNAL_SERVER_ERROR;
  }
}
