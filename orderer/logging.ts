// Run-time log levels with Fabric's logging spec (reference §6.4 /logspec; the syntax and the
// name-matching rule are in config/values.ts toLoggingSpec and levelOfLogger).
//
// A logger's name is its `logger` binding, the nearest one in its chain of children (pino keeps
// every binding; JSON.parse of duplicates keeps the last, the child's): the subsystems name theirs
// where they make them (orderer.chain, cluster.egress, ledger, ...), and every child of a named
// logger has its name. Loggers without one get the spec's default level.
//
// pino gives each child a level of its own when it is made, and a later change of its parent's
// level does not reach it. So the root is made with an onChild hook (pino passes it on to every
// descendant) that sets each new logger's level from the current spec and remembers the logger
// weakly: setSpec() then walks every live logger. Per-request children die with their request;
// WeakRef + FinalizationRegistry let them go and drop their entries.
import pino, { type DestinationStream, type Logger } from 'pino';
import { levelOfLogger, toLoggingSpec, type LoggingSpec } from './config';
import { ValueError } from './config/values';

/** A spec PUT /logspec (or the config) gave that Fabric's rules refuse; the message is Fabric's. */
export class LoggingSpecError extends Error {
  override readonly name = 'LoggingSpecError';
}

export interface OrdererLoggingOptions {
  /** The start-up spec (config.logging: FABRIC_LOGGING_SPEC, else General.LogLevel). */
  readonly spec: LoggingSpec;
  /** Where lines go; pino's default (stdout) when absent. */
  readonly destination?: DestinationStream;
  /** Bindings of every line (e.g. `{ pid }`). */
  readonly base?: Record<string, unknown>;
  /** Called with the level name of every entry written (after level filtering). */
  readonly onEntry?: (level: string) => void;
}

/** The root logger of a process and the spec its loggers' levels follow. */
export class OrdererLogging {
  readonly root: Logger;
  private current: LoggingSpec;
  /** Every logger made from root (and root), held weakly, with its name. */
  private readonly live = new Set<WeakRef<Logger>>();
  private readonly names = new WeakMap<Logger, string | undefined>();
  private readonly finalizer = new FinalizationRegistry<WeakRef<Logger>>((ref) => this.live.delete(ref));
  private entryHook: ((level: string) => void) | undefined;

  constructor(options: OrdererLoggingOptions) {
    this.current = options.spec;
    this.entryHook = options.onEntry;
    const self = this;
    const pinoOptions: pino.LoggerOptions = {
      level: options.spec.level,
      ...(options.base !== undefined ? { base: options.base } : {}),
      onChild: (child: Logger) => this.track(child),
      hooks: {
        // Only enabled levels reach here: pino makes the methods of disabled levels no-ops.
        logMethod(this: Logger, args: Parameters<pino.LogFn>, method: pino.LogFn, level: number) {
          const hook = self.entryHook;
          if (hook !== undefined) hook(this.levels.labels[level] ?? String(level));
          method.apply(this, args);
        },
      },
    };
    this.root = options.destination !== undefined ? pino(pinoOptions, options.destination) : pino(pinoOptions);
    this.track(this.root);
  }

  /** The spec in force, as given (GET /logspec). */
  spec(): string {
    return this.current.spec;
  }

  /** The level a logger of this name has under the current spec. */
  levelOf(name: string | undefined): string {
    return levelOfLogger(this.current, name);
  }

  /** Installs (or removes) the per-entry hook, e.g. the logging_entries_written counter. */
  setOnEntry(hook: ((level: string) => void) | undefined): void {
    this.entryHook = hook;
  }

  /**
   * Parses `spec` with Fabric's rules and applies it to every live logger and every later one.
   * Throws LoggingSpecError (nothing changes) when the spec is bad.
   */
  setSpec(spec: string): void {
    let parsed: LoggingSpec;
    try {
      parsed = toLoggingSpec(spec);
    } catch (err) {
      if (err instanceof ValueError) throw new LoggingSpecError(err.message);
      throw err;
    }
    this.current = parsed;
    for (const ref of this.live) {
      const logger = ref.deref();
      if (logger === undefined) {
        this.live.delete(ref);
        continue;
      }
      logger.level = levelOfLogger(parsed, this.names.get(logger));
    }
  }

  /** How many loggers are tracked (tests: per-request children must not pile up). */
  trackedCount(): number {
    return this.live.size;
  }

  private track(logger: Logger): void {
    const name = loggerName(logger);
    this.names.set(logger, name);
    const level = levelOfLogger(this.current, name);
    if (logger.level !== level) logger.level = level;
    const ref = new WeakRef(logger);
    this.live.add(ref);
    this.finalizer.register(logger, ref);
  }
}

/** The nearest `logger` binding of a logger's chain (undefined: unnamed). */
export function loggerName(logger: Logger): string | undefined {
  const name = (logger.bindings() as { logger?: unknown }).logger;
  return typeof name === 'string' && name !== '' ? name : undefined;
}
