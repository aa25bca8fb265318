// The policy contract (Fabric §5.2): a channel's policies by name, evaluated over a set of
// signed data. Broadcast (Writers), Deliver (Readers), pulled-block verification
// (BlockValidation) and, later, config updates (mod_policy) depend only on this; they reach
// one channel's policies through ChannelPolicies (channel-policies.ts).
import type { SignedData } from '../msgcheck';

/**
 * The outcome of one evaluation, with what an operator or client needs to know when it fails:
 * which policy, how many of how many sub-policies or rules held, and what became of each
 * dropped signature (identity refused and why, duplicate, bad signature).
 */
export type PolicyResult = { readonly satisfied: true } | { readonly satisfied: false; readonly reason: string };

export interface Policy {
  /**
   * Evaluates the signature set (refused identities, duplicates and bad signatures dropped as
   * §5.2 says). Never throws for anything a client can send; throws only an error of the MSP
   * that is not a refusal (a bug), which callers answer as an internal failure or FORBIDDEN.
   */
  evaluate(signedData: readonly SignedData[]): PolicyResult;
}

/** One channel's policies, built from its config. */
export interface PolicyManager {
  /**
   * The policy at `name`: absolute ("/Channel/Writers", "/Channel/Orderer/BlockValidation") or
   * relative to the channel group ("Writers", "Orderer/BlockValidation"). Undefined when no
   * such policy exists (which evaluates as rejected, §5.2).
   */
  getPolicy(name: string): Policy | undefined;
}
