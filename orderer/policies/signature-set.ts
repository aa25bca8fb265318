// Turning a signature set into the identities a policy may count (reference §5.2 rule 1):
// deserialize each entry with the channel's MSPs, drop what does not deserialize, drop a
// repeat of an identity already accepted BEFORE checking its signature (so a client cannot
// make us verify one signature a thousand times), drop a bad signature WITHOUT recording its
// identity (so a forged entry cannot shadow a later valid one from the same signer).
//
// One evaluation verifies each entry at most once, however many signature policies look at
// the set (an ImplicitMeta over N orgs asks N of them): Fabric re-verifies per sub-policy,
// with the same deserializer and so the same outcome; we share the result instead.
import { ProtoDecodeError } from '../../protos';
import { IdentityError, type Identity, type IdentityDeserializer } from '../msp/types';
import type { SignedData } from '../msgcheck';

/** Why an entry of a signature set does not count. */
export type DroppedEntryKind =
  /** The MSP refused the identity: unknown MSP ID, malformed, foreign CA, revoked... (IdentityError). */
  | 'identity-refused'
  /** The same identity (MSP ID + certificate hash) was already accepted from an earlier entry. */
  | 'duplicate'
  /** The identity is valid but the signature does not verify over the data. */
  | 'bad-signature';

export interface DroppedEntry {
  /** Position in the signature set. */
  readonly index: number;
  readonly kind: DroppedEntryKind;
  /** The IdentityError message, or the MSP ID of the identity. */
  readonly detail: string;
}

/** A signature set after deserialization, deduplication and signature checks. */
export interface VerifiedSignatureSet {
  readonly entryCount: number;
  /** Distinct identities with valid signatures, in the order of their entries. */
  readonly identities: readonly Identity[];
  readonly dropped: readonly DroppedEntry[];
}

/** How many valid identities, and how many dropped entries, a failure reason lists; the rest
 *  are counted, so a huge signature set cannot make a huge answer. */
export const MAX_ENTRIES_DESCRIBED = 8;

function deserializeOrRefusal(deserializer: IdentityDeserializer, serialized: Uint8Array): Identity | string {
  if (deserializer.deserializeOrRefusal !== undefined) {
    let result: Identity | IdentityError;
    try {
      result = deserializer.deserializeOrRefusal(serialized);
    } catch (err) {
      if (err instanceof ProtoDecodeError) return err.message;
      throw err;
    }
    return result instanceof IdentityError ? result.message : result;
  }
  try {
    return deserializer.deserialize(serialized);
  } catch (err) {
    // The MSP contract says refusals are IdentityError; undecodable SerializedIdentity bytes
    // are a client's garbage too, whichever layer notices. Anything else is a bug in the
    // MSP and must not pass for a refused identity.
    if (err instanceof IdentityError || err instanceof ProtoDecodeError) return err.message;
    throw err;
  }
}

/** §5.2 rule 1 over `signedData`, in order. Throws only what the MSP throws that is not a refusal. */
export function verifySignatureSet(
  signedData: readonly SignedData[],
  deserializer: IdentityDeserializer,
): VerifiedSignatureSet {
  const acceptedKeys = new Set<string>();
  const identities: Identity[] = [];
  const dropped: DroppedEntry[] = [];
  signedData.forEach((entry, index) => {
    const identity = deserializeOrRefusal(deserializer, entry.identity);
    if (typeof identity === 'string') {
      dropped.push({ index, kind: 'identity-refused', detail: identity });
      return;
    }
    if (acceptedKeys.has(identity.key)) {
      dropped.push({ index, kind: 'duplicate', detail: identity.mspId });
      return;
    }
    if (!identity.verify(entry.data, entry.signature)) {
      dropped.push({ index, kind: 'bad-signature', detail: identity.mspId });
      return;
    }
    acceptedKeys.add(identity.key);
    identities.push(identity);
  });
  return { entryCount: signedData.length, identities, dropped };
}

function describeDropped(entry: DroppedEntry): string {
  switch (entry.kind) {
    case 'identity-refused':
      return `entry ${entry.index}: identity refused (${entry.detail})`;
    case 'duplicate':
      return `entry ${entry.index}: duplicate of an identity of ${entry.detail} already counted`;
    case 'bad-signature':
      return `entry ${entry.index}: bad signature by an identity of ${entry.detail}`;
  }
}

/** One line for an operator: how many entries counted, and why the others did not. */
export function describeSignatureSet(set: VerifiedSignatureSet): string {
  const valid = set.identities.map((id) => id.mspId);
  let text = `${set.entryCount} signature${set.entryCount === 1 ? '' : 's'}, ${valid.length} valid`;
  if (valid.length > 0) text += ` (${valid.slice(0, MAX_ENTRIES_DESCRIBED).join(', ')}${valid.length > MAX_ENTRIES_DESCRIBED ? ', ...' : ''})`;
  if (set.dropped.length > 0) {
    const listed = set.dropped.slice(0, MAX_ENTRIES_DESCRIBED).map(describeDropped);
    const more = set.dropped.length - listed.length;
    text += `; dropped ${listed.join('; ')}${more > 0 ? `; and ${more} more` : ''}`;
  }
  return text;
}

/**
 * One evaluation of one signature set: verifies lazily (an ImplicitMeta whose sub-policies are
 * all missing never needs to) and at most once, whichever policies of the tree ask.
 */
export class SignatureSetEvaluation {
  private verifiedSet: VerifiedSignatureSet | undefined;

  constructor(
    readonly signedData: readonly SignedData[],
    private readonly deserializer: IdentityDeserializer,
  ) {}

  verified(): VerifiedSignatureSet {
    this.verifiedSet ??= verifySignatureSet(this.signedData, this.deserializer);
    return this.verifiedSet;
  }

  /** The verified set if some policy needed it, for the failure reason. */
  verifiedIfDone(): VerifiedSignatureSet | undefined {
    return this.verifiedSet;
  }
}
