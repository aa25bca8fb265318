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
import { common } from '../protos';

export const CONFIG_USAGE = `usage: orderer config decode --type TYPE [--input FILE] [--output FILE]
       orderer config encode --type TYPE [--input FILE] [--output FILE]
       orderer config compute-update --channel ID --original FILE --updated FILE [--output FILE]
       orderer config sign-update --input FILE --mspid ID (--cert FILE --key FILE | --msp-dir DIR) [--output FILE]
       orderer config wrap-update --channel ID --input FILE --mspid ID (--cert FILE --key FILE | --msp-dir DIR) [--output FILE]
       orderer config genesis --profile FILE.yaml --channel ID --output FILE

  decode          protobuf to Fabric's JSON (as configtxlator proto_decode), e.g.
                  orderer config decode --type common.Block --input config.block | jq .data.data[0].payload.data.config
  encode          that JSON back to protobuf (configtxlator proto_encode)
                  TYPE: ${JSON_MESSAGE_TYPES.filter((t) => /^common\.(Block|Envelope|Config|ConfigEnvelope|ConfigUpdate|ConfigUpdateEnvelope)$/.test(t)).join(', ')}, or any
                  other message of a config (orderer.BatchSize, msp.MSPConfig, ...)
  compute-update  the common.ConfigUpdate turning --original into --updated (both common.Config
                  protobuf files), as configtxlator compute_update
  sign-update     adds the identity's ConfigSignature to a common.ConfigUpdateEnvelope (a bare
                  common.ConfigUpdate is wrapped first), as peer channel signconfigtx
  wrap-update     signs the update as above and wraps it in a CONFIG_UPDATE common.Envelope signed
                  by the same identity, ready to broadcast (as peer channel update does); the
                  update's channel must be --channel
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

/**
 * The ConfigUpdateEnvelope in `file`, or a bare ConfigUpdate wrapped in one. The two are told
 * apart by which reading yields a ConfigUpdate with a write set: a ConfigUpdate's first field is
 * its channel ID, text that never reads as an update of its own.
 */
function readUpdateEnvelope(file: string): common.ConfigUpdateEnvelope {
  const input = readInput(file);
  const asUpdate = (bytes: Uint8Array): common.ConfigUpdate | undefined => {
    try {
      const u = common.ConfigUpdate.decode(bytes);
      return u.writeSet === undefined ? undefined : u;
    } catch {
      return undefined; // not this reading: the other one is tried
    }
  };
  try {
    const envelope = common.ConfigUpdateEnvelope.decode(input.bytes);
    if (asUpdate(envelope.configUpdate) !== undefined) return envelope;
  } catch {
    // Not an envelope: maybe a bare update, tried next.
  }
  if (asUpdate(input.bytes) !== undefined) return { configUpdate: input.bytes, signatures: [] };
  throw new ConfigToolError(input.name, 'is neither a common.ConfigUpdateEnvelope nor a common.ConfigUpdate with a write set');
}

/** Fabric's ConfigSignature: the identity signs signature_header ‖ config_update (reference §4.2). */
function signUpdate(envelope: common.ConfigUpdateEnvelope, identity: LocalSigningIdentity): common.ConfigUpdateEnvelopeInit {
  const signatureHeader = common.SignatureHeader.encode({ creator: identity.serialized, nonce: randomBytes(NONCE_BYTES) });
  const signature = identity.sign(new Uint8Array(Buffer.concat([signatureHeader, envelope.configUpdate])));
  return { configUpdate: envelope.configUpdate, signatures: [...envelope.signatures, { signatureHeader, signature }] };
}

function runSignUpdate(flags: Flags): void {
  const inputFile = required(flags, 'input');
  const identity = loadIdentity(flags);
  const envelope = readUpdateEnvelope(inputFile);
  writeOutput(optional(flags, 'output'), common.ConfigUpdateEnvelope.encode(signUpdate(envelope, identity)), { binary: true });
}

function runWrapUpdate(flags: Flags): void {
  const channelId = required(flags, 'channel');
  const inputFile = required(flags, 'input');
  const identity = loadIdentity(flags);
  const envelope = readUpdateEnvelope(inputFile);
  const updateChannel = common.ConfigUpdate.decode(envelope.configUpdate).channelId;
  if (updateChannel !== channelId) {
    throw new ConfigToolError(inputFile, `the update is for channel ${JSON.stringify(updateChannel)}, not --channel ${JSON.stringify(channelId)}`);
  }
  const signed = common.ConfigUpdateEnvelope.encode(signUpdate(envelope, identity));
  const built = buildEnvelope({
    type: common.HeaderType.CONFIG_UPDATE,
    channelId,
    data: signed,
    signer: { creator: identity.serialized, sign: (payload: Uint8Array) => identity.sign(payload) },
  });
  writeOutput(optional(flags, 'output'), built.bytes, { binary: true });
}

const VERBS: Readonly<Record<string, { options: Record<string, { type: 'string' | 'boolean' }>; run: (flags: Flags) => void; usage?: string }>> = {
  decode: { options: { type: { type: 'string' }, ...IO_OPTIONS }, run: runDecode },
  encode: { options: { type: { type: 'string' }, ...IO_OPTIONS }, run: runEncode },
  'compute-update': { options: { channel: { type: 'string' }, original: { type: 'string' }, updated: { type: 'string' }, output: { type: 'string' } }, run: runComputeUpdate },
  'sign-update': { options: { ...IO_OPTIONS, ...IDENTITY_OPTIONS }, run: runSignUpdate },
  'wrap-update': { options: { channel: { type: 'string' }, ...IO_OPTIONS, ...IDENTITY_OPTIONS }, run: runWrapUpdate },
  genesis: { options: { profile: { type: 'string' }, channel: { type: 'string' }, output: { type: 'string' } }, run: runGenesis, usage: GENESIS_USAGE },
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
