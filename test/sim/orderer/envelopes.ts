// Deterministic client envelopes for in-process Chain tests and the simulator: the tx id is
// computed the Fabric way (SHA-256 of nonce and creator) from a nonce derived from a label,
// so a run builds byte-identical envelopes every time.
import { computeTxId } from '../../../ledger/block';
import { sha256 } from '../../../ledger/hash';
import { parseBroadcastEnvelope, type ParsedEnvelope } from '../../../orderer/msgcheck';
import { common } from '../../../protos';

const CREATOR = new TextEncoder().encode('sim-client');

export function simEnvelope(channelId: string, label: string, dataBytes = 16): ParsedEnvelope {
  const nonce = sha256(new TextEncoder().encode(`nonce:${label}`)).subarray(0, 24);
  const txId = computeTxId(nonce, CREATOR);
  const channelHeader = common.ChannelHeader.encode({ type: common.HeaderType.ENDORSER_TRANSACTION, channelId, txId, timestamp: { seconds: 1, nanos: 0 } });
  const signatureHeader = common.SignatureHeader.encode({ creator: CREATOR, nonce });
  const data = new Uint8Array(dataBytes).fill(label.length & 0xff);
  const payload = common.Payload.encode({ header: { channelHeader, signatureHeader }, data });
  return parseBroadcastEnvelope(common.Envelope.encode({ payload, signature: Uint8Array.of(1, 2, 3) }));
}
