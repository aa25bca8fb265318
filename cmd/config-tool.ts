// `orderer config <verb>`: configtxlator- and configtxgen-like tooling for channel configs.
//   decode / encode    protobuf <-> Fabric's JSON form (configtxlator proto_decode / proto_encode)
//   compute-update     the ConfigUpdate between two configs (configtxlator compute_update)
//   sign-update        adds a signature to a ConfigUpdateEnvelope (peer channel signconfigtx)
//   wrap-update        the signed CONFIG_UPDATE Envelope to broadcast (peer channel update)
//   genesis            a channel's genesis block from a profile (configtxgen -outputBlock)
// The work is done in orderer/configtx and orderer/channelconfig; this file parses flags, reads and
// writes files. Every output is written to a temporary file and renamed, so a failure leaves none.
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { CLIENT_FLAG_OPTIONS, clientFilesFromFlags } from './client-flags';
import { ConfigToolError, describeToolError, readInput, UsageError, writeOutput } from './config-tool-io';
import { runGenesis, GENESIS_USAGE } from './config-tool-genesis';
import { computeConfigUpdate } from '../orderer/configtx/compute-update';
import { isJsonMessageType, JSON_MESSAGE_TYPES, jsonTextToProto, protoToJsonText } from '../orderer/configtx/json';
import { loadClientIdentity } from '../orderer/client-credentials';
import { buildEnvelope, NONCE_BYTES } from '../orderer/envelopes';
import type { LocalSigningIdentity } from '../orderer/msp/local-msp';
import { common, ProtoDecodeError } from '../protos';

export const CONFIG_USAGE = `usage: orderer config decode --type TYPE [--input FILE] [--output FILE]
       orderer config encode --type TYPE [--input FILE] [--output FILE]
       orderer config compute-update --channel ID --original FILE --updated FILE [--output FILE]
       orderer config sign-update --input FILE --mspid ID (--cert FILE --key FILE | --msp-dir DIR) [--output FILE]
       orderer config wrap-update --channel ID --input FILE --mspid ID (--cert FILE --key FILE | --msp-dir DIR) [--output FILE]
       orderer config genesis --profile FILE.yaml [--profile-name NAME] --channel ID --output FILE

  decode          protobuf to Fabric's JSON (as configtxlator proto_decode), e.g.
                  orderer config decode --type common.Block --input config.block | jq .data.data[0].payload.data.config
  encode          that JSON back to protobuf (configtxlator proto_encode)
                  TYPE: common.Block, common.Envelope, common.Config, common.ConfigEnvelope,
                  common.ConfigUpdate, common.ConfigUpdateEnvelope, or another message of a
                  config (orderer.BatchSize, msp.MSPConfig, peer.AnchorPeers, ...)
  compute-update  the common.ConfigUpdate turning --original into --updated (both common.Config
                  protobuf files), as configtxlator compute_update
  sign-update     adds the identity's ConfigSignature to a common.ConfigUpdateEnvelope (a bare
                  common.ConfigUpdate is wrapped first); given a CONFIG_UPDATE common.Envelope,
                  writes the Envelope back re-signed, as peer channel signconfigtx does
  wrap-update     signs the update (in any of those forms) and wraps it in a CONFIG_UPDATE
                  common.Envelope signed by the same identity, ready to broadcast (as peer
                  channel update does); the update's channel must be --channel
  genesis         a genesis block from a profile (see cmd/configtx.sample.yaml), as
                  configtxgen -outputBlock; orderer config genesis --help for the profile

--input defaults to standard input and --output to standard output (protobuf written to a
terminal is refused). Exit status: 0 done; 1 bad input (the file and the reason are printed,
nothing is written); 2 usage error.`;

type Flags = Record<string, string | boolean | undefined>;

function parse(argv: readonly string[], options: Record<string, { type: 'string' | 'boolean' }>): Flags {
  try {
    return parseArgs({ args: [...argv], options: { ...options, help: { type: 'boolean' } }, strict: true, allowPositionals: false }).values as Flags;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

function required(flags: Flags, name: string): string {
  const v = flags[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

function optional(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  if (v === '') throw new UsageError(`--${name} needs a value`);
  return typeof v === 'string' ? v : undefined;
}

function messageType(flags: Flags): string {
  const type = required(flags, 'type');
  if (!isJsonMessageType(type)) throw new UsageError(`--type ${type} is not a message type this tool knows (known: ${JSON_MESSAGE_TYPES.join(', ')})`);
  return type;
}

const IO_OPTIONS = { input: { type: 'string' }, output: { type: 'string' } } as const;
const IDENTITY_OPTIONS = {
  mspid: CLIENT_FLAG_OPTIONS.mspid,
  cert: CLIENT_FLAG_OPTIONS.cert,
  key: CLIENT_FLAG_OPTIONS.key,
  'msp-dir': CLIENT_FLAG_OPTIONS['msp-dir'],
} as const;

function runDecode(flags: Flags): void {
  const type = messageType(flags);
  const input = readInput(optional(flags, 'input'));
  const text = input.wrap(() => protoToJsonText(type, input.bytes));
  writeOutput(optional(flags, 'output'), Buffer.from(text, 'utf8'), { binary: false });
}

function runEncode(flags: Flags): void {
  const type = messageType(flags);
  const input = readInput(optional(flags, 'input'));
  const bytes = input.wrap(() => jsonTextToProto(type, Buffer.from(input.bytes).toString('utf8')));
  writeOutput(optional(flags, 'output'), bytes, { binary: true });
}

function decodeConfigFile(file: string): common.Config {
  const input = readInput(file);
  const config = input.wrap(() => common.Config.decode(input.bytes));
  if (config.channelGroup === undefined) throw new ConfigToolError(file, 'is not a common.Config (no channel_group); decode a config block and take .data.data[0].payload.data.config');
  return config;
}

function runComputeUpdate(flags: Flags): void {
  const channelId = required(flags, 'channel');
  const original = decodeConfigFile(required(flags, 'original'));
  const updated = decodeConfigFile(required(flags, 'updated'));
  const update = computeConfigUpdate(channelId, original, updated);
  writeOutput(optional(flags, 'output'), common.ConfigUpdate.encode(update), { binary: true });
}

function loadIdentity(flags: Flags): LocalSigningIdentity {
  const files = clientFilesFromFlags({
    mspid: optional(flags, 'mspid'),
    cert: optional(flags, 'cert'),
    key: optional(flags, 'key'),
    'msp-dir': optional(flags, 'msp-dir'),
  });
  const identity = loadClientIdentity(files);
  if (identity === undefined) throw new UsageError('a signing identity is required: --mspid with --cert and --key, or with --msp-dir');
  return identity;
}

/** An update to sign, as read from a file, and whether it came wrapped in a CONFIG_UPDATE Envelope. */
interface UpdateInput {
  readonly envelope: common.ConfigUpdateEnvelope;
  /** The channel of the Envelope it came in (peer channel signconfigtx's input form). */
  readonly wrappedFor: string | undefined;
}

/** Runs a decoding; bytes that are not the message give undefined (the next reading is tried). */
function attempt<T>(decode: () => T | undefined): T | undefined {
  try {
    return decode();
  } catch (err) {
    if (err instanceof ProtoDecodeError) return undefined;
    throw err;
  }
}

const withWriteSet = (bytes: Uint8Array): common.ConfigUpdate | undefined =>
  attempt(() => {
    const update = common.ConfigUpdate.decode(bytes);
    return update.writeSet === undefined ? undefined : update;
  });

const asUpdateEnvelope = (bytes: Uint8Array): common.ConfigUpdateEnvelope | undefined =>
  attempt(() => {
    const envelope = common.ConfigUpdateEnvelope.decode(bytes);
    return withWriteSet(envelope.configUpdate) === undefined ? undefined : envelope;
  });

/**
 * The update in `file`: a CONFIG_UPDATE common.Envelope (what peer channel signconfigtx and
 * update take), a common.ConfigUpdateEnvelope, or a bare common.ConfigUpdate (wrapped here). The
 * three have overlapping wire shapes, so each reading must make sense all the way down: an
 * Envelope's payload a CONFIG_UPDATE whose data is an update envelope, an update envelope's
 * config_update an update with a write set (a bare ConfigUpdate's first field, its channel ID
 * text, never reads as one).
 */
function readUpdateInput(file: string): UpdateInput {
  const input = readInput(file);
  const wrapped = attempt(() => {
    const payload = common.Payload.decode(common.Envelope.decode(input.bytes).payload);
    const channelHeader = common.ChannelHeader.decode(payload.header?.channelHeader ?? new Uint8Array(0));
    if (channelHeader.type !== common.HeaderType.CONFIG_UPDATE) return undefined;
    const envelope = asUpdateEnvelope(payload.data);
    return envelope === undefined ? undefined : { envelope, wrappedFor: channelHeader.channelId };
  });
  if (wrapped !== undefined) return wrapped;
  const envelope = asUpdateEnvelope(input.bytes);
  if (envelope !== undefined) return { envelope, wrappedFor: undefined };
  if (withWriteSet(input.bytes) !== undefined) return { envelope: { configUpdate: input.bytes, signatures: [] }, wrappedFor: undefined };
  throw new ConfigToolError(input.name, 'is neither a CONFIG_UPDATE common.Envelope, a common.ConfigUpdateEnvelope nor a common.ConfigUpdate with a write set');
}

/** Fabric's ConfigSignature: the identity signs signature_header ‖ config_update (reference §4.2). */
function signUpdate(envelope: common.ConfigUpdateEnvelope, identity: LocalSigningIdentity): Uint8Array {
  const signatureHeader = common.SignatureHeader.encode({ creator: identity.serialized, nonce: randomBytes(NONCE_BYTES) });
  const signature = identity.sign(new Uint8Array(Buffer.concat([signatureHeader, envelope.configUpdate])));
  return common.ConfigUpdateEnvelope.encode({ configUpdate: envelope.configUpdate, signatures: [...envelope.signatures, { signatureHeader, signature }] });
}

/** The CONFIG_UPDATE Envelope carrying `signedUpdate`, signed by `identity` (Fabric's CreateSignedEnvelope). */
function wrapUpdate(channelId: string, signedUpdate: Uint8Array, identity: LocalSigningIdentity): Uint8Array {
  return buildEnvelope({
    type: common.HeaderType.CONFIG_UPDATE,
    channelId,
    data: signedUpdate,
    signer: { creator: identity.serialized, sign: (payload: Uint8Array) => identity.sign(payload) },
  }).bytes;
}

function runSignUpdate(flags: Flags): void {
  const inputFile = required(flags, 'input');
  const identity = loadIdentity(flags);
  const { envelope, wrappedFor } = readUpdateInput(inputFile);
  const signed = signUpdate(envelope, identity);
  // An Envelope in gives an Envelope out, re-signed by this identity, as peer channel signconfigtx does.
  const output = wrappedFor === undefined ? signed : wrapUpdate(wrappedFor, signed, identity);
  writeOutput(optional(flags, 'output'), output, { binary: true });
}

function runWrapUpdate(flags: Flags): void {
  const channelId = required(flags, 'channel');
  const inputFile = required(flags, 'input');
  const identity = loadIdentity(flags);
  const { envelope } = readUpdateInput(inputFile);
  const updateChannel = common.ConfigUpdate.decode(envelope.configUpdate).channelId;
  if (updateChannel !== channelId) {
    throw new ConfigToolError(inputFile, `the update is for channel ${JSON.stringify(updateChannel)}, not --channel ${JSON.stringify(channelId)}`);
  }
  writeOutput(optional(flags, 'output'), wrapUpdate(channelId, signUpdate(envelope, identity), identity), { binary: true });
}

const VERBS: Readonly<Record<string, { options: Record<string, { type: 'string' | 'boolean' }>; run: (flags: Flags) => void; usage?: string }>> = {
  decode: { options: { type: { type: 'string' }, ...IO_OPTIONS }, run: runDecode },
  encode: { options: { type: { type: 'string' }, ...IO_OPTIONS }, run: runEncode },
  'compute-update': { options: { channel: { type: 'string' }, original: { type: 'string' }, updated: { type: 'string' }, output: { type: 'string' } }, run: runComputeUpdate },
  'sign-update': { options: { ...IO_OPTIONS, ...IDENTITY_OPTIONS }, run: runSignUpdate },
  'wrap-update': { options: { channel: { type: 'string' }, ...IO_OPTIONS, ...IDENTITY_OPTIONS }, run: runWrapUpdate },
  genesis: {
    options: { profile: { type: 'string' }, 'profile-name': { type: 'string' }, channel: { type: 'string' }, output: { type: 'string' } },
    run: runGenesis,
    usage: GENESIS_USAGE,
  },
};

/** `orderer config ...` with `argv` after "config". Returns the exit status. */
export function runConfigTool(argv: readonly string[]): number {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '--help' || verb === '-h' || verb === 'help') {
    (verb === undefined ? console.error : console.log)(CONFIG_USAGE);
    return verb === undefined ? 2 : 0;
  }
  const entry = Object.hasOwn(VERBS, verb) ? VERBS[verb] : undefined;
  if (entry === undefined) {
    console.error(`unknown command ${JSON.stringify(`config ${verb}`)}\n\n${CONFIG_USAGE}`);
    return 2;
  }
  const usage = entry.usage ?? CONFIG_USAGE;
  try {
    const flags = parse(rest, entry.options);
    if (flags['help'] === true) {
      console.log(usage);
      return 0;
    }
    entry.run(flags);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`orderer config ${verb}: ${err.message}\n\n${usage}`);
      return 2;
    }
    const reason = describeToolError(err);
    if (reason === undefined) throw err;
    console.error(`orderer config ${verb}: ${reason}`);
    return 1;
  }
}
