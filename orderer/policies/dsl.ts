// Fabric's policy language, as operators write it in configtx.yaml and configtxgen turns it
// into a SignaturePolicyEnvelope: `OR('Org1MSP.member')`, `AND('A.admin', 'B.admin')`,
// `OutOf(2, 'A.peer', 'B.peer', OR('C.member', 'D.member'))`. Gates are And/and/AND,
// Or/or/OR, OutOf/outof/OUTOF; a principal is '<MSP ID>.<role>' with role one of
// member, admin, client, peer, orderer (single or double quotes).
//
// The envelope must come out exactly as configtxgen makes it, so that a policy written
// here and one written by Fabric's tools are the same bytes:
// - every principal occurrence gets its own entry in `identities` (no deduplication);
// - numbering is post-order: a gate's nested gates number their principals first, then the
//   gate numbers its own principal arguments left to right, because Fabric evaluates the
//   gate's arguments (nested gates included) before the gate itself assigns indexes. So
//   OR('A.member', AND('B.member', 'C.member')) lists B, C, A;
// - OutOf(t, ...) accepts 0 <= t <= n+1 for n arguments (t = n+1 can never be met, but
//   Fabric's parser allows it); t may be written quoted ('1'), as Fabric allows.
// Not supported, on purpose: Fabric's parser evaluates arbitrary expressions (arithmetic,
// non-integer thresholds truncated); we accept integer literals only.
import { common } from '../../protos';
import { PolicyDslError } from './errors';

/** Role names of the DSL, as MSPRole values. */
export const DSL_ROLES: Readonly<Record<string, common.MSPRole_MSPRoleType>> = Object.freeze({
  member: common.MSPRole_MSPRoleType.MEMBER,
  admin: common.MSPRole_MSPRoleType.ADMIN,
  client: common.MSPRole_MSPRoleType.CLIENT,
  peer: common.MSPRole_MSPRoleType.PEER,
  orderer: common.MSPRole_MSPRoleType.ORDERER,
});

const PRINCIPAL_PATTERN = /^([A-Za-z0-9.-]+)\.(admin|member|client|peer|orderer)$/;
const GATES: Readonly<Record<string, 'and' | 'or' | 'outof'>> = Object.freeze({
  And: 'and',
  and: 'and',
  AND: 'and',
  Or: 'or',
  or: 'or',
  OR: 'or',
  OutOf: 'outof',
  outof: 'outof',
  OUTOF: 'outof',
});

type Token =
  | { readonly kind: 'word'; readonly text: string; readonly offset: number }
  | { readonly kind: 'string'; readonly text: string; readonly offset: number }
  | { readonly kind: 'number'; readonly value: number; readonly offset: number }
  | { readonly kind: '(' | ')' | ','; readonly offset: number }
  | { readonly kind: 'end'; readonly offset: number };

function tokenize(dsl: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < dsl.length) {
    const c = dsl[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(' || c === ')' || c === ',') {
      tokens.push({ kind: c, offset: i });
      i++;
    } else if (c === "'" || c === '"') {
      const close = dsl.indexOf(c, i + 1);
      if (close < 0) throw new PolicyDslError(dsl, 'unterminated string', i);
      const text = dsl.slice(i + 1, close);
      if (text.includes('\\')) throw new PolicyDslError(dsl, 'escapes are not supported in strings', i);
      tokens.push({ kind: 'string', text, offset: i });
      i = close + 1;
    } else if (/[0-9-]/.test(c)) {
      const m = /^-?[0-9]+/.exec(dsl.slice(i));
      if (m === null) throw new PolicyDslError(dsl, `unexpected ${JSON.stringify(c)}`, i);
      tokens.push({ kind: 'number', value: Number(m[0]), offset: i });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(dsl.slice(i))!;
      tokens.push({ kind: 'word', text: m[0], offset: i });
      i += m[0].length;
    } else {
      throw new PolicyDslError(dsl, `unexpected ${JSON.stringify(c)}`, i);
    }
  }
  tokens.push({ kind: 'end', offset: dsl.length });
  return tokens;
}

interface PrincipalNode {
  readonly kind: 'principal';
  readonly mspId: string;
  readonly role: common.MSPRole_MSPRoleType;
}
interface GateNode {
  readonly kind: 'gate';
  readonly n: number;
  readonly args: readonly (PrincipalNode | GateNode)[];
}

class Parser {
  private pos = 0;

  constructor(
    private readonly dsl: string,
    private readonly tokens: readonly Token[],
  ) {}

  private fail(reason: string, token: Token = this.tokens[this.pos]!): never {
    throw new PolicyDslError(this.dsl, reason, token.offset);
  }

  private next(): Token {
    const t = this.tokens[this.pos]!;
    if (t.kind !== 'end') this.pos++;
    return t;
  }

  private expect(kind: '(' | ')' | ','): void {
    const t = this.next();
    if (t.kind !== kind) this.fail(`expected ${JSON.stringify(kind)}`, t);
  }

  parseTop(): GateNode {
    const first = this.tokens[0]!;
    if (first.kind !== 'word') this.fail('a policy starts with AND, OR or OutOf', first);
    const gate = this.parseGate();
    const rest = this.next();
    if (rest.kind !== 'end') this.fail('unexpected text after the policy', rest);
    return gate;
  }

  private parseGate(): GateNode {
    const word = this.next();
    if (word.kind !== 'word') return this.fail('expected AND, OR or OutOf', word);
    const gate = GATES[word.text];
    if (gate === undefined) this.fail(`unknown gate ${JSON.stringify(word.text)} (AND, OR, OutOf)`, word);
    this.expect('(');
    let threshold: number | undefined;
    let thresholdToken: Token | undefined;
    if (gate === 'outof') {
      thresholdToken = this.next();
      if (thresholdToken.kind === 'number') threshold = thresholdToken.value;
      else if (thresholdToken.kind === 'string' && /^-?[0-9]+$/.test(thresholdToken.text)) threshold = Number(thresholdToken.text);
      else this.fail('OutOf needs an integer threshold first', thresholdToken);
      if (this.tokens[this.pos]!.kind === ')') this.fail('OutOf needs at least one principal or gate after the threshold');
      this.expect(',');
    }
    const args: (PrincipalNode | GateNode)[] = [];
    for (;;) {
      const t = this.tokens[this.pos]!;
      if (t.kind === 'string') {
        this.next();
        const m = PRINCIPAL_PATTERN.exec(t.text);
        if (m === null) this.fail(`${JSON.stringify(t.text)} is not a principal '<MSP ID>.<member|admin|client|peer|orderer>'`, t);
        args.push({ kind: 'principal', mspId: m[1]!, role: DSL_ROLES[m[2]!]! });
      } else if (t.kind === 'word') {
        args.push(this.parseGate());
      } else {
        this.fail('expected a quoted principal or a gate', t);
      }
      const sep = this.next();
      if (sep.kind === ')') break;
      if (sep.kind !== ',') this.fail('expected "," or ")"', sep);
    }
    const n = gate === 'and' ? args.length : gate === 'or' ? 1 : threshold!;
    if (n < 0 || n > args.length + 1) {
      this.fail(`threshold ${n} out of range for ${args.length} arguments (0 to ${args.length + 1})`, thresholdToken ?? word);
    }
    return { kind: 'gate', n, args };
  }
}

/** Builds the rule of `gate`, numbering principals post-order as Fabric does (see top). */
function buildRule(gate: GateNode, identities: common.MSPPrincipalInit[]): common.SignaturePolicyInit {
  const nested = new Map<GateNode, common.SignaturePolicyInit>();
  for (const arg of gate.args) if (arg.kind === 'gate') nested.set(arg, buildRule(arg, identities));
  const rules = gate.args.map((arg): common.SignaturePolicyInit => {
    if (arg.kind === 'gate') return nested.get(arg)!;
    identities.push({
      principalClassification: common.MSPPrincipal_Classification.ROLE,
      principal: common.MSPRole.encode({ mspIdentifier: arg.mspId, role: arg.role }),
    });
    return { signedBy: identities.length - 1 };
  });
  return { nOutOf: { n: gate.n, rules } };
}

/** Parses a policy DSL string into the envelope configtxgen would write. Throws PolicyDslError. */
export function parsePolicyDsl(dsl: string): common.SignaturePolicyEnvelope {
  const tree = new Parser(dsl, tokenize(dsl)).parseTop();
  const identities: common.MSPPrincipalInit[] = [];
  const rule = buildRule(tree, identities);
  // Through the codec, so the result has exactly the decoded shape of one read from a config.
  return common.SignaturePolicyEnvelope.decode(common.SignaturePolicyEnvelope.encode({ version: 0, rule, identities }));
}

const ROLE_NAMES = new Map<number, string>(Object.entries(DSL_ROLES).map(([name, role]) => [role, name]));

/** A principal as the DSL writes it, or a bracketed description when the DSL cannot say it. */
export function formatPrincipal(principal: common.MSPPrincipal): string {
  if (principal.principalClassification === common.MSPPrincipal_Classification.ROLE) {
    try {
      const role = common.MSPRole.decode(principal.principal);
      const name = ROLE_NAMES.get(role.role);
      if (name !== undefined) return `'${role.mspIdentifier}.${name}'`;
      return `<ROLE ${role.role} of ${role.mspIdentifier}>`;
    } catch {
      return '<malformed ROLE principal>';
    }
  }
  const classification = common.MSPPrincipal_Classification[principal.principalClassification] ?? String(principal.principalClassification);
  return `<${classification} principal>`;
}

function formatRule(rule: common.SignaturePolicy | undefined, identities: readonly common.MSPPrincipal[]): string {
  if (rule === undefined) return '<empty rule>';
  if (rule.signedBy !== undefined) {
    const principal = identities[rule.signedBy];
    return principal === undefined ? `<signed_by ${rule.signedBy}: no such principal>` : formatPrincipal(principal);
  }
  if (rule.nOutOf !== undefined) {
    const { n, rules } = rule.nOutOf;
    const args = rules.map((r) => formatRule(r, identities)).join(', ');
    if (n === 1 && rules.length >= 1) return `OR(${args})`;
    if (n === rules.length && rules.length >= 1) return `AND(${args})`;
    return `OutOf(${n}${rules.length > 0 ? ', ' : ''}${args})`;
  }
  return '<rule of unknown type>';
}

/**
 * The envelope in the DSL. An envelope made by parsePolicyDsl (or configtxgen) formats to a
 * string that parses back to the same bytes; principals the DSL cannot express (OU, IDENTITY,
 * ...) and a bare top-level signed_by are written in a readable form that does not parse.
 */
export function formatSignaturePolicy(envelope: common.SignaturePolicyEnvelope): string {
  return formatRule(envelope.rule, envelope.identities);
}
