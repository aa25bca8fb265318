// The Broadcast service (reference §4.1): one BroadcastResponse per envelope, in the order the
// envelopes arrived; after the first non-SUCCESS response the stream ends with gRPC OK.
//
// Per stream, envelopes are checked one after another and handed to their chain in arrival
// order, but the stream does not wait for chain.order() to settle before taking the next
// envelope: on a follower, order() is a round trip to the leader, and waiting for each one
// would cap a stream at one envelope per round trip. Answers are queued in arrival order and
// written as their order() calls settle. The number of envelopes handed over but not yet
// answered is bounded per stream; at the bound the stream stops reading (gRPC flow control
// then slows the client).
//
// One consequence of pipelining: when order() fails for an envelope, envelopes behind it may
// already be with the chain. The client gets the failure and the stream ends; those later
// envelopes get no answer, exactly as when a stream breaks while envelopes are in flight, and
// clients must treat an unanswered envelope as "fate unknown" in both cases. The chain may say
// so itself (EnvelopeFateUnknownError): the stream then ends with gRPC UNAVAILABLE, no answer.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { common, type orderer } from '../protos';
import { EnvelopeFateUnknownError, OrdererError, statusName, toStatusResponse } from './errors';
import type { BroadcastCall } from './atomic-broadcast';
import { drained, InboundMessages } from './grpc-streams';
import {
  checkBroadcastEnvelopeNow,
  classifyHeaderType,
  parseEnvelopeHeaders,
  type ExpiryCheck,
  type ParsedEnvelope,
} from './msgcheck';
import type { ChainHandle, ChainRegistry } from './types';
import type { BroadcastMetrics, RpcTracker } from './metrics/types';
import { retainedCopy } from './retained-bytes';

/** Envelopes per stream handed to a chain whose answer has not been written yet. */
export const DEFAULT_MAX_INFLIGHT_PER_STREAM = 512;

/** Received envelopes queued ahead of the checks before the stream is paused. */
const INBOUND_BUFFERED_ENVELOPES = 16;

export interface BroadcastOptions {
  maxInflightPerStream?: number;
  /** broadcast_* metrics; nothing recorded when absent. */
  metrics?: BroadcastMetrics;
  /** The stream's grpc_server_* recorder (messages in and out). */
  rpc?: RpcTracker;
}

/** What a rejected envelope is labelled with when checkForBroadcast threw before or after parsing it. */
export interface BroadcastLabels {
  channelId: string;
  headerType: number | undefined;
}

const SUCCESS_RESPONSE: orderer.BroadcastResponseInit = Object.freeze({ status: common.Status.SUCCESS });

export const CONFIG_UPDATE_NOT_SUPPORTED = 'this channel takes no config updates on this orderer';

/** An envelope that passed the checks, and the chain it goes to. */
export interface BroadcastChecked {
  chain: ChainHandle;
  parsed: ParsedEnvelope;
}

/**
 * Parses an envelope and runs every check of §4.1 we implement, in Fabric's order except
 * that an unknown channel is NOT_FOUND (the issue asks for it; Fabric says BAD_REQUEST):
 * parse → channel → header type → maintenance → payload present → size → creator expiry →
 * Writers policy.
 * Throws OrdererError with the status to answer. Synchronous when the channel's policy
 * evaluator is (it is for the channels' own): a promise, rejecting the same way, only when not,
 * and for a config update.
 */
export function checkForBroadcast(
  envelopeBytes: Uint8Array,
  registry: ChainRegistry,
  labels?: BroadcastLabels,
): BroadcastChecked | Promise<BroadcastChecked> {
  const { envelope, payload, channelHeader } = parseEnvelopeHeaders(envelopeBytes);
  const channelId = channelHeader.channelId;
  if (labels !== undefined) {
    labels.channelId = channelId;
    labels.headerType = channelHeader.type;
  }
  if (channelId.length === 0) throw OrdererError.badRequest('channel header has no channel ID');
  const chain = registry.get(channelId);
  if (chain === undefined) throw OrdererError.notFound(`channel ${channelId} not served here`);
  const kind = classifyHeaderType(channelHeader.type);
  // One config for all the checks: read once, before the policy check (which may wait), so an
  // envelope is tagged with the sequence it was really checked against (a config block may
  // commit meanwhile, and the leader re-checks only envelopes tagged with an older one).
  const settings = chain.settings();
  const access = chain.access();
  const parsed: ParsedEnvelope = {
    envelopeBytes,
    envelope,
    payload,
    channelHeader,
    kind,
    channelId,
    txId: channelHeader.txId,
    headerType: channelHeader.type,
    messageSizeBytes: envelope.payload.length + envelope.signature.length,
    configSeq: settings.configSequence,
  };
  const expiry = registry.noExpirationChecks === true ? EXPIRY_CHECKS_OFF : EXPIRY_CHECKS_ON;
  const pending = checkBroadcastEnvelopeNow(parsed, settings, access, expiry);
  if (kind === 'config-update') return Promise.resolve(pending).then(() => checkedConfigUpdate(chain, parsed, expiry));
  if (pending === undefined) return { chain, parsed };
  return pending.then(() => ({ chain, parsed }));
}

const EXPIRY_CHECKS_ON: ExpiryCheck = Object.freeze({ disabled: false });
const EXPIRY_CHECKS_OFF: ExpiryCheck = Object.freeze({ disabled: true });

/**
 * Reference §4.2: a config update is validated against the current config, wrapped into a
 * CONFIG envelope signed by this orderer, and that envelope passes the filters again (its size,
 * and the Writers policy with the orderer's own identity) before it is ordered.
 */
async function checkedConfigUpdate(chain: ChainHandle, parsed: ParsedEnvelope, expiry: ExpiryCheck): Promise<BroadcastChecked> {
  if (chain.processConfigUpdate === undefined) throw new OrdererError(common.Status.NOT_IMPLEMENTED, CONFIG_UPDATE_NOT_SUPPORTED);
  const { configSeq: _checkedAgainst, ...update } = parsed;
  const wrapped = chain.processConfigUpdate(update);
  await checkBroadcastEnvelopeNow(wrapped, chain.settings(), chain.access(), expiry);
  return { chain, parsed: wrapped };
}

/** The envelope may or may not be ordered: the stream ends without an answer (EnvelopeFateUnknownError). */
interface FateUnknown {
  readonly fateUnknown: string;
}

type Answer = orderer.BroadcastResponseInit | FateUnknown;

/**
 * An envelope's place in the stream's answer order: its answer once its order() call settled.
 * A slot rather than a promise per envelope: the writer takes every settled answer at the head
 * in one go and waits only when the head is still open, so an answer costs no promise, race or
 * await of its own (at thousands of envelopes a second those were a good part of an entry
 * node's short-lived garbage).
 */
interface AnswerSlot {
  answer: Answer | undefined;
}

function answerFor(err: unknown): Answer {
  return err instanceof EnvelopeFateUnknownError ? { fateUnknown: err.message } : toStatusResponse(err);
}

/**
 * Serves one Broadcast stream until the client half-closes, cancels, or an envelope is
 * rejected (except FORBIDDEN: the next envelope is read). Never rejects: every failure becomes
 * a response or the end of the stream.
 */
export async function handleBroadcast(
  call: BroadcastCall,
  registry: ChainRegistry,
  logger: Logger,
  options: BroadcastOptions = {},
): Promise<void> {
  const maxInflight = options.maxInflightPerStream ?? DEFAULT_MAX_INFLIGHT_PER_STREAM;
  const { metrics, rpc } = options;
  if (!(maxInflight >= 1)) throw new RangeError(`maxInflightPerStream must be at least 1, got ${maxInflight}`);
  // A few envelopes may wait here while the previous one is checked; more pause the stream.
  const inbound = new InboundMessages<Uint8Array>(call, INBOUND_BUFFERED_ENVELOPES);
  const answers: AnswerSlot[] = [];
  let readerDone = false;
  /** Set once a non-SUCCESS answer was chosen: nothing more is handed to a chain. */
  let failed = false;
  /** Refusals after which the stream goes on (FORBIDDEN at the door). */
  const streamGoesOn = new WeakSet<orderer.BroadcastResponseInit>();
  let wakeWriter: (() => void) | undefined;
  let wakeReader: (() => void) | undefined;
  const wake = (which: 'reader' | 'writer'): void => {
    const fn = which === 'reader' ? wakeReader : wakeWriter;
    if (which === 'reader') wakeReader = undefined;
    else wakeWriter = undefined;
    fn?.();
  };
  /** order() settled: the writer moves on if this envelope is the next to answer. */
  const settle = (slot: AnswerSlot, answer: Answer): void => {
    slot.answer = answer;
    if (answers[0] === slot) wake('writer');
  };

  const reader = async (): Promise<void> => {
    try {
      while (!failed) {
        while (answers.length >= maxInflight && !failed) {
          await new Promise<void>((resolve) => (wakeReader = resolve));
        }
        if (failed) break;
        const received = inbound.takeBuffered() ?? (await inbound.next());
        if (received === undefined || failed) break;
        // Kept until the answer (and in the accepted set until its block): out of gRPC's pool slab.
        const envelopeBytes = retainedCopy(received);
        rpc?.messageReceived();
        const slot: AnswerSlot = { answer: undefined };
        // Filled by the checks as far as they got (Fabric labels an unparsable envelope's channel "" and type "unknown").
        const labels: BroadcastLabels = { channelId: '', headerType: undefined };
        const validateStartedMs = metrics !== undefined ? performance.now() : 0;
        try {
          const checking = checkForBroadcast(envelopeBytes, registry, labels);
          const { chain, parsed } = checking instanceof Promise ? await checking : checking;
          // A failure answered while we were checking stops the stream before this envelope reaches a chain.
          if (failed) break;
          if (metrics === undefined) {
            chain.order(parsed).then(
              () => settle(slot, SUCCESS_RESPONSE),
              (err: unknown) => settle(slot, answerFor(err)),
            );
          } else {
            const enqueueStartedMs = performance.now();
            metrics.validated(labels.channelId, labels.headerType, common.Status.SUCCESS, (enqueueStartedMs - validateStartedMs) / 1000);
            // One reaction per envelope, as without metrics: the recording rides on it.
            const settled = (a: Answer): void => {
              const status = 'fateUnknown' in a ? common.Status.SERVICE_UNAVAILABLE : (a.status ?? common.Status.UNKNOWN);
              metrics.enqueued(labels.channelId, labels.headerType, status, (performance.now() - enqueueStartedMs) / 1000);
              metrics.processed(labels.channelId, labels.headerType, status);
              settle(slot, a);
            };
            chain.order(parsed).then(
              () => settled(SUCCESS_RESPONSE),
              (err: unknown) => settled(answerFor(err)),
            );
          }
        } catch (err) {
          const response = toStatusResponse(err);
          if (metrics !== undefined) {
            const status = response.status ?? common.Status.UNKNOWN;
            metrics.validated(labels.channelId, labels.headerType, status, (performance.now() - validateStartedMs) / 1000);
            metrics.processed(labels.channelId, labels.headerType, status);
          }
          logger.debug({ status: statusName(response.status ?? common.Status.UNKNOWN), info: response.info }, 'broadcast envelope rejected');
          slot.answer = response;
          // A policy refusal is about this envelope's signer, not the stream: a client that
          // signs for many users on one stream (a gateway) keeps it. Fabric closes the stream
          // after any refusal; every other refusal still does here.
          if (response.status === common.Status.FORBIDDEN) streamGoesOn.add(response);
          else failed = true;
        }
        answers.push(slot);
        // The writer waits for the head's answer only: an open slot wakes it when it settles.
        if (answers[0] === slot && slot.answer !== undefined) wake('writer');
      }
    } catch (err) {
      // The stream itself failed (reset by the client): nothing left to answer.
      logger.debug({ err }, 'broadcast stream failed while reading');
    } finally {
      readerDone = true;
      wake('writer');
    }
  };

  // A client that goes away releases the stream at once, without waiting for the chain to
  // settle the envelopes it still holds (their answers have nowhere to go): the writer's wait
  // ends and it stops.
  let isGone = false;
  const onGone = (): void => {
    isGone = true;
    wake('writer');
  };
  call.once('cancelled', onGone);
  call.once('close', onGone);

  const writer = async (): Promise<void> => {
    for (;;) {
      if (isGone) {
        stopReading();
        break;
      }
      const next = answers[0];
      if (next === undefined && readerDone) break;
      const response = next?.answer;
      if (response === undefined) {
        // Nothing to answer yet: woken by the reader (a new envelope), the head's order() settling, or the client leaving.
        await new Promise<void>((resolve) => (wakeWriter = resolve));
        continue;
      }
      answers.shift();
      wake('reader');
      if ('fateUnknown' in response) {
        // Neither SUCCESS nor a refusal would be true: end the stream the way a broken one ends.
        logger.info({ reason: response.fateUnknown }, 'broadcast stream ends: an envelope\'s fate is unknown');
        stopReading();
        if (!call.destroyed && !call.writableEnded) {
          const details = `envelope fate unknown (resend it with the same tx id): ${response.fateUnknown}`;
          call.emit('error', Object.assign(new Error(details), { code: grpc.status.UNAVAILABLE, details }));
        }
        break;
      }
      // Written at once while the stream's buffer has room; a full buffer waits for 'drain'.
      const written = call.destroyed || call.writableEnded ? false : call.write(response) || (await drained(call));
      if (written) rpc?.messageSent();
      if ((response.status !== common.Status.SUCCESS && !streamGoesOn.has(response)) || !written) {
        if (written) logger.debug({ status: statusName(response.status ?? 0), info: response.info }, 'broadcast stream ends after a failure');
        stopReading();
        break;
      }
    }
  };

  /** Ends the reader even while it waits for the client's next envelope. */
  const stopReading = (): void => {
    failed = true;
    inbound.dispose();
    wake('reader');
  };

  try {
    await Promise.all([reader(), writer()]);
  } finally {
    call.off('cancelled', onGone);
    call.off('close', onGone);
    inbound.dispose();
    answers.length = 0;
    // Fabric ends a Broadcast stream with status OK both on client EOF and after a rejection.
    if (!call.destroyed && !call.writableEnded) call.end();
  }
}
