// Converters from raw orderer.yaml / environment values to typed values. Each throws
// a plain reason string via ValueError; the reader adds the key and the source.
import { InvalidDurationError, parseGoDurationMs } from '../channelconfig/duration';

export class ValueError extends Error {
  override readonly name = 'ValueError';
}

const show = (raw: unknown): string => (typeof raw === 'string' ? JSON.stringify(raw) : String(raw));

/** Go's strconv.ParseBool words, plus YAML 1.1's yes/no/on/off that Fabric's YAML parser reads as booleans. */
export function toBool(raw: unknown): boolean {
  if (typeof raw === 'boolean') return raw;
  if (typeof raw === 'string') {
    const s = raw.trim();
    if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(s) || /^(yes|on)$/i.test(s)) return true;
    if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(s) || /^(no|off)$/i.test(s)) return false;
  }
  throw new ValueError(`expected true or false, got ${show(raw)}`);
}

export function toInt(raw: unknown): number {
  if (typeof raw === 'number' && Number.isSafeInteger(raw)) return raw;
  if (typeof raw === 'string' && /^[+-]?\d+$/.test(raw.trim())) {
    const n = Number(raw.trim());
    if (Number.isSafeInteger(n)) return n;
  }
  throw new ValueError(`expected an integer, got ${show(raw)}`);
}

export function toStr(raw: unknown): string {
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw);
  throw new ValueError(`expected a string, got ${Array.isArray(raw) ? 'a list' : typeof raw}`);
}

// Fabric's size suffixes are binary: "1 MB" is 2^20 bytes, as in its orderer.yaml
// ("MaxRecvMsgSize: 100 MB" means 104857600). We accept the IEC spellings too.
const SIZE_UNITS: ReadonlyMap<string, number> = new Map([
  ['', 1],
  ['b', 1],
  ['k', 1024],
  ['kb', 1024],
  ['kib', 1024],
  ['m', 1024 ** 2],
  ['mb', 1024 ** 2],
  ['mib', 1024 ** 2],
  ['g', 1024 ** 3],
  ['gb', 1024 ** 3],
  ['gib', 1024 ** 3],
]);

/** A byte size: an integer, or an integer and a unit ("1 MB", "100MiB", "16k"). */
export function toByteSize(raw: unknown): number {
  if (typeof raw === 'number') {
    if (Number.isSafeInteger(raw) && raw >= 0) return raw;
    throw new ValueError(`expected a whole number of bytes, got ${raw}`);
  }
  if (typeof raw === 'string') {
    const m = /^(\d+)\s*([a-zA-Z]*)$/.exec(raw.trim());
    const unit = m === null ? undefined : SIZE_UNITS.get(m[2]!.toLowerCase());
    if (m !== null && unit !== undefined) {
      const n = Number(m[1]) * unit;
      if (Number.isSafeInteger(n)) return n;
    }
  }
  throw new ValueError(`expected a size such as 1048576, "512 KB" or "100 MiB", got ${show(raw)}`);
}

/** A Go duration string ("5s", "1m30s") in milliseconds; a bare 0 is allowed. */
export function toDurationMs(raw: unknown): number {
  if (raw === 0) return 0;
  if (typeof raw === 'number') throw new ValueError(`durations need a unit, e.g. "${raw}s" or "${raw}ms"; got ${raw}`);
  if (typeof raw !== 'string') throw new ValueError(`expected a duration such as "5s", got ${show(raw)}`);
  try {
    return parseGoDurationMs(raw.trim());
  } catch (err) {
    if (err instanceof InvalidDurationError) throw new ValueError(err.message);
    throw err;
  }
}

/**
 * A list of strings: a YAML list, or (from the environment) "[a, b]" or "a,b".
 * A single string in the file counts as a one-element list.
 */
export function toStringList(raw: unknown): string[] {
  if (Array.isArray(raw)) return raw.map((x) => toStr(x));
  if (typeof raw === 'string') {
    let s = raw.trim();
    if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
    return s
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== '');
  }
  throw new ValueError(`expected a list of strings, got ${show(raw)}`);
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** "host:port" or "[ipv6]:port", port 1-65535. */
export function toHostPort(raw: unknown): HostPort {
  const s = toStr(raw).trim();
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d+)$/.exec(s);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || !(port >= 1 && port <= 65535)) {
    throw new ValueError(`expected host:port (port 1-65535), got ${show(raw)}`);
  }
  return { host: m[1] ?? m[2]!, port };
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'fatal';

// Fabric's level names, mapped onto pino's. DPANIC and PANIC have no pino level; they
// are at least as severe as error and below fatal in Fabric, so "error" keeps them visible.
const LEVELS: ReadonlyMap<string, LogLevel> = new Map([
  ['debug', 'debug'],
  ['info', 'info'],
  ['warn', 'warn'],
  ['warning', 'warn'],
  ['error', 'error'],
  ['dpanic', 'error'],
  ['panic', 'error'],
  ['fatal', 'fatal'],
]);

export interface LoggingSpec {
  /** The spec as given, e.g. "info:orderer.consensus.etcdraft=debug". */
  readonly spec: string;
  /** The level of loggers no term names. */
  readonly level: LogLevel;
  /**
   * Per-logger levels. A name covers the logger of that name and its dotted children
   * ("orderer" covers "orderer.chain"); a name ending in "." covers only that logger.
   */
  readonly loggerLevels: Readonly<Record<string, LogLevel>>;
}

function toLevel(word: string): LogLevel {
  const level = LEVELS.get(word.trim().toLowerCase());
  if (level === undefined) throw new ValueError(`unknown log level ${JSON.stringify(word)} (debug, info, warn, error, fatal)`);
  return level;
}

/** Fabric's flogging logger names: dot-separated words of letters, digits, "_", "#", "-". */
const LOGGER_NAME = /^[A-Za-z0-9_#-]+(\.[A-Za-z0-9_#-]+)*$/;

/**
 * Fabric's logging spec, with its rules (flogging ActivateSpec): terms separated by ':', each
 * "level" (the default level) or "logger1,logger2=level"; a later default term wins; an empty
 * term sets the default back to info (so "" and "debug:" both mean info, as in Fabric); a logger
 * name may end in "." to name that logger only, not its children. Errors carry Fabric's messages,
 * which PUT /logspec answers with.
 */
export function toLoggingSpec(raw: unknown): LoggingSpec {
  const spec = toStr(raw).trim();
  const bad = (what: string): ValueError => new ValueError(`invalid logging specification '${spec}': ${what}`);
  let level: LogLevel = 'info';
  const loggerLevels: Record<string, LogLevel> = {};
  for (const field of spec.split(':')) {
    const split = field.split('=');
    if (split.length === 1) {
      if (field === '') level = 'info';
      else if (LEVELS.has(field.toLowerCase())) level = toLevel(field);
      else throw bad(`bad segment '${field}'`);
      continue;
    }
    if (split.length !== 2) throw bad(`bad segment '${field}'`);
    const [names, levelWord] = split as [string, string];
    if (names === '') throw bad(`no logger specified in segment '${field}'`);
    if (!LEVELS.has(levelWord.toLowerCase())) throw bad(`bad segment '${field}'`);
    const termLevel = toLevel(levelWord);
    for (const n of names.split(',')) {
      if (!LOGGER_NAME.test(n.endsWith('.') ? n.slice(0, -1) : n)) throw bad(`bad logger name '${n}'`);
      loggerLevels[n] = termLevel;
    }
  }
  return { spec, level, loggerLevels };
}

/**
 * The level of the logger named `name` under `spec` (Fabric's rule): the term naming exactly it
 * ("name." first, then "name"), else the longest dotted prefix a term names ("orderer" for
 * "orderer.chain"), else the default level. Unnamed loggers get the default level.
 */
export function levelOfLogger(spec: LoggingSpec, name: string | undefined): LogLevel {
  if (name === undefined || name === '') return spec.level;
  const levels = spec.loggerLevels;
  const own = (key: string): LogLevel | undefined => (Object.prototype.hasOwnProperty.call(levels, key) ? levels[key] : undefined);
  let candidate = `${name}.`;
  for (;;) {
    const found = own(candidate);
    if (found !== undefined) return found;
    const dot = candidate.lastIndexOf('.');
    if (dot <= 0) return spec.level;
    candidate = candidate.slice(0, dot);
  }
}
