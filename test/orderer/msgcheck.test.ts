import { ChannelConfigError, OrdererError, statusName, toStatusResponse } from '../../orderer/errors';
import {
  checkBroadcastEnvelope,
  checkEnvelopeForChannel,
  checkPolicy,
  classifyHeaderType,
  extractHeaderInfo,
  InsecureAcceptAllPolicyEvaluator,
  parseBroadcastEnvelope,
  parseEnvelopeHeaders,
  writersPolicyName,
  type PolicyEvaluator,
  type SignedData,
} from '../../orderer/msgcheck';
import { common, msp } from '../../protos';

const creator = msp.SerializedIdentity.encode({ mspid: 'Org1MSP', idBytes: new TextEncoder().encode('-----BEGIN CERT') });

interface EnvSpec {
  type?: number;
  channelId?: string;
  txId?: string;
  data?: Uint8Array;
  signature?: Uint8Array;
}

function envelope(spec: EnvSpec = {}): Uint8Array {
  const payload = common.Payload.encode({
    header: {
      channelHeader: common.ChannelHeader.encode({
        type: spec.type ?? common.HeaderType.ENDORSER_TRANSACTION,
        channelId: spec.channelId ?? 'mychannel',
        txId: spec.txId ?? 'abc123',
      }),
      signatureHeader: common.SignatureHeader.encode({ creator, nonce: new Uint8Array(24) }),
    },
    data: spec.data ?? new Uint8Array(10),
  });
  return common.Envelope.encode({ payload, signature: spec.signature ?? new Uint8Array(70) });
}

function rejection(fn: () => unknown): { status: common.Status; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof OrdererError) return { status: err.status, message: err.message };
    throw err;
  }
  throw new Error('expected an OrdererError');
}

async function asyncRejection(p: Promise<unknown>): Promise<{ status: common.Status; message: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof OrdererError) return { status: err.status, message: err.message };
    throw err;
  }
  throw new Error('expected an OrdererError');
}

const limits = { absoluteMaxBytes: 10 * 1024 * 1024, maintenanceMode: false };

describe('parseBroadcastEnvelope', () => {
  it('returns the header fields, kind and Fabric message size of a normal transaction', () => {
    const bytes = envelope({ data: new Uint8Array(100), signature: new Uint8Array(72) });
    const p = parseBroadcastEnvelope(bytes);
    expect(p.channelId).toBe('mychannel');
    expect(p.txId).toBe('abc123');
    expect(p.headerType).toBe(common.HeaderType.ENDORSER_TRANSACTION);
    expect(p.kind).toBe('normal');
    expect(p.messageSizeBytes).toBe(p.envelope.payload.length + 72);
    expect(p.envelopeBytes).toBe(bytes);
  });

  it('sends CONFIG_UPDATE to the config path', () => {
    expect(parseBroadcastEnvelope(envelope({ type: common.HeaderType.CONFIG_UPDATE })).kind).toBe('config-update');
  });

  it.each([
    ['MESSAGE', common.HeaderType.MESSAGE],
    ['DELIVER_SEEK_INFO', common.HeaderType.DELIVER_SEEK_INFO],
    ['CHAINCODE_PACKAGE', common.HeaderType.CHAINCODE_PACKAGE],
    ['an unknown type', 12345],
  ])('orders %s as a normal message', (_name, type) => {
    expect(parseBroadcastEnvelope(envelope({ type })).kind).toBe('normal');
  });

  it.each([
    ['CONFIG', common.HeaderType.CONFIG],
    ['ORDERER_TRANSACTION', common.HeaderType.ORDERER_TRANSACTION],
  ])('rejects %s from clients with BAD_REQUEST', (name, type) => {
    const r = rejection(() => parseBroadcastEnvelope(envelope({ type })));
    expect(r.status).toBe(common.Status.BAD_REQUEST);
    expect(r.message).toContain(name);
  });

  it('rejects an empty envelope', () => {
    expect(rejection(() => parseBroadcastEnvelope(new Uint8Array(0)))).toEqual({
      status: common.Status.BAD_REQUEST,
      message: 'envelope is empty',
    });
  });

  it('rejects bytes that are not an Envelope', () => {
    const r = rejection(() => parseBroadcastEnvelope(Uint8Array.of(0x0a, 0x05, 1)));
    expect(r.status).toBe(common.Status.BAD_REQUEST);
    expect(r.message).toMatch(/^bad envelope: malformed common.Envelope/);
  });

  it('rejects a payload that does not parse', () => {
    const bytes = common.Envelope.encode({ payload: Uint8Array.of(0x0a, 0x09, 1, 2), signature: Uint8Array.of(1) });
    const r = rejection(() => parseBroadcastEnvelope(bytes));
    expect(r.status).toBe(common.Status.BAD_REQUEST);
    expect(r.message).toMatch(/^bad payload: malformed common.Payload/);
  });

  it('rejects an envelope without payload (no header)', () => {
    const bytes = common.Envelope.encode({ signature: Uint8Array.of(1) });
    expect(rejection(() => parseBroadcastEnvelope(bytes))).toEqual({
      status: common.Status.BAD_REQUEST,
      message: 'bad payload: no header',
    });
  });

  it('rejects a header without a channel header', () => {
    const payload = common.Payload.encode({ header: { signatureHeader: Uint8Array.of(1, 2) }, data: Uint8Array.of(1) });
    const bytes = common.Envelope.encode({ payload });
    expect(rejection(() => parseBroadcastEnvelope(bytes))).toEqual({
      status: common.Status.BAD_REQUEST,
      message: 'bad payload header: no channel header',
    });
  });

  it('rejects a channel header that does not parse', () => {
    const payload = common.Payload.encode({ header: { channelHeader: Uint8Array.of(0x3a, 0x10, 0x61) } });
    const r = rejection(() => parseBroadcastEnvelope(common.Envelope.encode({ payload })));
    expect(r.status).toBe(common.Status.BAD_REQUEST);
    expect(r.message).toMatch(/^bad channel header: malformed common.ChannelHeader/);
  });

  it('rejects a channel header without a channel ID', () => {
    expect(rejection(() => parseBroadcastEnvelope(envelope({ channelId: '' })))).toEqual({
      status: common.Status.BAD_REQUEST,
      message: 'channel header has no channel ID',
    });
  });
});

describe('extractHeaderInfo', () => {
  it('gives channel, tx id and type without classifying', () => {
    expect(extractHeaderInfo(envelope({ type: common.HeaderType.CONFIG, channelId: 'ch1', txId: 't1' }))).toEqual({
      channelId: 'ch1',
      txId: 't1',
      headerType: common.HeaderType.CONFIG,
    });
  });

  it('returns views into the envelope rather than copies of the payload', () => {
    const bytes = envelope({ data: new Uint8Array(4096) });
    const { payload } = parseEnvelopeHeaders(bytes);
    expect(payload.data.buffer).toBe(bytes.buffer);
  });

  it('throws BAD_REQUEST on garbage', () => {
    expect(rejection(() => extractHeaderInfo(Uint8Array.of(0xff))).status).toBe(common.Status.BAD_REQUEST);
  });
});

describe('classifyHeaderType', () => {
  it('classifies every known type', () => {
    expect(classifyHeaderType(common.HeaderType.ENDORSER_TRANSACTION)).toBe('normal');
    expect(classifyHeaderType(common.HeaderType.CONFIG_UPDATE)).toBe('config-update');
    expect(() => classifyHeaderType(common.HeaderType.CONFIG)).toThrow(OrdererError);
  });
});

describe('checkEnvelopeForChannel', () => {
  it('accepts a message of exactly AbsoluteMaxBytes and returns its signed data', () => {
    const p = parseBroadcastEnvelope(envelope({ signature: Uint8Array.of(9, 9) }));
    const signed = checkEnvelopeForChannel(p, { absoluteMaxBytes: p.messageSizeBytes, maintenanceMode: false });
    expect(signed).toEqual([{ data: p.envelope.payload, identity: creator, signature: Uint8Array.of(9, 9) }]);
  });

  it('answers REQUEST_ENTITY_TOO_LARGE one byte over AbsoluteMaxBytes', () => {
    const p = parseBroadcastEnvelope(envelope());
    const r = rejection(() => checkEnvelopeForChannel(p, { absoluteMaxBytes: p.messageSizeBytes - 1, maintenanceMode: false }));
    expect(r.status).toBe(common.Status.REQUEST_ENTITY_TOO_LARGE);
    expect(r.message).toBe(
      `message of ${p.messageSizeBytes} bytes (payload + signature) exceeds AbsoluteMaxBytes ${p.messageSizeBytes - 1}`,
    );
  });

  it('applies the size limit to config updates too', () => {
    const p = parseBroadcastEnvelope(envelope({ type: common.HeaderType.CONFIG_UPDATE, data: new Uint8Array(2000) }));
    const r = rejection(() => checkEnvelopeForChannel(p, { absoluteMaxBytes: 1000, maintenanceMode: false }));
    expect(r.status).toBe(common.Status.REQUEST_ENTITY_TOO_LARGE);
  });

  it('rejects normal transactions in maintenance mode with SERVICE_UNAVAILABLE, before the size check', () => {
    const p = parseBroadcastEnvelope(envelope({ data: new Uint8Array(2000) }));
    const r = rejection(() => checkEnvelopeForChannel(p, { absoluteMaxBytes: 10, maintenanceMode: true }));
    expect(r.status).toBe(common.Status.SERVICE_UNAVAILABLE);
  });

  it('lets config updates through in maintenance mode', () => {
    const p = parseBroadcastEnvelope(envelope({ type: common.HeaderType.CONFIG_UPDATE }));
    expect(() => checkEnvelopeForChannel(p, { ...limits, maintenanceMode: true })).not.toThrow();
  });

  it('rejects an unparsable signature header with BAD_REQUEST', () => {
    const payload = common.Payload.encode({
      header: {
        channelHeader: common.ChannelHeader.encode({ type: 3, channelId: 'mychannel' }),
        signatureHeader: Uint8Array.of(0x0a, 0x30),
      },
    });
    const p = parseBroadcastEnvelope(common.Envelope.encode({ payload }));
    const r = rejection(() => checkEnvelopeForChannel(p, limits));
    expect(r.status).toBe(common.Status.BAD_REQUEST);
    expect(r.message).toMatch(/^bad signature header/);
  });
});

describe('policy checks', () => {
  class Recording implements PolicyEvaluator {
    calls: { policyName: string; signedData: readonly SignedData[] }[] = [];
    readonly evaluator = this;
    creatorValidity(): undefined {
      return undefined;
    }
    constructor(private readonly answer: boolean | Error) {}
    evaluateSignedData(policyName: string, signedData: readonly SignedData[]): Promise<boolean> {
      this.calls.push({ policyName, signedData });
      return this.answer instanceof Error ? Promise.reject(this.answer) : Promise.resolve(this.answer);
    }
  }

  it('evaluates /Channel/Writers normally and /Channel/Orderer/Writers in maintenance', async () => {
    expect(writersPolicyName(false)).toBe('/Channel/Writers');
    expect(writersPolicyName(true)).toBe('/Channel/Orderer/Writers');
    const ev = new Recording(true);
    await checkBroadcastEnvelope(parseBroadcastEnvelope(envelope()), limits, ev);
    const cfg = parseBroadcastEnvelope(envelope({ type: common.HeaderType.CONFIG_UPDATE }));
    await checkBroadcastEnvelope(cfg, { ...limits, maintenanceMode: true }, ev);
    expect(ev.calls.map((c) => c.policyName)).toEqual(['/Channel/Writers', '/Channel/Orderer/Writers']);
    expect(ev.calls[0]!.signedData[0]!.identity).toEqual(creator);
  });

  it('answers FORBIDDEN when the policy is not satisfied', async () => {
    const r = await asyncRejection(checkBroadcastEnvelope(parseBroadcastEnvelope(envelope()), limits, new Recording(false)));
    expect(r).toEqual({ status: common.Status.FORBIDDEN, message: 'signature set does not satisfy policy /Channel/Writers' });
  });

  it('answers FORBIDDEN with the reason when the evaluator throws', async () => {
    const r = await asyncRejection(checkPolicy(new Recording(new Error('unknown MSP Org9MSP')), '/Channel/Writers', []));
    expect(r.status).toBe(common.Status.FORBIDDEN);
    expect(r.message).toContain('unknown MSP Org9MSP');
  });

  it('does not evaluate the policy for an oversized message', async () => {
    const ev = new Recording(true);
    const r = await asyncRejection(
      checkBroadcastEnvelope(parseBroadcastEnvelope(envelope()), { absoluteMaxBytes: 1, maintenanceMode: false }, ev),
    );
    expect(r.status).toBe(common.Status.REQUEST_ENTITY_TOO_LARGE);
    expect(ev.calls).toEqual([]);
  });

  it('the insecure accept-all evaluator accepts anything, synchronously', async () => {
    const ev = new InsecureAcceptAllPolicyEvaluator();
    expect(ev.evaluateSignedData()).toBe(true);
    await expect(checkPolicy(ev, '/Channel/Writers', [])).resolves.toBeUndefined();
  });
});

describe('OrdererError → BroadcastResponse', () => {
  it('carries its status and message as the response', () => {
    expect(toStatusResponse(OrdererError.tooLarge('too big'))).toEqual({ status: common.Status.REQUEST_ENTITY_TOO_LARGE, info: 'too big' });
    expect(toStatusResponse(new ChannelConfigError('/Channel/Orderer/BatchSize', 'bad'))).toEqual({
      status: common.Status.BAD_REQUEST,
      info: '/Channel/Orderer/BatchSize: bad',
    });
  });

  it('answers INTERNAL_SERVER_ERROR for anything unclassified', () => {
    expect(toStatusResponse(new TypeError('x is undefined'))).toEqual({
      status: common.Status.INTERNAL_SERVER_ERROR,
      info: 'internal error: x is undefined',
    });
    expect(toStatusResponse('boom').status).toBe(common.Status.INTERNAL_SERVER_ERROR);
  });

  it('cannot be created with a status that is not a failure', () => {
    expect(() => new OrdererError(common.Status.SUCCESS, 'ok')).toThrow(RangeError);
    expect(() => new OrdererError(common.Status.UNKNOWN, '?')).toThrow(RangeError);
  });

  it('names statuses for logs and metrics', () => {
    expect(statusName(common.Status.SERVICE_UNAVAILABLE)).toBe('SERVICE_UNAVAILABLE');
    expect(statusName(999 as common.Status)).toBe('999');
    expect(OrdererError.serviceUnavailable('x')).toBeInstanceOf(Error);
    expect(OrdererError.serviceUnavailable('x').name).toBe('OrdererError');
  });
});
