// The simulated channel's real config: a genesis block built as configtxgen would (an orderer
// organisation with real MSPs, one consenter per node slot with its own TLS certificate), and
// the consenter updates an operator makes, signed by the orderer organisation's admin, so the
// Chains validate, order and apply them exactly as in production (orderer/chain/channel-config.ts,
// orderer/configtx/). Application access is open (the simulated envelopes are unsigned).
//
// Crypto material is generated once per process. Signatures are memoised by what they sign, so
// a seed replayed in the same process makes byte-identical blocks (ECDSA signing is randomised).
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { genesisBlock } from '../../../ledger/block';
import { buildGenesisConfigEnvelope, formatGoDurationMs, type ChannelConfigSpec } from '../../../orderer/channelconfig';
import { buildEnvelope } from '../../../orderer/envelopes';
import { defaultSpec, generateCryptoMaterial } from '../../../orderer/msp/generate';
import { loadLocalSigningIdentity } from '../../../orderer/msp/local-msp';
import { mspConfigFromDir } from '../../../orderer/msp/msp-dir';
import type { SigningIdentity } from '../../../orderer/msp/types';
import { common, etcdraft, msp, orderer } from '../../../protos';
import type { OrdererSimParams } from './params';
import type { Prng } from '../prng';
import { consentersUpdate } from '../../support/config-update';

/** Node slots with crypto material: the largest run (5 nodes) plus its spares. */
export const SIM_MAX_SLOTS = 8;
const DOMAIN = 'sim.example.com';
const MSP_ID = 'SimOrdererMSP';

interface SimCrypto {
  readonly ordererMsp: msp.MSPConfig;
  readonly admin: SigningIdentity;
  /** PEM TLS certificate of each slot (index = slot id - 1). */
  readonly tlsCerts: readonly Uint8Array[];
}

let crypto: SimCrypto | undefined;

function simCrypto(): SimCrypto {
  if (crypto !== undefined) return crypto;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'orderer-sim-crypto-'));
  try {
    const out = path.join(dir, 'crypto');
    generateCryptoMaterial(out, defaultSpec(SIM_MAX_SLOTS, 0, DOMAIN));
    const orgDir = path.join(out, 'ordererOrganizations', DOMAIN);
    const ordererMsp = mspConfigFromDir(path.join(orgDir, 'msp'), MSP_ID);
    const admin = memoised(loadLocalSigningIdentity(path.join(orgDir, 'users', `Admin@${DOMAIN}`, 'msp'), MSP_ID));
    const tlsCerts = Array.from({ length: SIM_MAX_SLOTS }, (_, i) => new Uint8Array(readFileSync(path.join(orgDir, 'orderers', `orderer${i + 1}.${DOMAIN}`, 'tls', 'server.crt'))));
    crypto = { ordererMsp, admin, tlsCerts };
    return crypto;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function memoised(identity: SigningIdentity): SigningIdentity {
  const signatures = new Map<string, Uint8Array>();
  return {
    mspId: identity.mspId,
    serialized: identity.serialized,
    sign: (data) => {
      const key = createHash('sha256').update(data).digest('hex');
      let sig = signatures.get(key);
      if (sig === undefined) {
        sig = identity.sign(data);
        signatures.set(key, sig);
      }
      return sig;
    },
  };
}

/** The consenter entry of node slot `id` (host "sim", port = id, as ChainSettings.members says). */
export function simConsenter(id: number): etcdraft.ConsenterInit {
  const cert = simCrypto().tlsCerts[id - 1];
  if (cert === undefined) throw new Error(`no crypto material for simulated node ${id} (at most ${SIM_MAX_SLOTS})`);
  return { host: 'sim', port: id, clientTlsCert: cert, serverTlsCert: cert };
}

/** Block 0 of the run's channel, with the run's settings and nodes 1..members as consenters. Same bytes for the same params. */
export function simGenesisBlock(channelId: string, p: OrdererSimParams, members: number): common.Block {
  const s = p.settings;
  const c = simCrypto();
  const spec: ChannelConfigSpec = {
    channelId,
    consenters: Array.from({ length: members }, (_, i) => {
      const e = simConsenter(i + 1);
      return { host: e.host!, port: e.port!, clientTlsCert: e.clientTlsCert!, serverTlsCert: e.serverTlsCert! };
    }),
    ordererOrgs: [{ mspId: MSP_ID, msp: c.ordererMsp }],
    applicationOrgs: [{ mspId: MSP_ID, msp: c.ordererMsp }],
    openAccess: true,
    batchSize: { maxMessageCount: s.maxMessageCount, absoluteMaxBytes: s.absoluteMaxBytes, preferredMaxBytes: s.preferredMaxBytes },
    batchTimeout: formatGoDurationMs(s.batchTimeoutMs),
    options: {
      tickInterval: formatGoDurationMs(s.tickIntervalMs),
      electionTick: s.electionTick,
      heartbeatTick: s.heartbeatTick,
      maxInflightBlocks: s.maxInflightBlocks,
      snapshotIntervalSizeBytes: s.snapshotIntervalSizeBytes,
    },
  };
  return genesisBlock({ channelId, configEnvelope: buildGenesisConfigEnvelope(spec), nonce: new Uint8Array(24).fill(p.seed % 251), timestampSeconds: 1_800_000_000 });
}

/** The consenters (slot ids, by port) of a config. */
export function consenterSlotsOf(config: common.Config): number[] {
  const ct = orderer.ConsensusType.decode(config.channelGroup!.groups['Orderer']!.values['ConsensusType']!.value);
  return etcdraft.ConfigMetadata.decode(ct.metadata).consenters.map((c) => c.port);
}

/**
 * A CONFIG_UPDATE envelope setting the consenters of `config` to `slots`, signed by the orderer
 * organisation's admin (its mod_policy, /Channel/Orderer/Admins) and submitted by the admin.
 * Nonces and the timestamp come from the run, so a replay makes the same bytes.
 */
export function simConsenterUpdate(channelId: string, config: common.Config, slots: readonly number[], rng: Prng, nowMs: number): Uint8Array {
  const admin = simCrypto().admin;
  const configUpdate = common.ConfigUpdate.encode(consentersUpdate(channelId, config, slots.map((id) => simConsenter(id))));
  const nonce = (): Uint8Array => Uint8Array.from({ length: 24 }, () => rng.nextInt(256));
  const signatureHeader = common.SignatureHeader.encode({ creator: admin.serialized, nonce: nonce() });
  const signed = new Uint8Array(signatureHeader.length + configUpdate.length);
  signed.set(signatureHeader, 0);
  signed.set(configUpdate, signatureHeader.length);
  const data = common.ConfigUpdateEnvelope.encode({ configUpdate, signatures: [{ signatureHeader, signature: admin.sign(signed) }] });
  return buildEnvelope({
    channelId,
    type: common.HeaderType.CONFIG_UPDATE,
    data,
    nonce: nonce(),
    nowMs: 1_800_000_000_000 + nowMs,
    signer: { creator: admin.serialized, sign: (payload) => admin.sign(payload) },
  }).bytes;
}
