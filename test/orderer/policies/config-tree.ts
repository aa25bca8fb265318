// Small config trees for policy tests, built as Init objects and passed through the codecs so
// they have exactly the decoded shape of a config read from a block.
import { common } from '../../../protos';
import { parsePolicyDsl } from '../../../orderer/policies';

export const { ANY, ALL, MAJORITY } = common.ImplicitMetaPolicy_Rule;

export function signature(dsl: string): common.ConfigPolicyInit {
  return { policy: { type: common.Policy_PolicyType.SIGNATURE, value: common.SignaturePolicyEnvelope.encode(parsePolicyDsl(dsl)) }, modPolicy: 'Admins' };
}

export function implicitMeta(rule: number, subPolicy: string): common.ConfigPolicyInit {
  return { policy: { type: common.Policy_PolicyType.IMPLICIT_META, value: common.ImplicitMetaPolicy.encode({ subPolicy, rule }) }, modPolicy: 'Admins' };
}

export function rawPolicy(type: number, value: Uint8Array = new Uint8Array()): common.ConfigPolicyInit {
  return { policy: { type, value }, modPolicy: 'Admins' };
}

export function group(
  policies: Record<string, common.ConfigPolicyInit>,
  groups: Record<string, common.ConfigGroupInit> = {},
): common.ConfigGroupInit {
  return { policies, groups, modPolicy: 'Admins' };
}

export function config(channelGroup: common.ConfigGroupInit, sequence = 0): common.Config {
  return common.Config.decode(common.Config.encode({ sequence, channelGroup }));
}

/** An org group whose Writers/Admins are its members/admins, as configtxgen writes them. */
export function org(mspId: string): common.ConfigGroupInit {
  return group({
    Readers: signature(`OR('${mspId}.member')`),
    Writers: signature(`OR('${mspId}.member')`),
    Admins: signature(`OR('${mspId}.admin')`),
  });
}
