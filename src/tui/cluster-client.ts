/**
 * The terminal UI attached to a cluster: a ClusterClient (src/cluster/client.ts) as the TuiClient
 * the UI already talks to, so one UI shows every task of every agent and its keys act on whichever
 * agent runs the task. Each request the UI makes maps to the ClusterClient call that does the same;
 * what a cluster has no answer for is refused with its own code and the reason, which the UI shows.
 */
import { ClusterClient } from '../cluster/client.js';
import { displayUrl } from '../cluster/connection.js';
import type { ClusterTaskSnapshot } from '../cluster/records.js';
import type { AttemptRecord } from '../journal/types.js';
import type { RequestType } from '../protocol/messages.js';
import type { PayloadOf, ResponseOf } from '../protocol/replies.js';
import { isFinishedState } from '../journal/recorded-state.js';
import { tuiClientOf, type ConnectFn, type TuiClient } from './client.js';

/** Which cluster: its Redis URL and queue (the CLI's --cluster and --queue). */
export interface ClusterTarget {
  url: string;
  queue?: string;
}

/** The cluster as the header shows it: "redis://host:6379 queue taskwarden" (no password). */
export function clusterLabel(target: ClusterTarget): string {
  return `${displayUrl(target.url)}${target.queue !== undefined ? ` queue ${target.queue}` : ''}`;
}

/** Connects to the cluster; `autostart` means nothing here (a cluster is not started by a client). */
export function clusterConnector(target: ClusterTarget): ConnectFn {
  return async () => {
    try {
      return adaptClusterClient(
        await ClusterClient.connect({
          redis: target.url,
          ...(target.queue !== undefined ? { queue: target.queue } : {}),
        }),
      );
    } catch (error) {
      // Every failure carries a code: the connection layer starts a daemon only for NO_DAEMON or none.
      throw withCode(error, 'CLUSTER_UNREACHABLE');
    }
  };
}

/**
 * After an outage, tasks that ended since this long before it are sent again: the agents' clocks
 * (endedAt) may differ from this one, and a busy machine notices a dropped connection late. Sending
 * one the UI already shows ended is harmless (the same state).
 */
const CATCH_UP_MARGIN_MS = 60_000;

/** What a request of type T does on a cluster. */
type Handler<T extends RequestType> = (payload: PayloadOf<T>) => Promise<ResponseOf<T>>;
type Handlers = { [T in RequestType]: Handler<T> };

/** A ClusterClient as the UI's client. */
export function adaptClusterClient(client: ClusterClient): TuiClient {
  const handlers = clusterHandlers(client);
  // Back after Redis was away: what changed meanwhile, as events (those published then are lost).
  client.on('resubscribed', (downSince) => {
    void client.list({ includeFinished: true }).then(
      (tasks) => {
        for (const task of tasks) {
          const ended = isFinishedState(task.state);
          if (ended && (task.endedAt ?? 0) < downSince - CATCH_UP_MARGIN_MS) continue;
          client.emit('event', ended ? { type: 'TASK_COMPLETE', task } : { type: 'TASK_STATUS', task });
        }
      },
      () => {}, // away again: the next reconnect catches up
    );
  });
  return tuiClientOf(client, {
    request: <T extends RequestType>(type: T, ...payload: [PayloadOf<T>?]) =>
      (handlers[type] as Handler<T>)((payload[0] ?? {}) as PayloadOf<T>),
  });
}

function clusterHandlers(client: ClusterClient): Handlers {
  const refuse = (what: string) => () =>
    Promise.reject(withCode(new Error(`a cluster has no ${what}`), 'NOT_IN_A_CLUSTER'));
  return {
    TASK_REQUEST: async ({ spec }) => ({ task: await client.submit(spec) }),
    TASK_CANCEL: ({ taskId }) => client.cancel(taskId),
    TASK_KILL: ({ taskId }) => client.kill(taskId),
    TASK_RESTART: ({ taskId }) => client.restart(taskId),
    TASK_PAUSE: ({ taskId }) => client.pause(taskId),
    TASK_RESUME: ({ taskId }) => client.resume(taskId),
    STOP_ALL: async () => ({ result: await client.stopAll() }),
    LIST: async ({ includeFinished }) => ({
      tasks: await client.list(includeFinished !== undefined ? { includeFinished } : {}),
    }),
    HISTORY: async ({ limit }) => ({ tasks: await client.history(limit) }),
    GET: async ({ taskId }) => {
      const task = await client.get(taskId);
      return { task, attempts: currentAttempt(task), transitions: [] };
    },
    LOGS: async ({ taskId, tailBytes }) => {
      const [task, lines] = await Promise.all([client.get(taskId), client.logs(taskId)]);
      const tail = tailBytes === undefined ? lines : lastBytes(lines, tailBytes);
      return {
        attempt: task.state === 'queued' && task.attempt === 1 ? null : task.attempt,
        // BullMQ keeps a job's lines without their stream.
        lines: tail.map((line) => ({ stream: 'stdout' as const, line })),
        ...(tail.length < lines.length ? { truncated: true } : {}),
      };
    },
    HELLO: refuse('greeting: the client connects to its Redis'),
    SUBSCRIBE: refuse('SUBSCRIBE request: subscribe() listens to its events channel'),
    UNSUBSCRIBE: refuse('UNSUBSCRIBE request'),
    SHUTDOWN: refuse('one daemon to shut down: stop an agent on its machine (Ctrl+C or SIGTERM)'),
  };
}

/**
 * The details page's attempts: a cluster keeps no journal of every attempt in Redis (each agent
 * journals its own), only the current one, in the task's record.
 */
function currentAttempt(task: ClusterTaskSnapshot): AttemptRecord[] {
  if (task.state === 'queued') return [];
  const outcome = task.outcome && isFinishedState(task.state) ? task.outcome : undefined;
  const record: AttemptRecord = { attempt: task.attempt, state: task.state };
  if (task.pid !== undefined) record.pid = task.pid;
  if (task.startedAt !== undefined) record.startedAt = task.startedAt;
  if (task.endedAt !== undefined) record.endedAt = task.endedAt;
  if (task.progress !== undefined) record.progress = task.progress;
  if (outcome) {
    record.durationMs = outcome.durationMs;
    if (outcome.exitCode !== undefined && outcome.exitCode !== null) record.exitCode = outcome.exitCode;
    if (outcome.signal) record.signal = outcome.signal;
    if (outcome.error) record.error = outcome.error;
    if (outcome.result !== undefined) record.result = outcome.result;
    if (outcome.stopReason) record.stopReason = outcome.stopReason;
    if (outcome.escalated) record.escalated = true;
  }
  return [record];
}

/** The last lines that fit in `bytes` (UTF-8, a newline each). */
function lastBytes(lines: readonly string[], bytes: number): string[] {
  let used = 0;
  let first = lines.length;
  while (first > 0) {
    used += Buffer.byteLength(lines[first - 1]!) + 1;
    if (used > bytes) break;
    first -= 1;
  }
  return lines.slice(first);
}

function withCode(error: unknown, code: string): Error {
  const wrapped = error instanceof Error ? error : new Error(String(error));
  if (typeof (wrapped as { code?: unknown }).code !== 'string') Object.assign(wrapped, { code });
  return wrapped;
}
