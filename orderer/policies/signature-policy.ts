// Signature policies (common.SignaturePolicyEnvelope, Fabric's cauthdsl): a tree of
// `n_out_of` gates over `signed_by` leaves, each leaf naming one of the envelope's principals.
//
// Evaluation follows reference §5.2 rule 2 to the letter, because peers and Fabric orderers
// evaluate the same policies and must reach the same verdict:
// - `signed_by i` takes the FIRST not-yet-used identity that satisfies principal i and marks
//   it used;
// - `n_out_of` runs its rules in order, each on a copy of the used marks; a satisfied rule's
//   marks are kept, a failed rule's are thrown away; the gate holds when satisfied >= n;
// - greedy, no backtracking: AND('A.member', 'A.admin') fails with one admin and one plain
//   member if the admin signed first (the member leaf takes the admin, the admin leaf finds
//   nobody), although assigning the other way round would work. Fabric fails it too, and
//   "fixing" it here would make us accept what a peer rejects.
import { common, ProtoDecodeError } from '../../protos';
import type { Identity, IdentityDeserializer } from '../msp/types';
import type { SignedData } from '../msgcheck';
import { evaluatePolicy, SATISFIED, type CompiledPolicy } from './compiled';
import { formatSignaturePolicy } from './dsl';
import { SignaturePolicyError } from './errors';
import type { SignatureSetEvaluation } from './signature-set';
import type { PolicyResult } from './types';

/** Longest DSL rendering of a policy a failure reason quotes. */
export const MAX_FORMATTED_POLICY_CHARS = 240;

type Rule =
  | { readonly kind: 'signed-by'; readonly principalIndex: number }
  | { readonly kind: 'n-out-of'; readonly n: number; readonly rules: readonly Rule[] };

function compileRule(rule: common.SignaturePolicy | undefined, principalCount: number): Rule {
  // Fabric refuses these when the config is built, so a config carrying one never applies.
  if (rule === undefined) throw new SignaturePolicyError('empty policy element (no rule)');
  if (rule.signedBy !== undefined) {
    if (rule.signedBy < 0 || rule.signedBy >= principalCount) {
      throw new SignaturePolicyError(
        `signed_by ${rule.signedBy} is out of range: the envelope has ${principalCount} principal${principalCount === 1 ? '' : 's'}`,
      );
    }
    return { kind: 'signed-by', principalIndex: rule.signedBy };
  }
  if (rule.nOutOf !== undefined) {
    return { kind: 'n-out-of', n: rule.nOutOf.n, rules: rule.nOutOf.rules.map((r) => compileRule(r, principalCount)) };
  }
  throw new SignaturePolicyError('rule is neither signed_by nor n_out_of');
}

/**
 * The evaluation state of one run: which identities the rules have consumed, and a memo of
 * principal checks (an identity is checked against a principal at most once per run: with
 * the X.509 MSP a check may validate a certificate chain).
 */
class Run {
  private readonly principalMemo: (boolean | undefined)[];

  constructor(
    readonly identities: readonly Identity[],
    private readonly principals: readonly common.MSPPrincipal[],
  ) {
    this.principalMemo = new Array<boolean | undefined>(identities.length * principals.length);
  }

  satisfies(identityIndex: number, principalIndex: number): boolean {
    const slot = identityIndex * this.principals.length + principalIndex;
    let ok = this.principalMemo[slot];
    if (ok === undefined) {
      ok = this.identities[identityIndex]!.satisfiesPrincipal(this.principals[principalIndex]!);
      this.principalMemo[slot] = ok;
    }
    return ok;
  }
}

function signedBy(run: Run, principalIndex: number, used: boolean[]): boolean {
  for (let i = 0; i < run.identities.length; i++) {
    if (used[i] === true) continue;
    if (run.satisfies(i, principalIndex)) {
      used[i] = true;
      return true;
    }
  }
  return false;
}

/** Rules of the gate satisfied, each run on a copy of `used`; `used` keeps satisfied rules' marks. */
function countSatisfied(run: Run, rules: readonly Rule[], used: boolean[]): number {
  let satisfied = 0;
  for (const rule of rules) {
    const scratch = used.slice();
    if (evaluateRule(run, rule, scratch)) {
      satisfied++;
      for (let i = 0; i < used.length; i++) used[i] = scratch[i]!;
    }
  }
  return satisfied;
}

function evaluateRule(run: Run, rule: Rule, used: boolean[]): boolean {
  if (rule.kind === 'signed-by') return signedBy(run, rule.principalIndex, used);
  return countSatisfied(run, rule.rules, used) >= rule.n;
}

/** A compiled SignaturePolicyEnvelope (version 0). */
export class SignaturePolicy implements CompiledPolicy {
  private readonly rule: Rule;
  private readonly principals: readonly common.MSPPrincipal[];
  /** The policy in the DSL, for failure reasons. */
  readonly formatted: string;

  /** Throws SignaturePolicyError when the envelope does not compile (Fabric refuses the config then). */
  constructor(
    readonly name: string,
    envelope: common.SignaturePolicyEnvelope,
    private readonly deserializer: IdentityDeserializer,
  ) {
    // Version 0 is the only one Fabric's evaluator understands; refusing others keeps a future
    // format from being misread as this one.
    if (envelope.version !== 0) throw new SignaturePolicyError(`version ${envelope.version} is not supported (only 0)`);
    this.rule = compileRule(envelope.rule, envelope.identities.length);
    this.principals = envelope.identities;
    const formatted = formatSignaturePolicy(envelope);
    this.formatted =
      formatted.length > MAX_FORMATTED_POLICY_CHARS ? `${formatted.slice(0, MAX_FORMATTED_POLICY_CHARS)}...` : formatted;
  }

  /** Decodes and compiles Policy.value of a SIGNATURE policy. Throws SignaturePolicyError. */
  static fromBytes(name: string, value: Uint8Array, deserializer: IdentityDeserializer): SignaturePolicy {
    let envelope: common.SignaturePolicyEnvelope;
    try {
      envelope = common.SignaturePolicyEnvelope.decode(value);
    } catch (err) {
      if (err instanceof ProtoDecodeError) throw new SignaturePolicyError(`not a SignaturePolicyEnvelope: ${err.message}`, { cause: err });
      throw err;
    }
    return new SignaturePolicy(name, envelope, deserializer);
  }

  evaluate(signedData: readonly SignedData[]): PolicyResult {
    return evaluatePolicy(this, signedData, this.deserializer);
  }

  evaluateIn(evaluation: SignatureSetEvaluation): PolicyResult {
    const identities = evaluation.verified().identities;
    const run = new Run(identities, this.principals);
    const used = new Array<boolean>(identities.length).fill(false);
    if (this.rule.kind === 'signed-by') {
      if (signedBy(run, this.rule.principalIndex, used)) return SATISFIED;
      return { satisfied: false, reason: `policy ${this.name} ${this.formatted}: no valid signature satisfies the principal` };
    }
    const satisfied = countSatisfied(run, this.rule.rules, used);
    if (satisfied >= this.rule.n) return SATISFIED;
    return {
      satisfied: false,
      reason: `policy ${this.name} ${this.formatted}: ${satisfied} of ${this.rule.rules.length} rules satisfied, ${this.rule.n} required`,
    };
  }
}
