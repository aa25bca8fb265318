// Who sent an incoming Step message. A seam: the plaintext cluster trusts a call-metadata
// header checked against the channel's members; the TLS cluster identifies the sender by the
// client certificate of its connection, matched against the channel's consenter certificates.
import * as grpc from '@grpc/grpc-js';
import { StepRejectedError } from './errors';
import { publicKeyIdOf, type MembershipView } from './membership';
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

/** Fabric's words for a TLS peer whose certificate is no consenter's (and the status it ends with). */
export const UNAUTHORIZED_CERT_MESSAGE = "certificate extracted from TLS connection isn't authorized";
export const NO_CERT_MESSAGE = 'no TLS certificate sent';

/**
 * Fabric's way (reference §3.14): the sender is the consenter of the channel whose client TLS
 * certificate has the same public key as the certificate the peer presented in the TLS
 * handshake. Headers are ignored: on a TLS cluster a header is only a claim, the handshake is a
 * proof. Refusals end the stream with status UNKNOWN and Fabric's message, as a Fabric orderer
 * answers (its Step handler returns a plain error), so a Fabric peer logs the familiar line.
 */
export class TlsCertSenderAuthenticator implements SenderAuthenticator {
  /** Per stream (SenderInfo is made once per stream): the peer's key is parsed once, not per message. */
  private readonly peerKeys = new WeakMap<SenderInfo, string>();

  constructor(private readonly membership: MembershipView) {}

  identify(channel: string, sender: SenderInfo): NodeId {
    const key = this.peerKey(sender);
    const member = this.membership.memberByClientKey(channel, key);
    if (member === undefined) {
      throw new StepRejectedError(grpc.status.UNKNOWN, `${UNAUTHORIZED_CERT_MESSAGE} (channel "${channel}", peer ${sender.peerAddress})`);
    }
    return member.id;
  }

  private peerKey(sender: SenderInfo): string {
    const cached = this.peerKeys.get(sender);
    if (cached !== undefined) return cached;
    // grpc-js hands the certificate only when the handshake verified it against our trusted CAs.
    const raw = sender.authContext.sslPeerCertificate?.raw;
    if (raw === undefined || raw.length === 0) {
      throw new StepRejectedError(grpc.status.UNKNOWN, `${NO_CERT_MESSAGE} (peer ${sender.peerAddress})`);
    }
    let key: string;
    try {
      key = publicKeyIdOf(raw);
    } catch (err) {
      throw new StepRejectedError(grpc.status.UNKNOWN, `${UNAUTHORIZED_CERT_MESSAGE}: unreadable certificate (peer ${sender.peerAddress})`, { cause: err });
    }
    this.peerKeys.set(sender, key);
    return key;
  }
}
