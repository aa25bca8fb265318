#!/usr/bin/env node
// `client broadcast|deliver`: a command-line Fabric client of the ordering service, for trying a
// network out and for load tests. Results go to stdout, progress and diagnostics to stderr.
import { parseArgs } from 'node:util';
import { ClientFilesError, loadClientCredentials, type ClientCredentials } from '../orderer/client-credentials';
import { LocalMspError } from '../orderer/msp/local-msp';
import { CLIENT_FLAG_OPTIONS, CLIENT_FLAGS_USAGE, clientFilesFromFlags, type ClientFlagValues } from './client-flags';
import { NO_ANSWER, NOT_SENT, LoadProgress, prepareLoad, runBroadcastLoad, type LoadReport, type PreparedLoad } from './client-load';
import { ProgressDisplay } from './client-progress';
import { parseSeekStart, parseSeekStop, runDeliver, UsageError } from './client-deliver';

const DEFAULT_ORDERER = '127.0.0.1:7050';

const USAGE = `usage: client <command> [options]

Commands:
  broadcast   send envelopes over Broadcast; report throughput and the answers
  deliver     read blocks over Deliver; print one line per block

broadcast options:
  --orderer HOST:PORT   orderer to send to; repeat it to spread the streams over
                        several orderers, round-robin (default ${DEFAULT_ORDERER})
  --channel NAME        channel to send to (required)
  -n, --count N         envelopes to send (default 1000)
  --size BYTES          random payload data per envelope (default 1024)
  -c, --streams C       concurrent Broadcast streams (default 1)
  --window W            envelopes a stream keeps unanswered at most (default 256)
  --json                print the report as one JSON object
  Signed loads are built and signed before sending starts (progress on stderr), so
  the reported rate does not include the client's signing time; they are held in
  memory until sent (about 2 KB per envelope of 1 KB data).

deliver options:
  --orderer HOST:PORT   orderer to read from (default ${DEFAULT_ORDERER})
  --channel NAME        channel to read (required)
  --start POS           oldest | newest | a block number (default oldest)
  --stop POS            newest | a block number | forever (default newest);
                        newest is the newest block when the request arrives
  --fail-if-not-ready   end with NOT_FOUND (exit status 1) at the first block of the
                        range not written yet instead of waiting for it (no effect
                        with --stop newest, whose blocks all exist); a --start beyond
                        the height is NOT_FOUND either way
  --best-effort         keep reading while the orderer has no Raft leader
                        (by default the orderer answers SERVICE_UNAVAILABLE then)
  --json                print one JSON object per block instead of a text line

${CLIENT_FLAGS_USAGE}

Each block line shows its number, transaction count, size, and the first hex digits of its
data hash and previous block hash. Ctrl-C stops deliver cleanly.

Exit status: 0 when everything succeeded; 1 when an envelope was not accepted or the orderer
failed the request; 2 for a usage error or an unreadable identity or TLS file; 130 when
broadcast was interrupted.

Examples:
  client broadcast --orderer 127.0.0.1:7050 --channel mychannel -n 10000 --size 1024 -c 4
  client deliver --orderer 127.0.0.1:7050 --channel mychannel --start oldest --stop forever
  client broadcast --channel mychannel -n 1000 --mspid Org1MSP --msp-dir <devnet>/crypto/peerOrganizations/org1.example.com/users/User1@org1.example.com/msp`;

type Out = (line: string) => void;
const out: Out = (line) => void process.stdout.write(`${line}\n`);
const err: Out = (line) => void process.stderr.write(`${line}\n`);

function positiveInt(text: string | undefined, fallback: number, name: string): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`${name} must be a positive integer, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

function nonNegativeInt(text: string | undefined, fallback: number, name: string): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** The identity and TLS material the flags name; bad combinations are usage errors. */
function clientCredentials(values: ClientFlagValues): ClientCredentials {
  try {
    const credentials = loadClientCredentials(clientFilesFromFlags(values));
    err(`client: ${credentials.description}`);
    return credentials;
  } catch (e) {
    if (e instanceof ClientFilesError) throw new UsageError(e.message);
    throw e;
  }
}

function requireChannel(channel: string | undefined): string {
  if (channel === undefined || channel.length === 0) throw new UsageError('--channel is required');
  return channel;
}

/** Stops on Ctrl-C or SIGTERM; a second Ctrl-C exits at once. */
function interruptSignal(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = (): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

function printReport(report: LoadReport): void {
  const target = report.orderers.join(', ');
  out(
    `sent ${report.sent} of ${report.count} envelopes (${report.sizeBytes} B of data each) over ${report.streams} stream(s) to ${target}, channel ${report.channelId}`,
  );
  out(`elapsed ${(report.elapsedMs / 1000).toFixed(3)} s, ${report.successPerSecond.toFixed(1)} tx/s (SUCCESS answers per second)`);
  out('');
  const rows = Object.entries(report.statusCounts);
  const width = Math.max('status'.length, ...rows.map(([name]) => name.length));
  out(`${'status'.padEnd(width)}  count  info`);
  for (const [name, count] of rows) {
    // The orderer's own words for a refusal ("no Raft leader", "message too large"...) beside it.
    const texts = Object.entries(report.statusInfo[name] ?? {});
    const first = texts[0];
    const info = first === undefined ? '' : texts.length === 1 ? first[0] : `${first[0]} (${first[1]}x)`;
    out(`${name.padEnd(width)}  ${String(count).padStart(5)}  ${info}`.trimEnd());
    for (const [text, seen] of texts.slice(1)) out(`${''.padEnd(width)}  ${''.padStart(5)}  ${text} (${seen}x)`);
  }
  if (rows.some(([name]) => name === NO_ANSWER || name === NOT_SENT)) {
    out('');
    out(`${NO_ANSWER}: the stream ended before the answer (after a rejection the orderer closes the stream);`);
    out(`${NOT_SENT}: never sent (the stream failed or the run was interrupted).`);
  }
  for (const message of report.errors) err(`stream error: ${message}`);
}

async function broadcastCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      orderer: { type: 'string', multiple: true },
      channel: { type: 'string' },
      count: { type: 'string', short: 'n' },
      size: { type: 'string' },
      streams: { type: 'string', short: 'c' },
      window: { type: 'string' },
      json: { type: 'boolean', default: false },
      ...CLIENT_FLAG_OPTIONS,
    },
  });
  const channelId = requireChannel(values.channel);
  const orderers = values.orderer ?? [DEFAULT_ORDERER];
  const count = positiveInt(values.count, 1000, '--count');
  const sizeBytes = nonNegativeInt(values.size, 1024, '--size');
  const streams = positiveInt(values.streams, 1, '--streams');
  const windowPerStream = positiveInt(values.window, 256, '--window');
  const credentials = clientCredentials(values);

  const interrupt = interruptSignal();
  let prepared: PreparedLoad | undefined;
  if (credentials.signer !== undefined) {
    // Signing is the client's cost, not the orderer's: all of it happens before the clock starts.
    try {
      prepared = await prepareLoad({
        channelId,
        count,
        sizeBytes,
        signer: credentials.signer,
        tlsCertHash: credentials.tlsCertHash,
        signal: interrupt.signal,
        onProgress: (done, total) => err(`signing: ${done}/${total} envelopes`),
      });
    } catch (e) {
      interrupt.dispose();
      if (interrupt.signal.aborted) return 130;
      throw e;
    }
    err(`signing: ${count} envelopes in ${(prepared.prepareMs / 1000).toFixed(1)} s`);
  }
  const progress = new LoadProgress();
  const display = new ProgressDisplay(process.stderr, 'broadcast', () => ({
    done: progress.answered,
    total: count,
    succeeded: progress.succeeded,
  }));
  display.start();
  let report: LoadReport;
  try {
    report = await runBroadcastLoad(
      {
        orderers,
        channelId,
        count,
        sizeBytes,
        streams,
        windowPerStream,
        signal: interrupt.signal,
        tls: credentials.tls,
        channelOptions: credentials.channelOptions,
        signing: { tlsCertHash: credentials.tlsCertHash },
        prepared,
      },
      progress,
    );
  } finally {
    display.stop();
    interrupt.dispose();
  }
  if (values.json) out(JSON.stringify(report));
  else printReport(report);
  if (interrupt.signal.aborted) return 130;
  return report.allSucceeded ? 0 : 1;
}

async function deliverCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      orderer: { type: 'string', multiple: true },
      channel: { type: 'string' },
      start: { type: 'string', default: 'oldest' },
      stop: { type: 'string', default: 'newest' },
      'fail-if-not-ready': { type: 'boolean', default: false },
      'best-effort': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      ...CLIENT_FLAG_OPTIONS,
    },
  });
  const channelId = requireChannel(values.channel);
  const [address] = values.orderer ?? [DEFAULT_ORDERER];
  const start = parseSeekStart(values.start);
  const stop = parseSeekStop(values.stop);
  const credentials = clientCredentials(values);
  const interrupt = interruptSignal();
  try {
    const received = await runDeliver({
      orderer: address ?? DEFAULT_ORDERER,
      channelId,
      start,
      stop,
      failIfNotReady: values['fail-if-not-ready'],
      bestEffort: values['best-effort'],
      json: values.json,
      signal: interrupt.signal,
      tls: credentials.tls,
      channelOptions: credentials.channelOptions,
      signer: credentials.signer,
      tlsCertHash: credentials.tlsCertHash,
      print: out,
    });
    err(interrupt.signal.aborted ? `stopped after ${received} block(s)` : `${received} block(s) received`);
    return 0;
  } finally {
    interrupt.dispose();
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    (command === undefined ? err : out)(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    out(USAGE);
    return 0;
  }
  try {
    switch (command) {
      case 'broadcast':
        return await broadcastCommand(rest);
      case 'deliver':
        return await deliverCommand(rest);
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (e) {
    // parseArgs reports unknown or malformed options as TypeErrors with an ERR_PARSE_ARGS_* code.
    const parseError = e instanceof TypeError && String((e as { code?: unknown }).code ?? '').startsWith('ERR_PARSE_ARGS');
    if (e instanceof UsageError || parseError) {
      err(`client: ${(e as Error).message}\n`);
      err(USAGE);
      return 2;
    }
    // A bad identity or TLS file: its path and the problem, without a stack.
    if (e instanceof LocalMspError) {
      err(`client: ${e.message}`);
      return 2;
    }
    err(`client: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      err(`client: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      process.exitCode = 1;
    },
  );
}
