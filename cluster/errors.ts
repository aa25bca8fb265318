// Typed errors of the cluster transport. Outgoing errors reach the chain (a submit that could
// not be queued); incoming errors become the gRPC status that ends a peer's Step stream.
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { MessageKind, NodeId } from './types';

export class ClusterError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The destination is not a configured member of the channel (or is node 0: no leader known). */
export class UnknownDestinationError extends ClusterError {
  constructor(
    readonly channel: string,
    readonly nodeId: NodeId,
  ) {
    super(`node ${nodeId} is not a known member of channel "${channel}"`);
  }
}

/** A submit waited rpcTimeoutMs for room in the destination's send queue and got none. */
export class SubmitTimeoutError extends ClusterError {
  constructor(
    readonly channel: string,
    readonly nodeId: NodeId,
    readonly timeoutMs: number,
  ) {
    super(`send queue to node ${nodeId} on channel "${channel}" stayed full for ${timeoutMs} ms`);
  }
}

/** The encoded StepRequest exceeds maxSendMessageBytes; the peer would refuse it anyway. */
export class MessageTooLargeError extends ClusterError {
  constructor(
    readonly channel: string,
    readonly nodeId: NodeId,
    readonly sizeBytes: number,
    readonly maxBytes: number,
  ) {
    super(`message of ${sizeBytes} bytes to node ${nodeId} on channel "${channel}" exceeds the ${maxBytes} byte limit`);
  }
}

/** The stream a message was queued on went away: client closed, channel removed or member reconfigured. */
export class StreamClosedError extends ClusterError {
  constructor(
    readonly channel: string,
    readonly nodeId: NodeId,
    readonly kind: MessageKind,
    readonly reason: string,
  ) {
    super(`${kind} stream to node ${nodeId} on channel "${channel}" closed: ${reason}`);
  }
}

/**
 * A forwarded envelope was handed to gRPC and then the stream failed, or the leader gave no
 * answer in time: it may or may not have reached the leader. Not a refusal: whoever acknowledged
 * the envelope to its client must keep it and resend it (the leader drops duplicates by tx id).
 */
export class SubmitFateUnknownError extends ClusterError {
  constructor(
    readonly channel: string,
    readonly nodeId: NodeId,
    readonly reason: string,
  ) {
    super(`forwarded envelope to node ${nodeId} on channel "${channel}": fate unknown (${reason})`);
  }
}

/**
 * Why an incoming Step stream is refused. `code` is the gRPC status the sender sees; the
 * message is its details, so an operator reading the sender's log learns what was wrong.
 */
export class StepRejectedError extends ClusterError {
  constructor(
    readonly code: GrpcStatus,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  static unknownChannel(channel: string): StepRejectedError {
    return new StepRejectedError(GrpcStatus.NOT_FOUND, `channel "${channel}" is not served by this orderer`);
  }

  static unauthenticated(reason: string): StepRejectedError {
    return new StepRejectedError(GrpcStatus.UNAUTHENTICATED, reason);
  }

  static unknownSender(channel: string, reason: string): StepRejectedError {
    return new StepRejectedError(GrpcStatus.PERMISSION_DENIED, `sender is not a member of channel "${channel}": ${reason}`);
  }

  static malformed(reason: string, cause?: unknown): StepRejectedError {
    return new StepRejectedError(GrpcStatus.INVALID_ARGUMENT, reason, { cause });
  }
}
