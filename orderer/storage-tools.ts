// The operator's storage tools, as cmd/ reaches them (cmd talks to orderer/, never to the storage
// layers directly): repairing a channel's Raft WAL and checking a channel's block store in depth.
// Both run while the orderer is stopped.
export { repairWal, type WalRepairReport } from '../consensus/wal/repair';
export { CorruptionError as WalCorruptionError } from '../consensus/wal/errors';
export { deepCheckBlockStore, type LedgerCheckReport } from '../ledger/ledger-check';
export { BlockStoreError, CorruptionError as LedgerCorruptionError } from '../ledger/errors';
// configtxgen's genesis block around a config (`orderer config genesis`).
export { genesisBlock } from '../ledger/block';
