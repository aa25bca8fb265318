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
  parseEcdsaSignature,
  signEcdsa,
  toHighS,
  verifyEcdsa,
  verifyEcdsaDetailed,
} from '../../../orderer/msp/ecdsa';
import { bytesToBigInt } from '../../../orderer/msp/der';

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
