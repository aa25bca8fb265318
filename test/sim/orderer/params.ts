// Per-seed parameters of a whole-orderer run, drawn from the run's Prng in a fixed order.
// Times are simulated milliseconds; the network's "steps" are milliseconds here.
import type { ChainSettings } from '../../../orderer/chain/types';
import type { NetworkParams } from '../network';
import type { Prng } from '../prng';

export interface OrdererFaults {
  /** Length of the fault phase; then the network heals and every node restarts. */
  faultMs: number;
  /** Length of the calm phase in which acknowledged envelopes must be ordered and heights converge. */
  healMs: number;
  /** Mean time between fault decisions. */
  actionEveryMs: number;
  crashP: number;
  restartP: number;
  partitionP: number;
  healP: number;
  /** Chance per action that the leader is struck (crashed or cut off). */
  leaderFaultP: number;
  /** Chance per run of one forged "your log is lost" heartbeat (what a node whose WAL lost entries sees). */
  lostLogReportP: number;
  /** How long an acknowledged, unordered envelope waits before its node resends it (ChainOptions.resubmitAfterMs). */
  resubmitAfterMs: number;
  /** Mean time between client broadcasts. */
  clientEveryMs: number;
}

/** Consensus.PreferredLeaders in a run (every node carries the same list). */
export interface PreferredLeaderParams {
  /** Node ids, highest rank first. */
  ranking: number[];
  quietMs: number;
  /** No crashes, partitions, leader strikes or lost messages: the preferred node must lead within a bound and stay. */
  noFaults: boolean;
}

export interface OrdererSimParams {
  seed: number;
  nodes: number;
  settings: ChainSettings;
  net: NetworkParams;
  faults: OrdererFaults;
  intakeWaitTimeoutMs: number;
  durable: boolean;
  preferred?: PreferredLeaderParams;
}

/**
 * A quarter of the seeds outside the membership runs rank the consenters (decided from the seed
 * number, not the run's Prng, so the other seeds replay as before); half of those run without faults.
 */
export function preferredLeaderOf(seed: number, nodes: number): PreferredLeaderParams | undefined {
  if (seed % 3 === 2 || (seed % 8 !== 1 && seed % 8 !== 4)) return undefined;
  const k = Math.floor(seed / 8);
  // A rotation of the ids: every node is the preferred one in some seeds, the designated first campaigner too.
  const first = k % nodes;
  const ranking = Array.from({ length: nodes }, (_, i) => ((first + i) % nodes) + 1);
  return { ranking, quietMs: 1_000, noFaults: k % 2 === 0 };
}

export function chooseOrdererParams(seed: number, rng: Prng, durable: boolean): OrdererSimParams {
  const nodes = seed % 2 === 0 ? 3 : 5;
  const tickIntervalMs = 100;
  const electionTick = rng.pick([5, 10]);
  const maxDelayMs = rng.pick([5, 20, 60]);
  const calm = rng.chance(0.15);
  const net: NetworkParams = {
    dropP: calm ? 0 : rng.pick([0, 0.02, 0.1]),
    dupP: calm ? 0 : rng.pick([0, 0.02, 0.1]),
    minDelaySteps: 1,
    maxDelaySteps: maxDelayMs,
    longDelayP: calm ? 0 : rng.pick([0, 0.01, 0.03]),
    longDelayMaxSteps: maxDelayMs + 2 * electionTick * tickIntervalMs,
    maxInFlight: 20_000,
  };
  const settings: ChainSettings = {
    configSequence: 0,
    maintenanceMode: false,
    members: Array.from({ length: nodes }, (_, i) => ({ id: i + 1, host: 'sim', port: i + 1 })),
    nextConsenterId: nodes + 1,
    tickIntervalMs,
    electionTick,
    heartbeatTick: 1,
    maxInflightBlocks: rng.pick([1, 2, 5]),
    // Small, so runs take snapshots and lagging nodes catch up by pulling blocks.
    snapshotIntervalSizeBytes: rng.pick([1_500, 4_000, 16 * 1024 * 1024]),
    maxMessageCount: rng.pick([1, 3, 10]),
    absoluteMaxBytes: 1024 * 1024,
    preferredMaxBytes: rng.pick([300, 512 * 1024]),
    batchTimeoutMs: rng.pick([50, 200, 500]),
    lastConfigIndex: 0,
  };
  const faults: OrdererFaults = {
    faultMs: rng.pick([3_000, 5_000]),
    healMs: 5_000,
    actionEveryMs: rng.pick([100, 250]),
    crashP: Math.max(durable ? 0.03 : 0, rng.pick([0, 0.02, 0.05])),
    restartP: rng.pick([0.1, 0.3]),
    partitionP: rng.pick([0, 0.02, 0.05]),
    healP: rng.pick([0.05, 0.2]),
    leaderFaultP: rng.pick([0, 0.02, 0.05]),
    lostLogReportP: rng.pick([0, 0, 0.5]),
    resubmitAfterMs: 1_000,
    clientEveryMs: rng.pick([40, 100]),
  };
  const intakeWaitTimeoutMs = rng.pick([300, 2_000]);
  const preferred = preferredLeaderOf(seed, nodes);
  if (preferred?.noFaults === true) {
    Object.assign(faults, { crashP: 0, partitionP: 0, leaderFaultP: 0, lostLogReportP: 0 });
    Object.assign(net, { dropP: 0, dupP: 0, longDelayP: 0 });
  }
  return { seed, nodes, settings, net, faults, intakeWaitTimeoutMs, durable, ...(preferred !== undefined ? { preferred } : {}) };
}

export function describeOrdererParams(p: OrdererSimParams): string {
  const s = p.settings;
  const f = p.faults;
  return (
    `nodes=${p.nodes} durable=${p.durable} election=${s.electionTick}x${s.tickIntervalMs}ms inflightBlocks=${s.maxInflightBlocks} ` +
    `snapEvery=${s.snapshotIntervalSizeBytes}B maxMsgs=${s.maxMessageCount} preferred=${s.preferredMaxBytes}B batch=${s.batchTimeoutMs}ms ` +
    `drop=${p.net.dropP} dup=${p.net.dupP} delay<=${p.net.maxDelaySteps}ms long=${p.net.longDelayP} fault=${f.faultMs}ms ` +
    `crash=${f.crashP} restart=${f.restartP} partition=${f.partitionP} leaderFault=${f.leaderFaultP} lostLog=${f.lostLogReportP} ` +
    `clientEvery=${f.clientEveryMs}ms intakeWait=${p.intakeWaitTimeoutMs}ms` +
    (p.preferred !== undefined ? ` preferredLeaders=${p.preferred.ranking.join('>')} quiet=${p.preferred.quietMs}ms noFaults=${p.preferred.noFaults}` : '')
  );
}
