// Broadcast message checks (reference §4.1): parsing, classification by header type,
// maintenance mode, emptiness and size, the creator's certificate expiry, the Writers
// policy. Policies and identities come from the channel (ChainHandle.access(), built from
// its config by orderer/policies/channel-access.ts) through the PolicyEvaluator seam.
//
// Order matters because it decides which error a client sees when several apply;
// it is Fabric's: parse → channel id → header type → maintenance (normal only) →
// payload present → size → signature header → Writers policy.
import { common, ProtoDecodeError } from '../protos';
import { OrdererError } from './errors';

/**
 * What the orderer does with an envelope: 'config-update' comes from clients and is turned into
 * a 'config' envelope (type CONFIG, made and signed by an orderer), which only travels between
 * orderers (forwarded to the leader) and is ordered alone in a block.
 */
export type MessageKind = 'normal' | 'config-update' | 'config';

/** The header fields routing and logging need. */
export interface EnvelopeHeaderInfo {
  readonly channelId: string;
  readonly txId: string;
  /** common.HeaderType value (numbers outside the enum are possible and legal). */
  readonly headerType: number;
}

/** Envelope with its payload and channel header decoded. */
export interface ParsedEnvelope extends EnvelopeHeaderInfo {
  readonly envelopeBytes: Uint8Array;
  readonly envelope: common.Envelope;
  readonly payload: common.Payload;
  readonly channelHeader: common.ChannelHeader;
  readonly kind: MessageKind;
  /** Fabric's message size: len(payload) + len(signature). */
  readonly messageSizeBytes: number;
  /**
   * The channel config sequence the envelope was checked against (SubmitRequest.
   * last_validation_seq): the leader checks it again when the config has moved since.
   * Absent: checked against the chain's current config.
   */
  readonly configSeq?: number;
}

/** One (data, identity, signature) triple for policy evaluation (reference §5.1). */
export interface SignedData {
  /** The bytes that were signed. */
  readonly data: Uint8Array;
  /** A marshaled msp.SerializedIdentity. */
  readonly identity: Uint8Array;
  readonly signature: Uint8Array;
}

/**
 * Seam for policy evaluation. `policyName` is absolute ("/Channel/Writers"). Returns
 * whether the signature set satisfies the policy; a thrown error counts as "not
 * satisfied" (FORBIDDEN), with the error's message in the answer.
 */
export interface PolicyEvaluator {
  evaluateSignedData(policyName: string, signedData: readonly SignedData[]): boolean | Promise<boolean>;
}

/**
 * Accepts every signature set without looking at it. INSECURE: for tests of the services
 * around the policy check. The orderer itself always evaluates the channel's policies.
 */
export class InsecureAcceptAllPolicyEvaluator implements PolicyEvaluator {
  evaluateSignedData(): boolean {
    return true;
  }
}

/** Policies checked by the signature filter (reference §4.1 filter 4). */
export const CHANNEL_WRITERS_POLICY = '/Channel/Writers';
/** In maintenance mode only orderer-org writers may submit (to leave maintenance). */
export const ORDERER_WRITERS_POLICY = '/Channel/Orderer/Writers';

export function writersPolicyName(maintenanceMode: boolean): string {
  return maintenanceMode ? ORDERER_WRITERS_POLICY : CHANNEL_WRITERS_POLICY;
}

function decodeOrBadRequest<T>(what: string, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof ProtoDecodeError) throw OrdererError.badRequest(`${what}: ${err.message}`, { cause: err });
    throw err;
  }
}

/**
 * Decodes envelope, payload and channel header; BAD_REQUEST with the reason if any
 * of them is missing or malformed. No other checks (Deliver uses this for seek
 * envelopes, whose header type is not checked).
 */
export function parseEnvelopeHeaders(envelopeBytes: Uint8Array): {
  envelope: common.Envelope;
  payload: common.Payload;
  channelHeader: common.ChannelHeader;
} {
  if (envelopeBytes.length === 0) throw OrdererError.badRequest('envelope is empty');
  const envelope = decodeOrBadRequest('bad envelope', () => common.Envelope.decode(envelopeBytes));
  const payload = decodeOrBadRequest('bad payload', () => common.Payload.decode(envelope.payload));
  const header = payload.header;
  if (header === undefined) throw OrdererError.badRequest('bad payload: no header');
  // proto3 cannot tell an empty channel header from an absent one; both are unusable.
  if (header.channelHeader.length === 0) throw OrdererError.badRequest('bad payload header: no channel header');
  const channelHeader = decodeOrBadRequest('bad channel header', () => common.ChannelHeader.decode(header.channelHeader));
  return { envelope, payload, channelHeader };
}

/**
 * Channel ID, tx ID and header type of a marshaled envelope, for routing and logs.
 * Cheap: the decoded bytes fields are views into `envelopeBytes`, nothing is copied
 * and nothing beyond the channel header is decoded. Throws OrdererError BAD_REQUEST.
 */
export function extractHeaderInfo(envelopeBytes: Uint8Array): EnvelopeHeaderInfo {
  const { channelHeader } = parseEnvelopeHeaders(envelopeBytes);
  return { channelId: channelHeader.channelId, txId: channelHeader.txId, headerType: channelHeader.type };
}

/**
 * CONFIG_UPDATE goes through config processing; CONFIG and ORDERER_TRANSACTION are
 * only ever made by orderers, so a client may not submit them; everything else
 * (endorser transactions, unknown types) is ordered as is.
 */
export function classifyHeaderType(headerType: number): MessageKind {
  switch (headerType) {
    case common.HeaderType.CONFIG_UPDATE:
      return 'config-update';
    case common.HeaderType.CONFIG:
    case common.HeaderType.ORDERER_TRANSACTION:
      throw OrdererError.badRequest(
        `envelopes of type ${common.HeaderType[headerType]} cannot be broadcast; submit a CONFIG_UPDATE instead`,
      );
    default:
      return 'normal';
  }
}

function parsedEnvelope(
  envelopeBytes: Uint8Array,
  envelope: common.Envelope,
  payload: common.Payload,
  channelHeader: common.ChannelHeader,
  kind: MessageKind,
): ParsedEnvelope {
  return {
    envelopeBytes,
    envelope,
    payload,
    channelHeader,
    kind,
    channelId: channelHeader.channelId,
    txId: channelHeader.txId,
    headerType: channelHeader.type,
    messageSizeBytes: envelope.payload.length + envelope.signature.length,
  };
}

/**
 * An envelope forwarded by another orderer (SubmitRequest.payload): a normal transaction, or a
 * CONFIG envelope an orderer made from a client's update. Throws OrdererError BAD_REQUEST for
 * anything else (a CONFIG_UPDATE is processed by the orderer that received it, never forwarded).
 */
export function parseForwardedEnvelope(envelopeBytes: Uint8Array): ParsedEnvelope {
  const { envelope, payload, channelHeader } = parseEnvelopeHeaders(envelopeBytes);
  if (channelHeader.channelId.length === 0) throw OrdererError.badRequest('channel header has no channel ID');
  let kind: MessageKind;
  if (channelHeader.type === common.HeaderType.CONFIG) kind = 'config';
  else {
    kind = classifyHeaderType(channelHeader.type);
    if (kind === 'config-update') throw OrdererError.badRequest('a CONFIG_UPDATE is never forwarded between orderers');
  }
  return parsedEnvelope(envelopeBytes, envelope, payload, channelHeader, kind);
}

/**
 * The checks that need only the envelope: parse, channel ID present, header type.
 * The caller then finds the channel by `channelId` (unknown channel: BAD_REQUEST,
 * reference §4.1 row 2) and runs checkEnvelopeForChannel.
 */
export function parseBroadcastEnvelope(envelopeBytes: Uint8Array): ParsedEnvelope {
  const { envelope, payload, channelHeader } = parseEnvelopeHeaders(envelopeBytes);
  if (channelHeader.channelId.length === 0) throw OrdererError.badRequest('channel header has no channel ID');
  const kind = classifyHeaderType(channelHeader.type);
  return parsedEnvelope(envelopeBytes, envelope, payload, channelHeader, kind);
}

/** The channel state the per-channel checks depend on. */
export interface ChannelCheckLimits {
  /** /Channel/Orderer/BatchSize AbsoluteMaxBytes. */
  readonly absoluteMaxBytes: number;
  /** ConsensusType state is MAINTENANCE (all our channels have orderer capability V2_0,
   *  which includes the V1_4_2 behaviour that makes maintenance mode matter). */
  readonly maintenanceMode: boolean;
}

/**
 * Checks against the channel's settings that need no identities. Returns the signed
 * data for the policy check. Throws OrdererError:
 * - SERVICE_UNAVAILABLE: a normal transaction while the channel is in maintenance;
 * - BAD_REQUEST: empty payload, unparsable signature header;
 * - REQUEST_ENTITY_TOO_LARGE: len(payload)+len(signature) > AbsoluteMaxBytes.
 *   Fabric's size filter answers BAD_REQUEST here; we answer 413 on purpose (the
 *   issue asks for it, and it tells the client the real reason). Clients treat any
 *   non-SUCCESS status as a rejection, so nothing else changes.
 */
export function checkEnvelopeForChannel(parsed: ParsedEnvelope, limits: ChannelCheckLimits): SignedData[] {
  if (parsed.kind === 'normal' && limits.maintenanceMode) {
    throw OrdererError.serviceUnavailable('normal transactions are rejected while the channel is in maintenance mode');
  }
  if (parsed.envelope.payload.length === 0) throw OrdererError.badRequest('envelope has an empty payload');
  if (parsed.messageSizeBytes > limits.absoluteMaxBytes) {
    throw OrdererError.tooLarge(
      `message of ${parsed.messageSizeBytes} bytes (payload + signature) exceeds AbsoluteMaxBytes ${limits.absoluteMaxBytes}`,
    );
  }
  return envelopeSignedData(parsed);
}

/** Signed data of an envelope (reference §5.1): payload as received, its creator,
 *  the envelope signature. BAD_REQUEST if the signature header does not parse. */
export function envelopeSignedData(parsed: Pick<ParsedEnvelope, 'envelope' | 'payload'>): SignedData[] {
  const header = parsed.payload.header;
  if (header === undefined) throw OrdererError.badRequest('bad payload: no header');
  const signatureHeader = decodeOrBadRequest('bad signature header', () =>
    common.SignatureHeader.decode(header.signatureHeader),
  );
  return [{ data: parsed.envelope.payload, identity: signatureHeader.creator, signature: parsed.envelope.signature }];
}

/** FORBIDDEN unless `signedData` satisfies `policyName`. */
export async function checkPolicy(
  evaluator: PolicyEvaluator,
  policyName: string,
  signedData: readonly SignedData[],
): Promise<void> {
  await checkPolicyNow(evaluator, policyName, signedData);
}

/**
 * checkPolicy, synchronous when the evaluator answers synchronously (the channels' evaluators
 * do: signatures are verified with node:crypto's one-shot verify): a promise only when it does
 * not. Broadcast checks every envelope, and three promises and awaits per envelope were a
 * good part of an entry node's short-lived garbage.
 */
export function checkPolicyNow(evaluator: PolicyEvaluator, policyName: string, signedData: readonly SignedData[]): void | Promise<void> {
  let satisfied: boolean | Promise<boolean>;
  try {
    satisfied = evaluator.evaluateSignedData(policyName, signedData);
  } catch (err) {
    throw policyFailure(policyName, err);
  }
  if (typeof satisfied === 'boolean') return requireSatisfied(policyName, satisfied);
  return satisfied.then(
    (ok) => requireSatisfied(policyName, ok),
    (err: unknown) => {
      throw policyFailure(policyName, err);
    },
  );
}

function requireSatisfied(policyName: string, satisfied: boolean): void {
  if (!satisfied) throw OrdererError.forbidden(`signature set does not satisfy policy ${policyName}`);
}

/** An evaluator that threw: its own OrdererError as is, anything else FORBIDDEN with the reason. */
function policyFailure(policyName: string, err: unknown): OrdererError {
  if (err instanceof OrdererError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  return OrdererError.forbidden(`policy ${policyName} could not be evaluated: ${reason}`, { cause: err });
}

/** How the creator-expiry filter (§4.1 filter 3, §4.3) is run. */
export interface ExpiryCheck {
  /** General.Authentication.NoExpirationChecks. */
  readonly disabled?: boolean;
  /** The clock; Date.now by default. */
  readonly nowMs?: number;
}

/** What a channel offers the checks: its policies and the validity period of a creator's certificate. */
export interface ChannelAccessCheck {
  readonly evaluator: PolicyEvaluator;
  creatorValidity(creator: Uint8Array): { readonly notBeforeMs: number; readonly notAfterMs: number } | undefined;
}

/**
 * Why the creator of `signedData[0]` may not be served right now, or undefined: its
 * certificate expired (Fabric's ExpiresAt filters) or is not valid yet. Fabric's MSP ignores
 * NotBefore (it validates at NotBefore + 1 s) and so admits a certificate from the future; we
 * refuse it here, at the door, which changes no verdict another orderer or a peer makes on a
 * block. A creator without a parsable certificate has no validity to check.
 */
export function creatorValidityProblem(
  access: ChannelAccessCheck,
  signedData: readonly SignedData[],
  check: ExpiryCheck,
): string | undefined {
  if (check.disabled === true) return undefined;
  const creator = signedData[0]?.identity;
  if (creator === undefined) return undefined;
  const validity = access.creatorValidity(creator);
  if (validity === undefined) return undefined;
  const nowMs = check.nowMs ?? Date.now();
  if (nowMs > validity.notAfterMs) return `its certificate expired at ${new Date(validity.notAfterMs).toISOString()}`;
  if (nowMs < validity.notBeforeMs) return `its certificate is not valid before ${new Date(validity.notBeforeMs).toISOString()}`;
  return undefined;
}

/**
 * All per-channel checks of §4.1 this module knows, in Fabric's order: the identity-free
 * ones, the creator's certificate not expired nor from the future (BAD_REQUEST, as Fabric's
 * expiry filter answers),
 * then the Writers policy (/Channel/Orderer/Writers in maintenance, FORBIDDEN). For a config
 * update, the caller continues with config processing.
 */
export async function checkBroadcastEnvelope(
  parsed: ParsedEnvelope,
  limits: ChannelCheckLimits,
  access: ChannelAccessCheck,
  expiry: ExpiryCheck = {},
): Promise<void> {
  await checkBroadcastEnvelopeNow(parsed, limits, access, expiry);
}

/** checkBroadcastEnvelope, synchronous when the policy evaluator is (see checkPolicyNow). Throws or rejects the same OrdererErrors. */
export function checkBroadcastEnvelopeNow(
  parsed: ParsedEnvelope,
  limits: ChannelCheckLimits,
  access: ChannelAccessCheck,
  expiry: ExpiryCheck = {},
): void | Promise<void> {
  const signedData = checkEnvelopeForChannel(parsed, limits);
  const problem = creatorValidityProblem(access, signedData, expiry);
  if (problem !== undefined) throw OrdererError.badRequest(`broadcast client identity expired or not yet valid: ${problem}`);
  return checkPolicyNow(access.evaluator, writersPolicyName(limits.maintenanceMode), signedData);
}

/**
 * The checks of checkBroadcastEnvelope again, synchronously, for a leader holding an envelope
 * checked against an older config (Fabric re-validates when last_validation_seq is behind).
 * Returns the refusal, or undefined when the envelope still passes. The channel's evaluators
 * are synchronous; one that is not cannot be asked here, and the envelope is refused.
 */
export function recheckEnvelope(
  parsed: ParsedEnvelope,
  limits: ChannelCheckLimits,
  access: ChannelAccessCheck,
  expiry: ExpiryCheck = {},
): OrdererError | undefined {
  try {
    const signedData = checkEnvelopeForChannel(parsed, limits);
    const problem = creatorValidityProblem(access, signedData, expiry);
    if (problem !== undefined) return OrdererError.badRequest(`broadcast client identity expired or not yet valid: ${problem}`);
    const policy = writersPolicyName(limits.maintenanceMode);
    const satisfied = access.evaluator.evaluateSignedData(policy, signedData);
    if (typeof satisfied !== 'boolean') {
      void satisfied.catch(() => undefined);
      return OrdererError.serviceUnavailable('the channel policy cannot be re-evaluated on the leader');
    }
    return satisfied ? undefined : OrdererError.forbidden(`signature set does not satisfy policy ${policy}`);
  } catch (err) {
    if (err instanceof OrdererError) return err;
    const reason = err instanceof Error ? err.message : String(err);
    return OrdererError.forbidden(`policy could not be evaluated: ${reason}`, { cause: err });
  }
}
