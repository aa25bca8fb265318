// Incoming side of Cluster.Step: decode each StepRequest, find the chain serving its
// channel, identify the sender, hand the message over. Anything wrong with a message ends
// that one stream with a gRPC status saying what was wrong; the server and every other
// stream carry on.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { common, orderer, raftpb } from '../protos';
import type { SenderAuthenticator, SenderInfo } from './auth';
import { ClusterError, StepRejectedError } from './errors';
import { Fifo } from './fifo';
import { NO_METRICS, type ClusterMetrics } from './metrics';
import { encodeSubmitBatchResponse } from './wire';
import { clusterServiceDefinition, SUBMIT_ACK_HEADER, SUBMIT_ACK_VERSION, SUBMIT_BATCH_HEADER, SUBMIT_BATCH_MAX_BYTES_HEADER, SUBMIT_BATCH_VERSION } from './service';
import { DEFAULT_MAX_MESSAGE_BYTES, type MessageReceiver, type NodeId, type SubmitOutcome } from './types';

/** One submit's answer (or a batch's), written in request order once it and every earlier one are known. */
interface AnswerSlot {
  readonly channel: string;
  /** A SubmitBatch: answered with one SubmitBatchResponse. */
  readonly batch: boolean;
  results: SubmitOutcome[] | undefined;
}

type Answer = (channel: string, outcome: void | SubmitOutcome | Promise<SubmitOutcome>) => void;
type BatchAnswer = (channel: string, size: number, outcomes: SubmitOutcome[] | Promise<SubmitOutcome[]>) => void;

const SUCCESS_OUTCOME: SubmitOutcome = Object.freeze({ status: common.Status.SUCCESS, info: '' });

export interface ClusterDispatcherOptions {
  readonly logger: Logger;
  readonly authenticator: SenderAuthenticator;
  readonly metrics?: ClusterMetrics;
  /** Take SubmitBatches from followers that offer them (SUBMIT_BATCH_HEADER). Default true. */
  readonly acceptSubmitBatches?: boolean;
  /**
   * The largest message this node's cluster listener receives (General.MaxRecvMsgSize): told to
   * followers with the batch header, so that no batch is larger. Default DEFAULT_MAX_MESSAGE_BYTES.
   */
  readonly maxRecvMessageBytes?: number;
}

export type StepCall = grpc.ServerDuplexStream<Uint8Array, Uint8Array>;

export class ClusterDispatcher {
  private readonly receivers = new Map<string, MessageReceiver>();
  private readonly logger: Logger;
  private readonly authenticator: SenderAuthenticator;
  private readonly metrics: ClusterMetrics;
  private readonly acceptSubmitBatches: boolean;
  private readonly maxBatchBytes: number;

  constructor(options: ClusterDispatcherOptions) {
    this.acceptSubmitBatches = options.acceptSubmitBatches !== false;
    this.maxBatchBytes = options.maxRecvMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.logger = options.logger.child({ component: 'cluster-ingress', logger: 'cluster.ingress' });
    this.authenticator = options.authenticator;
    this.metrics = options.metrics ?? NO_METRICS;
  }

  /** Routes the channel's traffic to `receiver`. A channel has one chain: registering twice is a bug. */
  register(channel: string, receiver: MessageReceiver): void {
    if (this.receivers.has(channel)) throw new ClusterError(`channel "${channel}" already has a message receiver`);
    this.receivers.set(channel, receiver);
  }

  /** Stops routing the channel; later messages for it end their streams as "unknown channel". */
  unregister(channel: string): void {
    this.receivers.delete(channel);
  }

  /** The Step handler; see registerClusterService. */
  readonly handleStep = (call: StepCall): void => {
    const sender: SenderInfo = {
      metadata: call.metadata,
      peerAddress: call.getPeer(),
      authContext: call.getAuthContext(),
    };
    this.metrics.ingressStreamsChanged(1);
    const rpc = this.metrics.stepCallStarted();
    let open = true;
    const closeOnce = (code: grpc.status): void => {
      if (!open) return;
      open = false;
      this.metrics.ingressStreamsChanged(-1);
      rpc.done(code);
    };

    // Our extension (SUBMIT_ACK_HEADER): answer the header now, so the follower knows at once,
    // then one response per submit, in request order even when the chain answers later.
    const acks = call.metadata.get(SUBMIT_ACK_HEADER).length > 0;
    // The second extension (SUBMIT_BATCH_HEADER) rides on the first: answers are how a batch's envelopes are told apart.
    const batches = acks && this.acceptSubmitBatches && call.metadata.get(SUBMIT_BATCH_HEADER).length > 0;
    // Answers in request order; a slot whose outcome is known (usually at once, or when the
    // chain's promise settles) is written once every slot before it is. A queue of slots rather
    // than a promise chain per submit: at thousands a second the chain cost more than the answers.
    const slots = new Fifo<AnswerSlot>();
    if (acks) {
      const md = new grpc.Metadata();
      md.set(SUBMIT_ACK_HEADER, SUBMIT_ACK_VERSION);
      if (batches) {
        md.set(SUBMIT_BATCH_HEADER, SUBMIT_BATCH_VERSION);
        md.set(SUBMIT_BATCH_MAX_BYTES_HEADER, String(this.maxBatchBytes));
      }
      call.sendMetadata(md);
    }
    const flush = (): void => {
      for (;;) {
        const head = slots.peek();
        if (head === undefined || head.results === undefined) return;
        slots.shift();
        if (!open || call.writableEnded || call.destroyed) continue;
        const results = head.results;
        call.write(
          head.batch
            ? encodeSubmitBatchResponse(head.channel, results)
            : orderer.StepResponse.encode({ submitRes: { channel: head.channel, status: results[0]!.status, info: results[0]!.info } }),
        );
        rpc.messageSent();
      }
    };
    const reject = (rejection: StepRejectedError): void => {
      this.logger.warn({ peer: sender.peerAddress, code: grpc.status[rejection.code], reason: rejection.message }, 'ending cluster stream');
      closeOnce(rejection.code);
      // grpc-js turns an 'error' event on a server stream into the call's final status.
      call.emit('error', Object.assign(new Error(rejection.message), { code: rejection.code, details: rejection.message }));
    };
    const settle = (slot: AnswerSlot, outcomes: Promise<SubmitOutcome[]>): void => {
      outcomes.then(
        (o) => {
          slot.results = o;
          flush();
        },
        (err: unknown) => {
          // The chain may have taken some of them before it failed: a refusal would say "not
          // ordered", which nobody knows. Ending the stream leaves them (and every later answer
          // on it) "fate unknown" at the sender, as a chain that throws at once does.
          if (open) reject(new StepRejectedError(grpc.status.INTERNAL, `the chain failed to answer a forward: ${errorText(err)}`, { cause: err }));
        },
      );
    };
    const answer: Answer = (channel, outcome) => {
      const slot: AnswerSlot = { channel, batch: false, results: undefined };
      slots.push(slot);
      if (outcome instanceof Promise) settle(slot, outcome.then((o) => [o]));
      else {
        slot.results = [outcome ?? SUCCESS_OUTCOME];
        flush();
      }
    };
    const answerBatch: BatchAnswer = (channel, size, outcomes) => {
      const slot: AnswerSlot = { channel, batch: true, results: undefined };
      slots.push(slot);
      // One result per envelope, or the follower would pair the next answers with the wrong envelopes.
      const checked = (o: SubmitOutcome[]): SubmitOutcome[] => {
        if (o.length === size) return o;
        throw new ClusterError(`the chain answered ${o.length} outcomes for a batch of ${size} envelopes`);
      };
      if (outcomes instanceof Promise) settle(slot, outcomes.then(checked));
      else settle(slot, Promise.resolve(outcomes).then(checked));
    };
    let paused = false;
    call.on('data', (bytes: Uint8Array) => {
      if (!open) return; // a rejected stream may still have messages in flight; they are ignored
      rpc.messageReceived();
      try {
        const receiver = this.dispatch(bytes, sender, acks ? answer : undefined, batches ? answerBatch : undefined);
        const room = paused ? undefined : receiver.receiveBackpressure?.();
        if (room !== undefined) {
          // Stop reading this peer until the chain has room; the sender feels it through flow control.
          paused = true;
          call.pause();
          this.metrics.ingressPaused(1);
          void room.then(
            () => {
              paused = false;
              this.metrics.ingressPaused(-1);
              if (open) call.resume();
            },
            () => {
              paused = false;
              this.metrics.ingressPaused(-1);
              if (open) call.resume();
            },
          );
        }
      } catch (err) {
        reject(toRejection(err));
      }
    });
    // The sender half-closed: nothing more will come, answer with OK.
    call.on('end', () => {
      closeOnce(grpc.status.OK);
      if (!call.writableEnded) call.end();
    });
    call.on('cancelled', () => closeOnce(grpc.status.CANCELLED));
    call.on('close', () => closeOnce(grpc.status.UNAVAILABLE));
    // Errors here are our own rejection (already logged) or a broken connection; nothing to do.
    call.on('error', () => closeOnce(grpc.status.UNAVAILABLE));
  };

  /** Hands the message to its channel's receiver; returns that receiver. `answer` takes a submit's outcome. */
  private dispatch(bytes: Uint8Array, sender: SenderInfo, answer: Answer | undefined, answerBatch: BatchAnswer | undefined): MessageReceiver {
    let request: orderer.StepRequest;
    try {
      request = orderer.StepRequest.decode(bytes);
    } catch (err) {
      throw StepRejectedError.malformed(`undecodable StepRequest: ${errorText(err)}`, err);
    }

    if (request.consensusRequest !== undefined) {
      const { channel, payload, metadata } = request.consensusRequest;
      const receiver = this.receiverFor(channel);
      const from = this.authenticator.identify(channel, sender);
      let msg: raftpb.Message;
      try {
        msg = raftpb.Message.decode(payload);
      } catch (err) {
        throw StepRejectedError.malformed(
          `consensus request from node ${from} on channel "${channel}" carries an undecodable raft message: ${errorText(err)}`,
          err,
        );
      }
      this.deliver(channel, from, () => receiver.onConsensus(from, msg, metadata));
      return receiver;
    }

    if (request.submitRequest !== undefined) {
      const submit = request.submitRequest;
      const receiver = this.receiverFor(submit.channel);
      const from = this.authenticator.identify(submit.channel, sender);
      if (submit.payload === undefined) {
        throw StepRejectedError.malformed(`submit request from node ${from} on channel "${submit.channel}" carries no envelope`);
      }
      const outcome = this.deliver(submit.channel, from, () => receiver.onSubmit(from, submit, answer !== undefined));
      answer?.(submit.channel, outcome);
      return receiver;
    }

    if (request.submitBatch !== undefined) {
      const batch = request.submitBatch;
      if (answer === undefined || answerBatch === undefined) {
        throw StepRejectedError.malformed(`a submit batch on a stream that did not offer batches (${SUBMIT_BATCH_HEADER})`);
      }
      const receiver = this.receiverFor(batch.channel);
      const from = this.authenticator.identify(batch.channel, sender);
      if (batch.envelopes.length === 0) throw StepRejectedError.malformed(`submit batch from node ${from} on channel "${batch.channel}" carries no envelope`);
      const forwarded = { lastValidationSeq: batch.lastValidationSeq, envelopes: batch.envelopes };
      const outcomes =
        receiver.onSubmitBatch !== undefined
          ? this.deliver(batch.channel, from, () => receiver.onSubmitBatch!(from, forwarded))
          : this.submitEach(receiver, from, batch);
      answerBatch(batch.channel, batch.envelopes.length, outcomes);
      return receiver;
    }

    throw StepRejectedError.malformed('StepRequest carries neither a consensus request nor a submit request');
  }

  /** A receiver without onSubmitBatch takes a batch's envelopes one by one, as SubmitRequests. */
  private submitEach(receiver: MessageReceiver, from: NodeId, batch: orderer.SubmitBatch): Promise<SubmitOutcome[]> {
    // All decoded before any is handed over: an undecodable one refuses the whole batch, none of it taken.
    const requests = batch.envelopes.map((envelope, i): orderer.SubmitRequest => {
      try {
        return { channel: batch.channel, lastValidationSeq: batch.lastValidationSeq, payload: common.Envelope.decode(envelope) };
      } catch (err) {
        throw StepRejectedError.malformed(`envelope ${i} of a submit batch from node ${from} on channel "${batch.channel}" does not decode: ${errorText(err)}`, err);
      }
    });
    const outcomes = requests.map((req) => Promise.resolve(this.deliver(batch.channel, from, () => receiver.onSubmit(from, req, true))).then((o) => o ?? SUCCESS_OUTCOME));
    return Promise.all(outcomes);
  }

  private receiverFor(channel: string): MessageReceiver {
    const receiver = this.receivers.get(channel);
    if (receiver === undefined) throw StepRejectedError.unknownChannel(channel);
    return receiver;
  }

  /** A receiver that throws has refused the message; the sender learns it through the stream's status. */
  private deliver<T>(channel: string, from: NodeId, call: () => T): T {
    try {
      return call();
    } catch (err) {
      if (err instanceof StepRejectedError) throw err;
      throw new StepRejectedError(
        grpc.status.INTERNAL,
        `channel "${channel}" failed to accept a message from node ${from}: ${errorText(err)}`,
        { cause: err },
      );
    }
  }
}

/** Adds Cluster.Step to a server the orderer may also use for AtomicBroadcast (shared port). */
export function registerClusterService(server: grpc.Server, dispatcher: ClusterDispatcher): void {
  server.addService(clusterServiceDefinition, { Step: dispatcher.handleStep });
}

function toRejection(err: unknown): StepRejectedError {
  if (err instanceof StepRejectedError) return err;
  // Only a bug in this file gets here (dispatch wraps everything else); still answer, never crash.
  return new StepRejectedError(grpc.status.INTERNAL, `internal error: ${errorText(err)}`, { cause: err });
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
