// The ledger: Fabric's block format and the per-channel LMDB block store.
export * from './errors';
export * from './der';
export * from './hash';
export * from './block';
export * from './metadata';
export * from './block-store';
export { openBlockStore, channelStoreDir, LmdbBlockStore, DEFAULT_RECENT_BLOCKS_MAX_BYTES, type OpenBlockStoreOptions } from './lmdb-block-store';
export { MAX_TXID_KEY_BYTES } from './lmdb-records';
export { TX_INDEX_DIR } from './tx-index';
export { checkLmdbDataFile, LMDB_DATA_FILE, OPEN_CHECK_MAX_TREE_PAGES, type LmdbFileCheckOptions, type LmdbFileReport } from './lmdb-file-check';
export { deepCheckBlockStore, type LedgerCheckOptions, type LedgerCheckReport } from './ledger-check';
