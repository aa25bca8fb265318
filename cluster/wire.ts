// Encoding of outgoing StepRequests in one pass.
//
// StepRequest.encode({consensusRequest: {payload: raftpb.Message.encode(msg)}}) copies a
// MsgApp's entries twice: once into the Raft message's buffer, then that buffer into the
// StepRequest's. Entries are whole blocks (hundreds of KB), sent to every follower, so the leader
// allocated and copied each block twice per follower for this alone; writing the nested message
// straight into the outer writer (fork/ldelim) copies it once. The bytes are identical
// (test/cluster/wire.test.ts).
import { raftpb } from '../protos';
import { Writer } from '../protos/runtime';

const STEP_CONSENSUS_REQUEST_TAG = (1 << 3) | 2; // StepRequest.consensus_request = 1
const CONSENSUS_CHANNEL_TAG = (1 << 3) | 2; // ConsensusRequest.channel = 1
const CONSENSUS_PAYLOAD_TAG = (2 << 3) | 2; // ConsensusRequest.payload = 2
const CONSENSUS_METADATA_TAG = (3 << 3) | 2; // ConsensusRequest.metadata = 3

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

