// The orderer's local configuration (orderer.yaml + ORDERER_* environment overrides).
export * from './types';
export {
  CONFIG_FILE_NAME,
  findOrdererConfigFile,
  loadOrdererConfig,
  LOGGING_SPEC_ENV,
  OFFICIAL_CONFIG_DIR,
  overrideEnvName,
  parseOrdererConfig,
  type LoadOrdererConfigOptions,
  type ParseOrdererConfigOptions,
} from './load';
export { levelOfLogger, toByteSize, toDurationMs, toLoggingSpec } from './values';
export { unsupportedSettings, type UnsupportedSetting } from './unsupported';
