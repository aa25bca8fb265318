// One import point for the wire types: `import { common, raftpb } from '../protos'`.
export * as common from './gen/common';
export * as msp from './gen/msp';
export * as orderer from './gen/orderer';
export * as etcdraft from './gen/etcdraft';
export * as raftpb from './gen/raftpb';
export * as google_protobuf from './gen/google_protobuf';
export { ProtoDecodeError, EMPTY_BYTES, varintSize, writeVarint, type MessageCodec } from './runtime';
export { envelopeTxIdOf } from './envelope-txid';
export { blockMetadataOffset, encodeBlockBytes, encodeBlockMetadataField, isCanonicalHeaderAndData } from './block-bytes';
