// A channel with real MSPs and real consenter TLS certificates, and the helpers to write and sign
// config updates against it as an operator's tooling would (configtxlator-shaped read and write
// sets, ConfigSignatures over signature_header ‖ config_update).
import { createPrivateKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { common, etcdraft, orderer } from '../../../protos';
import { buildChannelConfig, type ConsenterSpec } from '../../../orderer/channelconfig';
import { parseChannelConfig, type ChannelSettings } from '../../../orderer/channelconfig/settings';
import { generateCryptoMaterial, type GeneratedOrg } from '../../../orderer/msp/generate';
import { loadLocalSigningIdentity, type LocalSigningIdentity } from '../../../orderer/msp/local-msp';
import { mspConfigFromDir } from '../../../orderer/msp/msp-dir';
import { createLeaf, issuedCertificateFromDer, KeyUsageFlags, type Issuer } from '../../../orderer/msp/x509-build';
import { decodePem } from '../../../orderer/msp/der';
import { ConfigChannelAccess } from '../../../orderer/policies/channel-access';
import { OrdererError } from '../../../orderer/errors';

export const CHANNEL = 'mychannel';
const TLS_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const TLS_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

export interface Fixture {
  readonly dir: string;
  /** Orderer i's consenter entry (its cryptogen server.crt as client and server certificate). */
  readonly ordererConsenters: readonly ConsenterSpec[];
  readonly ordererAdmin: LocalSigningIdentity;
  readonly org1Admin: LocalSigningIdentity;
  readonly org1User: LocalSigningIdentity;
  readonly org2: GeneratedOrg;
  /** The orderer org's TLS CA, to issue further consenter certificates. */
  readonly ordererTlsCa: Issuer;
  /** The genesis config: consenters = orderers 1-3, orgs OrdererMSP and Org1MSP. */
  readonly genesis: common.Config;
  cleanup(): void;
}

function tlsCaOf(org: GeneratedOrg): Issuer {
  const dir = path.join(org.dir, 'tlsca');
  const der = decodePem(readFileSync(path.join(dir, `tlsca.${org.domain}-cert.pem`)))!.der;
  return { certificate: issuedCertificateFromDer(der), privateKey: createPrivateKey(readFileSync(path.join(dir, 'priv_sk'))) };
}

/** Five orderers (three of them consenters), two client orgs (Org2 not yet in the channel). */
export function makeFixture(): Fixture {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'configtx-'));
  const orgs = generateCryptoMaterial(path.join(dir, 'msps'), {
    ordererOrgs: [{ mspId: 'OrdererMSP', domain: 'example.com', orderers: [1, 2, 3, 4, 5].map((i) => `orderer${i}.example.com`) }],
    peerOrgs: [
      { mspId: 'Org1MSP', domain: 'org1.example.com' },
      { mspId: 'Org2MSP', domain: 'org2.example.com' },
    ],
  });
  const ordererOrg = orgs.find((o) => o.mspId === 'OrdererMSP')!;
  const org1 = orgs.find((o) => o.mspId === 'Org1MSP')!;
  const org2 = orgs.find((o) => o.mspId === 'Org2MSP')!;
  const ordererConsenters = ordererOrg.orderers.map((o, i) => {
    const cert = new Uint8Array(readFileSync(path.join(o.tlsDir, 'server.crt')));
    return { host: o.name, port: 7050 + i, clientTlsCert: cert, serverTlsCert: cert };
  });
  const admin = (org: GeneratedOrg): LocalSigningIdentity =>
    loadLocalSigningIdentity(org.users.find((u) => u.name.startsWith('Admin@'))!.mspDir, org.mspId);
  const spec = {
    channelId: CHANNEL,
    consenters: ordererConsenters.slice(0, 3),
    ordererOrgs: [{ mspId: 'OrdererMSP', msp: mspConfigFromDir(ordererOrg.mspDir, 'OrdererMSP'), endpoints: ['orderer1.example.com:7050'] }],
    applicationOrgs: [{ mspId: 'Org1MSP', msp: mspConfigFromDir(org1.mspDir, 'Org1MSP') }],
  };
  return {
    dir,
    ordererConsenters,
    ordererAdmin: admin(ordererOrg),
    org1Admin: admin(org1),
    org1User: loadLocalSigningIdentity(org1.users.find((u) => u.name.startsWith('User1@'))!.mspDir, 'Org1MSP'),
    org2,
    ordererTlsCa: tlsCaOf(ordererOrg),
    genesis: common.Config.decode(common.Config.encode(buildChannelConfig(spec))),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A consenter whose certificate the orderer org's TLS CA (or `ca`) issues now. */
export function newConsenter(
  ca: Issuer,
  host: string,
  port: number,
  validity?: { notBefore: Date; notAfter: Date },
  extKeyUsage: readonly string[] = [TLS_SERVER_AUTH, TLS_CLIENT_AUTH],
): ConsenterSpec {
  const leaf = createLeaf(ca, {
    subject: { commonName: host },
    keyUsage: KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment,
    extKeyUsage,
    dnsNames: [host],
    ...(validity ?? {}),
  });
  const pem = new TextEncoder().encode(leaf.certificate.pem);
  return { host, port, clientTlsCert: pem, serverTlsCert: pem };
}

/** A group as a read set lists it: its version and its direct children's versions. */
export function versionsOf(group: common.ConfigGroup, modPolicy?: string): common.ConfigGroupInit {
  const versions = <T extends { version: number }>(r: Record<string, T>): Record<string, { version: number }> =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, { version: v.version }]));
  return {
    version: group.version,
    groups: versions(group.groups),
    values: versions(group.values),
    policies: versions(group.policies),
    ...(modPolicy === undefined ? {} : { modPolicy }),
  };
}

/** The update that rewrites the value /Channel/Orderer/`key` (read set: the Orderer group's version). */
export function ordererValueUpdate(config: common.Config, key: string, bytes: Uint8Array, opts: { version?: number; readVersion?: number; channelId?: string } = {}): common.ConfigUpdateInit {
  const root = config.channelGroup!;
  const ordererGroup = root.groups['Orderer']!;
  const current = ordererGroup.values[key];
  const readVersion = opts.readVersion ?? current?.version;
  return {
    channelId: opts.channelId ?? CHANNEL,
    readSet: {
      version: root.version,
      groups: { Orderer: { version: ordererGroup.version, values: readVersion === undefined ? {} : { [key]: { version: readVersion } } } },
    },
    writeSet: {
      version: root.version,
      groups: {
        Orderer: {
          version: ordererGroup.version,
          values: { [key]: { version: opts.version ?? (current === undefined ? 0 : current.version + 1), value: bytes, modPolicy: 'Admins' } },
        },
      },
    },
  };
}

export function batchSizeUpdate(config: common.Config, batch: orderer.BatchSizeInit, opts?: { version?: number; readVersion?: number; channelId?: string }): common.ConfigUpdateInit {
  return ordererValueUpdate(config, 'BatchSize', orderer.BatchSize.encode(batch), opts);
}

/** The ConsensusType value of `config` with the consenters replaced. */
export function consentersUpdate(config: common.Config, consenters: readonly ConsenterSpec[]): common.ConfigUpdateInit {
  const ct = orderer.ConsensusType.decode(config.channelGroup!.groups['Orderer']!.values['ConsensusType']!.value);
  const md = etcdraft.ConfigMetadata.decode(ct.metadata);
  const metadata = etcdraft.ConfigMetadata.encode({
    options: md.options,
    consenters: consenters.map((c) => ({ host: c.host, port: c.port, clientTlsCert: c.clientTlsCert, serverTlsCert: c.serverTlsCert })),
  });
  return ordererValueUpdate(config, 'ConsensusType', orderer.ConsensusType.encode({ type: ct.type, state: ct.state, metadata }));
}

/** A ConfigUpdateEnvelope signed by `signers` (signature over signature_header ‖ config_update). */
export function signUpdate(update: common.ConfigUpdateInit, signers: readonly LocalSigningIdentity[]): common.ConfigUpdateEnvelope {
  const configUpdate = common.ConfigUpdate.encode(update);
  return {
    configUpdate,
    signatures: signers.map((s) => {
      const signatureHeader = common.SignatureHeader.encode({ creator: s.serialized, nonce: randomBytes(24) });
      return { signatureHeader, signature: s.sign(Buffer.concat([signatureHeader, configUpdate])) };
    }),
  };
}

export function accessOf(config: common.Config): ConfigChannelAccess {
  return ConfigChannelAccess.fromConfig(CHANNEL, config);
}

export function settingsOf(config: common.Config): ChannelSettings {
  return parseChannelConfig(CHANNEL, config);
}

/** The OrdererError `fn` throws (fails the test if it throws nothing or something else). */
export function ordererErrorOf(fn: () => unknown): OrdererError {
  try {
    fn();
  } catch (err) {
    if (err instanceof OrdererError) return err;
    throw err;
  }
  throw new Error('expected an OrdererError, nothing was thrown');
}
