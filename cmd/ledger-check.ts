// `orderer ledger check`: the deep check of one channel's block store, for an operator who
// suspects damage (or wants to know before restoring a backup). Runs while the orderer is stopped.
import path from 'node:path';
import pino from 'pino';
import { loadOrdererConfig } from '../orderer/config';
import { BlockStoreError, deepCheckBlockStore, LedgerCorruptionError, type LedgerCheckReport } from '../orderer/storage-tools';

export const LEDGER_CHECK_USAGE = `usage: orderer ledger check --channel NAME [--config FILE | --ledger-dir DIR]

Reads one channel's block store completely while the orderer is stopped: every page of its LMDB
files (the check at every start stops after the first 64 MiB of pages), then every block against
the hash chain and the tx-id index. Damage is reported with the file and byte offset or block
number. A damaged tx-id index is rebuilt from the blocks (it is derived data); blocks are never
changed.

  --channel NAME     the channel to check (required)
  --config FILE      orderer.yaml: the ledger is FileLedger.Location. Without --config and
                     --ledger-dir, orderer.yaml is looked up as \`orderer start\` does.
  --ledger-dir DIR   instead of --config: the directory given as FileLedger.Location

Exit status: 0 sound; 1 damaged, or the check could not run (e.g. the orderer is running); 2 usage error.`;

const CHANNEL_NAME_PATTERN = /^[a-z][a-z0-9.-]{0,248}$/;

export interface LedgerCheckIo {
  out(line: string): void;
  err(line: string): void;
}

const PROCESS_IO: LedgerCheckIo = {
  out: (line) => void process.stdout.write(`${line}\n`),
  err: (line) => void process.stderr.write(`${line}\n`),
};

class UsageError extends Error {}

interface Flags {
  channel: string;
  configPath: string | undefined;
  ledgerDir: string | undefined;
}

function parseFlags(argv: readonly string[]): Flags | 'help' {
  let channel: string | undefined;
  let configPath: string | undefined;
  let ledgerDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    const eq = raw.startsWith('--') ? raw.indexOf('=') : -1;
    const arg = eq > 0 ? raw.slice(0, eq) : raw;
    const take = (): string => {
      const v = eq > 0 ? raw.slice(eq + 1) : argv[++i];
      if (v === undefined || v.length === 0 || v.startsWith('-')) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    if (arg === '--help' || arg === '-h') return 'help';
    else if (arg === '--channel') channel = take();
    else if (arg === '--config' || arg === '-c') configPath = take();
    else if (arg === '--ledger-dir') ledgerDir = take();
    else throw new UsageError(`unknown argument ${JSON.stringify(raw)}`);
  }
  if (channel === undefined) throw new UsageError('--channel is required');
  if (!CHANNEL_NAME_PATTERN.test(channel)) throw new UsageError(`${JSON.stringify(channel)} is not a channel name`);
  if (configPath !== undefined && ledgerDir !== undefined) throw new UsageError('--config and --ledger-dir exclude each other');
  return { channel, configPath, ledgerDir };
}

function describe(report: LedgerCheckReport, io: LedgerCheckIo): void {
  const b = report.blocksFile;
  if (b.state === 'sound') {
    io.out(`block file ${b.file}: sound (${b.sizeBytes} bytes, ${b.treePagesRead} tree pages and ${b.overflowPages} overflow pages read)`);
  } else {
    io.out(`block file ${b.file}: ${b.state}`);
  }
  const x = report.indexFile;
  if (x.state === 'damaged') io.out(`tx-id index: damaged (${x.error.message}); rebuilt from the blocks`);
  else io.out(`tx-id index ${x.file}: ${x.state}`);
  io.out(`blocks 0..${report.height - 1} (${report.bytesChecked} bytes) read back: every block on the hash chain, every tx id indexed`);
  io.out(`channel ${report.channelId}: sound`);
}

/** `orderer ledger check ...` without the leading `ledger check`; returns the exit status. */
export async function runLedgerCheck(argv: readonly string[], io: LedgerCheckIo = PROCESS_IO): Promise<number> {
  let flags: Flags | 'help';
  try {
    flags = parseFlags(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`orderer ledger check: ${err.message}\n\n${LEDGER_CHECK_USAGE}`);
    return 2;
  }
  if (flags === 'help') {
    io.out(LEDGER_CHECK_USAGE);
    return 0;
  }
  const logger = pino({ level: 'warn', base: { pid: process.pid } }, { write: (s: string) => io.err(s.endsWith('\n') ? s.slice(0, -1) : s) });
  try {
    const dir =
      flags.ledgerDir !== undefined
        ? path.resolve(flags.ledgerDir)
        : loadOrdererConfig(flags.configPath !== undefined ? { filePath: path.resolve(flags.configPath) } : {}).config.fileLedger.location;
    describe(await deepCheckBlockStore({ dir, channelId: flags.channel, logger }), io);
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof LedgerCorruptionError) io.err(`orderer ledger check: DAMAGED: ${message}`);
    else if (err instanceof BlockStoreError && err.reason === 'locked') io.err(`orderer ledger check: ${message} (stop the orderer first)`);
    else io.err(`orderer ledger check: ${message}`);
    return 1;
  }
}
