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
import { EMPTY_BYTES, varintSize, writeVarint, Writer, writeUint64 } from '../protos/runtime';
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
 * A message written as pieces, `byteLength` bytes in all: the bytes of a Raft append's block
 * entries as they are, the few bytes between them encoded. A transport of ours writes the pieces
 * one after the other (step-transport.ts); one that takes a single buffer gets join().
 */
export class Gathered {
  constructor(
    readonly chunks: readonly Uint8Array[],
    readonly byteLength: number,
  ) {}

  join(): Buffer {
    return Buffer.concat(this.chunks, this.byteLength);
  }
}

/** An entry at least this large is written as its own bytes, not copied into the message. */
export const GATHER_MIN_ENTRY_BYTES = 4 * 1024;

/** The encoded size of a message or piece list. */
export function encodedLength(bytes: Uint8Array | Gathered): number {
  return bytes instanceof Gathered ? bytes.byteLength : bytes.length;
}

const RAFT_ENTRIES_TAG = (7 << 3) | 2; // raftpb.Message.entries = 7
const RAFT_ENTRY_DATA_TAG = (4 << 3) | 2; // raftpb.Entry.data = 4

/**
 * encodeConsensusStep's bytes, without copying a Raft append's block entries: the leader sends each
 * block to every follower, and with one buffer per follower the block was copied into each (and a
 * block-sized buffer allocated for each, which is what starts V8's mark-compacts). Anything but an
 * append carrying an entry of GATHER_MIN_ENTRY_BYTES or more is encoded as one buffer.
 * test/cluster/wire.test.ts holds both to the same bytes.
 */
export function encodeConsensusStepGathered(channel: string, msg: raftpb.MessageInit, metadata?: Uint8Array): Uint8Array | Gathered {
  const entries = msg.entries ?? [];
  const gathers =
    msg.type === raftpb.MessageType.MsgApp &&
    msg.snapshot == null &&
    (msg.responses == null || msg.responses.length === 0) &&
    entries.some((e) => e.data != null && e.data.length >= GATHER_MIN_ENTRY_BYTES);
  if (!gathers) return encodeConsensusStep(channel, msg, metadata);

  // The raft Message as pieces, field by field as raftpb.encodeMessage writes it: runs of small
  // encoded bytes (one buffer each) between the entries' data, which is not copied.
  const pieces: Uint8Array[] = [];
  let small: Uint8Array[] = [];
  let w = Writer.create();
  const endSmallRun = (): void => {
    small.push(w.finish());
    pieces.push(small.length === 1 ? (small[0] as Uint8Array) : Buffer.concat(small));
    small = [];
    w = Writer.create();
  };
  w.uint32(8).int32(msg.type ?? 0);
  writeUint64(w.uint32(16), msg.to ?? 0);
  writeUint64(w.uint32(24), msg.from ?? 0);
  writeUint64(w.uint32(32), msg.term ?? 0);
  writeUint64(w.uint32(40), msg.logTerm ?? 0);
  writeUint64(w.uint32(48), msg.index ?? 0);
  for (const entry of entries) {
    const data = entry.data;
    if (data == null || data === EMPTY_BYTES || data.length < GATHER_MIN_ENTRY_BYTES) {
      raftpb.encodeEntry(w.uint32(RAFT_ENTRIES_TAG).fork(), entry).ldelim();
      continue;
    }
    // The entry's other fields as the generated encoder writes them, then its data's tag and length.
    const fields = raftpb.encodeEntry(Writer.create(), { ...entry, data: EMPTY_BYTES }).finish();
    const entryBytes = fields.length + 1 + varintSize(data.length) + data.length;
    small.push(w.uint32(RAFT_ENTRIES_TAG).uint32(entryBytes).finish(), fields);
    w = Writer.create().uint32(RAFT_ENTRY_DATA_TAG).uint32(data.length);
    endSmallRun();
    pieces.push(data);
  }
  writeUint64(w.uint32(64), msg.commit ?? 0);
  w.uint32(80).bool(msg.reject ?? false);
  writeUint64(w.uint32(88), msg.rejectHint ?? 0);
  if (msg.context != null && msg.context !== EMPTY_BYTES) w.uint32(98).bytes(msg.context);
  writeUint64(w.uint32(104), msg.vote ?? 0);
  endSmallRun();
  let messageBytes = 0;
  for (const piece of pieces) messageBytes += piece.length;

  // StepRequest{consensus_request{channel, payload: <the pieces>, metadata}} around them.
  const channelPart = channel.length > 0 ? Writer.create().uint32(CONSENSUS_CHANNEL_TAG).string(channel).finish() : EMPTY_BYTES;
  const metadataPart = metadata !== undefined && metadata.length > 0 ? Writer.create().uint32(CONSENSUS_METADATA_TAG).bytes(metadata).finish() : EMPTY_BYTES;
  const consensusBytes = channelPart.length + 1 + varintSize(messageBytes) + messageBytes + metadataPart.length;
  const head = Buffer.concat([
    Writer.create().uint32(STEP_CONSENSUS_REQUEST_TAG).uint32(consensusBytes).finish(),
    channelPart,
    Writer.create().uint32(CONSENSUS_PAYLOAD_TAG).uint32(messageBytes).finish(),
    pieces[0] as Uint8Array, // the message's first fields: always a small run
  ]);
  const chunks: Uint8Array[] = [head, ...pieces.slice(1)];
  if (metadataPart.length > 0) chunks.push(metadataPart);
  return new Gathered(chunks, head.length + messageBytes - (pieces[0] as Uint8Array).length + metadataPart.length);
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
