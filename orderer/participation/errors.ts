// Refusals of the channel participation API, each with the HTTP status Fabric answers it with
// (orderer/common/channelparticipation/restapi.go, sendJoinError and serveRemove) and, for 405,
// the methods the resource does allow. The node throws them from ChannelParticipation; the
// server turns them into `{"error":"cannot join: <message>"}` (or "cannot remove: ...").
// Messages are Fabric's (orderer/common/types/errors.go) so clients matching on text still work.

export interface ParticipationErrorOptions {
  readonly cause?: unknown;
}

export class ParticipationError extends Error {
  override readonly name: string = 'ParticipationError';

  constructor(
    /** The HTTP status of the answer (4xx or 5xx). */
    readonly httpStatus: number,
    message: string,
    /** For 405: the methods the resource allows, sent as the `Allow` header. */
    readonly allow: readonly string[] = [],
    options?: ParticipationErrorOptions,
  ) {
    super(message, options);
    // A 2xx or 3xx "error" would tell the client it worked: a programming mistake, caught here.
    if (!Number.isInteger(httpStatus) || httpStatus < 400 || httpStatus > 599) {
      throw new RangeError(`ParticipationError needs a 4xx or 5xx status, got ${httpStatus}`);
    }
    if (httpStatus === 405 && allow.length === 0) throw new RangeError('a 405 ParticipationError must name the allowed methods');
  }
}

/** Join of a channel this node already has: 405, only GET and DELETE make sense on it now. */
export class ChannelExistsError extends ParticipationError {
  override readonly name: string = 'ChannelExistsError';

  constructor(
    readonly channelId: string,
    options?: ParticipationErrorOptions,
  ) {
    super(405, 'channel already exists', ['GET', 'DELETE'], options);
  }
}

/** Remove (or info) of a channel this node does not have: 404. */
export class ChannelNotFoundError extends ParticipationError {
  override readonly name: string = 'ChannelNotFoundError';

  constructor(
    readonly channelId: string,
    options?: ParticipationErrorOptions,
  ) {
    super(404, 'channel does not exist', [], options);
  }
}

/** Join or remove while an earlier removal of the channel is still running: 409. */
export class ChannelPendingRemovalError extends ParticipationError {
  override readonly name: string = 'ChannelPendingRemovalError';

  constructor(
    readonly channelId: string,
    options?: ParticipationErrorOptions,
  ) {
    super(409, 'channel pending removal', [], options);
  }
}

/** Join of a channel whose earlier removal failed (its files may be half deleted): 500. */
export class ChannelRemovalFailedError extends ParticipationError {
  override readonly name: string = 'ChannelRemovalFailedError';

  constructor(
    readonly channelId: string,
    options?: ParticipationErrorOptions,
  ) {
    super(500, 'channel removal failure', [], options);
  }
}

/**
 * The join block cannot be used: it does not decode, is not a config block, its config does not
 * parse, it has no Application group, or the node finds it unusable (e.g. a config it cannot
 * run). 400.
 */
export class InvalidJoinBlockError extends ParticipationError {
  override readonly name: string = 'InvalidJoinBlockError';

  constructor(message: string, options?: ParticipationErrorOptions) {
    super(400, message, [], options);
  }
}
