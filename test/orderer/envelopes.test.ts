// orderer/envelopes.ts, the one builder of the envelopes we send: the layout a Fabric SDK
// writes, tx ids as Fabric computes them, and exactly the bytes the builders it replaced
// (cmd/client-load.ts, orderer/deliver-client.ts) produced for the same inputs.
import { createHash } from 'node:crypto';
import { common, orderer } from '../../protos';
import {
  buildEnvelope,
  buildSeekEnvelope,
  fabricTimestamp,
  NONCE_BYTES,
  SEEK_MAX_BLOCK_NUMBER,
  seekPosition,
  type EnvelopeSigner,
} from '../../orderer/envelopes';

const CHANNEL = 'mychannel';
const NONCE = Uint8Array.from({ length: NONCE_BYTES }, (_, i) => i + 1);
const CREATOR = Buffer.from('creator identity');
const NOW_MS = 1_700_000_000_123;
const DATA = Buffer.from('transaction bytes');
const SIGNATURE = Uint8Array.of(0x30, 0x45, 1, 2, 3);

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const fabricTxId = (nonce: Uint8Array, creator: Uint8Array): string => createHash('sha256').update(nonce).update(creator).digest('hex');

test('the tx id is hex(SHA-256(nonce ‖ creator)), as Fabric computes it', () => {
  const built = buildEnvelope({ channelId: CHANNEL, creator: CREATOR, nonce: NONCE, data: DATA });
  expect(built.txId).toBe(fabricTxId(NONCE, CREATOR));
  const envelope = common.Envelope.decode(built.bytes);
  const payload = common.Payload.decode(envelope.payload);
  expect(common.ChannelHeader.decode(payload.header!.channelHeader).txId).toBe(built.txId);
  // Without a nonce, a fresh one of the usual length; ids never repeat.
  const fresh = [0, 1, 2].map(() => buildEnvelope({ channelId: CHANNEL, data: DATA }));
  for (const e of fresh) {
    const header = common.SignatureHeader.decode(common.Payload.decode(common.Envelope.decode(e.bytes).payload).header!.signatureHeader);
    expect(header.nonce).toHaveLength(NONCE_BYTES);
    expect(e.txId).toBe(fabricTxId(header.nonce, new Uint8Array(0)));
  }
  expect(new Set(fresh.map((e) => e.txId)).size).toBe(3);
});

test('a transaction envelope is byte for byte what the load generator built before', () => {
  // cmd/client-load.ts makeLoadEnvelope before envelopes.ts existed, with its random bytes fixed.
  const channelHeader = common.ChannelHeader.encode({
    type: common.HeaderType.ENDORSER_TRANSACTION,
    channelId: CHANNEL,
    txId: fabricTxId(NONCE, CREATOR),
    timestamp: { seconds: Math.floor(NOW_MS / 1000), nanos: (NOW_MS % 1000) * 1_000_000 },
  });
  const payload = common.Payload.encode({
    header: { channelHeader, signatureHeader: common.SignatureHeader.encode({ creator: CREATOR, nonce: NONCE }) },
    data: DATA,
  });
  const before = common.Envelope.encode({ payload, signature: SIGNATURE });

  const now = buildEnvelope({ channelId: CHANNEL, creator: CREATOR, nonce: NONCE, nowMs: NOW_MS, data: DATA, signature: SIGNATURE });
  expect(hex(now.bytes)).toBe(hex(before));
});

test('a seek envelope is byte for byte what the Deliver client built before', () => {
  const signer: EnvelopeSigner = { creator: CREATOR, sign: (p) => createHash('sha256').update(p).digest() };
  const tlsCertHash = Uint8Array.of(9, 9, 9);
  // orderer/deliver-client.ts buildSeekEnvelope before envelopes.ts existed, with its nonce fixed.
  const channelHeader = common.ChannelHeader.encode({
    type: common.HeaderType.DELIVER_SEEK_INFO,
    channelId: CHANNEL,
    txId: fabricTxId(NONCE, CREATOR),
    timestamp: { seconds: Math.floor(NOW_MS / 1000), nanos: (NOW_MS % 1000) * 1_000_000 },
    tlsCertHash,
  });
  const payload = common.Payload.encode({
    header: { channelHeader, signatureHeader: common.SignatureHeader.encode({ creator: CREATOR, nonce: NONCE }) },
    data: orderer.SeekInfo.encode({
      start: { specified: { number: 5 } },
      stop: { specified: { number: SEEK_MAX_BLOCK_NUMBER } },
      behavior: orderer.SeekInfo_SeekBehavior.FAIL_IF_NOT_READY,
      errorResponse: orderer.SeekInfo_SeekErrorResponse.BEST_EFFORT,
    }),
  });
  const before = common.Envelope.encode({ payload, signature: signer.sign(payload) });

  const now = buildSeekEnvelope({
    channelId: CHANNEL,
    start: 5,
    stop: 'forever',
    behavior: orderer.SeekInfo_SeekBehavior.FAIL_IF_NOT_READY,
    errorResponse: orderer.SeekInfo_SeekErrorResponse.BEST_EFFORT,
    signer,
    nonce: NONCE,
    nowMs: NOW_MS,
    tlsCertHash,
  });
  expect(hex(now)).toBe(hex(before));
});

test('Fabric reads the envelope: fabric-protos finds every header field where an SDK puts it', () => {
  interface Getters {
    getPayload_asU8(): Uint8Array;
    getSignature_asU8(): Uint8Array;
    getHeader(): { getChannelHeader_asU8(): Uint8Array; getSignatureHeader_asU8(): Uint8Array };
    getData_asU8(): Uint8Array;
    getType(): number;
    getVersion(): number;
    getChannelId(): string;
    getTxId(): string;
    getEpoch(): number;
    getTimestamp(): { getSeconds(): number; getNanos(): number };
    getCreator_asU8(): Uint8Array;
    getNonce_asU8(): Uint8Array;
  }
  type Decoder = { deserializeBinary(bytes: Uint8Array): Getters };
  // google-protobuf has no type declarations here; reach the classes through this shape.
  const fabric = require('@hyperledger/fabric-protos') as {
    common: { Envelope: Decoder; Payload: Decoder; ChannelHeader: Decoder; SignatureHeader: Decoder };
  };
  const built = buildEnvelope({ channelId: CHANNEL, creator: CREATOR, nonce: NONCE, nowMs: NOW_MS, data: DATA, signature: SIGNATURE });
  const envelope = fabric.common.Envelope.deserializeBinary(built.bytes);
  expect(hex(envelope.getSignature_asU8())).toBe(hex(SIGNATURE));
  const payload = fabric.common.Payload.deserializeBinary(envelope.getPayload_asU8());
  expect(hex(payload.getData_asU8())).toBe(hex(DATA));
  const channelHeader = fabric.common.ChannelHeader.deserializeBinary(payload.getHeader().getChannelHeader_asU8());
  expect(channelHeader.getType()).toBe(common.HeaderType.ENDORSER_TRANSACTION);
  expect(channelHeader.getVersion()).toBe(0);
  expect(channelHeader.getEpoch()).toBe(0);
  expect(channelHeader.getChannelId()).toBe(CHANNEL);
  expect(channelHeader.getTxId()).toBe(fabricTxId(NONCE, CREATOR));
  expect([channelHeader.getTimestamp().getSeconds(), channelHeader.getTimestamp().getNanos()]).toEqual([1_700_000_000, 123_000_000]);
  const signatureHeader = fabric.common.SignatureHeader.deserializeBinary(payload.getHeader().getSignatureHeader_asU8());
  expect(hex(signatureHeader.getCreator_asU8())).toBe(hex(CREATOR));
  expect(hex(signatureHeader.getNonce_asU8())).toBe(hex(NONCE));
});

test('a signer signs the marshaled Payload and supplies the creator; it does not mix with a given creator or signature', () => {
  const signed: Uint8Array[] = [];
  const signer: EnvelopeSigner = {
    creator: CREATOR,
    sign: (payloadBytes) => {
      signed.push(payloadBytes);
      return Uint8Array.of(7);
    },
  };
  const built = buildEnvelope({ channelId: CHANNEL, type: common.HeaderType.MESSAGE, data: DATA, signer });
  const envelope = common.Envelope.decode(built.bytes);
  expect(signed.map(hex)).toEqual([hex(envelope.payload)]);
  expect([...envelope.signature]).toEqual([7]);
  const payload = common.Payload.decode(envelope.payload);
  expect(common.ChannelHeader.decode(payload.header!.channelHeader).type).toBe(common.HeaderType.MESSAGE);
  expect(hex(common.SignatureHeader.decode(payload.header!.signatureHeader).creator)).toBe(hex(CREATOR));

  expect(() => buildEnvelope({ channelId: CHANNEL, data: DATA, signer, signature: SIGNATURE })).toThrow(TypeError);
  expect(() => buildEnvelope({ channelId: CHANNEL, data: DATA, signer, creator: CREATOR })).toThrow(TypeError);
  // Unsigned: no signature field at all.
  expect(common.Envelope.decode(buildEnvelope({ channelId: CHANNEL, data: DATA }).bytes).signature).toHaveLength(0);
});

test('timestamps carry milliseconds; seek positions', () => {
  expect(fabricTimestamp(NOW_MS)).toEqual({ seconds: 1_700_000_000, nanos: 123_000_000 });
  expect(fabricTimestamp(5_000)).toEqual({ seconds: 5, nanos: 0 });
  expect(seekPosition('oldest')).toEqual({ oldest: {} });
  expect(seekPosition('newest')).toEqual({ newest: {} });
  expect(seekPosition('next-commit')).toEqual({ nextCommit: {} });
  expect(seekPosition(7)).toEqual({ specified: { number: 7 } });
  expect(() => seekPosition(-1)).toThrow(RangeError);
  expect(() => seekPosition(1.5)).toThrow(RangeError);
});
