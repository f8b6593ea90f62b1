/** taskwarden on many machines: agents that run BullMQ jobs as local tasks, and the client that drives them. */
export { Agent, agentHome, type AgentOptions } from './agent.js';
export { ClusterClient, type ClusterClientOptions, type SubmitOptions } from './client.js';
export { ClusterError } from './cluster-error.js';
export type { ClusterStopAllResult } from './emergency-stop.js';
export type { StopReply } from './stop-requests.js';
export { CLUSTER_ENV, ClusterUrlError, redisOptions } from './connection.js';
export { DEFAULT_QUEUE } from './keys.js';
export type { ClusterTaskSnapshot } from './records.js';
export type { AgentInfo, AgentStopReport } from './control.js';
