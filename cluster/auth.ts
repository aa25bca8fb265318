// Who sent an incoming Step message. A seam: the plaintext cluster trusts a call-metadata
// header checked against the channel's members; the TLS cluster will replace it with the
// client certificate matched against the channel's consenter certificates.
import type * as grpc from '@grpc/grpc-js';
import { StepRejectedError } from './errors';
import type { MembershipView } from './membership';
import { NODE_ID_HEADER } from './service';
import type { NodeId } from './types';

/** What is known about the caller of a Step stream. */
export interface SenderInfo {
  readonly metadata: grpc.Metadata;
  /** "ip:port" as grpc-js reports it. */
  readonly peerAddress: string;
  /** Transport security of the call; carries the peer certificate once TLS is on. */
  readonly authContext: ReturnType<grpc.ServerDuplexStream<Uint8Array, Uint8Array>['getAuthContext']>;
}

export interface SenderAuthenticator {
  /**
   * The sender's node id on `channel`. Throws StepRejectedError when the sender cannot be
   * identified or is not a member of the channel. Called for every message, because
   * membership can change while a stream is open.
   */
  identify(channel: string, sender: SenderInfo): NodeId;
}

/** Trusts the NODE_ID_HEADER claim, provided the claimed id is a member of the channel. */
export class HeaderSenderAuthenticator implements SenderAuthenticator {
  constructor(private readonly membership: MembershipView) {}

  identify(channel: string, sender: SenderInfo): NodeId {
    const values = sender.metadata.get(NODE_ID_HEADER);
    if (values.length !== 1) {
      throw StepRejectedError.unauthenticated(`expected exactly one ${NODE_ID_HEADER} header, got ${values.length}`);
    }
    const raw = values[0];
    const text = typeof raw === 'string' ? raw : '';
    // Decimal digits only: Number() would also accept "0x10", " 7" or "1e3".
    const id = /^[1-9][0-9]{0,15}$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(id)) {
      throw StepRejectedError.unauthenticated(`${NODE_ID_HEADER} header "${text}" is not a node id`);
    }
    if (this.membership.member(channel, id) === undefined) {
      throw StepRejectedError.unknownSender(channel, `node ${id} (from ${sender.peerAddress}) is not configured`);
    }
    return id;
  }
}
