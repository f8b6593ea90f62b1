/** The errors a ClusterClient throws: each with a code a front end acts on, and words that say what to do. */
import { displayUrl } from './connection.js';

export class ClusterError extends Error {
  constructor(
    readonly code: 'UNKNOWN_TASK' | 'REDIS_UNREACHABLE' | 'BAD_SPEC' | 'NOT_PAUSABLE' | 'PAUSE_FAILED' | 'NO_ANSWER',
    message: string,
  ) {
    super(message);
    this.name = 'ClusterError';
  }
}

export function unknownTaskError(taskId: string, queueName: string, url: string): ClusterError {
  return new ClusterError(
    'UNKNOWN_TASK',
    `no task ${taskId} in cluster queue ${queueName}: "taskwarden ls --all --cluster ${displayUrl(url)}" lists the known tasks`,
  );
}
