// Run-time log levels (orderer/logging.ts) with Fabric's logging spec rules
// (config/values.ts toLoggingSpec, levelOfLogger): what an operator's PUT /logspec changes.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { levelOfLogger, toLoggingSpec } from '../../orderer/config';
import { LoggingSpecError, OrdererLogging } from '../../orderer/logging';

/** A logging root writing into an array of parsed lines. */
function capture(spec: string, onEntry?: (level: string) => void): { logging: OrdererLogging; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logging = new OrdererLogging({
    spec: toLoggingSpec(spec),
    base: {},
    destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) },
    ...(onEntry !== undefined ? { onEntry } : {}),
  });
  return { logging, lines };
}

describe('Fabric logging spec syntax', () => {
  test('default level, per-logger terms, several loggers in one term, level names in any case', () => {
    expect(toLoggingSpec('info:orderer.chain=debug:cluster,grpc=WARNING')).toEqual({
      spec: 'info:orderer.chain=debug:cluster,grpc=WARNING',
      level: 'info',
      loggerLevels: { 'orderer.chain': 'debug', cluster: 'warn', grpc: 'warn' },
    });
  });

  test('a later default wins; an empty term sets the default back to info, as in Fabric', () => {
    expect(toLoggingSpec('debug:orderer=error:warn').level).toBe('warn');
    expect(toLoggingSpec('debug:').level).toBe('info');
    expect(toLoggingSpec('').level).toBe('info');
  });

  test.each([
    ['bogus', "invalid logging specification 'bogus': bad segment 'bogus'"],
    ['info:orderer=loud', "invalid logging specification 'info:orderer=loud': bad segment 'orderer=loud'"],
    ['=debug', "invalid logging specification '=debug': no logger specified in segment '=debug'"],
    ['a=b=debug', "invalid logging specification 'a=b=debug': bad segment 'a=b=debug'"],
    ['orderer..chain=debug', "invalid logging specification 'orderer..chain=debug': bad logger name 'orderer..chain'"],
    ['a, b=debug', "invalid logging specification 'a, b=debug': bad logger name ' b'"],
  ])('%j is refused with Fabric\'s message', (spec, message) => {
    expect(() => toLoggingSpec(spec)).toThrow(message);
  });

  test('the longest dotted prefix a term names decides; a name ending in "." names that logger only', () => {
    const spec = toLoggingSpec('warn:orderer=debug:orderer.chain.=error:cluster.egress=info');
    expect(levelOfLogger(spec, 'orderer.chain')).toBe('error');
    expect(levelOfLogger(spec, 'orderer.chain.raft')).toBe('debug'); // "orderer.chain." is not a prefix rule
    expect(levelOfLogger(spec, 'orderer.node')).toBe('debug');
    expect(levelOfLogger(spec, 'orderer')).toBe('debug');
    expect(levelOfLogger(spec, 'ordererx')).toBe('warn'); // a prefix ends at a dot
    expect(levelOfLogger(spec, 'cluster.egress')).toBe('info');
    expect(levelOfLogger(spec, 'cluster.ingress')).toBe('warn');
    expect(levelOfLogger(spec, undefined)).toBe('warn');
  });
});

describe('OrdererLogging', () => {
  test('the start-up spec gives named children their own level', () => {
    const { logging, lines } = capture('info:orderer.chain=debug');
    const chain = logging.root.child({ logger: 'orderer.chain', channel: 'ch1' });
    const node = logging.root.child({ logger: 'orderer.node' });
    chain.debug('chain detail');
    node.debug('node detail');
    chain.child({ part: 'cutter' }).debug('a grandchild keeps the name');
    expect(lines.map((l) => l['msg'])).toEqual(['chain detail', 'a grandchild keeps the name']);
    expect(lines[0]).toMatchObject({ logger: 'orderer.chain', channel: 'ch1' });
  });

  test('setSpec changes loggers made before it and those made after it', () => {
    const { logging, lines } = capture('info');
    const before = logging.root.child({ logger: 'orderer.chain' }).child({ channel: 'a' });
    const unnamed = logging.root.child({ component: 'x' });
    before.debug('hidden');
    logging.setSpec('warn:orderer=debug');
    const after = logging.root.child({ logger: 'orderer.chain', channel: 'b' });
    before.debug('before, now debug');
    after.debug('after, debug too');
    unnamed.info('unnamed follows the default: hidden');
    logging.root.info('root too: hidden');
    unnamed.warn('unnamed warn');
    expect(lines.map((l) => l['msg'])).toEqual(['before, now debug', 'after, debug too', 'unnamed warn']);
    expect(logging.spec()).toBe('warn:orderer=debug');

    logging.setSpec('info');
    before.debug('hidden again');
    after.info('info again');
    expect(lines.map((l) => l['msg']).slice(3)).toEqual(['info again']);
  });

  test('a more specific term wins over a shorter prefix, for live loggers', () => {
    const { logging, lines } = capture('info');
    const egress = logging.root.child({ logger: 'cluster.egress' });
    const ingress = logging.root.child({ logger: 'cluster.ingress' });
    logging.setSpec('info:cluster=error:cluster.egress=debug');
    egress.debug('egress debug');
    ingress.warn('ingress warn hidden');
    ingress.error('ingress error');
    expect(lines.map((l) => l['msg'])).toEqual(['egress debug', 'ingress error']);
  });

  test('a bad spec throws LoggingSpecError and changes nothing', () => {
    const { logging } = capture('info:orderer.chain=debug');
    const chain = logging.root.child({ logger: 'orderer.chain' });
    expect(() => logging.setSpec('info:orderer.chain=loud')).toThrow(LoggingSpecError);
    expect(logging.spec()).toBe('info:orderer.chain=debug');
    expect(chain.level).toBe('debug');
  });

  test('onEntry hears the level of every written entry, not of filtered ones', () => {
    const seen: string[] = [];
    const { logging } = capture('info', (level) => seen.push(level));
    const log = logging.root.child({ logger: 'ledger' });
    log.debug('filtered');
    log.info('one');
    log.warn('two');
    logging.root.error('three');
    expect(seen).toEqual(['info', 'warn', 'error']);
    logging.setOnEntry(undefined);
    log.info('not counted');
    expect(seen).toHaveLength(3);
  });

  test('per-request children are not kept alive by the tracking (a process with --expose-gc)', () => {
    const dist = path.resolve(__dirname, '../../dist/orderer');
    const script = `
      const { OrdererLogging } = require(${JSON.stringify(path.join(dist, 'logging.js'))});
      const { toLoggingSpec } = require(${JSON.stringify(path.join(dist, 'config', 'index.js'))});
      const logging = new OrdererLogging({ spec: toLoggingSpec('info'), base: {}, destination: { write() {} } });
      const kept = logging.root.child({ logger: 'orderer.chain' });
      for (let i = 0; i < 5000; i++) logging.root.child({ reqId: i }).info('request');
      const before = logging.trackedCount();
      (async () => {
        // The FinalizationRegistry drops the entries of collected loggers, in a task after the GC.
        for (let i = 0; i < 50 && logging.trackedCount() > 10; i++) {
          global.gc();
          await new Promise((r) => setTimeout(r, 10));
        }
        logging.setSpec('info:orderer.chain=debug');
        console.log(JSON.stringify({ before, after: logging.trackedCount(), keptLevel: kept.level }));
      })();
    `;
    const out = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' })) as { before: number; after: number; keptLevel: string };
    expect(out.before).toBeGreaterThan(5000);
    expect(out.after).toBeLessThanOrEqual(10);
    expect(out.keptLevel).toBe('debug'); // a live logger is still reached
  });
});
