// Public surface of the Raft core: a pure, deterministic, tick-driven Raft state machine in
// the style of etcd-io/raft (no IO, no clock, no randomness but the seeded Rng handed in).
//
// The caller's loop, one Ready at a time:
//   node.tick() every tick interval; node.step(msg) for each message from a peer;
//   node.propose(data) / node.proposeConfChange(cc) for new entries;
//   if (node.hasReady()) {
//     const rd = node.ready();
//     persist rd.snapshot, rd.entries, rd.hardState (fsync when rd.mustSync);
//     send rd.messages;
//     apply rd.snapshot and rd.committedEntries (node.applyConfChange for conf changes);
//     node.advance();
//   }
export * from './api';
export * from './errors';
export { RawNode } from './rawnode';
export { MemoryStorage } from './memory-storage';
export { SeededRng } from './rng';
export { isLocalMsg, isResponseMsg, entrySizeBytes, entriesSizeBytes } from './util';
export { CAMPAIGN_TRANSFER_CONTEXT } from './campaign-type';
