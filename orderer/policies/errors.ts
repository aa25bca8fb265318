// Why a channel's policies could not be built from its config. A config update that
// would produce such a config is refused BAD_REQUEST (reference §4.2 step 7, §5.2 rule 4),
// and a join block carrying one is refused, so the error names the config path an
// operator has to fix.
import { ChannelConfigError, type OrdererErrorOptions } from '../errors';

/**
 * A policy in the config tree that does not compile: unsupported type (MSP, UNKNOWN or any
 * other number), undecodable value, a signature policy of a version other than 0, a
 * `signed_by` index outside the principals... `path` is the policy's absolute name, e.g.
 * "/Channel/Application/Org1MSP/Writers".
 */
export class PolicyConfigError extends ChannelConfigError {
  override readonly name: string = 'PolicyConfigError';

  constructor(path: string, reason: string, options?: OrdererErrorOptions) {
    super(path, reason, options);
  }
}

/**
 * A signature policy (SignaturePolicyEnvelope) that does not compile, before it is placed
 * in a config tree: the DSL parser and the compiler throw it, the policy manager wraps it
 * into a PolicyConfigError with the path.
 */
export class SignaturePolicyError extends Error {
  override readonly name: string = 'SignaturePolicyError';
}

/** A policy DSL string that does not parse (`OutOf(1, 'Org1MSP.member')` and friends). */
export class PolicyDslError extends Error {
  override readonly name: string = 'PolicyDslError';

  constructor(
    readonly dsl: string,
    reason: string,
    /** Character offset in `dsl` where the problem was found. */
    readonly offset: number,
  ) {
    super(`policy ${JSON.stringify(dsl)} at offset ${offset}: ${reason}`);
  }
}
