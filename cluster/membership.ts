// Who belongs to each channel. Outgoing streams read addresses from it and the sender
// authenticators check incoming senders against it, so one configure() updates both sides,
// as a consenter-set change must.
import { X509Certificate } from 'node:crypto';
import { ClusterError } from './errors';
import { NO_NODE, type ChannelMembership, type ClusterMember, type NodeId } from './types';

export interface MembershipView {
  get(channel: string): ChannelMembership | undefined;
  member(channel: string, nodeId: NodeId): ClusterMember | undefined;
  /**
   * The member of `channel` whose client TLS certificate has the public key `publicKey`
   * (hex of its SubjectPublicKeyInfo DER; see publicKeyIdOf). Fabric matches senders by public
   * key, not by certificate bytes, so a certificate renewed over the same key keeps working.
   */
  memberByClientKey(channel: string, publicKey: string): ClusterMember | undefined;
}

interface ChannelEntry {
  readonly membership: ChannelMembership;
  readonly byId: ReadonlyMap<NodeId, ClusterMember>;
  readonly byClientKey: ReadonlyMap<string, ClusterMember>;
}

/** Hex of the SubjectPublicKeyInfo DER of a DER certificate. Throws on bytes that are not one. */
export function publicKeyIdOf(certDer: Uint8Array): string {
  const spki = new X509Certificate(certDer).publicKey.export({ format: 'der', type: 'spki' });
  return spki.toString('hex');
}

export class ClusterMembership implements MembershipView {
  private readonly channels = new Map<string, ChannelEntry>();

  /** Replaces the channel's membership. Throws ClusterError on ids or ports that cannot be right. */
  set(channel: string, membership: ChannelMembership): void {
    checkNodeId(channel, membership.selfId, 'self id');
    const byId = new Map<NodeId, ClusterMember>();
    const byClientKey = new Map<string, ClusterMember>();
    for (const m of membership.members) {
      checkNodeId(channel, m.id, 'member id');
      if (!Number.isInteger(m.port) || m.port <= 0 || m.port > 65_535) {
        throw new ClusterError(`channel "${channel}": member ${m.id} has invalid port ${m.port}`);
      }
      if (m.host.length === 0) throw new ClusterError(`channel "${channel}": member ${m.id} has an empty host`);
      if (byId.has(m.id)) throw new ClusterError(`channel "${channel}": member id ${m.id} listed twice`);
      const member: ClusterMember = {
        id: m.id,
        host: m.host,
        port: m.port,
        ...(m.clientTlsCert !== undefined ? { clientTlsCert: m.clientTlsCert } : {}),
        ...(m.serverTlsCert !== undefined ? { serverTlsCert: m.serverTlsCert } : {}),
      };
      byId.set(m.id, member);
      if (m.clientTlsCert !== undefined) {
        let key: string;
        try {
          key = publicKeyIdOf(m.clientTlsCert);
        } catch (err) {
          throw new ClusterError(`channel "${channel}": member ${m.id} has a client TLS certificate that cannot be parsed: ${(err as Error).message}`, { cause: err });
        }
        // Two consenters with one key could not be told apart: the sender would be ambiguous.
        const other = byClientKey.get(key);
        if (other !== undefined) throw new ClusterError(`channel "${channel}": members ${other.id} and ${m.id} have client TLS certificates with the same public key`);
        byClientKey.set(key, member);
      }
    }
    this.channels.set(channel, {
      membership: { selfId: membership.selfId, members: [...byId.values()] },
      byId,
      byClientKey,
    });
  }

  remove(channel: string): void {
    this.channels.delete(channel);
  }

  get(channel: string): ChannelMembership | undefined {
    return this.channels.get(channel)?.membership;
  }

  member(channel: string, nodeId: NodeId): ClusterMember | undefined {
    return this.channels.get(channel)?.byId.get(nodeId);
  }

  memberByClientKey(channel: string, publicKey: string): ClusterMember | undefined {
    return this.channels.get(channel)?.byClientKey.get(publicKey);
  }
}

function checkNodeId(channel: string, id: NodeId, what: string): void {
  // Raft ids are uint64 and 0 means "none"; ours must also be exact JavaScript integers.
  if (!Number.isSafeInteger(id) || id <= NO_NODE) {
    throw new ClusterError(`channel "${channel}": ${what} ${id} is not a positive integer`);
  }
}
