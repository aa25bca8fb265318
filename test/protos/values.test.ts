// Value edge cases a caller would trip over: the largest uint64, hostile map keys, oneofs.
import { common, orderer } from '../../protos';

const hex = (x: Uint8Array): string => Buffer.from(x).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const fabric: unknown = require('@hyperledger/fabric-protos');

describe('uint64 beyond 2^53', () => {
  // Fabric's "deliver forever" stop: SeekSpecified{number: math.MaxUint64}.
  const maxUint64 = '08' + 'ffffffffffffffffff01';

  test('2^64-1 decodes to a number above any block height and re-encodes to the same bytes', () => {
    const seek = orderer.SeekSpecified.decode(unhex(maxUint64));
    expect(seek.number).toBeGreaterThanOrEqual(2 ** 64 - 1);
    expect(seek.number).toBeGreaterThan(Number.MAX_SAFE_INTEGER);
    expect(hex(orderer.SeekSpecified.encode(seek))).toBe(maxUint64);
  });

  test('2 ** 64 - 1 written in JS (which is 2^64 as a double) or larger saturates instead of wrapping to 0', () => {
    expect(hex(orderer.SeekSpecified.encode({ number: 2 ** 64 - 1 }))).toBe(maxUint64);
    expect(hex(orderer.SeekSpecified.encode({ number: Infinity }))).toBe(maxUint64);
    expect(hex(common.BlockHeader.encode({ number: 2 ** 70 }))).toBe(maxUint64);
  });

  test('exact up to 2^53 - 1', () => {
    const n = Number.MAX_SAFE_INTEGER;
    expect(common.BlockHeader.decode(common.BlockHeader.encode({ number: n })).number).toBe(n);
    expect(hex(common.LastConfig.encode({ index: 2 ** 32 + 1 }))).toBe('08' + '8180808010');
  });

  test('fabric-protos reads our 2^64-1 the same way', () => {
    const SeekSpecified = Reflect.get(Reflect.get(fabric as object, 'orderer') as object, 'SeekSpecified') as {
      deserializeBinary(b: Uint8Array): { getNumber(): number };
    };
    const ours = orderer.SeekSpecified.encode({ number: 2 ** 64 - 1 });
    expect(SeekSpecified.deserializeBinary(ours).getNumber()).toBe(orderer.SeekSpecified.decode(ours).number);
  });
});

describe('maps', () => {
  test('keys like __proto__ and constructor are ordinary entries of a decoded map', () => {
    const bytes = common.ConfigGroup.encode({
      groups: { ['__proto__']: { modPolicy: 'evil' }, Orderer: { modPolicy: 'Admins' } },
      values: { constructor: { value: unhex('01') } },
    });
    const group = common.ConfigGroup.decode(bytes);
    expect(Object.keys(group.groups).sort()).toEqual(['Orderer', '__proto__']);
    expect(group.groups['__proto__']?.modPolicy).toBe('evil');
    expect(Object.getPrototypeOf(group.groups)).toBeNull();
    expect(group.values['constructor']?.value).toEqual(unhex('01'));
    // A name that was never sent is simply absent, whatever Object.prototype has.
    expect(group.policies['toString']).toBeUndefined();
    expect(group.groups['hasOwnProperty']).toBeUndefined();
  });

  test('map entries without key or value decode to the defaults', () => {
    // groups entry with only a value, values entry with only a key
    const group = common.ConfigGroup.decode(unhex('1204' + '12020801' + '1a03' + '0a0141'));
    expect(group.groups['']).toEqual({ version: 1, groups: {}, values: {}, policies: {}, modPolicy: '' });
    expect(group.values['A']).toEqual({ version: 0, value: new Uint8Array(0), modPolicy: '' });
  });

  test('a repeated key keeps the last value, as in Go', () => {
    const group = common.ConfigGroup.decode(unhex('1a07' + '0a0141' + '12020801' + '1a07' + '0a0141' + '12020802'));
    expect(Object.keys(group.values)).toEqual(['A']);
    expect(group.values['A']?.version).toBe(2);
  });
});

describe('oneofs', () => {
  test('the arm that arrives last wins, and the other arm is gone', () => {
    const block = common.Block.encode({ header: { number: 1 } });
    const statusThenBlock = unhex('0894' + '03' + '12' + block.length.toString(16).padStart(2, '0') + hex(block));
    const decoded = orderer.DeliverResponse.decode(statusThenBlock);
    expect(decoded.status).toBeUndefined();
    expect(decoded.block?.header?.number).toBe(1);
    const blockThenStatus = orderer.DeliverResponse.decode(unhex(hex(statusThenBlock).slice(6) + '08c801'));
    expect(blockThenStatus).toEqual({ status: common.Status.SUCCESS });
  });
});
