// Public surface of the Raft core.
export * from './api';
export * from './errors';
export { RawNode } from './rawnode';
export { MemoryStorage } from './memory-storage';
export { SeededRng } from './rng';
export { isLocalMsg, isResponseMsg, entrySizeBytes, entriesSizeBytes } from './util';
export { CAMPAIGN_TRANSFER_CONTEXT } from './campaign-type';
