// ECDSA rules of Fabric's BCCSP: DER signatures, low S only when verifying, low S always when
// signing; the strict ECDSA-Sig-Value parser cross-checked with @peculiar/asn1-ecc.
import { generateKeyPairSync, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { AsnParser } from '@peculiar/asn1-schema';
import { ECDSASigValue } from '@peculiar/asn1-ecc';
import {
  encodeEcdsaSignature,
  isLowS,
  P256,
  P384,
  P521,
  parseEcdsaSignature,
  signEcdsa,
  toHighS,
  verifyEcdsa,
  verifyEcdsaDetailed,
} from '../../../orderer/msp/ecdsa';
import { bigIntToBytes, bytesToBigInt } from '../../../orderer/msp/der';
import type { Curve, EcdsaVerdict } from '../../../orderer/msp/ecdsa';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const data = new TextEncoder().encode('signed bytes');

describe('ECDSA P-256', () => {
  it('signs with low S every time, and the signatures verify', () => {
    for (let i = 0; i < 64; i++) {
      const sig = signEcdsa(privateKey, data);
      expect(isLowS(P256, parseEcdsaSignature(sig).s)).toBe(true);
      expect(verifyEcdsa(publicKey, P256, data, sig)).toBe(true);
      // node:crypto alone agrees: the DER is standard.
      expect(nodeVerify('sha256', data, publicKey, sig)).toBe(true);
    }
  });

  it('refuses the high-S twin of a valid signature, which plain ECDSA accepts', () => {
    const sig = signEcdsa(privateKey, data);
    const high = encodeEcdsaSignature(toHighS(P256, parseEcdsaSignature(sig)));
    expect(nodeVerify('sha256', data, publicKey, high)).toBe(true);
    expect(verifyEcdsaDetailed(publicKey, P256, data, high)).toBe('high-s');
  });

  it('refuses forged signatures: other data, other key, flipped bit', () => {
    const sig = signEcdsa(privateKey, data);
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(verifyEcdsaDetailed(publicKey, P256, new TextEncoder().encode('signed bytez'), sig)).toBe('mismatch');
    expect(verifyEcdsaDetailed(other.publicKey, P256, data, sig)).toBe('mismatch');
    const flipped = new Uint8Array(sig);
    flipped[10]! ^= 1;
    expect(verifyEcdsa(publicKey, P256, data, flipped)).toBe(false);
  });

  it('parses DER strictly like Go: no non-minimal, negative or zero integers; trailing bytes ignored', () => {
    const sig = signEcdsa(privateKey, data);
    const parsed = parseEcdsaSignature(sig);
    const lib = AsnParser.parse(sig, ECDSASigValue);
    expect(parsed.r).toBe(bytesToBigInt(new Uint8Array(lib.r)));
    expect(parsed.s).toBe(bytesToBigInt(new Uint8Array(lib.s)));
    expect(parseEcdsaSignature(new Uint8Array([...sig, 1, 2, 3]))).toEqual(parsed);
    expect(() => parseEcdsaSignature(Uint8Array.from([0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01]))).toThrow(/minimally/);
    expect(() => parseEcdsaSignature(Uint8Array.from([0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x81]))).toThrow(/S must be larger than zero/);
    expect(() => parseEcdsaSignature(Uint8Array.from([0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01]))).toThrow(/R must be larger than zero/);
    expect(() => parseEcdsaSignature(Uint8Array.from([0x31, 0x00]))).toThrow();
    expect(() => parseEcdsaSignature(new Uint8Array())).toThrow();
    expect(verifyEcdsaDetailed(publicKey, P256, data, Uint8Array.from([0x30, 0x00]))).toBe('malformed');
  });

  it('encodes what it parses, and agrees with node for a P-384 key', () => {
    const sig = signEcdsa(privateKey, data);
    expect(encodeEcdsaSignature(parseEcdsaSignature(sig))).toEqual(sig);
    const k384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const s384 = signEcdsa(k384.privateKey, data);
    expect(isLowS(P384, parseEcdsaSignature(s384).s)).toBe(true);
    expect(verifyEcdsa(k384.publicKey, P384, data, s384)).toBe(true);
    // A plain OpenSSL signature (high S half the time) verifies exactly when its S is low.
    for (let i = 0; i < 16; i++) {
      const raw = nodeSign('sha256', data, k384.privateKey);
      expect(verifyEcdsa(k384.publicKey, P384, data, raw)).toBe(isLowS(P384, parseEcdsaSignature(raw).s));
    }
  });
});

/** The verdict as the BigInt parser reads the signature: the rules verifyEcdsaDetailed applies on bytes. */
function referenceVerdict(key: Parameters<typeof verifyEcdsa>[0], curve: Curve, signed: Uint8Array, der: Uint8Array): EcdsaVerdict {
  let sig;
  try {
    sig = parseEcdsaSignature(der);
  } catch {
    return 'malformed';
  }
  if (!isLowS(curve, sig.s)) return 'high-s';
  if (sig.r >= curve.order) return 'mismatch';
  const p1363 = Buffer.concat([bigIntToBytes(sig.r, curve.fieldBytes), bigIntToBytes(sig.s, curve.fieldBytes)]);
  return nodeVerify('sha256', signed, { key, dsaEncoding: 'ieee-p1363' }, p1363) ? 'ok' : 'mismatch';
}

describe('the byte-level checks of verifyEcdsaDetailed', () => {
  // Seeded, so that a failure replays: SEED=<n> npx jest test/orderer/msp/ecdsa.test.ts
  const seed = Number(process.env.SEED ?? 20261205);
  let state = seed >>> 0;
  const next = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state;
  };
  const pick = (n: number): number => next() % n;

  const curves: ['P-256' | 'P-384' | 'P-521', Curve][] = [
    ['P-256', P256],
    ['P-384', P384],
    ['P-521', P521],
  ];

  it.each(curves)(`agree with the BigInt parser on valid, high-S, boundary and mutated signatures (%s, SEED=${seed})`, (name, curve) => {
    const keys = generateKeyPairSync('ec', { namedCurve: name });
    const der = (r: bigint, s: bigint): Uint8Array => encodeEcdsaSignature({ r, s });
    const valid = signEcdsa(keys.privateKey, data);
    const { r, s } = parseEcdsaSignature(valid);
    const cases: Uint8Array[] = [
      valid,
      der(r, curve.order - s), // high S
      der(r, curve.halfOrder), // S exactly n/2: low
      der(r, curve.halfOrder + 1n), // just above: high
      der(curve.order, s), // R = n
      der(curve.order - 1n, s),
      der(curve.order + 5n, s),
      der(1n, 1n),
      der(r, 1n << BigInt(8 * curve.fieldBytes + 8)), // S wider than the field
      new Uint8Array([...valid, 0, 1]), // trailing bytes: ignored
    ];
    // Mutations: every single-byte change of the header and integer headers, and random ones.
    for (let i = 0; i < 8; i++) {
      for (const delta of [1, 0x7f, 0x80, 0xff]) {
        const m = new Uint8Array(valid);
        m[i] = (m[i]! + delta) & 0xff;
        cases.push(m);
      }
    }
    for (let i = 0; i < 200; i++) {
      const m = new Uint8Array(valid.subarray(0, pick(valid.length + 1)));
      const edits = 1 + pick(3);
      for (let e = 0; e < edits && m.length > 0; e++) m[pick(m.length)] = next() & 0xff;
      cases.push(m);
    }
    const seen = new Set<EcdsaVerdict>();
    for (const c of cases) {
      const expected = referenceVerdict(keys.publicKey, curve, data, c);
      seen.add(expected);
      expect({ sig: Buffer.from(c).toString('hex'), verdict: verifyEcdsaDetailed(keys.publicKey, curve, data, c) }).toEqual({ sig: Buffer.from(c).toString('hex'), verdict: expected });
    }
    // The cases reach every verdict.
    expect([...seen].sort()).toEqual(['high-s', 'malformed', 'mismatch', 'ok']);
  });
});
