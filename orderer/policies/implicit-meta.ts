// ImplicitMeta policies (reference §5.2 rule 3): "ANY Writers", "MAJORITY Admins" — a
// threshold over the policy named `sub_policy` in every DIRECT child group of the group
// holding this policy. Thresholds: ANY 1, ALL the number of children, MAJORITY
// floor(children/2)+1. A child without such a policy counts as a failed sub-policy.
//
// Two edge cases follow Fabric exactly, because a peer evaluating the same config must agree:
// - no child groups: the threshold is 0 and the policy is satisfied by anything, even an
//   empty signature set (an org group whose Readers is "ANY Readers" lets everyone in);
// - a rule number outside ANY/ALL/MAJORITY also leaves the threshold at 0, and Fabric then
//   counts down from 0: the policy holds only if NO sub-policy is satisfied. Absurd, but it
//   is what a Fabric node decides for such a config, so it is what we decide.
import { common, ProtoDecodeError } from '../../protos';
import type { IdentityDeserializer } from '../msp/types';
import type { SignedData } from '../msgcheck';
import { evaluatePolicy, SATISFIED, type CompiledPolicy } from './compiled';
import { SignaturePolicyError } from './errors';
import type { SignatureSetEvaluation } from './signature-set';
import type { PolicyResult } from './types';

/** How many failed sub-policies a failure reason details; the rest are counted. */
export const MAX_SUB_POLICY_FAILURES_DESCRIBED = 8;

/** One child group's sub-policy: undefined when the child has no policy of that name. */
export interface SubPolicy {
  /** Absolute name the sub-policy would have, e.g. "/Channel/Application/Org1MSP/Writers". */
  readonly name: string;
  readonly policy: CompiledPolicy | undefined;
}

/** Fabric's threshold for `rule` over `count` children (0 for no children or an unknown rule). */
export function implicitMetaThreshold(rule: number, count: number): number {
  if (count === 0) return 0;
  switch (rule) {
    case common.ImplicitMetaPolicy_Rule.ANY:
      return 1;
    case common.ImplicitMetaPolicy_Rule.ALL:
      return count;
    case common.ImplicitMetaPolicy_Rule.MAJORITY:
      return Math.floor(count / 2) + 1;
    default:
      return 0;
  }
}

export function decodeImplicitMeta(value: Uint8Array): common.ImplicitMetaPolicy {
  try {
    return common.ImplicitMetaPolicy.decode(value);
  } catch (err) {
    if (err instanceof ProtoDecodeError) throw new SignaturePolicyError(`not an ImplicitMetaPolicy: ${err.message}`, { cause: err });
    throw err;
  }
}

export class ImplicitMetaPolicy implements CompiledPolicy {
  readonly threshold: number;
  /** "ANY Writers", as configtx.yaml writes it. */
  readonly description: string;

  constructor(
    readonly name: string,
    readonly definition: common.ImplicitMetaPolicy,
    /** One per direct child group, in a fixed (sorted) order so reasons read the same every time. */
    readonly subPolicies: readonly SubPolicy[],
    private readonly deserializer: IdentityDeserializer,
  ) {
    this.threshold = implicitMetaThreshold(definition.rule, subPolicies.length);
    const ruleName = common.ImplicitMetaPolicy_Rule[definition.rule] ?? `rule ${definition.rule}`;
    this.description = `${ruleName} ${definition.subPolicy}`;
  }

  evaluate(signedData: readonly SignedData[]): PolicyResult {
    return evaluatePolicy(this, signedData, this.deserializer);
  }

  evaluateIn(evaluation: SignatureSetEvaluation): PolicyResult {
    if (this.subPolicies.length === 0) return SATISFIED;
    let satisfied = 0;
    const failures: string[] = [];
    for (const sub of this.subPolicies) {
      if (sub.policy === undefined) {
        failures.push(`${sub.name}: no such policy`);
        continue;
      }
      const result = sub.policy.evaluateIn(evaluation);
      if (result.satisfied) {
        satisfied++;
        // Later sub-policies cannot change the verdict once the threshold is met (a threshold
        // of 0 never stops early: see the top of this file).
        if (this.threshold > 0 && satisfied >= this.threshold) return SATISFIED;
      } else {
        failures.push(result.reason);
      }
    }
    if (this.threshold === 0 && satisfied === 0) return SATISFIED;
    const listed = failures.slice(0, MAX_SUB_POLICY_FAILURES_DESCRIBED);
    const more = failures.length - listed.length;
    const required = this.threshold === 0 ? `none may be (unknown rule ${this.definition.rule})` : `${this.threshold} required`;
    return {
      satisfied: false,
      reason:
        `policy ${this.name} (${this.description}): ${satisfied} of ${this.subPolicies.length} sub-policies satisfied, ${required}` +
        (listed.length > 0 ? ` (${listed.join('; ')}${more > 0 ? `; and ${more} more` : ''})` : ''),
    };
  }
}
