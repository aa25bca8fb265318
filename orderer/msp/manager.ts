// A channel's MSPs behind the IdentityDeserializer contract: routes a serialized identity to the
// MSP its ID names and caches what it made of it. Built from the channel config; a config update
// builds a new manager, which starts with an empty cache, so nothing validated under an old
// config (a since-revoked certificate, a removed CA) survives the change.
import { common, msp } from '../../protos';
import { decodeWith } from '../../protos/runtime';
import { ChannelConfigError } from '../errors';
import { APPLICATION_GROUP, CHANNEL_GROUP, CONSORTIUMS_GROUP, MSP_KEY, ORDERER_GROUP } from '../channelconfig/settings';
import { bytesEqual } from './der';
import { messageOf, MspConfigError } from './errors';
import type { X509Identity } from './identity';
import { IdentityError, type IdentityDeserializer } from './types';
import { FABRIC_MSP_TYPE, IDEMIX_MSP_TYPE, X509Msp } from './x509-msp';

/**
 * Identities kept per channel. A creator is typically ~1 KB of PEM and its parsed form a few KB,
 * so the cache holds at most a few MB per channel, while covering the clients, peers and orderers
 * that sign on a busy channel (a miss costs a certificate parse and one or two ECDSA verifications).
 */
export const DEFAULT_IDENTITY_CACHE_ENTRIES = 1024;

/**
 * Refused identities kept per channel, apart from the validated ones so that a client sending
 * garbage creators cannot evict the identities of honest traffic. A refusal depends only on the
 * bytes and the config (the MSP checks a certificate at its notBefore + 1 s, not at the current
 * time), so the same error can be thrown again. Without it every envelope of a client with a
 * refused creator (a misconfigured client, a flood, the bench's unsigned placeholder creator)
 * paid a protobuf decode, a PEM and DER parse and an Error with a stack trace.
 */
export const DEFAULT_REFUSED_CACHE_ENTRIES = 256;

export interface MspManagerOptions {
  /** Bound of the identity cache (least recently used is evicted first); 0 disables it. */
  readonly identityCacheEntries?: number;
}

/** An MSP ID present in the config that this implementation cannot deserialize (idemix). */
interface UnsupportedMsp {
  readonly reason: string;
}

/**
 * Creators recognised by their bytes before the cache's string key is made: a client signs every
 * envelope with the same creator, and comparing ~1 KB of bytes (memcmp) costs a fraction of
 * building a ~1 KB string and hashing it, which was 1.5% of a node's CPU verifying signed envelopes.
 */
const RECENT_CREATORS = 8;
/**
 * Refused creators recognised the same way, in a list of their own (a flood of distinct refused
 * creators must not push out the ones that sign honest traffic): a client whose creator is refused
 * sends it with every envelope (and the benchmark's unsigned envelopes carry one placeholder).
 */
const RECENT_REFUSALS = 2;

interface RecentEntry<T> {
  /** A copy: the envelope the creator came in must not be kept alive by the cache. */
  readonly bytes: Buffer;
  /** Its key in the cache (V8 keeps the string's hash, so an LRU bump rehashes nothing). */
  readonly cacheKey: string;
  readonly value: T;
}

/** A few cached creators compared by bytes first; when full, the oldest makes room. */
class RecentByBytes<T> {
  private readonly entries: RecentEntry<T>[] = [];
  private next = 0;

  constructor(private readonly max: number) {}

  find(bytes: Uint8Array): RecentEntry<T> | undefined {
    for (const e of this.entries) if (e.bytes.length === bytes.length && Buffer.compare(e.bytes, bytes) === 0) return e;
    return undefined;
  }

  remember(bytes: Uint8Array, cacheKey: string, value: T): void {
    const entry: RecentEntry<T> = { bytes: Buffer.from(bytes), cacheKey, value };
    if (this.entries.length < this.max) {
      this.entries.push(entry);
      return;
    }
    this.entries[this.next] = entry;
    this.next = (this.next + 1) % this.max;
  }

  /** The cache evicted `cacheKey`: it leaves this list too. */
  forget(cacheKey: string): void {
    const at = this.entries.findIndex((e) => e.cacheKey === cacheKey);
    if (at >= 0) this.entries.splice(at, 1);
  }
}

export class MspManager implements IdentityDeserializer {
  private readonly cache = new Map<string, X509Identity>();
  private readonly recent = new RecentByBytes<X509Identity>(RECENT_CREATORS);
  private readonly cacheEntries: number;
  private readonly refused = new Map<string, IdentityError>();
  private readonly recentRefusals = new RecentByBytes<IdentityError>(RECENT_REFUSALS);
  private readonly refusedEntries: number;
  private hits = 0;
  private misses = 0;

  constructor(
    private readonly msps: ReadonlyMap<string, X509Msp>,
    private readonly unsupported: ReadonlyMap<string, UnsupportedMsp> = new Map(),
    options: MspManagerOptions = {},
  ) {
    this.cacheEntries = options.identityCacheEntries ?? DEFAULT_IDENTITY_CACHE_ENTRIES;
    if (!Number.isInteger(this.cacheEntries) || this.cacheEntries < 0) throw new RangeError(`identityCacheEntries must be a non-negative integer, got ${this.cacheEntries}`);
    // Refusals are cached only when identities are: 0 turns every cache off (tests measuring misses).
    this.refusedEntries = this.cacheEntries === 0 ? 0 : DEFAULT_REFUSED_CACHE_ENTRIES;
  }

  get mspIds(): readonly string[] {
    return [...this.msps.keys(), ...this.unsupported.keys()];
  }

  msp(mspId: string): X509Msp | undefined {
    return this.msps.get(mspId);
  }

  deserialize(serializedIdentity: Uint8Array): X509Identity {
    const result = this.deserializeOrRefusal(serializedIdentity);
    if (result instanceof IdentityError) throw result;
    return result;
  }

  /**
   * deserialize() without the throw, for the per-envelope checks: a client whose creator is
   * refused sends it with every envelope, and a throw caught a few frames up cost about as much
   * as the rest of the envelope's checks.
   */
  deserializeOrRefusal(serializedIdentity: Uint8Array): X509Identity | IdentityError {
    const recent = this.recent.find(serializedIdentity);
    if (recent !== undefined) {
      this.hits++;
      this.cache.delete(recent.cacheKey);
      this.cache.set(recent.cacheKey, recent.value);
      return recent.value;
    }
    const recentRefusal = this.recentRefusals.find(serializedIdentity);
    if (recentRefusal !== undefined) return recentRefusal.value;
    // latin1 maps each byte to one char: an exact key, stored by V8 as a one-byte string.
    const cacheKey = Buffer.from(serializedIdentity.buffer, serializedIdentity.byteOffset, serializedIdentity.length).toString('latin1');
    const cached = this.cache.get(cacheKey);
    if (cached !== undefined) {
      this.hits++;
      // Map keeps insertion order: re-inserting makes this the most recently used.
      this.cache.delete(cacheKey);
      this.cache.set(cacheKey, cached);
      this.recent.remember(serializedIdentity, cacheKey, cached);
      return cached;
    }
    const refusal = this.refused.get(cacheKey);
    if (refusal !== undefined) {
      this.recentRefusals.remember(serializedIdentity, cacheKey, refusal);
      return refusal;
    }
    this.misses++;
    let identity: X509Identity;
    try {
      identity = this.deserializeUncached(serializedIdentity);
    } catch (err) {
      if (!(err instanceof IdentityError)) throw err;
      if (this.refusedEntries > 0) {
        // Oldest first out (no reordering on a hit: a refused creator that keeps coming back
        // is re-parsed once per 256 distinct refusals at worst).
        if (this.refused.size >= this.refusedEntries) {
          const evicted = this.refused.keys().next().value as string;
          this.refused.delete(evicted);
          this.recentRefusals.forget(evicted);
        }
        this.refused.set(cacheKey, err);
        this.recentRefusals.remember(serializedIdentity, cacheKey, err);
      }
      return err;
    }
    // Failures go to their own bounded map (above): in this one they could flood out the
    // identities that sign honest traffic.
    if (this.cacheEntries > 0) {
      if (this.cache.size >= this.cacheEntries) {
        const evicted = this.cache.keys().next().value as string;
        this.cache.delete(evicted);
        this.recent.forget(evicted);
      }
      this.cache.set(cacheKey, identity);
      this.recent.remember(serializedIdentity, cacheKey, identity);
    }
    return identity;
  }

  /** Cache figures for metrics and tests. */
  cacheStats(): { readonly entries: number; readonly maxEntries: number; readonly hits: number; readonly misses: number } {
    return { entries: this.cache.size, maxEntries: this.cacheEntries, hits: this.hits, misses: this.misses };
  }

  private deserializeUncached(bytes: Uint8Array): X509Identity {
    let serialized: msp.SerializedIdentity;
    try {
      serialized = msp.SerializedIdentity.decode(bytes);
    } catch (err) {
      throw new IdentityError('', `could not deserialize a SerializedIdentity: ${messageOf(err)}`, { cause: err });
    }
    const target = this.msps.get(serialized.mspid);
    if (target !== undefined) return target.deserializeIdentity(serialized);
    const unsupported = this.unsupported.get(serialized.mspid);
    if (unsupported !== undefined) throw new IdentityError(serialized.mspid, unsupported.reason);
    throw new IdentityError(serialized.mspid, `MSP ${JSON.stringify(serialized.mspid)} is not defined in the channel`);
  }
}

/** One org's MSP value in a channel config, with its path for error messages. */
export interface MspConfigAt {
  readonly path: string;
  readonly config: msp.MSPConfig;
}

/**
 * The MSP value of every org: /Channel/Application/*, /Channel/Orderer/*, and
 * /Channel/Consortiums/<consortium>/* when present (as Fabric's channelconfig builds its MSPs).
 */
export function collectMspConfigs(config: common.Config): MspConfigAt[] {
  const channel = config.channelGroup;
  if (channel === undefined) return [];
  const out: MspConfigAt[] = [];
  const orgsOf = (group: common.ConfigGroup | undefined, path: string): void => {
    if (group === undefined) return;
    for (const [orgName, org] of Object.entries(group.groups)) {
      const orgPath = `${path}/${orgName}`;
      const value = org.values[MSP_KEY];
      if (value === undefined) throw new ChannelConfigError(orgPath, `organization has no ${MSP_KEY} value`);
      try {
        out.push({ path: `${orgPath}/${MSP_KEY}`, config: msp.MSPConfig.decode(value.value) });
      } catch (err) {
        throw new ChannelConfigError(`${orgPath}/${MSP_KEY}`, `MSPConfig does not decode: ${messageOf(err)}`, { cause: err });
      }
    }
  };
  orgsOf(channel.groups[APPLICATION_GROUP], `/${CHANNEL_GROUP}/${APPLICATION_GROUP}`);
  orgsOf(channel.groups[ORDERER_GROUP], `/${CHANNEL_GROUP}/${ORDERER_GROUP}`);
  const consortiums = channel.groups[CONSORTIUMS_GROUP];
  if (consortiums !== undefined) {
    for (const [name, consortium] of Object.entries(consortiums.groups)) orgsOf(consortium, `/${CHANNEL_GROUP}/${CONSORTIUMS_GROUP}/${name}`);
  }
  return out;
}

/**
 * Builds the channel's MSP manager; throws ChannelConfigError (path of the MSP value) for an MSP
 * that cannot be set up, or for one MSP ID defined twice with different contents (Fabric's
 * "attempted to define two different versions of MSP").
 */
export function mspManagerFromConfig(config: common.Config, options: MspManagerOptions = {}): MspManager {
  const msps = new Map<string, X509Msp>();
  const unsupported = new Map<string, UnsupportedMsp>();
  const seen = new Map<string, { readonly path: string; readonly canonical: Uint8Array }>();
  for (const { path, config: mspConfig } of collectMspConfigs(config)) {
    if (mspConfig.type === IDEMIX_MSP_TYPE) {
      // The orderer needs only its orgs' X.509 MSPs; an idemix application org is kept out of the
      // way (its signatures are refused) rather than making the whole channel unusable.
      const name = idemixName(path, mspConfig.config);
      unsupported.set(name, { reason: 'idemix identities are not supported by this orderer' });
      continue;
    }
    if (mspConfig.type !== FABRIC_MSP_TYPE) throw new ChannelConfigError(path, `unknown MSP type ${mspConfig.type}`);
    let built: X509Msp;
    try {
      built = X509Msp.fromMspConfig(mspConfig);
    } catch (err) {
      if (err instanceof MspConfigError) throw new ChannelConfigError(path, err.message, { cause: err });
      throw err;
    }
    // Compare re-encoded FabricMSPConfigs: semantic equality, immune to field order on the wire.
    const canonical = msp.FabricMSPConfig.encode(built.config);
    const previous = seen.get(built.name);
    if (previous !== undefined) {
      if (!bytesEqual(previous.canonical, canonical)) {
        throw new ChannelConfigError(path, `MSP ${built.name} is defined differently at ${previous.path}: two different versions of one MSP`);
      }
      continue;
    }
    seen.set(built.name, { path, canonical });
    msps.set(built.name, built);
  }
  return new MspManager(msps, unsupported, options);
}

/** IdemixMSPConfig.name is field 1 (string), as in FabricMSPConfig; the other fields are skipped. */
function idemixName(path: string, bytes: Uint8Array): string {
  try {
    return decodeWith(bytes, 'msp.IdemixMSPConfig', (r, end) => {
      let name = '';
      while (r.pos < end) {
        const tag = r.uint32();
        if (tag === ((1 << 3) | 2)) name = r.string();
        else r.skipType(tag & 7);
      }
      return name;
    });
  } catch (err) {
    throw new ChannelConfigError(path, `idemix MSP config does not decode: ${messageOf(err)}`, { cause: err });
  }
}
