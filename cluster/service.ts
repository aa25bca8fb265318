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
