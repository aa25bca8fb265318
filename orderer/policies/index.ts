// Channel policies (reference §5): signature and ImplicitMeta policies compiled from a channel
// config, evaluated over signature sets with the channel's MSPs. See README.md.
export * from './types';
export * from './errors';
export * from './signature-set';
export * from './compiled';
export * from './signature-policy';
export * from './implicit-meta';
export * from './manager';
export * from './dsl';
export * from './channel-policies';
export * from './block-signatures';
export * from './config-signatures';
