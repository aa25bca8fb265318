#!/usr/bin/env node
// `osnadmin channel join|list|info|remove`: Fabric's osnadmin (reference §6.3), for this orderer
// or Fabric's. Same flags, same output (`Status: <code>` and the answer's JSON indented with
// tabs), same exit codes: 0 for any HTTP answer whose body is empty or JSON, 1 otherwise. `info`
// is ours, an alias of `list -c`. The requests and the printing live in
// orderer/participation/admin-client.ts.
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  channelIdOfBlockBytes,
  formatAdminResponse,
  joinChannel,
  listChannel,
  listChannels,
  removeChannel,
  type AdminClientOptions,
  type AdminResponse,
} from '../orderer/participation/admin-client';

const USAGE = `usage: osnadmin [<flags>] <command> [<args> ...]

Orderer Service Node (OSN) administration

Flags:
  -h, --help                 Show context-sensitive help.
  -o, --orderer-address=ORDERER-ADDRESS
                             Admin endpoint of the OSN (host:port)
      --ca-file=CA-FILE      Path to file containing PEM-encoded TLS CA certificate(s) for the
                             OSN; with it the request goes over https, presenting the
                             --client-cert/--client-key pair
      --client-cert=CLIENT-CERT
                             Path to file containing PEM-encoded X509 public key to use for
                             mutual TLS communication with the OSN
      --client-key=CLIENT-KEY
                             Path to file containing PEM-encoded private key to use for mutual
                             TLS communication with the OSN
      --no-status            Remove the HTTP status message from the command output

Commands:
  channel join --channelID=CHANNELID --config-block=CONFIG-BLOCK
    Join an Ordering Service Node (OSN) to a channel. If the channel does not yet exist, it
    will be created.
    -c, --channelID=CHANNELID        Channel ID
    -b, --config-block=CONFIG-BLOCK  Path to the file containing an up-to-date config block
                                     for the channel

  channel list [<flags>]
    List channel information for an Ordering Service Node (OSN). If the channelID flag is set,
    more detailed information will be provided for that channel.
    -c, --channelID=CHANNELID  Channel ID

  channel info --channelID=CHANNELID
    Detailed information for one channel (the same as channel list -c).

  channel remove --channelID=CHANNELID
    Remove a channel from an Ordering Service Node (OSN).
    -c, --channelID=CHANNELID  Channel ID

Output: "Status: <HTTP status>" then the answer's JSON. Exit status 0 when the OSN answered
(whatever the HTTP status), 1 when it could not be asked or its answer was not JSON, or on a
usage error.`;

/** A problem with the command line (or a file it names), reported as kingpin reports it: exit 1. */
class UsageError extends Error {
  constructor(
    message: string,
    /** Flag errors also print the usage text; file errors do not. */
    readonly showUsage: boolean,
  ) {
    super(message);
  }
}

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  'orderer-address': { type: 'string', short: 'o' },
  'ca-file': { type: 'string' },
  'client-cert': { type: 'string' },
  'client-key': { type: 'string' },
  'no-status': { type: 'boolean' },
  channelID: { type: 'string', short: 'c' },
  'config-block': { type: 'string', short: 'b' },
} as const;

type Command = 'join' | 'list' | 'info' | 'remove';

interface Invocation {
  readonly command: Command;
  readonly client: AdminClientOptions;
  readonly showStatus: boolean;
  readonly channelId: string | undefined;
  readonly blockBytes: Uint8Array | undefined;
}

function readFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new UsageError(`${what}: ${(err as Error).message}`, false);
  }
}

/** The parsed command line, or 'help'. Throws UsageError. */
function parseCommandLine(argv: string[]): Invocation | 'help' {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message, true);
  }
  const { values, positionals } = parsed;
  if (values.help === true || positionals[0] === 'help') return 'help';
  if (positionals[0] !== 'channel') {
    throw new UsageError(positionals.length === 0 ? 'expected command but got none' : `expected command but got "${positionals[0]}"`, true);
  }
  const command = positionals[1];
  if (command !== 'join' && command !== 'list' && command !== 'info' && command !== 'remove') {
    throw new UsageError(command === undefined ? 'expected one of join, list, info, remove after channel' : `unknown command "channel ${command}"`, true);
  }
  if (positionals.length > 2) throw new UsageError(`unexpected ${positionals[2]}`, true);
  const address = values['orderer-address'];
  if (address === undefined || address === '') throw new UsageError('required flag --orderer-address not provided', true);
  const channelId = values.channelID;
  const blockPath = values['config-block'];
  if ((command === 'join' || command === 'info' || command === 'remove') && (channelId === undefined || channelId === '')) {
    throw new UsageError('required flag --channelID not provided', true);
  }
  if (command === 'join' && (blockPath === undefined || blockPath === '')) throw new UsageError('required flag --config-block not provided', true);
  if (command !== 'join' && blockPath !== undefined) throw new UsageError(`unknown long flag '--config-block' for channel ${command}`, true);

  // As Fabric: --ca-file selects https, and then the client pair is required.
  let client: AdminClientOptions = { address, tls: undefined };
  const caFile = values['ca-file'];
  if (caFile !== undefined && caFile !== '') {
    const caPem = readFile(caFile, 'reading orderer CA certificate');
    if (!hasPemCertificate(caPem)) throw new UsageError('failed to add ca-file PEM to cert pool', false);
    const certFile = values['client-cert'] ?? '';
    const keyFile = values['client-key'] ?? '';
    if (certFile === '' || keyFile === '') throw new UsageError('loading client cert/key pair: --client-cert and --client-key are required with --ca-file', false);
    client = { address, tls: { caPem, certPem: readFile(certFile, 'loading client cert/key pair'), keyPem: readFile(keyFile, 'loading client cert/key pair') } };
  }

  let blockBytes: Uint8Array | undefined;
  if (command === 'join') {
    blockBytes = readFile(blockPath!, 'reading config block');
    let blockChannelId: string;
    try {
      blockChannelId = channelIdOfBlockBytes(blockBytes);
    } catch (err) {
      throw new UsageError((err as Error).message, false);
    }
    // A quick check that the admin joins the channel they think they join (Fabric's).
    if (blockChannelId !== channelId) throw new UsageError(`specified --channelID ${channelId} does not match channel ID ${blockChannelId} in config block`, false);
  }
  return { command, client, showStatus: values['no-status'] !== true, channelId: channelId === '' ? undefined : channelId, blockBytes };
}

function hasPemCertificate(pem: Buffer): boolean {
  const m = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(pem.toString('latin1'));
  if (m === null) return false;
  try {
    new X509Certificate(m[0]);
    return true;
  } catch {
    return false;
  }
}

function send(inv: Invocation): Promise<AdminResponse> {
  switch (inv.command) {
    case 'join':
      return joinChannel(inv.client, inv.blockBytes!);
    case 'list':
      return inv.channelId === undefined ? listChannels(inv.client) : listChannel(inv.client, inv.channelId);
    case 'info':
      return listChannel(inv.client, inv.channelId!);
    case 'remove':
      return removeChannel(inv.client, inv.channelId!);
  }
}

async function main(argv: string[]): Promise<number> {
  let inv: Invocation | 'help';
  try {
    inv = parseCommandLine(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    // kingpin.Fatalf("parsing arguments: %s. Try --help", err), then exit 1.
    process.stderr.write(`osnadmin: error: parsing arguments: ${err.message}. Try --help\n`);
    if (err.showUsage) process.stderr.write(`\n${USAGE}\n`);
    return 1;
  }
  if (inv === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  // Fabric prints every outcome with fmt.Println: the text, then a newline.
  let text: string;
  let code: number;
  try {
    text = formatAdminResponse(await send(inv), inv.showStatus);
    code = 0;
  } catch (err) {
    text = `Error: ${(err as Error).message}\n`;
    code = 1;
  }
  process.stdout.write(`${text}\n`);
  return code;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`osnadmin: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
