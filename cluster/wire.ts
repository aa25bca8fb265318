// Encoding of outgoing StepRequests in one pass.
//
// StepRequest.encode({consensusRequest: {payload: raftpb.Message.encode(msg)}}) copies a
// MsgApp's entries twice: once into the Raft message's buffer, then that buffer into the
// StepRequest's. Entries are whole blocks (hundreds of KB), sent to every follower, so the leader
// allocated and copied each block twice per follower for this alone; writing the nested message
// straight into the outer writer (fork/ldelim) copies it once. The bytes are identical
// (test/cluster/wire.test.ts).
//
// A forwarded envelope is written from the bytes the client sent: decoding it into an Envelope
// only to encode it again cost a copy of the payload and two objects per envelope.
import { common, orderer, raftpb } from '../protos';
import { varintSize, writeVarint, Writer, writeUint64 } from '../protos/runtime';
import type { ForwardedEnvelope, SubmitOutcome } from './types';

const STEP_CONSENSUS_REQUEST_TAG = (1 << 3) | 2; // StepRequest.consensus_request = 1
const CONSENSUS_CHANNEL_TAG = (1 << 3) | 2; // ConsensusRequest.channel = 1
const CONSENSUS_PAYLOAD_TAG = (2 << 3) | 2; // ConsensusRequest.payload = 2
const CONSENSUS_METADATA_TAG = (3 << 3) | 2; // ConsensusRequest.metadata = 3
const STEP_SUBMIT_REQUEST_TAG = (2 << 3) | 2; // StepRequest.submit_request = 2
const SUBMIT_CHANNEL_TAG = (1 << 3) | 2; // SubmitRequest.channel = 1
const SUBMIT_SEQ_TAG = (2 << 3) | 0; // SubmitRequest.last_validation_seq = 2
const SUBMIT_PAYLOAD_TAG = (3 << 3) | 2; // SubmitRequest.payload = 3

/** StepRequest{consensus_request{channel, payload: msg, metadata}}, with msg encoded in place. */
export function encodeConsensusStep(channel: string, msg: raftpb.MessageInit, metadata?: Uint8Array): Uint8Array {
  const w = Writer.create();
  w.uint32(STEP_CONSENSUS_REQUEST_TAG).fork();
  if (channel.length > 0) w.uint32(CONSENSUS_CHANNEL_TAG).string(channel);
  // A raft Message always encodes to some bytes (gogoproto writes its scalar fields even when
  // zero), so the payload field is never the empty one proto3 would leave out.
  raftpb.encodeMessage(w.uint32(CONSENSUS_PAYLOAD_TAG).fork(), msg).ldelim();
  if (metadata !== undefined && metadata.length > 0) w.uint32(CONSENSUS_METADATA_TAG).bytes(metadata);
  return w.ldelim().finish();
}

/**
 * StepRequest{submit_request{channel, last_validation_seq, payload}} with the envelope's marshaled
 * bytes as the payload: Fabric's message, the same bytes as encoding the decoded Envelope when
 * the client's encoding was canonical (and its unknown fields kept when it was not).
 */
export function encodeSubmitStep(channel: string, forward: ForwardedEnvelope): Uint8Array {
  const w = Writer.create();
  w.uint32(STEP_SUBMIT_REQUEST_TAG).fork();
  if (channel.length > 0) w.uint32(SUBMIT_CHANNEL_TAG).string(channel);
  if (forward.lastValidationSeq !== 0) writeUint64(w.uint32(SUBMIT_SEQ_TAG), forward.lastValidationSeq);
  w.uint32(SUBMIT_PAYLOAD_TAG).bytes(forward.envelope);
  return w.ldelim().finish();
}

/** The length of encodeSubmitStep's result, for the size check before anything is encoded. */
export function submitStepSize(channel: string, forward: ForwardedEnvelope): number {
  const channelBytes = Buffer.byteLength(channel);
  const inner =
    (channelBytes > 0 ? 1 + varintSize(channelBytes) + channelBytes : 0) +
    (forward.lastValidationSeq !== 0 ? 1 + varintSize(forward.lastValidationSeq) : 0) +
    1 +
    varintSize(forward.envelope.length) +
    forward.envelope.length;
  return 1 + varintSize(inner) + inner;
}

/** A SubmitBatch's encoded size is at most this plus the channel (3 bytes a UTF-16 unit) plus, per envelope, its length and SUBMIT_BATCH_PER_ENVELOPE_BYTES. */
export const SUBMIT_BATCH_BASE_BYTES = 3 + 5 + 1 + 5 + 1 + 10; // StepRequest tag (2 bytes) and length, channel tag and length, seq tag and varint
/** Tag and length prefix of one envelope in a SubmitBatch, at most. */
export const SUBMIT_BATCH_PER_ENVELOPE_BYTES = 1 + 5;

/** StepRequest{submit_batch}: our extension, only to a leader that answered SUBMIT_BATCH_HEADER. */
export function encodeSubmitBatchStep(channel: string, lastValidationSeq: number, envelopes: Uint8Array[]): Uint8Array {
  return orderer.StepRequest.encode({ submitBatch: { channel, lastValidationSeq, envelopes } });
}

const STEP_SUBMIT_BATCH_RES_TAG = (1001 << 3) | 2; // StepResponse.submit_batch_res = 1001
const BATCH_RES_CHANNEL_TAG = (1 << 3) | 2; // SubmitBatchResponse.channel = 1
const BATCH_RES_RESULT_TAG = (2 << 3) | 2; // SubmitBatchResponse.results = 2
/** SubmitBatchResponse.results entry {status: SUCCESS}: most answers, written without a Writer per result. */
const SUCCESS_RESULT = ((): Uint8Array => {
  const statusBytes = varintSize(common.Status.SUCCESS);
  const out = Uint8Array.of(BATCH_RES_RESULT_TAG, 1 + statusBytes, (2 << 3) | 0, ...new Uint8Array(statusBytes)); // SubmitResponse.status = 2
  writeVarint(out, 3, common.Status.SUCCESS);
  return out;
})();

/**
 * StepResponse{submit_batch_res{channel, results}}: the same bytes as the generated encoder. A
 * SUCCESS without info, nearly every result, is one constant: the generated encoder allocated a
 * few hundred bytes of writer state per result, a leader's answers to thousands of forwards a second.
 */
export function encodeSubmitBatchResponse(channel: string, results: readonly SubmitOutcome[]): Uint8Array {
  const w = Writer.create();
  if (channel.length > 0) w.uint32(BATCH_RES_CHANNEL_TAG).string(channel);
  const head = w.finish();
  const parts: Uint8Array[] = [head];
  let size = head.length;
  for (const r of results) {
    const part =
      r.status === common.Status.SUCCESS && r.info.length === 0
        ? SUCCESS_RESULT
        : orderer.encodeSubmitResponse(Writer.create().uint32(BATCH_RES_RESULT_TAG).fork(), { status: r.status, info: r.info }).ldelim().finish();
    parts.push(part);
    size += part.length;
  }
  const out = new Uint8Array(varintSize(STEP_SUBMIT_BATCH_RES_TAG) + varintSize(size) + size);
  let at = writeVarint(out, writeVarint(out, 0, STEP_SUBMIT_BATCH_RES_TAG), size);
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
