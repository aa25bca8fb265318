// Config-update processing (reference §4.2) and Raft membership changes (§3.6, §3.8) as pure
// functions. See README.md in this folder for the order of checks and their statuses.
export { validateConfigUpdate, validateChannelConfigTransition } from './validate-update';
export type { ConfigUpdateInput, ValidatedConfigUpdate, ChannelConfigTransitionInput, ChannelConfigTransition } from './validate-update';
export { applyConfigUpdate } from './apply-update';
export type { ApplyConfigUpdateInput, AppliedConfigUpdate, CurrentPolicies } from './apply-update';
export { checkConfigBundle, checkSettingsTransition, type CheckedConfig } from './bundle-checks';
export {
  consenterUpdateOf,
  detectConsenterChange,
  checkSingleMembershipChange,
  validateConsenterCerts,
  checkNewConsenterNotExpired,
  checkQuorumGuard,
  CONSENSUS_TYPE_PATH,
  type ConsenterChange,
} from './consenters';
export {
  flattenConfig,
  rebuildConfig,
  elementKey,
  elementPath,
  configNameProblem,
  modPolicyProblem,
  MAX_CONFIG_NAME_LENGTH,
  LEGACY_REPAIR_MOD_POLICY,
  type ConfigElement,
  type ConfigMap,
  type ElementKind,
} from './config-map';
export { TlsTrust } from './tls-trust';
