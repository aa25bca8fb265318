// Raft membership carried by a config update (reference §3.6 table, §3.8 steps 3-6): which
// consenter a new etcdraft ConfigMetadata adds, removes or re-certifies, the raft IDs that
// follow, whether its certificates are acceptable, and whether the change would cost the
// channel its quorum. Consenters are matched by the exact bytes of their client TLS
// certificate, as Fabric does: a new certificate for the same host is a different consenter.
import type { common } from '../../protos';
import {
  CONSENSUS_TYPE_KEY,
  CHANNEL_GROUP,
  getOwn,
  ORDERER_GROUP,
  type ChannelSettings,
  type RaftConsenter,
} from '../channelconfig/settings';
import { ChainInvariantError, ChannelConfigError, OrdererError } from '../errors';
import { CertificateError, type ParsedCertificate } from '../msp/certificate';
import { parsePemCertificate, TlsTrust } from './tls-trust';

/** Where consenters live in the config, for error messages. */
export const CONSENSUS_TYPE_PATH = `/${CHANNEL_GROUP}/${ORDERER_GROUP}/${CONSENSUS_TYPE_KEY}`;

/** Raft IDs after a config (consenterIds[i] belongs to consenters[i]) and the next ID to hand out. */
interface ConsenterIds {
  /** New consenter_ids, in the new config's consenter order. */
  readonly ids: readonly number[];
  readonly nextConsenterId: number;
}

/**
 * What a config does to Raft membership. `none` still carries the IDs: a config may reorder
 * the consenters, and consenter_ids follow the config's order.
 */
export type ConsenterChange =
  | ({ readonly kind: 'none' } & ConsenterIds)
  /** AddNode `nodeId` (= the old next_consenter_id); `consenter` is the new entry. */
  | ({ readonly kind: 'add'; readonly nodeId: number; readonly consenter: RaftConsenter } & ConsenterIds)
  /** RemoveNode `nodeId`; `consenter` is the entry removed. */
  | ({ readonly kind: 'remove'; readonly nodeId: number; readonly consenter: RaftConsenter } & ConsenterIds)
  /** Certificate rotation: `consenter` (the new entry) takes over `nodeId`; no Raft ConfChange. */
  | ({ readonly kind: 'rotate'; readonly nodeId: number; readonly consenter: RaftConsenter } & ConsenterIds);

/**
 * Whether a config update touches the consenters at all (reference §3.6): its write set holds
 * Orderer/ConsensusType at a version other than its read set's (a value absent from the read
 * set counts as version 0). Only then does the chain look for a membership change.
 */
export function consenterUpdateOf(update: common.ConfigUpdate): boolean {
  const versionIn = (root: common.ConfigGroup | undefined): number | undefined => {
    const ordererGroup = root === undefined ? undefined : getOwn(root.groups, ORDERER_GROUP);
    return ordererGroup === undefined ? undefined : getOwn(ordererGroup.values, CONSENSUS_TYPE_KEY)?.version;
  };
  const written = versionIn(update.writeSet);
  if (written === undefined) return false;
  return written !== (versionIn(update.readSet) ?? 0);
}

function certKey(cert: Uint8Array): string {
  return Buffer.from(cert.buffer, cert.byteOffset, cert.length).toString('hex');
}

/** Indexes of the new consenters that are not old ones, and of the old ones that are gone. */
function membershipDiff(
  oldConsenters: readonly RaftConsenter[],
  newConsenters: readonly RaftConsenter[],
): { added: number[]; removed: number[]; oldIndexOf: Map<string, number> } {
  const oldIndexOf = new Map<string, number>();
  oldConsenters.forEach((c, i) => oldIndexOf.set(certKey(c.clientTlsCert), i));
  const newKeys = new Set(newConsenters.map((c) => certKey(c.clientTlsCert)));
  const added: number[] = [];
  newConsenters.forEach((c, i) => {
    if (!oldIndexOf.has(certKey(c.clientTlsCert))) added.push(i);
  });
  const removed: number[] = [];
  oldConsenters.forEach((c, i) => {
    if (!newKeys.has(certKey(c.clientTlsCert))) removed.push(i);
  });
  return { added, removed, oldIndexOf };
}

/**
 * Refuses a consenter set that adds or removes more than one consenter relative to the old one
 * (one of each is a rotation). Needs no raft IDs, so config-update validation can run it.
 */
export function checkSingleMembershipChange(oldConsenters: readonly RaftConsenter[], newConsenters: readonly RaftConsenter[]): void {
  const { added, removed } = membershipDiff(oldConsenters, newConsenters);
  if (added.length > 1 || removed.length > 1) {
    throw new ChannelConfigError(
      CONSENSUS_TYPE_PATH,
      `only one consenter may be added or removed at a time (or one replaced, a certificate rotation); this update adds ${added.length} and removes ${removed.length}`,
    );
  }
}

/**
 * The membership change from `oldConsenters` (with raft IDs `oldIds`, same order) to
 * `newConsenters` (reference §3.6 table). BAD_REQUEST if more than one consenter is added or
 * removed.
 */
export function detectConsenterChange(
  oldConsenters: readonly RaftConsenter[],
  newConsenters: readonly RaftConsenter[],
  oldIds: readonly number[],
  nextConsenterId: number,
): ConsenterChange {
  if (oldIds.length !== oldConsenters.length) {
    // The block metadata and the config it belongs to disagree: the chain's state is broken.
    throw new ChainInvariantError(`${oldIds.length} consenter IDs for ${oldConsenters.length} consenters`);
  }
  checkSingleMembershipChange(oldConsenters, newConsenters);
  const { added, removed, oldIndexOf } = membershipDiff(oldConsenters, newConsenters);
  const ids = newConsenters.map((c) => {
    const oldIndex = oldIndexOf.get(certKey(c.clientTlsCert));
    return oldIndex === undefined ? -1 : oldIds[oldIndex]!;
  });
  const addedIndex = added[0];
  const removedIndex = removed[0];
  if (addedIndex !== undefined && removedIndex !== undefined) {
    const nodeId = oldIds[removedIndex]!;
    ids[addedIndex] = nodeId;
    return { kind: 'rotate', nodeId, consenter: newConsenters[addedIndex]!, ids, nextConsenterId };
  }
  if (addedIndex !== undefined) {
    const nodeId = nextConsenterId;
    ids[addedIndex] = nodeId;
    return { kind: 'add', nodeId, consenter: newConsenters[addedIndex]!, ids, nextConsenterId: nextConsenterId + 1 };
  }
  if (removedIndex !== undefined) {
    return { kind: 'remove', nodeId: oldIds[removedIndex]!, consenter: oldConsenters[removedIndex]!, ids, nextConsenterId };
  }
  return { kind: 'none', ids, nextConsenterId };
}

function describeConsenter(c: RaftConsenter): string {
  return `consenter ${c.host}:${c.port}`;
}

function parseConsenterCert(c: RaftConsenter, which: 'client' | 'server'): ParsedCertificate {
  const pem = which === 'client' ? c.clientTlsCert : c.serverTlsCert;
  try {
    return parsePemCertificate(pem);
  } catch (err) {
    if (err instanceof CertificateError) {
      throw new ChannelConfigError(CONSENSUS_TYPE_PATH, `${describeConsenter(c)}: ${which} TLS certificate: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/**
 * Reference §3.8 steps 3-4 on the consenters of `settings`: each client and server certificate
 * is PEM, parses, and chains to the orderer organizations' TLS CAs with a client or server
 * authentication usage, its own expiry ignored (its issuers must be valid at `nowMs`; without
 * `nowMs` no validity period is checked); and no certificate appears in two consenters.
 * BAD_REQUEST naming the consenter otherwise.
 */
export function validateConsenterCerts(settings: ChannelSettings, nowMs?: number): void {
  const trust = TlsTrust.ofOrderers(settings);
  for (const c of settings.orderer.consensus.consenters) {
    for (const which of ['client', 'server'] as const) {
      const cert = parseConsenterCert(c, which);
      const problem = trust.verifyProblem(cert, { atMs: nowMs, checkLeafTime: false });
      if (problem !== undefined) {
        throw new ChannelConfigError(CONSENSUS_TYPE_PATH, `${describeConsenter(c)}: ${which} TLS certificate (${cert.description}): ${problem}`);
      }
    }
  }
  // Fabric's rule: a certificate seen in an earlier consenter, as client or server, may not
  // appear again; one consenter may use the same certificate for both.
  const seen = new Map<string, RaftConsenter>();
  for (const c of settings.orderer.consensus.consenters) {
    const clientKey = certKey(c.clientTlsCert);
    const serverKey = certKey(c.serverTlsCert);
    const earlier = seen.get(clientKey) ?? seen.get(serverKey);
    if (earlier !== undefined) {
      throw new ChannelConfigError(
        CONSENSUS_TYPE_PATH,
        `${describeConsenter(c)} repeats a TLS certificate of ${describeConsenter(earlier)}: every consenter needs its own certificates`,
      );
    }
    seen.set(clientKey, c);
    seen.set(serverKey, c);
  }
}

/**
 * Reference §3.8 step 5: a consenter joining the channel (added or rotated in) must have
 * certificates valid now, chain included; Fabric forgives expiry only for consenters already
 * in the set.
 */
export function checkNewConsenterNotExpired(settings: ChannelSettings, change: ConsenterChange, nowMs: number): void {
  if (change.kind !== 'add' && change.kind !== 'rotate') return;
  const trust = TlsTrust.ofOrderers(settings);
  const c = change.consenter;
  for (const which of ['client', 'server'] as const) {
    const cert = parseConsenterCert(c, which);
    const problem = trust.verifyProblem(cert, { atMs: nowMs, checkLeafTime: true });
    if (problem !== undefined) {
      throw new ChannelConfigError(CONSENSUS_TYPE_PATH, `new ${describeConsenter(c)}: ${which} TLS certificate (${cert.description}): ${problem}`);
    }
  }
}

/**
 * Reference §3.8 step 6, Fabric's quorum guard: refuse a membership change that would leave fewer
 * active consenters than a quorum of the new set (q = floor(N_new / 2) + 1). "Active" is the leader
 * and the followers it heard from recently, among the consenters of the new set (or the one rotated
 * or removed); `activeNodes` undefined means the caller does not know (a follower, or a block being
 * applied) and skips the guard. Adding to or rotating within a set of two or fewer is allowed
 * whatever the activity: such a cluster tolerates no fault anyway.
 */
export function checkQuorumGuard(change: ConsenterChange, activeNodes: readonly number[] | undefined): void {
  if (activeNodes === undefined || change.kind === 'none') return;
  const newCount = change.ids.length;
  const quorum = Math.floor(newCount / 2) + 1;
  // Only consenters of the new set count: a node an earlier config removed stays in Raft's
  // progress, heard from, until its removal applies, and would count for a quorum it is not in.
  const active = new Set(activeNodes.filter((id) => change.ids.includes(id) || id === change.nodeId));
  const toleratesFaults = newCount > 2;
  let activeAfter: number;
  let refuse: boolean;
  switch (change.kind) {
    case 'add':
      activeAfter = active.size;
      refuse = toleratesFaults && activeAfter < quorum;
      break;
    case 'rotate':
      active.delete(change.nodeId);
      activeAfter = active.size;
      refuse = toleratesFaults && activeAfter < quorum;
      break;
    case 'remove':
      active.delete(change.nodeId);
      activeAfter = active.size;
      refuse = activeAfter < quorum;
      break;
  }
  if (refuse) {
    throw OrdererError.badRequest(
      `${CONSENSUS_TYPE_PATH}: ${change.kind} of raft node ${change.nodeId} refused: only ${activeAfter} active consenters would count towards a quorum of ${quorum} of ${newCount}; the channel would lose quorum (bring consenters back online first)`,
    );
  }
}
