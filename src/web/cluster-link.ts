/**
 * The web server attached to a cluster (`taskwarden web --cluster URL`): a ClusterClient
 * (src/cluster/client.ts) in place of the daemon link, so the same page shows every agent's tasks
 * with their host and its buttons reach them wherever they run. The page's protocol requests
 * become the client's calls (cancel, kill, restart, pause, resume, stopAll, submit for a template,
 * list, get, logs; pause and resume reach the agent that holds the task). The cluster's
 * events are at-most-once and travel apart from reads: the link reads Redis every CHECK_MS (the
 * agents, and whether Redis answers), says at once when it does not, and sends the pages a fresh
 * snapshot when it answers again.
 */
import type { ClusterClient } from '../cluster/client.js';
import type { DaemonEvent, RequestType } from '../protocol/index.js';
import type { TaskSpec } from '../supervisor/types.js';
import { encodeReply, TaskMirror, type Backend, type BackendState } from './backend.js';
import type { EventHub } from './event-hub.js';

/** How often Redis is asked for the live agents (which also tells whether it answers). */
const CHECK_MS = 1000;
/** A read that takes longer than this means Redis is not answering (ioredis queues commands meanwhile). */
const CHECK_TIMEOUT_MS = 2000;

/** A request the cluster link refuses or cannot carry out; `code` says which (control-requests.ts maps it to a status). */
export class ClusterRequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ClusterRequestError';
  }
}

export interface ClusterLinkOptions {
  client: ClusterClient;
  /** The address to show (displayUrl: no password). */
  shownUrl: string;
  hub: EventHub;
  log: (line: string) => void;
}

export class ClusterLink implements Backend {
  readonly #client: ClusterClient;
  readonly #options: ClusterLinkOptions;
  readonly #mirror: TaskMirror;
  #state: BackendState;
  #timer: NodeJS.Timeout | undefined;
  #checking = false;
  #closed = false;

  constructor(options: ClusterLinkOptions) {
    this.#options = options;
    this.#client = options.client;
    this.#mirror = new TaskMirror(options.hub, { dropStale: true });
    this.#state = this.#newState(false, [], 'not connected yet');
  }

  get state(): BackendState {
    return this.#state;
  }

  snapshot(): object {
    return this.#mirror.snapshot(this.#state);
  }

  /** Subscribes and reads the tasks (the newest 500, finished ones included); then checks every CHECK_MS. */
  async connect(): Promise<void> {
    if (this.#timer === undefined) {
      // Events that come while the tasks are read wait for them (then the newer of the two wins: TaskMirror).
      let early: DaemonEvent[] | undefined = [];
      this.#client.on('event', (event) => (early ? early.push(event) : this.#onEvent(event)));
      await this.#client.subscribe();
      await this.#resync();
      const queued = early;
      early = undefined;
      for (const event of queued) this.#onEvent(event);
      this.#timer = setInterval(() => void this.#check(), CHECK_MS);
      this.#timer.unref();
      return;
    }
    await this.#check();
  }

  async request(type: RequestType, payload: object = {}): Promise<{ payload: Record<string, unknown>; seq: number }> {
    if (!this.#state.up)
      throw new ClusterRequestError(
        'CLUSTER_DOWN',
        `the cluster's Redis at ${this.#options.shownUrl} is not answering (since ${new Date(this.#state.since).toISOString()}): start it again, then try again`,
      );
    let reply: object;
    try {
      reply = await this.#call(type, payload);
    } catch (error) {
      throw this.#asRequestError(error);
    }
    return { payload: encodeReply(reply), seq: this.#mirror.seq };
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#client.close();
  }

  async #call(type: RequestType, p: RequestPayload): Promise<object> {
    const client = this.#client;
    const taskId = p.taskId ?? '';
    switch (type) {
      case 'TASK_CANCEL':
        return client.cancel(taskId);
      case 'TASK_KILL':
        return client.kill(taskId);
      case 'TASK_RESTART':
        return client.restart(taskId);
      case 'TASK_PAUSE':
        return client.pause(taskId);
      case 'TASK_RESUME':
        return client.resume(taskId);
      case 'STOP_ALL':
        return { result: await client.stopAll() };
      case 'TASK_REQUEST':
        return { task: await client.submit(p.spec!) };
      case 'LIST':
        return { tasks: await client.list({ includeFinished: p.includeFinished ?? false }) };
      case 'HISTORY':
        return { tasks: await client.history(p.limit ?? 50) };
      case 'GET':
        // The cluster keeps the current attempt only.
        return { task: await client.get(taskId), attempts: [] };
      case 'LOGS': {
        const [task, lines] = await Promise.all([client.get(taskId), client.logs(taskId)]);
        // BullMQ keeps the lines as text: which stream each came from is not kept.
        return { attempt: task.attempt, lines: lines.map((line) => ({ stream: 'stdout', line })) };
      }
      default:
        throw new ClusterRequestError('NOT_SUPPORTED', `${type} is not offered for a cluster`);
    }
  }

  #asRequestError(error: unknown): Error {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && error instanceof Error) return error;
    return new ClusterRequestError(
      'CLUSTER_ERROR',
      `the cluster's Redis at ${this.#options.shownUrl} failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  }

  #onEvent(event: DaemonEvent): void {
    if (this.#closed || event.type === 'SNAPSHOT' || event.type === 'DAEMON_HEALTH') return;
    this.#mirror.apply(event);
  }

  /** The tasks read again and sent to every page (at start, and after Redis did not answer: events were lost). */
  async #resync(): Promise<void> {
    const [tasks, agents] = await Promise.all([this.#client.list({ includeFinished: true }), this.#client.agents()]);
    this.#state = this.#newState(true, agentNames(agents));
    this.#mirror.reset(tasks, this.#state);
  }

  async #check(): Promise<void> {
    if (this.#checking || this.#closed) return;
    this.#checking = true;
    try {
      const agents = agentNames(await withTimeout(this.#client.agents(), CHECK_TIMEOUT_MS));
      if (!this.#state.up) {
        this.#options.log(`the cluster's Redis at ${this.#options.shownUrl} answers again`);
        await withTimeout(this.#resync(), CHECK_TIMEOUT_MS);
      } else if (agents.join() !== this.#state.cluster?.agents.join()) {
        this.#state = { ...this.#state, cluster: { queue: this.#client.queueName, agents } };
        this.#mirror.publish({ type: 'DAEMON_STATE', daemon: this.#state });
      }
    } catch (error) {
      if (this.#state.up) {
        const reason = error instanceof Error ? error.message : String(error);
        this.#options.log(`the cluster's Redis at ${this.#options.shownUrl} is not answering: ${reason}`);
        this.#state = this.#newState(false, [], reason);
        this.#mirror.publish({ type: 'DAEMON_STATE', daemon: this.#state });
      }
    } finally {
      this.#checking = false;
    }
  }

  #newState(up: boolean, agents: string[], reason?: string): BackendState {
    return {
      kind: 'cluster',
      up,
      home: this.#options.shownUrl,
      since: Date.now(),
      pause: true,
      cluster: { queue: this.#client.queueName, agents },
      ...(reason ? { reason } : {}),
    };
  }
}

interface RequestPayload {
  taskId?: string;
  includeFinished?: boolean;
  limit?: number;
  spec?: TaskSpec;
}

function agentNames(agents: ReadonlyArray<{ name: string }>): string[] {
  return agents.map((agent) => agent.name).sort();
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
