// Raw settings from an orderer.yaml document and the environment, looked up by
// dotted key. Like Fabric (viper), keys match case-insensitively and every key can be
// overridden by ORDERER_<KEY PATH IN UPPER CASE, '.' → '_'>; an empty environment
// variable counts as unset. The source records which keys were read so that what is
// left over can be reported as unknown.
import { LocalConfigError } from '../errors';
import { ValueError } from './values';

interface FileEntry {
  /** The key as spelled in the file. */
  readonly key: string;
  readonly value: unknown;
}

export interface RawValue {
  readonly value: unknown;
  /** "orderer.yaml" or "env ORDERER_GENERAL_LISTENPORT", for error messages. */
  readonly source: string;
}

export const ENV_PREFIX = 'ORDERER_';

export function envName(key: string): string {
  return ENV_PREFIX + key.replace(/\./g, '_').toUpperCase();
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class ConfigSource {
  private readonly leaves = new Map<string, FileEntry>();
  private readonly sections = new Map<string, string>();
  private readonly readKeys = new Set<string>();
  private readonly readEnv = new Set<string>();
  private readonly ignored: { key: string; lower: string }[] = [];

  constructor(
    document: unknown,
    private readonly env: Readonly<Record<string, string | undefined>>,
    /** Name of the file for messages ("orderer.yaml"), or a placeholder. */
    readonly fileLabel: string,
  ) {
    if (document !== null && document !== undefined) {
      if (!isPlainObject(document)) throw new LocalConfigError('(document)', fileLabel, 'expected a map of sections at the top level');
      this.flatten(document, '');
    }
  }

  private flatten(map: Record<string, unknown>, prefix: string): void {
    for (const [k, v] of Object.entries(map)) {
      const key = prefix === '' ? k : `${prefix}.${k}`;
      if (isPlainObject(v)) {
        this.sections.set(key.toLowerCase(), key);
        this.flatten(v, key);
      } else {
        this.leaves.set(key.toLowerCase(), { key, value: v });
      }
    }
  }

  /** The raw value of `key` (environment first), or undefined when unset or null. */
  raw(key: string): RawValue | undefined {
    const lower = key.toLowerCase();
    this.readKeys.add(lower);
    const name = envName(key);
    this.readEnv.add(name);
    const fromEnv = this.env[name];
    if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: `env ${name}` };
    if (this.sections.has(lower)) throw new LocalConfigError(key, this.fileLabel, 'expected a value, found a section');
    const entry = this.leaves.get(lower);
    if (entry === undefined || entry.value === null) return undefined;
    return { value: entry.value, source: this.fileLabel };
  }

  /** An environment variable outside the ORDERER_ scheme (FABRIC_LOGGING_SPEC). */
  otherEnv(name: string): RawValue | undefined {
    const v = this.env[name];
    return v === undefined || v === '' ? undefined : { value: v, source: `env ${name}` };
  }

  /** Converts `key`'s value; a bad value becomes a LocalConfigError naming key and source. */
  get<T>(key: string, convert: (raw: unknown) => T): { value: T; source: string } | undefined {
    const raw = this.raw(key);
    if (raw === undefined) return undefined;
    return { value: convertAt(key, raw, convert), source: raw.source };
  }

  /**
   * A Fabric section this orderer does not use (BCCSP, Kafka...): accepted without an
   * unknown-key warning, but reported once if present, since it has no effect here.
   */
  ignore(key: string, why: string): string | undefined {
    const lower = key.toLowerCase();
    this.ignored.push({ key, lower });
    const present =
      this.sections.has(lower) || this.leaves.has(lower) || Object.keys(this.env).some((n) => n.startsWith(`${envName(key)}_`) || n === envName(key));
    return present ? `${key} is not used by this orderer (${why}); ignored` : undefined;
  }

  private isIgnored(lower: string): boolean {
    return this.ignored.some((i) => lower === i.lower || lower.startsWith(`${i.lower}.`));
  }

  /** Keys in the file and ORDERER_* variables nobody read. Throws for a value written
   *  where a section was expected (e.g. "General: 5"). */
  leftovers(): string[] {
    const warnings: string[] = [];
    const readSectionPrefixes = [...this.readKeys];
    for (const [lower, entry] of this.leaves) {
      if (this.readKeys.has(lower) || this.isIgnored(lower)) continue;
      if (readSectionPrefixes.some((k) => k.startsWith(`${lower}.`))) {
        throw new LocalConfigError(entry.key, this.fileLabel, 'expected a section (a map of keys), found a value');
      }
      warnings.push(`unknown key ${entry.key} in ${this.fileLabel}; ignored`);
    }
    const ignoredEnv = this.ignored.map((i) => envName(i.key));
    for (const name of Object.keys(this.env).sort()) {
      if (!name.startsWith(ENV_PREFIX) || this.readEnv.has(name)) continue;
      if (ignoredEnv.some((p) => name === p || name.startsWith(`${p}_`))) continue;
      warnings.push(`unknown environment variable ${name} (no such orderer.yaml key); ignored`);
    }
    return warnings;
  }
}

export function convertAt<T>(key: string, raw: RawValue, convert: (raw: unknown) => T): T {
  try {
    return convert(raw.value);
  } catch (err) {
    if (err instanceof ValueError) throw new LocalConfigError(key, raw.source, err.message, { cause: err });
    throw err;
  }
}
