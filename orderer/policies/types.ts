// The policy contract (Fabric §5.2): a channel's policies by name, evaluated over a set of
// signed data. Broadcast (Writers), Deliver (Readers), pulled-block verification
// (BlockValidation) and, later, config updates (mod_policy) depend only on this.
import type { SignedData } from '../msgcheck';

/** The outcome of one evaluation, with what an operator or client needs to know when it fails. */
export type PolicyResult = { readonly satisfied: true } | { readonly satisfied: false; readonly reason: string };

export interface Policy {
  /** Evaluates the signature set (duplicates and bad signatures dropped as §5.2 says). */
  evaluate(signedData: readonly SignedData[]): PolicyResult;
}

/** One channel's policies, built from its config. */
export interface PolicyManager {
  /**
   * The policy at `name`: absolute ("/Channel/Writers", "/Channel/Orderer/BlockValidation") or
   * relative to the channel group ("Writers"). Undefined when no such policy exists (which
   * evaluates as rejected, §5.2).
   */
  getPolicy(name: string): Policy | undefined;
}
