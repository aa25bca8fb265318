// Who belongs to each channel. Outgoing streams read addresses from it and the header
// authenticator checks incoming senders against it, so one configure() updates both sides,
// as a consenter-set change must.
import { ClusterError } from './errors';
import { NO_NODE, type ChannelMembership, type ClusterMember, type NodeId } from './types';

export interface MembershipView {
  get(channel: string): ChannelMembership | undefined;
  member(channel: string, nodeId: NodeId): ClusterMember | undefined;
}

interface ChannelEntry {
  readonly membership: ChannelMembership;
  readonly byId: ReadonlyMap<NodeId, ClusterMember>;
}

export class ClusterMembership implements MembershipView {
  private readonly channels = new Map<string, ChannelEntry>();

  /** Replaces the channel's membership. Throws ClusterError on ids or ports that cannot be right. */
  set(channel: string, membership: ChannelMembership): void {
    checkNodeId(channel, membership.selfId, 'self id');
    const byId = new Map<NodeId, ClusterMember>();
    for (const m of membership.members) {
      checkNodeId(channel, m.id, 'member id');
      if (!Number.isInteger(m.port) || m.port <= 0 || m.port > 65_535) {
        throw new ClusterError(`channel "${channel}": member ${m.id} has invalid port ${m.port}`);
      }
      if (m.host.length === 0) throw new ClusterError(`channel "${channel}": member ${m.id} has an empty host`);
      if (byId.has(m.id)) throw new ClusterError(`channel "${channel}": member id ${m.id} listed twice`);
      byId.set(m.id, { id: m.id, host: m.host, port: m.port });
    }
    this.channels.set(channel, {
      membership: { selfId: membership.selfId, members: [...byId.values()] },
      byId,
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
}

function checkNodeId(channel: string, id: NodeId, what: string): void {
  // Raft ids are uint64 and 0 means "none"; ours must also be exact JavaScript integers.
  if (!Number.isSafeInteger(id) || id <= NO_NODE) {
    throw new ClusterError(`channel "${channel}": ${what} ${id} is not a positive integer`);
  }
}
