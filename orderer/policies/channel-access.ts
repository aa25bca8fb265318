// Who may write to and read from one channel, at one config: the channel's MSPs, its policies
// compiled over them, and the creator-expiry check Broadcast and Deliver make (reference §4.1
// filter 3, §4.3). Built by the node when a channel opens (and, with config updates, when a
// config block applies), handed to the services through ChainHandle.access(), replaced as a whole,
// so one check never mixes two configs.
import { createHash } from 'node:crypto';
import { common, msp, ProtoDecodeError } from '../../protos';
import { mspManagerFromConfig, type MspManager } from '../msp/manager';
import { parseCertificate } from '../msp/certificate';
import { decodePem } from '../msp/der';
import { IdentityError } from '../msp/types';
import type { PolicyEvaluator } from '../msgcheck';
import { ChannelPolicyEvaluator, ConfigChannelPolicies, type ChannelPolicies } from './channel-policies';

/** What Broadcast and Deliver ask of a channel before they take or serve anything. */
export interface ChannelAccess {
  /** Config.sequence of the config this was built from: Deliver re-evaluates Readers when it changes. */
  readonly configSequence: number;
  /** Writers / Readers (and their orderer variants in maintenance), FORBIDDEN with the reason. */
  readonly evaluator: PolicyEvaluator;
  /**
   * The validity period of the certificate in a marshaled SerializedIdentity, or undefined when
   * it holds none that parses: Fabric then skips the expiry check and leaves the refusal to the
   * policy (an unsigned envelope on an open channel passes both).
   */
  creatorValidity(creator: Uint8Array): CertificateValidity | undefined;
}

/** NotBefore and NotAfter of a certificate, ms since the epoch. */
export interface CertificateValidity {
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

/** Configs whose access is kept for reuse (ConfigChannelAccess.fromConfig), least recently used out first. */
const RECENT_ACCESS_ENTRIES = 16;
const recentAccess = new Map<string, ConfigChannelAccess>();

/** Validity periods kept for creators the channel's MSPs refuse (see creatorValidity). */
const REFUSED_VALIDITY_ENTRIES = 256;

/** The access of a channel config: its MSPs (identity cache emptied with every new config) and policies. */
export class ConfigChannelAccess implements ChannelAccess {
  readonly evaluator: PolicyEvaluator;
  /** null: the creator holds no certificate that parses. */
  private readonly refusedValidity = new Map<string, CertificateValidity | null>();

  private constructor(
    readonly policies: ChannelPolicies,
    readonly msps: MspManager,
  ) {
    this.evaluator = new ChannelPolicyEvaluator(() => policies);
  }

  /**
   * Throws ChannelConfigError (BAD_REQUEST, naming the MSP or policy path) when the config's MSPs
   * or policies do not build. The same config gives the same (immutable) access: the few most
   * recent are kept, since one config is built several times (validating an update, applying its
   * block, a restart) and building MSPs parses every certificate.
   */
  static fromConfig(channelId: string, config: common.Config): ConfigChannelAccess {
    const key = `${channelId}\u0000${createHash('sha256').update(common.Config.encode(config)).digest('hex')}`;
    const cached = recentAccess.get(key);
    if (cached !== undefined) {
      recentAccess.delete(key);
      recentAccess.set(key, cached);
      return cached;
    }
    const msps = mspManagerFromConfig(config);
    const access = new ConfigChannelAccess(ConfigChannelPolicies.fromConfig(channelId, config, msps), msps);
    recentAccess.set(key, access);
    if (recentAccess.size > RECENT_ACCESS_ENTRIES) recentAccess.delete(recentAccess.keys().next().value!);
    return access;
  }

  get configSequence(): number {
    return this.policies.configSequence;
  }

  creatorValidity(creator: Uint8Array): CertificateValidity | undefined {
    if (creator.length === 0) return undefined;
    // A creator the channel's MSPs know comes from their cache, which the Writers check that
    // follows would fill anyway; one they refuse is parsed here, since the expiry check comes first.
    try {
      const identity = this.msps.deserializeOrRefusal(creator);
      if (!(identity instanceof IdentityError)) return { notBeforeMs: identity.notBeforeMs, notAfterMs: identity.notAfterMs };
    } catch (err) {
      if (!(err instanceof ProtoDecodeError)) throw err;
    }
    // Refused by the MSPs (which remember the refusal): the certificate is parsed without them,
    // once per creator, so a client whose creator is refused does not cost a parse per envelope.
    const key = Buffer.from(creator.buffer, creator.byteOffset, creator.length).toString('latin1');
    let validity = this.refusedValidity.get(key);
    if (validity === undefined) {
      validity = certificateValidity(creator) ?? null;
      if (this.refusedValidity.size >= REFUSED_VALIDITY_ENTRIES) this.refusedValidity.delete(this.refusedValidity.keys().next().value!);
      this.refusedValidity.set(key, validity);
    }
    return validity ?? undefined;
  }
}

/** The validity period of the certificate a SerializedIdentity carries, without any MSP; undefined if there is none. */
export function certificateValidity(serializedIdentity: Uint8Array): CertificateValidity | undefined {
  try {
    const id = msp.SerializedIdentity.decode(serializedIdentity);
    const block = decodePem(id.idBytes);
    if (block === undefined) return undefined;
    const cert = parseCertificate(block.der);
    return { notBeforeMs: cert.notBeforeMs, notAfterMs: cert.notAfterMs };
  } catch {
    // Not an identity, not PEM, not a certificate: no expiry to check (Fabric's ExpiresAt gives zero time).
    return undefined;
  }
}

/** Accepts everything and checks no expiry. INSECURE: for tests of the services around it only. */
export class InsecureOpenChannelAccess implements ChannelAccess {
  readonly evaluator: PolicyEvaluator = { evaluateSignedData: () => true };

  constructor(readonly configSequence = 0) {}

  creatorValidity(): CertificateValidity | undefined {
    return undefined;
  }
}
