// The gRPC transport between orderers (Cluster.Step). See README "cluster/" notes.
export * from './types';
export * from './errors';
export { Backoff, type BackoffOptions } from './backoff';
export { ClusterMembership, publicKeyIdOf, type MembershipView } from './membership';
export { HeaderSenderAuthenticator, NO_CERT_MESSAGE, TlsCertSenderAuthenticator, UNAUTHORIZED_CERT_MESSAGE, type SenderAuthenticator, type SenderInfo } from './auth';
export { ClusterDispatcher, registerClusterService, type ClusterDispatcherOptions, type StepCall } from './dispatcher';
export { ClusterServer, clusterServerOptions, type ClusterServerOptions, type MessageSizeLimits } from './server';
export { ClusterClient, type ClusterClientOptions } from './client';
export { Comm, type CommOptions, type SenderIdentification } from './comm';
export { CountingClusterMetrics, NO_METRICS, type ClusterMetrics } from './metrics';
export { CLUSTER_SERVICE_NAME, CLUSTER_STEP_PATH, NODE_ID_HEADER, SUBMIT_ACK_HEADER, SUBMIT_ACK_VERSION, SUBMIT_BATCH_HEADER, SUBMIT_BATCH_MAX_BYTES_HEADER, SUBMIT_BATCH_VERSION, clusterServiceDefinition, clusterStepMethod } from './service';
