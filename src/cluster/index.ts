/** taskwarden on many machines: agents that run BullMQ jobs as local tasks, and the client that drives them. */
export { Agent, agentHome, type AgentOptions } from './agent.js';
export {
  ClusterClient,
  ClusterError,
  type ClusterClientOptions,
  type ClusterStopAllResult,
  type StopReply,
  type SubmitOptions,
} from './client.js';
export { CLUSTER_ENV, ClusterUrlError, redisOptions } from './connection.js';
export { DEFAULT_QUEUE } from './keys.js';
export type { ClusterTaskSnapshot } from './records.js';
export type { AgentInfo, AgentStopReport } from './control.js';
