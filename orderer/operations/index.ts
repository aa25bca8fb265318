// The Operations server: /healthz, /version, /logspec, /metrics (README.md in this folder).
export { OperationsServer, operationsServerFromConfig, type OperationsDeps, type OperationsServerOptions } from './server';
export {
  channelHealthCheckers,
  diskSpaceChecker,
  HEALTH_CHECK_TIMEOUT_MS,
  MIN_FREE_DISK_BYTES,
  runHealthChecks,
  type ChannelsView,
  type FailedCheck,
  type HealthChecker,
} from './healthz';
export { DEVELOPMENT_BUILD, packageVersion, type LogSpecTarget, type MetricsSource, type VersionInfo } from './handlers';
