// envelopeTxIdOf must read the same tx id as decoding Envelope → Payload → ChannelHeader, and refuse
// exactly the bytes that decoding refuses: the ledger indexes what it returns, and every node must
// index the same ids for the same block.
import { common, envelopeTxIdOf, ProtoDecodeError } from '../../protos';

/** The decoding this replaces. */
function decodedTxId(bytes: Uint8Array): string {
  const envelope = common.Envelope.decode(bytes);
  const payload = common.Payload.decode(envelope.payload);
  return common.ChannelHeader.decode(payload.header?.channelHeader ?? new Uint8Array(0)).txId;
}

type Outcome = { txId: string } | { refused: true };

function outcome(read: (b: Uint8Array) => string, bytes: Uint8Array): Outcome {
  try {
    return { txId: read(bytes) };
  } catch (err) {
    expect(err).toBeInstanceOf(ProtoDecodeError);
    return { refused: true };
  }
}

const TX_ID = 'a3f1'.repeat(16);

function envelopeBytes(options: { txId?: string; signature?: number; data?: number } = {}): Uint8Array {
  const channelHeader = common.ChannelHeader.encode({
    type: common.HeaderType.ENDORSER_TRANSACTION,
    version: 1,
    timestamp: { seconds: 1_764_000_000, nanos: 5 },
    channelId: 'mychannel',
    txId: options.txId ?? TX_ID,
    epoch: 7,
    extension: new Uint8Array([1, 2, 3]),
  });
  const signatureHeader = common.SignatureHeader.encode({ creator: new Uint8Array(40).fill(9), nonce: new Uint8Array(24).fill(4) });
  const payload = common.Payload.encode({ header: { channelHeader, signatureHeader }, data: new Uint8Array(options.data ?? 100).fill(7) });
  return common.Envelope.encode({ payload, signature: new Uint8Array(options.signature ?? 71).fill(3) });
}

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));
/** A length-delimited field (length below 128). */
const field = (tag: number, body: Uint8Array): Uint8Array => concat(Uint8Array.of(tag, body.length), body);

describe('envelopeTxIdOf', () => {
  test('reads the tx id of a well-formed envelope, and of envelopes without one', () => {
    expect(envelopeTxIdOf(envelopeBytes())).toBe(TX_ID);
    expect(envelopeTxIdOf(envelopeBytes({ txId: 'not-hex but ascii' }))).toBe('not-hex but ascii');
    expect(envelopeTxIdOf(envelopeBytes({ txId: 'ünïcödé-tx' }))).toBe('ünïcödé-tx');
    expect(envelopeTxIdOf(new Uint8Array(0))).toBe('');
    expect(envelopeTxIdOf(common.Envelope.encode({ signature: Uint8Array.of(1) }))).toBe('');
    expect(envelopeTxIdOf(common.Envelope.encode({ payload: common.Payload.encode({ data: Uint8Array.of(1) }) }))).toBe('');
  });

  test('a field given twice counts the last time; a second header replaces the first one whole', () => {
    const first = common.ChannelHeader.encode({ txId: 'first' });
    const second = common.ChannelHeader.encode({ txId: 'second' });
    const payloadTwoHeaders = concat(field(0x0a, field(0x0a, first)), field(0x0a, field(0x12, Uint8Array.of(1))));
    const envelope = field(0x0a, payloadTwoHeaders);
    // The second Header has no channel header, so the tx id is '' (no merge with the first).
    expect(decodedTxId(envelope)).toBe('');
    expect(envelopeTxIdOf(envelope)).toBe('');
    const twoPayloads = concat(field(0x0a, field(0x0a, field(0x0a, first))), field(0x0a, field(0x0a, field(0x0a, second))));
    expect(envelopeTxIdOf(twoPayloads)).toBe('second');
    expect(decodedTxId(twoPayloads)).toBe('second');
  });

  test('unknown fields of every wire type are skipped at each level', () => {
    const unknown = hex('4801' + '510102030405060708' + '5a03616263' + '6501020304' + '6b08016c');
    const ch = concat(unknown, common.ChannelHeader.encode({ txId: 'x1' }));
    const header = concat(unknown, field(0x0a, ch));
    const payload = concat(unknown, field(0x0a, header), unknown);
    const envelope = concat(unknown, field(0x0a, payload), unknown);
    expect(decodedTxId(envelope)).toBe('x1');
    expect(envelopeTxIdOf(envelope)).toBe('x1');
  });

  test('refuses what decoding refuses: truncation, a wrong wire type, a nested overrun, field number 0', () => {
    const good = envelopeBytes();
    const cases: Uint8Array[] = [
      good.subarray(0, good.length - 1),
      good.subarray(0, 3),
      hex('0801'), // Envelope.payload as a varint
      field(0x0a, hex('0801')), // Payload.header as a varint
      field(0x0a, field(0x0a, hex('0a05ab'))), // channel header runs past the Header's end, inside the envelope
      field(0x0a, concat(field(0x0a, hex('0a0aab')), new Uint8Array(12))), // Header's bytes run past the Header, not past the Payload
      hex('0000'),
      field(0x0a, field(0x0a, field(0x0a, hex('1a02ffff')))), // a bad Timestamp inside the ChannelHeader
    ];
    for (const bytes of cases) {
      expect(outcome(decodedTxId, bytes)).toEqual({ refused: true });
      expect(outcome(envelopeTxIdOf, bytes)).toEqual({ refused: true });
    }
  });

  test('agrees with decoding on 20,000 damaged envelopes (seeded; replay with ENVELOPE_TXID_SEED)', () => {
    const seed = Number(process.env.ENVELOPE_TXID_SEED ?? 0x5eed1234) >>> 0;
    process.stdout.write(`envelope-txid seed ${seed} (replay: ENVELOPE_TXID_SEED=${seed} npx jest test/protos/envelope-txid.test.ts)\n`);
    let s = seed || 1;
    const rand = (n: number): number => {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      return (s >>> 0) % n;
    };
    const counts = { same: 0, refused: 0, read: 0 };
    for (let i = 0; i < 20_000; i++) {
      const base = envelopeBytes({ signature: rand(3) === 0 ? 0 : 71, data: rand(40) });
      let bytes: Uint8Array;
      switch (rand(4)) {
        case 0: // flip one bit
          bytes = base.slice();
          bytes[rand(bytes.length)]! ^= 1 << rand(8);
          break;
        case 1: // truncate
          bytes = base.subarray(0, rand(base.length + 1));
          break;
        case 2: {
          // overwrite a byte anywhere with any value
          bytes = base.slice();
          bytes[rand(bytes.length)] = rand(256);
          break;
        }
        default: {
          // insert a byte
          const at = rand(base.length + 1);
          bytes = concat(base.subarray(0, at), Uint8Array.of(rand(256)), base.subarray(at));
        }
      }
      const want = outcome(decodedTxId, bytes);
      expect(outcome(envelopeTxIdOf, bytes)).toEqual(want);
      counts.same++;
      if ('refused' in want) counts.refused++;
      else counts.read++;
    }
    // The damage must exercise both outcomes for the comparison to mean anything.
    expect(counts.refused).toBeGreaterThan(1000);
    expect(counts.read).toBeGreaterThan(1000);
  });
});
