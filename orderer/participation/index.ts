// Channel participation (reference §6.2): the seam the node implements, its typed refusals, and
// the Admin server that serves the REST API over it.
export * from './types';
export { type ParticipationErrorOptions } from './errors';
export { AdminServer, adminServerFromConfig, ADMIN_READ_TIMEOUT_MS, ADMIN_STOP_GRACE_MS, type AdminServerOptions, type AdminTlsMaterial } from './http-server';
export { channelUrl, DEFAULT_MAX_REQUEST_BODY_SIZE_BYTES, URL_BASE_V1, URL_BASE_V1_CHANNELS, type ChannelInfoJson, type ChannelListJson } from './rest-api';
export { CONFIG_BLOCK_PART, validateJoinBlock, type JoinBlock } from './join-block';
export {
  ADMIN_CLIENT_MAX_RESPONSE_BYTES,
  ADMIN_CLIENT_TIMEOUT_MS,
  adminRequest,
  AdminRequestError,
  channelIdOfBlockBytes,
  formatAdminResponse,
  goJsonIndent,
  joinChannel,
  joinFormBody,
  listChannel,
  listChannels,
  removeChannel,
  type AdminClientOptions,
  type AdminClientTls,
  type AdminResponse,
} from './admin-client';
