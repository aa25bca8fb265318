// What every compiled policy of a channel offers beyond the public Policy contract: its
// absolute name (for reasons an operator can act on) and evaluation inside a shared
// SignatureSetEvaluation, so that the sub-policies of an ImplicitMeta verify the set once.
import type { IdentityDeserializer } from '../msp/types';
import type { SignedData } from '../msgcheck';
import { describeSignatureSet, SignatureSetEvaluation } from './signature-set';
import type { Policy, PolicyResult } from './types';

export interface CompiledPolicy extends Policy {
  /** Absolute name, e.g. "/Channel/Application/Org1MSP/Writers". */
  readonly name: string;
  /** Evaluates against the set of `evaluation`, verifying it only if needed and only once. */
  evaluateIn(evaluation: SignatureSetEvaluation): PolicyResult;
}

/**
 * Evaluates `policy` on its own signature set. A failure reason ends with what became of the
 * signatures (counted once for the whole tree, not once per sub-policy).
 */
export function evaluatePolicy(
  policy: CompiledPolicy,
  signedData: readonly SignedData[],
  deserializer: IdentityDeserializer,
): PolicyResult {
  const evaluation = new SignatureSetEvaluation(signedData, deserializer);
  const result = policy.evaluateIn(evaluation);
  if (result.satisfied) return result;
  const set = evaluation.verifiedIfDone();
  return set === undefined ? result : { satisfied: false, reason: `${result.reason} [${describeSignatureSet(set)}]` };
}

export const SATISFIED: PolicyResult = Object.freeze({ satisfied: true });
