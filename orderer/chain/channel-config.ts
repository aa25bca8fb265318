// A channel's current config on one orderer, and the three things that change it (reference §4.2,
// §3.6):
//   - a client's CONFIG_UPDATE, validated against the current config (configtx) and wrapped into
//     a CONFIG envelope signed by this orderer, ready to be ordered alone in a block;
//   - the leader's re-check of such an envelope when the config moved on after it was made: the
//     update is validated again against the config of the moment and wrapped again, or refused;
//   - a committed config block: its config is derived again from the update it carries and must
//     equal the one it carries (a leader cannot slip in a config no update produced), then
//     replaces the current one as a whole: settings, MSPs and policies, consenters with their ids.
// Pulled blocks (a catch-up) were verified against BlockValidation and apply as they are.
import { createHash, randomBytes } from 'node:crypto';
import { common, ProtoDecodeError } from '../../protos';
import { consenterUpdateOf, detectConsenterChange, validateChannelConfigTransition, validateConfigUpdate, type ConsenterChange } from '../configtx';
import { configEnvelopeOfBlock, parseChannelConfig, type ChannelSettings } from '../channelconfig';

export { configEnvelopeOfBlock };
import { ChainInvariantError, OrdererError } from '../errors';
import type { SigningIdentity } from '../msp/types';
import { parseForwardedEnvelope, recheckEnvelope, type ParsedEnvelope } from '../msgcheck';
import type { ChannelAccess } from '../policies/channel-access';
import type { Logger } from 'pino';
import type { IntakeItem } from './leader-pipeline';
import { ConfigChannelAccess } from '../policies/channel-access';
import type { ChainSettings, RaftMember } from './types';

/** Fabric draws 24 random bytes for every signature header nonce. */
const NONCE_BYTES = 24;

/** The config a channel runs with: what it was built from and what was built from it. */
export interface ChannelConfigSnapshot {
  readonly config: common.Config;
  readonly settings: ChannelSettings;
  readonly access: ConfigChannelAccess;
  /** Block number of the config block it came from (LAST_CONFIG). */
  readonly blockNumber: number;
  /** Raft ids of the consenters, in consenter order (etcdraft BlockMetadata.consenter_ids). */
  readonly consenterIds: readonly number[];
  readonly nextConsenterId: number;
}

/** What applying a config block changed. */
export interface ConfigApplied {
  readonly snapshot: ChannelConfigSnapshot;
  /** The membership change the block asks Raft for (none for a rotation or no consenter change). */
  readonly consenterChange: ConsenterChange;
}

/**
 * Where a lagging or joining node pulls blocks from (reference §3.13): the orderer organisations'
 * Endpoints, else the channel's OrdererAddresses. Deliver endpoints, not consenter addresses: with
 * a separate cluster listener a consenter's host:port serves only Cluster.Step.
 */
export function pullEndpointsOf(settings: ChannelSettings): string[] {
  const perOrg = settings.orderer.organizations.flatMap((o) => o.endpoints);
  return [...new Set(perOrg.length > 0 ? perOrg : settings.ordererAddresses)];
}

/** The ChainSettings of a config: Raft members with ids, batch settings, where to pull from. */
export function chainSettingsOf(snapshot: ChannelConfigSnapshot, tickIntervalOverrideMs?: number): ChainSettings {
  const s = snapshot.settings;
  const opts = s.orderer.consensus.options;
  const members: RaftMember[] = s.orderer.consensus.consenters.map((c, i) => ({ id: snapshot.consenterIds[i]!, host: c.host, port: c.port }));
  return {
    configSequence: s.sequence,
    maintenanceMode: s.orderer.consensus.state === 'maintenance',
    members,
    nextConsenterId: snapshot.nextConsenterId,
    tickIntervalMs: tickIntervalOverrideMs ?? opts.tickIntervalMs,
    electionTick: opts.electionTick,
    heartbeatTick: opts.heartbeatTick,
    maxInflightBlocks: opts.maxInflightBlocks,
    snapshotIntervalSizeBytes: opts.snapshotIntervalSizeBytes,
    maxMessageCount: s.orderer.batchSize.maxMessageCount,
    absoluteMaxBytes: s.orderer.batchSize.absoluteMaxBytes,
    preferredMaxBytes: s.orderer.batchSize.preferredMaxBytes,
    batchTimeoutMs: s.orderer.batchTimeoutMs,
    lastConfigIndex: snapshot.blockNumber,
    pullEndpoints: pullEndpointsOf(s),
  };
}

export class ChannelConfigState {
  private current: ChannelConfigSnapshot;

  constructor(
    readonly channelId: string,
    initial: ChannelConfigSnapshot,
    /** Signs the CONFIG envelopes this orderer makes; unsigned without (tests). */
    private readonly signer: SigningIdentity | undefined,
    private readonly nowMs: () => number = Date.now,
    /** Nonces of the envelopes it makes (the simulator passes its seeded ones). */
    private readonly newNonce: () => Uint8Array = () => randomBytes(NONCE_BYTES),
  ) {
    this.current = initial;
  }

  get snapshot(): ChannelConfigSnapshot {
    return this.current;
  }

  get sequence(): number {
    return this.current.config.sequence;
  }

  /**
   * A client's CONFIG_UPDATE envelope (its filters passed): validated against the current config
   * and wrapped into a CONFIG envelope signed by this orderer. Throws OrdererError (BAD_REQUEST,
   * FORBIDDEN for an unsatisfied mod_policy) and changes nothing.
   */
  processConfigUpdate(update: ParsedEnvelope, activeNodes?: readonly number[]): ParsedEnvelope {
    let updateEnvelope: common.ConfigUpdateEnvelope;
    try {
      updateEnvelope = common.ConfigUpdateEnvelope.decode(update.payload.data);
    } catch (err) {
      if (err instanceof ProtoDecodeError) throw OrdererError.badRequest(`bad config update envelope: ${err.message}`, { cause: err });
      throw err;
    }
    return this.wrap(this.validate(updateEnvelope, activeNodes), update.envelope, undefined);
  }

  /**
   * §4.2 steps 1-7 and the etcdraft checks of §3.8 at this moment (certificate validity, the
   * quorum guard when the leader knows who is active): the next config, or OrdererError.
   */
  private validate(updateEnvelope: common.ConfigUpdateEnvelope, activeNodes: readonly number[] | undefined): common.Config {
    const nowMs = this.nowMs();
    const c = this.current;
    const v = validateConfigUpdate({ channelId: this.channelId, current: c.config, access: c.access, envelope: updateEnvelope, nowMs });
    validateChannelConfigTransition({
      channelId: this.channelId,
      current: { config: c.config, settings: c.settings, consenterIds: c.consenterIds, nextConsenterId: c.nextConsenterId },
      next: v.config,
      update: v.update,
      activeNodes,
      nowMs,
    });
    return v.config;
  }

  /**
   * The leader's check of a CONFIG envelope before ordering it (Fabric re-validates when the
   * config moved since it was made): as it is when it still builds on the current config, made
   * again from its update when the config moved, or refused (OrdererError) when the update no
   * longer applies. The tx id is kept, so the orderers that acknowledged it recognise its block.
   */
  recheckConfigEnvelope(env: ParsedEnvelope, activeNodes?: readonly number[]): ParsedEnvelope {
    let configEnvelope: common.ConfigEnvelope;
    try {
      configEnvelope = common.ConfigEnvelope.decode(env.payload.data);
    } catch (err) {
      if (err instanceof ProtoDecodeError) throw OrdererError.badRequest(`bad config envelope: ${err.message}`, { cause: err });
      throw err;
    }
    const lastUpdate = configEnvelope.lastUpdate;
    if (lastUpdate === undefined) throw OrdererError.badRequest('config envelope carries no update');
    if (configEnvelope.config?.sequence === this.sequence + 1 && env.configSeq === this.sequence) {
      // Still on the current config. The quorum guard needs the leader's view of who is active,
      // which the orderer that wrapped it may not have had (a follower): checked here.
      if (activeNodes !== undefined) {
        const update = decodeConfigUpdateOf(lastUpdate);
        const c = this.current;
        validateChannelConfigTransition({
          channelId: this.channelId,
          current: { config: c.config, settings: c.settings, consenterIds: c.consenterIds, nextConsenterId: c.nextConsenterId },
          next: configEnvelope.config,
          update,
          activeNodes,
          nowMs: this.nowMs(),
        });
      }
      return env;
    }
    const updateEnvelopeBytes = common.Envelope.encode(lastUpdate);
    const update = parseForwardedEnvelopeUpdate(updateEnvelopeBytes);
    let updateEnvelope: common.ConfigUpdateEnvelope;
    try {
      updateEnvelope = common.ConfigUpdateEnvelope.decode(update.data);
    } catch (err) {
      if (err instanceof ProtoDecodeError) throw OrdererError.badRequest(`bad config update envelope: ${err.message}`, { cause: err });
      throw err;
    }
    return this.wrap(this.validate(updateEnvelope, activeNodes), lastUpdate, env.txId);
  }

  /**
   * A committed config block (number `blockNumber`): checked, then its config becomes the
   * current one. `rederive` (blocks ordered by Raft) makes the config again from the update it
   * carries against the current config; it must come out equal. Pulled blocks (verified against
   * BlockValidation) apply as they are, with the consenter ids their metadata holds. Throws
   * ChainInvariantError when the block cannot be applied: every orderer of the channel sees the
   * same block, so there is no skipping it, the channel halts.
   */
  applyConfigBlock(
    block: common.Block,
    blockNumber: number,
    options: { rederive: boolean; consenterIds?: { ids: readonly number[]; nextConsenterId: number } },
  ): ConfigApplied {
    const configEnvelope = configEnvelopeOfBlock(block);
    const next = configEnvelope?.config;
    if (next === undefined) throw new ChainInvariantError(`block ${blockNumber} of channel ${this.channelId} is not a config block`);
    if (next.sequence !== this.sequence + 1) {
      throw new ChainInvariantError(`config block ${blockNumber} of channel ${this.channelId} carries config sequence ${next.sequence}, expected ${this.sequence + 1}`);
    }
    let settings: ChannelSettings;
    let access: ConfigChannelAccess | undefined;
    let consenterChange: ConsenterChange = { kind: 'none', ids: [...this.current.consenterIds], nextConsenterId: this.current.nextConsenterId };
    let ids: readonly number[];
    let nextConsenterId: number;
    try {
      let update: common.ConfigUpdate | undefined;
      if (options.rederive) {
        if (configEnvelope?.lastUpdate === undefined) throw new ChainInvariantError(`config block ${blockNumber} of channel ${this.channelId} carries no config update`);
        const payload = common.Payload.decode(configEnvelope.lastUpdate.payload);
        const updateEnvelope = common.ConfigUpdateEnvelope.decode(payload.data);
        // No clock here: every node must reach the same verdict on the same block.
        const derived = validateConfigUpdate({ channelId: this.channelId, current: this.current.config, access: this.current.access, envelope: updateEnvelope });
        // Our encoder writes maps sorted, so equal configs have equal bytes.
        if (!bytesEqual(common.Config.encode(derived.config), common.Config.encode(next))) {
          throw new ChainInvariantError(`config block ${blockNumber} of channel ${this.channelId} carries a config its update does not produce`);
        }
        update = derived.update;
        settings = derived.settings;
        access = derived.access;
      } else {
        settings = parseChannelConfig(this.channelId, next);
      }
      const given = options.consenterIds;
      if (given !== undefined && given.ids.length === settings.orderer.consensus.consenters.length) {
        // A pulled block: its writer's metadata holds the ids.
        ids = given.ids;
        nextConsenterId = given.nextConsenterId;
      } else {
        if (update === undefined && configEnvelope?.lastUpdate !== undefined) {
          update = common.ConfigUpdate.decode(common.ConfigUpdateEnvelope.decode(common.Payload.decode(configEnvelope.lastUpdate.payload).data).configUpdate);
        }
        if (update !== undefined && consenterUpdateOf(update)) {
          consenterChange = detectConsenterChange(this.current.settings.orderer.consensus.consenters, settings.orderer.consensus.consenters, this.current.consenterIds, this.current.nextConsenterId);
        }
        ids = consenterChange.ids;
        nextConsenterId = consenterChange.nextConsenterId;
      }
    } catch (err) {
      if (err instanceof ChainInvariantError) throw err;
      throw new ChainInvariantError(`config block ${blockNumber} of channel ${this.channelId} cannot be applied: ${(err as Error).message}`, { cause: err });
    }
    if (ids.length !== settings.orderer.consensus.consenters.length) {
      throw new ChainInvariantError(`config block ${blockNumber} of channel ${this.channelId}: ${settings.orderer.consensus.consenters.length} consenters but ${ids.length} consenter ids`);
    }
    try {
      access ??= ConfigChannelAccess.fromConfig(this.channelId, next);
    } catch (err) {
      throw new ChainInvariantError(`config block ${blockNumber} of channel ${this.channelId}: its MSPs or policies do not build: ${(err as Error).message}`, { cause: err });
    }
    this.current = { config: next, settings, access, blockNumber, consenterIds: ids, nextConsenterId };
    return { snapshot: this.current, consenterChange };
  }

  /** A CONFIG envelope carrying `config` and the client's update, signed by this orderer (reference §2.6). */
  private wrap(config: common.Config, lastUpdate: common.Envelope, keepTxId: string | undefined): ParsedEnvelope {
    const creator = this.signer?.serialized ?? new Uint8Array(0);
    const nonce = this.newNonce();
    // Fabric leaves the tx id of these envelopes empty. We give it one, by the rule of every
    // other tx id, because the orderers that acknowledged the update keep and resend it by tx id
    // until they see it in a block (an acknowledged config update survives a leader crash).
    const txId = keepTxId ?? createHash('sha256').update(nonce).update(creator).digest('hex');
    const nowMs = this.nowMs();
    const channelHeader = common.ChannelHeader.encode({
      type: common.HeaderType.CONFIG,
      version: 0,
      timestamp: { seconds: Math.floor(nowMs / 1000), nanos: 0 },
      channelId: this.channelId,
      txId,
      epoch: 0,
    });
    const signatureHeader = common.SignatureHeader.encode({ creator, nonce });
    const payloadBytes = common.Payload.encode({
      header: { channelHeader, signatureHeader },
      data: common.ConfigEnvelope.encode({ config, lastUpdate }),
    });
    const signature = this.signer?.sign(payloadBytes) ?? new Uint8Array(0);
    const envelopeBytes = common.Envelope.encode({ payload: payloadBytes, signature });
    return { ...parseForwardedEnvelope(envelopeBytes), configSeq: this.sequence };
  }
}

/** The payload of a client's CONFIG_UPDATE envelope carried as last_update. */
function parseForwardedEnvelopeUpdate(envelopeBytes: Uint8Array): common.Payload {
  try {
    const envelope = common.Envelope.decode(envelopeBytes);
    const payload = common.Payload.decode(envelope.payload);
    const channelHeader = common.ChannelHeader.decode(payload.header?.channelHeader ?? new Uint8Array(0));
    if (channelHeader.type !== common.HeaderType.CONFIG_UPDATE) throw OrdererError.badRequest('the update of a config envelope is not a CONFIG_UPDATE');
    return payload;
  } catch (err) {
    if (err instanceof ProtoDecodeError) throw OrdererError.badRequest(`bad config update in a config envelope: ${err.message}`, { cause: err });
    throw err;
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

/** The ConfigUpdate inside a CONFIG_UPDATE envelope (BAD_REQUEST when it does not decode). */
function decodeConfigUpdateOf(lastUpdate: common.Envelope): common.ConfigUpdate {
  try {
    const payload = common.Payload.decode(lastUpdate.payload);
    return common.ConfigUpdate.decode(common.ConfigUpdateEnvelope.decode(payload.data).configUpdate);
  } catch (err) {
    if (err instanceof ProtoDecodeError) throw OrdererError.badRequest(`bad config update in a config envelope: ${err.message}`, { cause: err });
    throw err;
  }
}

/** What the leader's re-check of an intake item needs of the chain. */
export interface RecheckContext {
  /** The channel's config; without it (tests) a CONFIG envelope is refused. */
  readonly config?: ChannelConfigState;
  readonly settings: ChainSettings;
  readonly access: ChannelAccess;
  readonly noExpirationChecks: boolean;
  /** The leader's view of who is active (the quorum guard). */
  activeNodes(): readonly number[] | undefined;
  readonly logger: Logger;
}

/**
 * The leader's check of an envelope checked against an older config, and of every CONFIG envelope
 * it has not checked itself at this config (made again from its update if needed; the filters run
 * again on a new one). The refusal when it no longer passes: at intake the sender hears it; at the
 * cut it is dropped with a warning (its sender heard SUCCESS already; Fabric's leader drops such
 * envelopes the same way).
 */
export function recheckIntakeItem(item: IntakeItem, ctx: RecheckContext): IntakeItem | OrdererError {
  const seq = ctx.settings.configSequence;
  const expiry = { disabled: ctx.noExpirationChecks };
  try {
    const parsed = { ...parseForwardedEnvelope(item.envelopeBytes), ...(item.configSeq !== undefined ? { configSeq: item.configSeq } : {}) };
    if (parsed.kind === 'config') {
      if (ctx.config === undefined) throw OrdererError.badRequest('this node takes no config updates');
      const checked = ctx.config.recheckConfigEnvelope(parsed, ctx.activeNodes());
      if (checked !== parsed) {
        const refusal = recheckEnvelope(checked, ctx.settings, ctx.access, expiry);
        if (refusal !== undefined) throw refusal;
      }
      return { txId: checked.txId, envelopeBytes: checked.envelopeBytes, messageSizeBytes: checked.messageSizeBytes, configSeq: seq, isConfig: true };
    }
    const refusal = recheckEnvelope(parsed, ctx.settings, ctx.access, expiry);
    if (refusal !== undefined) throw refusal;
    return { ...item, configSeq: seq };
  } catch (err) {
    if (!(err instanceof OrdererError)) throw err;
    ctx.logger.warn({ txId: item.txId, checkedAt: item.configSeq, configSequence: seq, status: common.Status[err.status], reason: err.message }, 'an envelope does not pass the channel config (not ordered)');
    return err;
  }
}
