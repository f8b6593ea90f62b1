/**
 * A client's pause and resume of one task: a request on the control channel that only the agent
 * holding the task's job answers (its Supervisor's pause: cgroup freeze, else SIGSTOP to the group).
 * There is no durable record: a client that gets no answer says so, and nothing changes.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ClusterError } from './cluster-error.js';
import { displayUrl } from './connection.js';
import { answerListener, type ControlMessage } from './control.js';
import type { ClusterKeys } from './keys.js';
import type { ClusterTaskSnapshot } from './records.js';
import type { StopReply } from './stop-requests.js';
import type { TaskView } from './task-view.js';

/** How long a pause or resume waits for the agent holding the task to answer. */
const PAUSE_ANSWER_MS = 5000;

export interface PauseRequestParts {
  /** The cluster's Redis (connection.ts): each request listens for its answer on a connection of its own. */
  url: string;
  redis: Redis;
  keys: ClusterKeys;
  view: TaskView;
}

export class PauseRequests {
  readonly #parts: PauseRequestParts;

  constructor(parts: PauseRequestParts) {
    this.#parts = parts;
  }

  /** Freezes (`resume` false) or thaws the task; NOT_PAUSABLE for one not in the state it needs. */
  async request(taskId: string, resume: boolean): Promise<StopReply> {
    const before = await this.#parts.view.get(taskId);
    const done = resume ? 'running' : 'paused';
    if (before.state === done) return { task: before, previous: before.state };
    if ((before.state !== 'running' && before.state !== 'paused') || !before.jobId) throw notPausable(before, resume);
    const requestId = randomUUID();
    const answer = await this.#ask(
      { type: 'pause', requestId, taskId, jobId: before.jobId, resume },
      (message) => message.type === 'pause-done' && message.requestId === requestId,
      PAUSE_ANSWER_MS,
    );
    if (answer?.type !== 'pause-done') {
      const now = await this.#parts.view.get(taskId);
      if (now.state !== 'running' && now.state !== 'paused') throw notPausable(now, resume);
      throw new ClusterError(
        'NO_ANSWER',
        `task ${taskId}: agent ${now.host ?? '?'} did not answer the ${resume ? 'resume' : 'pause'} within ${PAUSE_ANSWER_MS} ms (is it up? "taskwarden ls --cluster ${displayUrl(this.#parts.url)}" shows what it runs); nothing was changed here`,
      );
    }
    if (answer.error)
      throw new ClusterError(
        answer.error.code === 'NOT_PAUSABLE' ? 'NOT_PAUSABLE' : 'PAUSE_FAILED',
        answer.error.message,
      );
    return { task: await this.#parts.view.get(taskId), previous: before.state };
  }

  /** Publishes `message` to the agents and waits for the first answer `accept` takes; undefined after `timeoutMs`. */
  async #ask(
    message: ControlMessage,
    accept: (answer: ControlMessage) => boolean,
    timeoutMs: number,
  ): Promise<ControlMessage | undefined> {
    let settle!: (answer: ControlMessage | undefined) => void;
    const answered = new Promise<ControlMessage | undefined>((resolve) => (settle = resolve));
    const listener = answerListener(this.#parts.url, 'taskwarden-client-ask', (answer) => {
      if (accept(answer)) settle(answer);
    });
    const timer = setTimeout(() => settle(undefined), timeoutMs);
    try {
      const { redis, keys } = this.#parts;
      await listener.subscribe(keys.control);
      await redis.publish(keys.control, JSON.stringify(message));
      return await answered;
    } finally {
      clearTimeout(timer);
      listener.disconnect();
    }
  }
}

/** The Supervisor's words for a task that cannot be paused or resumed in its state. */
function notPausable(task: ClusterTaskSnapshot, resume: boolean): ClusterError {
  return new ClusterError(
    'NOT_PAUSABLE',
    resume
      ? `task ${task.id} is ${task.state}, not paused: nothing to resume`
      : `task ${task.id} is ${task.state}: only a running task can be paused`,
  );
}
