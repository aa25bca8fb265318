// The channel settings the in-process Chain tests run with: Fabric's defaults where they do not
// matter, small timers, and the members 1..n. Each test states only what it changes.
import type { ChainSettings } from '../../orderer/chain/types';

const MiB = 1024 * 1024;

/** Settings for a channel of consenters 1..`nodes` at `host` (port = id), with `overrides`. */
export function testChainSettings(nodes: number, overrides: Partial<ChainSettings> = {}, host = 'sim'): ChainSettings {
  return {
    configSequence: 0,
    maintenanceMode: false,
    members: Array.from({ length: nodes }, (_, i) => ({ id: i + 1, host, port: i + 1 })),
    nextConsenterId: nodes + 1,
    tickIntervalMs: 100,
    electionTick: 10,
    heartbeatTick: 1,
    maxInflightBlocks: 5,
    snapshotIntervalSizeBytes: 16 * MiB,
    maxMessageCount: 10,
    absoluteMaxBytes: MiB,
    preferredMaxBytes: MiB / 2,
    batchTimeoutMs: 200,
    lastConfigIndex: 0,
    ...overrides,
  };
}
