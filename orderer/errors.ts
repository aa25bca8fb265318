// Typed errors of the orderer. Anything a client can be answered about carries a
// common.Status, so Broadcast (BroadcastResponse) and the cluster Submit path
// (SubmitResponse) turn a thrown error into the wire answer without guessing.
import { common } from '../protos';

/** Options accepted by every error constructor here (the standard `cause`). */
export interface OrdererErrorOptions {
  readonly cause?: unknown;
}

/**
 * An error with the status a client receives for it. `message` is the readable
 * reason sent back as BroadcastResponse.info (or SubmitResponse.info).
 */
export class OrdererError extends Error {
  override readonly name: string = 'OrdererError';

  constructor(
    readonly status: common.Status,
    message: string,
    options?: OrdererErrorOptions,
  ) {
    super(message, options);
    // A SUCCESS or UNKNOWN "error" would tell the client its envelope was accepted or
    // say nothing at all; both are programming mistakes, caught here instead of on the wire.
    if (status === common.Status.SUCCESS || status === common.Status.UNKNOWN) {
      throw new RangeError(`OrdererError needs a failure status, got ${common.Status[status] ?? status}`);
    }
  }

  static badRequest(message: string, options?: OrdererErrorOptions): OrdererError {
    return new OrdererError(common.Status.BAD_REQUEST, message, options);
  }

  static forbidden(message: string, options?: OrdererErrorOptions): OrdererError {
    return new OrdererError(common.Status.FORBIDDEN, message, options);
  }

  static notFound(message: string, options?: OrdererErrorOptions): OrdererError {
    return new OrdererError(common.Status.NOT_FOUND, message, options);
  }

  static tooLarge(message: string, options?: OrdererErrorOptions): OrdererError {
    return new OrdererError(common.Status.REQUEST_ENTITY_TOO_LARGE, message, options);
  }

  static serviceUnavailable(message: string, options?: OrdererErrorOptions): OrdererError {
    return new OrdererError(common.Status.SERVICE_UNAVAILABLE, message, options);
  }

  static internal(message: string, options?: OrdererErrorOptions): OrdererError {
    return new OrdererError(common.Status.INTERNAL_SERVER_ERROR, message, options);
  }
}

/**
 * A channel configuration that cannot be used: malformed protobuf inside a config
 * value, a missing value, or a setting outside its rules (batch sizes, Raft options,
 * consenters...). `path` names the config element, e.g. "/Channel/Orderer/BatchSize".
 * A config update that produces such a config is answered BAD_REQUEST, like Fabric.
 */
export class ChannelConfigError extends OrdererError {
  override readonly name: string = 'ChannelConfigError';

  constructor(
    readonly path: string,
    reason: string,
    options?: OrdererErrorOptions,
  ) {
    super(common.Status.BAD_REQUEST, `${path}: ${reason}`, options);
  }
}

/**
 * A bad local configuration (orderer.yaml or an ORDERER_* environment variable).
 * Never sent to a client: it stops the process at startup. `key` is the dotted
 * config path ("General.ListenPort") and `source` where the bad value came from.
 */
export class LocalConfigError extends Error {
  override readonly name: string = 'LocalConfigError';

  constructor(
    readonly key: string,
    readonly source: string,
    reason: string,
    options?: OrdererErrorOptions,
  ) {
    super(`${key} (${source}): ${reason}`, options);
  }
}

/**
 * The chain's own state cannot be right (a committed block that does not continue the
 * ledger): not a client's error and not retryable. The chain halts the channel on it, as on a
 * broken Raft invariant.
 */
export class ChainInvariantError extends Error {
  override readonly name: string = 'ChainInvariantError';
}

/**
 * Neither SUCCESS nor a refusal can be answered truthfully: the envelope may or may not be
 * ordered (the leader did not answer in time, the stream to it broke after the hand-over, or
 * the channel halted while it waited for its block). Broadcast answers it as Fabric's orderer
 * does when it cannot answer at all: the stream ends with gRPC UNAVAILABLE and no
 * BroadcastResponse, which clients already treat as "fate unknown" (resend with the same tx
 * id: the tx-id checks keep it from being ordered twice). The node keeps the envelope and
 * resends it to the leader, so it is usually ordered.
 */
export class EnvelopeFateUnknownError extends Error {
  override readonly name: string = 'EnvelopeFateUnknownError';
}

/** The status and info to answer a client with for any thrown value. */
export function toStatusResponse(err: unknown): { status: common.Status; info: string } {
  if (err instanceof OrdererError) return { status: err.status, info: err.message };
  // An error we did not classify is our fault, not the client's: say so without
  // leaking internals beyond the message.
  const reason = err instanceof Error ? err.message : String(err);
  return { status: common.Status.INTERNAL_SERVER_ERROR, info: `internal error: ${reason}` };
}

/** "BAD_REQUEST" etc., for logs and the metrics' status label. */
export function statusName(status: common.Status): string {
  return common.Status[status] ?? String(status);
}
