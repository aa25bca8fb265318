// The Cluster service declared by hand over raw bytes. Both directions carry encoded
// protobuf (Uint8Array); the typed codecs run at the edges (dispatcher, egress), so the
// gRPC layer never copies or re-encodes and decode errors are reported in our own words.
import type * as grpc from '@grpc/grpc-js';

export const CLUSTER_SERVICE_NAME = 'orderer.Cluster';
export const CLUSTER_STEP_PATH = `/${CLUSTER_SERVICE_NAME}/Step`;

/**
 * Call metadata header with the sender's node id on the request's channel. It is how a
 * plaintext cluster identifies senders until TLS client-certificate matching replaces it.
 */
export const NODE_ID_HEADER = 'x-cluster-node-id';

/**
 * Our extension of Cluster.Step, ignorable by Fabric: a follower that wants to know its forwarded
 * envelopes reached the leader sends this request header on its submit stream. A leader of ours
 * then answers the header at once (so the follower knows it speaks the extension) and writes one
 * StepResponse{submit_res} per SubmitRequest, in order, saying whether its chain took the envelope.
 * A Fabric leader ignores the header and never answers, and a Fabric follower never sends it, so
 * neither side sees anything new; the follower then falls back to Fabric's "written to the stream".
 */
export const SUBMIT_ACK_HEADER = 'x-fabric-raft-submit-ack';
export const SUBMIT_ACK_VERSION = '1';

/**
 * Our second extension, on top of the first: a follower that asks for acknowledgements also sends
 * this header when it can send several envelopes in one StepRequest{submit_batch}. A leader of
 * ours answers it with the acknowledgement header; only then does the follower send batches,
 * each answered by one StepResponse{submit_batch_res} with a result per envelope. A leader that
 * does not answer it (an older one of ours, or Fabric, which answers nothing) gets one
 * SubmitRequest per envelope. Why: one grpc-js message of 1 KB costs the sender 28-34 µs of CPU
 * with its answer and the receiver 22 µs, against 6-9 µs an envelope each in batches of 16 or more
 * (measured on the 2-core machine of docs/performance.md), and two thirds of all envelopes are forwarded.
 */
export const SUBMIT_BATCH_HEADER = 'x-fabric-raft-submit-batch';
export const SUBMIT_BATCH_VERSION = '1';
/**
 * Sent by the leader with its SUBMIT_BATCH_HEADER answer: the largest message it receives
 * (General.MaxRecvMsgSize). The follower keeps its batches within it; without it, no batches.
 */
export const SUBMIT_BATCH_MAX_BYTES_HEADER = 'x-fabric-raft-submit-batch-max-bytes';

/** A Buffer view over the same memory (grpc-js wants Buffers; our codecs produce Uint8Arrays). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export const passThrough = (bytes: Buffer): Uint8Array => bytes;

/** A bidirectional-streaming method that moves marshaled bytes both ways; codecs run at the edges. */
export function rawBidiStreamMethod(path: string, originalName: string): grpc.MethodDefinition<Uint8Array, Uint8Array> {
  return {
    path,
    requestStream: true,
    responseStream: true,
    requestSerialize: asBuffer,
    requestDeserialize: passThrough,
    responseSerialize: asBuffer,
    responseDeserialize: passThrough,
    originalName,
  };
}

export const clusterStepMethod = rawBidiStreamMethod(CLUSTER_STEP_PATH, 'step');

export const clusterServiceDefinition: grpc.ServiceDefinition = {
  Step: clusterStepMethod,
};
