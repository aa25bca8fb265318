// The tx id of a marshaled Envelope without building the Envelope, Payload and Header objects.
//
// Every orderer reads the tx id of every envelope of every block it writes (the ledger's tx-id
// index, the follower's bookkeeping of forwarded envelopes). Decoding Envelope → Payload → Header
// → ChannelHeader made three readers, three objects and five byte views per envelope, which under
// load was about 2% of a follower's CPU and a good part of its short-lived garbage. This walks the
// same fields with one reader and builds only the ChannelHeader.
//
// It accepts and refuses exactly the bytes the generated decoders do: each level is walked with
// the reader's end set to that level's end, as a reader over the level's own bytes would be, with
// the same wire-type checks, the same skipping of unknown fields and the same end checks; a field
// given twice counts the last time, as in the decoders (a repeated Payload.header replaces the
// earlier one, it is not merged). test/protos/envelope-txid.test.ts holds it to that.
import { decodeChannelHeader } from './gen/common';
import { checkEnd, delimitedEnd, ProtoDecodeError, Reader, skipUnknown, wireTypeError } from './runtime';

const NONE = -1;

/** tx_id of the envelope ('' when it has none). Throws ProtoDecodeError where Envelope/Payload/ChannelHeader decoding would. */
export function envelopeTxIdOf(envelopeBytes: Uint8Array): string {
  let typeName = 'common.Envelope';
  try {
    const r = Reader.create(envelopeBytes);
    // Envelope: payload (1), signature (2).
    lastBytesField1(r, r.len, 'common.Envelope');
    const payloadStart = found.start;
    const payloadEnd = found.end;
    if (payloadStart === NONE) return '';

    // Payload: header (1, a message), data (2).
    typeName = 'common.Payload';
    r.pos = payloadStart;
    r.len = payloadEnd;
    let channelHeaderStart = NONE;
    let channelHeaderEnd = NONE;
    while (r.pos < payloadEnd) {
      const t = r.uint32();
      const field = t >>> 3;
      if (field === 1) {
        if ((t & 7) !== 2) throw wireTypeError('common.Payload', 1, t & 7);
        const headerEnd = delimitedEnd(r);
        // Header: channel_header (1), signature_header (2). A later header replaces an earlier
        // one entirely, its channel header included.
        lastBytesField1(r, headerEnd, 'common.Header');
        channelHeaderStart = found.start;
        channelHeaderEnd = found.end;
      } else if (field === 2) {
        if ((t & 7) !== 2) throw wireTypeError('common.Payload', 2, t & 7);
        r.pos = bytesEnd(r);
      } else skipUnknown(r, t, 'common.Payload');
    }
    checkEnd(r, payloadEnd, 'common.Payload');
    if (channelHeaderStart === NONE) return '';

    typeName = 'common.ChannelHeader';
    r.pos = channelHeaderStart;
    r.len = channelHeaderEnd;
    return decodeChannelHeader(r, channelHeaderEnd).txId;
  } catch (err) {
    throw new ProtoDecodeError(typeName, err instanceof Error ? err.message : String(err));
  }
}

/** Where lastBytesField1 found field 1 (NONE when absent): module state, so nothing is allocated per envelope. */
const found = { start: NONE, end: NONE };

/**
 * Walks a message made of two bytes fields, 1 and 2, from the reader to `end` with the decoder's
 * checks, and leaves in `found` where the last field 1 lies.
 */
function lastBytesField1(r: Reader, end: number, typeName: string): void {
  found.start = NONE;
  found.end = NONE;
  while (r.pos < end) {
    const t = r.uint32();
    const field = t >>> 3;
    if (field === 1 || field === 2) {
      if ((t & 7) !== 2) throw wireTypeError(typeName, field, t & 7);
      const fieldEnd = bytesEnd(r);
      if (field === 1) {
        found.start = r.pos;
        found.end = fieldEnd;
      }
      r.pos = fieldEnd;
    } else skipUnknown(r, t, typeName);
  }
  checkEnd(r, end, typeName);
}

/** End of the bytes field at the reader, with protobufjs' check and message for one that runs past the end. */
function bytesEnd(r: Reader): number {
  const length = r.uint32();
  const start = r.pos;
  const end = start + length;
  if (end > r.len) throw new RangeError(`index out of range: ${start} + ${length || 1} > ${r.len}`);
  return end;
}
