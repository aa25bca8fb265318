// `orderer wal repair`: the operator's entry point to the WAL's repair (consensus/wal/repair.ts).
// Parses flags, finds the channel's WAL and snapshot directories as the orderer would, prints
// what is (or would be) dropped, and exits with a code a script can act on.
import path from 'node:path';
import pino from 'pino';
import { repairWal, WalCorruptionError, type WalRepairReport } from '../orderer/storage-tools';
import { loadOrdererConfig } from '../orderer/config';

export const WAL_REPAIR_USAGE = `usage: orderer wal repair --channel NAME [--config FILE | --wal-dir DIR --snap-dir DIR] [--dry-run]

Cuts one channel's Raft WAL at its first damaged record, so that an orderer which refuses to
start with "corrupt raft storage at FILE offset N" can start again. Everything after the damage
is lost on this node; the command prints which segment files and byte ranges it drops and how
many records and entries they held. Stop the orderer first: a WAL whose lock is held by a running
process is refused, and so is a directory that holds no WAL segments.

  --channel NAME   the channel whose WAL to repair (required)
  --config FILE    orderer.yaml: the WAL is Consensus.WALDir/NAME, the snapshots Consensus.SnapDir/NAME.
                   Without --config and --wal-dir, orderer.yaml is looked up as \`orderer start\` does.
  --wal-dir DIR    instead of --config: the directory given as Consensus.WALDir (the WAL is DIR/NAME)
  --snap-dir DIR   with --wal-dir: the directory given as Consensus.SnapDir (snapshots in DIR/NAME);
                   required unless --dry-run
  --dry-run        report what would be dropped and change nothing

Exit status: 0 repaired, or nothing to repair; 3 (--dry-run) a repair would drop something;
1 refused or failed; 2 usage error.

If the other orderers still hold what was dropped, Raft sends it again. If the leader reports
entries this node had acknowledged and no longer has, the channel halts with an error saying so;
then remove the channel's ledger, WAL and snapshot directories and let it catch up.`;

/** Fabric's channel name rule: also keeps the name from stepping out of the WAL directory. */
const CHANNEL_NAME_PATTERN = /^[a-z][a-z0-9.-]{0,248}$/;

/** Where output goes; tests capture it. Lines without a trailing newline. */
export interface WalRepairIo {
  out(line: string): void;
  err(line: string): void;
}

const PROCESS_IO: WalRepairIo = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
};

interface Flags {
  channel: string;
  configPath: string | undefined;
  walRoot: string | undefined;
  snapRoot: string | undefined;
  dryRun: boolean;
}

class UsageError extends Error {}

function parseFlags(argv: readonly string[]): Flags | 'help' {
  const flags: Partial<Flags> & { dryRun: boolean } = { dryRun: false };
  const valueOf = (arg: string, next: string | undefined): string => {
    if (next === undefined || next.length === 0 || next.startsWith('-')) throw new UsageError(`${arg} needs a value`);
    return next;
  };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    const eq = raw.startsWith('--') ? raw.indexOf('=') : -1;
    const arg = eq > 0 ? raw.slice(0, eq) : raw;
    const inline = eq > 0 ? raw.slice(eq + 1) : undefined;
    const take = (): string => (inline !== undefined ? valueOf(arg, inline) : valueOf(arg, argv[++i]));
    switch (arg) {
      case '--help':
      case '-h':
        return 'help';
      case '--channel':
        flags.channel = take();
        break;
      case '--config':
      case '-c':
        flags.configPath = take();
        break;
      case '--wal-dir':
        flags.walRoot = take();
        break;
      case '--snap-dir':
        flags.snapRoot = take();
        break;
      case '--dry-run':
        if (inline !== undefined) throw new UsageError('--dry-run takes no value');
        flags.dryRun = true;
        break;
      default:
        throw new UsageError(`unknown argument ${JSON.stringify(raw)}`);
    }
  }
  if (flags.channel === undefined) throw new UsageError('--channel is required');
  if (!CHANNEL_NAME_PATTERN.test(flags.channel)) throw new UsageError(`${JSON.stringify(flags.channel)} is not a channel name`);
  if (flags.configPath !== undefined && (flags.walRoot !== undefined || flags.snapRoot !== undefined)) {
    throw new UsageError('--config and --wal-dir/--snap-dir exclude each other');
  }
  if (flags.snapRoot !== undefined && flags.walRoot === undefined) throw new UsageError('--snap-dir goes with --wal-dir');
  if (flags.walRoot !== undefined && flags.snapRoot === undefined && !flags.dryRun) {
    throw new UsageError('--wal-dir needs --snap-dir (the snapshots decide where the repaired log may start)');
  }
  return {
    channel: flags.channel,
    configPath: flags.configPath,
    walRoot: flags.walRoot,
    snapRoot: flags.snapRoot,
    dryRun: flags.dryRun,
  };
}

function describe(report: WalRepairReport, io: WalRepairIo): void {
  const would = report.dryRun ? 'would ' : '';
  io.out(`WAL directory: ${report.dir} (${report.segments.length} segment file${report.segments.length === 1 ? '' : 's'})`);
  if (!report.changes) {
    io.out(`nothing to repair: every record checks out; the log ends at index ${report.lastIndexKept}`);
    return;
  }
  const t = report.tornTail;
  if (t !== undefined) {
    io.out(`torn last write (never acknowledged): ${t.file} from byte ${t.offsetBytes}, ${t.droppedBytes} bytes (${t.reason})`);
    io.out(`  ${would}truncate it there (every ordinary start does this as well)`);
  }
  const d = report.damage;
  if (d !== undefined) {
    io.out(`damage: ${d.file} at byte ${d.offsetBytes}: ${d.reason}`);
    if (d.removedSegments.includes(d.file)) io.out(`  ${would}remove that file`);
    else io.out(`  ${would}truncate that file at byte ${d.offsetBytes}, dropping ${d.droppedBytesInFile} bytes`);
    const others = d.removedSegments.filter((f) => f !== d.file);
    if (others.length > 0) io.out(`  ${would}remove the later segment files: ${others.join(', ')}`);
    const range = d.firstDroppedIndex === undefined ? '' : ` (indexes ${d.firstDroppedIndex}..${d.lastDroppedIndex})`;
    io.out(`  ${would}drop ${d.readableRecordsDropped} readable records after the damage, ${d.entriesDropped} of them Raft entries${range}`);
  }
  const c = report.commitLowered;
  if (c !== undefined) io.out(`  ${would}lower the stored commit index from ${c.from} to ${c.to}`);
  io.out(`the log ${report.dryRun ? 'would end' : 'now ends'} at index ${report.lastIndexKept}`);
}

/** Resolves the channel's WAL and snapshot directories from the flags (or orderer.yaml). */
function directories(flags: Flags): { walDir: string; snapDir: string | undefined } {
  if (flags.walRoot !== undefined) {
    return {
      walDir: path.resolve(flags.walRoot, flags.channel),
      snapDir: flags.snapRoot === undefined ? undefined : path.resolve(flags.snapRoot, flags.channel),
    };
  }
  const { config } = loadOrdererConfig(flags.configPath !== undefined ? { filePath: path.resolve(flags.configPath) } : {});
  return {
    walDir: path.resolve(config.consensus.walDir, flags.channel),
    snapDir: path.resolve(config.consensus.snapDir, flags.channel),
  };
}

/** `orderer wal repair ...` without the leading `wal repair`; returns the exit status. */
export async function runWalRepair(argv: string[], io: WalRepairIo = PROCESS_IO): Promise<number> {
  let flags: Flags | 'help';
  try {
    flags = parseFlags(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`orderer wal repair: ${err.message}\n\n${WAL_REPAIR_USAGE}`);
    return 2;
  }
  if (flags === 'help') {
    io.out(WAL_REPAIR_USAGE);
    return 0;
  }
  // The WAL's own log lines (what it truncates and removes, at warn) go to stderr as JSON.
  const logger = pino(
    { level: 'info', base: { pid: process.pid, channel: flags.channel } },
    { write: (s: string) => io.err(s.endsWith('\n') ? s.slice(0, -1) : s) },
  );
  try {
    const { walDir, snapDir } = directories(flags);
    const report = await repairWal(walDir, { logger, dryRun: flags.dryRun, ...(snapDir !== undefined ? { snapDir } : {}) });
    describe(report, io);
    if (flags.dryRun) return report.changes ? 3 : 0;
    if (report.changes) io.out('repaired; start the orderer again');
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // Damage repair does not cut (no snapshot the log can continue from...) is named as such.
    io.err(`orderer wal repair: ${err instanceof WalCorruptionError ? 'cannot repair: ' : ''}${message}`);
    return 1;
  }
}
