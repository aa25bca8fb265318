// npm run bench:crypto — P-256 ECDSA rates on this machine: verification (the per-envelope and
// per-signature cost of Broadcast, Deliver and config updates) and signing (one per block), with
// node:crypto (a cached KeyObject, through the MSP's low-S-checking verifier) next to
// @noble/curves (pure JS), measured in the same run. The product keeps the faster; see
// orderer/msp/README.md. Also the cost of an identity cache miss (parse + chain + CRL + OUs).
// Prints one JSON object, then a one-line summary.
import { cpus, loadavg } from 'node:os';
import { verify as nodeVerify } from 'node:crypto';
import { msp } from '../../protos';
import { encodePem } from '../../orderer/msp/der';
import { P256, signEcdsa, verifyEcdsa } from '../../orderer/msp/ecdsa';
import { MspManager } from '../../orderer/msp/manager';
import { createLeaf, createSelfSignedCa } from '../../orderer/msp/x509-build';
import { X509Msp } from '../../orderer/msp/x509-msp';
import { timedLoop } from './timed-loop';

const SECONDS_PER_CASE = Number(process.env.BENCH_SECONDS ?? 2);
const PAYLOAD_BYTES = 1024;
const MISS_CERTS = 200;

interface NobleP256 {
  sign(message: Uint8Array, secretKey: Uint8Array, opts?: { prehash?: boolean; lowS?: boolean; format?: 'der' | 'compact' }): Uint8Array;
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array, opts?: { prehash?: boolean; lowS?: boolean; format?: 'der' | 'compact' }): boolean;
}

/** Operations per second of `op`, run for SECONDS_PER_CASE after a short warm-up. */
function rate(op: () => void): number {
  const { ops, elapsedNs } = timedLoop(op, SECONDS_PER_CASE, 200, 100);
  return Math.round(ops / (elapsedNs / 1e9));
}

function main(): void {
  const ca = createSelfSignedCa({ subject: { commonName: 'bench-ca' } });
  const signer = createLeaf(ca, { subject: { commonName: 'bench' } });
  const payload = new Uint8Array(PAYLOAD_BYTES).map((_, i) => (i * 31) & 0xff);
  const sig = signEcdsa(signer.privateKey, payload);
  let sink = 0;

  const verifyNodeMsp = rate(() => {
    if (verifyEcdsa(signer.publicKey, P256, payload, sig)) sink++;
  });
  const verifyNodeRaw = rate(() => {
    if (nodeVerify('sha256', payload, signer.publicKey, sig)) sink++;
  });
  const signNode = rate(() => {
    sink += signEcdsa(signer.privateKey, payload).length;
  });

  let verifyNoble: number | null = null;
  let signNoble: number | null = null;
  try {
    // @noble/curves is ESM-only: require() works from Node 20.19 on; older Nodes skip these columns.
    const p256 = (require('@noble/curves/nist.js') as { p256: NobleP256 }).p256;
    const spki = signer.publicKey.export({ format: 'der', type: 'spki' });
    const point = new Uint8Array(spki.subarray(spki.length - 65));
    const secret = new Uint8Array(Buffer.from(signer.privateKey.export({ format: 'jwk' }).d!, 'base64url'));
    if (!p256.verify(sig, payload, point, { format: 'der', lowS: true })) throw new Error('noble does not verify our signature');
    verifyNoble = rate(() => {
      if (p256.verify(sig, payload, point, { format: 'der', lowS: true })) sink++;
    });
    signNoble = rate(() => {
      sink += p256.sign(payload, secret, { format: 'der', lowS: true }).length;
    });
  } catch (err) {
    console.error(`@noble/curves skipped: ${(err as Error).message}`);
  }

  // Identity cache misses: distinct certificates through a manager that caches nothing.
  const mspInstance = new X509Msp(msp.FabricMSPConfig.decode(msp.FabricMSPConfig.encode({ name: 'BenchMSP', rootCerts: [new TextEncoder().encode(ca.certificate.pem)], admins: [new TextEncoder().encode(signer.certificate.pem)] })));
  const manager = new MspManager(new Map([['BenchMSP', mspInstance]]), new Map(), { identityCacheEntries: 0 });
  const creators = Array.from({ length: MISS_CERTS }, () =>
    msp.SerializedIdentity.encode({ mspid: 'BenchMSP', idBytes: new TextEncoder().encode(encodePem('CERTIFICATE', createLeaf(ca, { subject: { commonName: 'c' } }).certificate.der)) }),
  );
  let next = 0;
  const deserializeMiss = rate(() => {
    sink += manager.deserialize(creators[next++ % MISS_CERTS]!).key.length;
  });
  const cached = new MspManager(new Map([['BenchMSP', mspInstance]]));
  const deserializeHit = rate(() => {
    sink += cached.deserialize(creators[0]!).key.length;
  });

  const faster = verifyNoble === null || verifyNodeMsp >= verifyNoble ? 'node' : 'noble';
  const result = {
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', loadavg_1m: Math.round(loadavg()[0]! * 100) / 100, node: process.version },
    payload_bytes: PAYLOAD_BYTES,
    seconds_per_case: SECONDS_PER_CASE,
    p256_verify_per_s: { node_msp_low_s_checked: verifyNodeMsp, node_raw_der: verifyNodeRaw, noble: verifyNoble },
    p256_sign_per_s: { node_low_s: signNode, noble: signNoble },
    identity_deserialize_per_s: { cache_miss: deserializeMiss, cache_hit: deserializeHit },
    faster_verifier: faster,
    sink,
  };
  console.log(JSON.stringify(result, null, 2));
  const ratio = verifyNoble === null ? 'n/a' : (verifyNodeMsp / verifyNoble).toFixed(2);
  console.log(
    `verify_node_per_s=${verifyNodeMsp} verify_noble_per_s=${verifyNoble ?? 'n/a'} ratio=${ratio} ` +
      `sign_node_per_s=${signNode} sign_noble_per_s=${signNoble ?? 'n/a'} deserialize_miss_per_s=${deserializeMiss} deserialize_hit_per_s=${deserializeHit} faster=${faster}`,
  );
}

main();
