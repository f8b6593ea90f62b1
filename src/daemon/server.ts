/**
 * The taskwarden daemon: one Supervisor, one journal, one Unix socket.
 *
 * Front ends (CLI, terminal UI) connect to `<home>/daemon.sock` and speak the
 * protocol of src/protocol: HELLO first, then requests, each answered by
 * exactly one ACK or ERROR; subscribers also get every task event. The work
 * lives here, so a front end can freeze, crash or go away without touching a
 * task, and a task can spin forever without freezing a front end.
 *
 * Order of effects for every task state change: journal commit, then
 * broadcast. A client that saw a state can rely on the journal having it.
 * While the journal cannot be written (disk full), the writes are held in
 * memory in order and retried (journal-writer.ts), events still go out, new
 * work is refused, and clients are told (WELCOME's and DAEMON_HEALTH's health).
 */
import { chmodSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { Journal, LogStore, type LogStoreOptions } from '../journal/index.js';
import { LineageMark } from '../process/lineage.js';
import { sweepLeftovers } from '../process/cgroup/owner.js';
import {
  PROTOCOL_VERSION,
  ack,
  errorReply,
  type DaemonHealth,
  type DaemonMessage,
  type Request,
  type RequestType,
  type ResponseOf,
} from '../protocol/index.js';
import { MAX_TIMER_MS, MAX_TIMER_TEXT } from '../supervisor/limits.js';
import type { SupervisorOptions } from '../supervisor/options.js';
import { Supervisor } from '../supervisor/supervisor.js';
import { isTerminalState, type SupervisorEvent, type TaskSnapshot } from '../supervisor/types.js';
import { Connection } from './connection.js';
import { DiagnosticLog, errorCode, ignoreStdioErrors } from './diagnostics.js';
import { RequestError, createHandlers, type HandlerContext, type Handlers } from './handlers.js';
import { resolveHome, socketPath } from './home.js';
import { DaemonRunningError, acquireLock, type DaemonLock } from './lock.js';
import { fitEvent, fitPayload, fitTasks } from './fit.js';
import { wireEvent, wirePayload, wireTask, type ValueMode } from './wire.js';
import { JournalWriter, type WriteOptions } from './journal-writer.js';
import { ProgressJournal } from './progress-journal.js';
import { recover, type RecoveryReport } from './recovery.js';

export interface DaemonOptions {
  /** State directory; resolved as the CLI does (--home, $TASKWARDEN_HOME, ...). */
  home?: string;
  supervisorOptions?: SupervisorOptions;
  /** A client with more than this many bytes unread is dropped. Default 8 MiB. */
  maxClientBufferBytes?: number;
  /** Progress is written to the journal at most this often per task. Default 500 ms; at most MAX_TIMER_MS. */
  progressJournalIntervalMs?: number;
  /** Journal writes that failed (disk full) are retried after this long, doubling up to 5 s. Default 200 ms. */
  journalRetryMs?: number;
  logStoreOptions?: LogStoreOptions;
  /** Shut down cleanly on SIGTERM and SIGINT. Default false (true in `taskwarden daemon`). */
  handleSignals?: boolean;
  /**
   * Diagnostics (one line each). Default: timestamped lines on stderr, where a failed write
   * (disk full) drops the line and is noted once writing works again (see diagnostics.ts).
   * Whatever this throws is ignored.
   */
  log?: (message: string) => void;
}

export interface DaemonHandle {
  readonly pid: number;
  readonly home: string;
  readonly socketPath: string;
  readonly recovery: RecoveryReport;
  /** Stops every task (with escalation), flushes the journal, removes the socket. Idempotent. */
  close(): Promise<void>;
  /** Settles once the daemon has shut down, whoever asked (close(), SHUTDOWN, a signal). */
  readonly closed: Promise<void>;
}

const DEFAULT_MAX_CLIENT_BUFFER = 8 * 1024 * 1024;
/**
 * Finished tasks stay in the supervisor (LIST, SNAPSHOT, restart) until this
 * many have ended; then they are let go at once. The journal keeps them all
 * (history, show), so a long-lived daemon's memory stays bounded.
 */
const MAX_FINISHED_IN_MEMORY = 1000;

/** Replies that carry task lists or records of any size: slimmed to fit in a line (fit.ts). */
const FITTED_REPLIES: ReadonlySet<string> = new Set(['LIST', 'GET', 'HISTORY']);

export async function startDaemon(options: DaemonOptions = {}): Promise<DaemonHandle> {
  const progressInterval = options.progressJournalIntervalMs;
  if (
    progressInterval !== undefined &&
    (typeof progressInterval !== 'number' || !(progressInterval >= 0) || progressInterval > MAX_TIMER_MS)
  ) {
    throw new TypeError(
      `daemon option progressJournalIntervalMs must be a number of milliseconds from 0 to ${MAX_TIMER_TEXT}, got ${String(progressInterval)}`,
    );
  }
  const home = resolveHome({ home: options.home });
  const path = socketPath(home);
  const log = neverThrows(options.log ?? stderrLog());
  const lock = acquireLock(home);
  let daemon: Daemon | undefined;
  try {
    daemon = new Daemon(home, path, lock, options, log);
    await daemon.listen();
  } catch (error) {
    await daemon?.shutdown('start failed').catch(() => {});
    lock.release();
    throw error;
  }
  if (options.handleSignals) daemon.handleSignals();
  log(
    `taskwarden daemon (pid ${process.pid}) serves ${home} on ${path}; tasks run at ${daemon.priorityMechanism}, held by ${daemon.containment}`,
  );
  const d = daemon;
  return {
    pid: process.pid,
    home,
    socketPath: path,
    recovery: d.recovery,
    close: () => d.shutdown('close() called'),
    closed: d.closed,
  };
}

class Daemon {
  readonly recovery: RecoveryReport;
  readonly closed: Promise<void>;
  readonly #home: string;
  readonly #path: string;
  readonly #lock: DaemonLock;
  readonly #log: (message: string) => void;
  readonly #journal: Journal;
  readonly #writer: JournalWriter;
  readonly #logs: LogStore;
  readonly #sup: Supervisor;
  readonly #progress: ProgressJournal;
  readonly #handlers: Handlers;
  readonly #server: net.Server;
  readonly #maxClientBuffer: number;
  readonly #connections = new Set<Connection>();
  readonly #subscribers = new Set<Connection>();
  #finishedSinceClear = 0;
  #shutdown: Promise<void> | undefined;
  #resolveClosed!: () => void;
  #listening = false;

  constructor(home: string, path: string, lock: DaemonLock, options: DaemonOptions, log: (message: string) => void) {
    this.#home = home;
    this.#path = path;
    this.#lock = lock;
    this.#log = log;
    this.#maxClientBuffer = options.maxClientBufferBytes ?? DEFAULT_MAX_CLIENT_BUFFER;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.#journal = Journal.open(home);
    this.#writer = new JournalWriter({
      log,
      onChange: () => this.#healthChanged(),
      retryMinMs: options.journalRetryMs,
    });
    this.#logs = new LogStore(home, {
      onError: (error) => {
        log(`task logs: writes failing, their lines are dropped until writing works again: ${error.message}`);
        this.#healthChanged();
      },
      onRecover: ({ since, droppedLines, error }) => {
        log(
          `task logs: writable again; ${droppedLines} line(s) dropped since ${new Date(since).toISOString()} (${errorCode(error)})`,
        );
        this.#healthChanged();
      },
      ...options.logStoreOptions,
    });
    const journal = this.#journal;
    continueIdsPastLogs(journal, this.#logs, log);
    // One lineage token per state directory: a later daemon finds what a crashed one left behind.
    const lineageToken = lineageTokenOf(home);
    this.#sup = new Supervisor({ lineageToken, ...options.supervisorOptions, nextId: () => journal.nextTaskId() });
    this.#progress = new ProgressJournal(options.progressJournalIntervalMs ?? 500, (id, attempt, progress) => {
      const at = Date.now();
      this.#journalWrite(() => journal.recordProgress(id, attempt, progress, at), {
        taskId: id,
        coalesce: `progress:${attempt}`,
      });
    });
    this.#sup.on('event', (event) => this.#onSupervisorEvent(event));
    const layout = this.#sup.containment.layout;
    this.recovery = recover({
      journal,
      start: (spec, id) => void this.#sup.start(spec, { id }),
      log,
      mark: new LineageMark(lineageToken),
      ...(layout ? { cgroups: { layout, token: lineageToken } } : {}),
    });
    // Then the dead daemon's cgroups go, once what recovery killed has left them (its guard may
    // still run, stopped, so the supervisor's own sweep of dead owners leaves them alone).
    if (layout && this.recovery.killedCgroups.length > 0)
      void sweepLeftovers(layout, lineageToken, 30_000).catch(() => {});
    this.#handlers = createHandlers(this.#handlerContext());
    this.#server = net.createServer({ allowHalfOpen: true }, (socket) => this.#onConnection(socket));
  }

  /** How task processes are held, in words (the start-up line). */
  get containment(): string {
    const { backend, limits } = this.#sup.containment;
    return backend === 'cgroup' ? 'a cgroup per task' : `process groups (no cgroup: ${limits.join('; ')})`;
  }

  get priorityMechanism(): string {
    return this.#sup.priorityMechanism;
  }

  get shuttingDown(): boolean {
    return this.#shutdown !== undefined;
  }

  /** Listens on the socket, created 0600 from the start (umask), never reachable by others. */
  async listen(): Promise<void> {
    await removeStaleSocket(this.#path, this.#home);
    const previousUmask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        this.#server.once('error', reject);
        this.#server.listen(this.#path, () => {
          this.#server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(previousUmask);
    }
    this.#listening = true;
    chmodSync(this.#path, 0o600);
    this.#server.on('error', (error) => this.#log(`socket server: ${error.message}`));
  }

  handleSignals(): void {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals += 1;
      if (signals === 1) {
        void this.shutdown(`${signal} received`);
        return;
      }
      // Asked again while stopping: do not wait for graceful cancels any longer.
      this.#log(`${signal} received again: killing every task now`);
      for (const task of this.#sup.list()) if (!isTerminalState(task.state)) this.#sup.kill(task.id);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    process.on('SIGHUP', () => {}); // a closed terminal must not take the daemon down
    void this.closed.then(() => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    });
  }

  shutdown(reason: string): Promise<void> {
    this.#shutdown ??= this.#doShutdown(reason);
    return this.#shutdown;
  }

  async #doShutdown(reason: string): Promise<void> {
    this.#log(`shutting down (${reason}): stopping every task`);
    try {
      const result = await this.#sup.shutdown();
      this.#log(
        `stopped: ${result.cancelled} cancelled, ${result.killed} killed, ${result.notStarted} never started, in ${Math.round(result.ms)} ms`,
      );
    } catch (error) {
      this.#log(`stopping tasks failed: ${String(error)}`);
    }
    this.#progress.flush();
    const lost = this.#writer.close();
    if (lost > 0) {
      const { cause, message } = this.#writer.health();
      this.#log(
        `${lost} journal write(s) could not be made before shutdown (${cause}: ${message}); the journal misses them, and the next daemon's recovery settles their tasks`,
      );
    }
    this.#logs.close();
    this.#journal.close();
    await this.#closeConnections();
    if (this.#listening) rmSync(this.#path, { force: true });
    this.#lock.release();
    this.#log('daemon stopped');
    this.#resolveClosed();
  }

  async #closeConnections(): Promise<void> {
    const serverClosed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const connection of this.#connections) connection.end();
    // A client that never closes its end must not keep the daemon alive.
    const timer = setTimeout(() => {
      for (const connection of this.#connections) connection.destroy();
    }, 500);
    if (this.#listening) await serverClosed;
    clearTimeout(timer);
  }

  // ---- connections and requests ---------------------------------------------------------------

  #onConnection(socket: net.Socket): void {
    const connection = new Connection(socket, this.#maxClientBuffer, {
      onRequest: (c, request) => this.#dispatch(c, request),
      onClose: (c) => {
        this.#connections.delete(c);
        this.#subscribers.delete(c);
      },
      log: this.#log,
    });
    this.#connections.add(connection);
  }

  /** Exactly one reply per request: ACK/WELCOME from the handler, ERROR from whatever it threw. */
  #dispatch(connection: Connection, request: Request): void {
    connection.beginRequest();
    const after: Array<() => void> = [];
    const reply = (message: object) => {
      connection.send(message);
      for (const fn of after) fn();
      connection.endRequest();
    };
    try {
      if (request.type !== 'HELLO' && !connection.hello) {
        throw new RequestError(
          'BAD_MESSAGE',
          `send HELLO with protocol version ${PROTOCOL_VERSION} before ${request.type}`,
        );
      }
      const result = this.#handlers[request.type](request as never, connection, (fn) => after.push(fn));
      if (result instanceof Promise) {
        result.then(
          (payload) => reply(this.#success(connection, request, payload)),
          (error: unknown) => reply(this.#failure(request, error)),
        );
      } else {
        reply(this.#success(connection, request, result));
      }
    } catch (error) {
      reply(this.#failure(request, error));
    }
  }

  #success(connection: Connection, request: Request, payload: ResponseOf<RequestType>): object {
    if (request.type === 'HELLO') return { type: 'WELCOME', id: request.id, ...payload };
    // Task values as this client reads them; then, for replies that carry many tasks, fitted to a line.
    const wire = wirePayload(payload, connection.values);
    return ack(request.id, FITTED_REPLIES.has(request.type) ? fitPayload(wire) : wire);
  }

  #failure(request: Request, error: unknown): object {
    if (error instanceof RequestError) return errorReply(request.id, error.code, error.message);
    const message = error instanceof Error ? error.message : String(error);
    this.#log(`handling ${request.type} failed: ${error instanceof Error && error.stack ? error.stack : message}`);
    return errorReply(request.id, 'INTERNAL', `handling ${request.type} failed: ${message}`);
  }

  #handlerContext(): HandlerContext {
    return {
      home: this.#home,
      sup: this.#sup,
      journal: this.#journal,
      logs: this.#logs,
      isShuttingDown: () => this.shuttingDown,
      health: () => this.#health(),
      retryJournal: () => {
        this.#writer.flush();
        return this.#writer.health();
      },
      recovered: () => this.recovery.interrupted,
      subscribe: (connection) => this.#subscribe(connection),
      unsubscribe: (connection) => this.#subscribers.delete(connection),
      shutdown: (reason) => void this.shutdown(reason),
      log: this.#log,
    };
  }

  #subscribe(connection: Connection): void {
    // SNAPSHOT right after the ACK, before any event: the client starts from a full picture.
    this.#subscribers.add(connection);
    const tasks = [...this.#sup.list(), ...this.recovery.interrupted.filter((t) => !this.#sup.get(t.id))];
    connection.send({ type: 'SNAPSHOT', tasks: fitTasks(tasks.map((task) => wireTask(task, connection.values))) });
  }

  // ---- supervisor events: the only writer of the journal; journal first, then broadcast -----------

  #onSupervisorEvent(event: SupervisorEvent): void {
    try {
      switch (event.type) {
        case 'created':
          return this.#onCreated(event.task);
        case 'state':
          return this.#onState(event);
        case 'spawned': {
          const { taskId, attempt, pid, startTime, at } = event;
          return this.#journalWrite(() => this.#journal.recordSpawn(taskId, attempt, pid, startTime, at), { taskId });
        }
        case 'progress':
          this.#progress.note(event.taskId, event.attempt, event.progress);
          return this.#broadcast({ type: 'TASK_PROGRESS', taskId: event.taskId, progress: event.progress });
        case 'stall':
          return this.#broadcast({ type: 'TASK_STALL', taskId: event.taskId, stall: event.stall });
        case 'log':
          this.#logs.append(event.log);
          return this.#broadcast({ type: 'TASK_LOG', log: event.log });
        case 'usage':
          return this.#broadcast({ type: 'TASK_USAGE', taskId: event.taskId, usage: event.usage });
      }
    } catch (error) {
      this.#log(
        `handling a supervisor ${event.type} event failed: ${error instanceof Error ? error.stack : String(error)}`,
      );
    }
  }

  /**
   * A new task, or one of the journal's run again under its id (TASK_RESTART of a task an earlier
   * daemon ran): then its recorded state is the one it leaves, for the journal and the clients.
   */
  #onCreated(task: TaskSnapshot): void {
    const recorded = task.attempt > 1 ? this.#journal.getTask(task.id)?.task.state : undefined;
    const at = Date.now();
    this.#journalWrite(() => this.#journal.recordTask(task, at), { taskId: task.id });
    this.#broadcast({ type: 'TASK_STATUS', task, ...(recorded ? { previous: recorded } : {}) });
  }

  #onState({ task, previous, endedAttempt }: Extract<SupervisorEvent, { type: 'state' }>): void {
    this.#progress.forget(task.id);
    const at = Date.now();
    this.#journalWrite(() => this.#journal.recordTransition(task, previous, at, endedAttempt), { taskId: task.id });
    if (isTerminalState(task.state)) this.#forgetFinishedWhenMany();
    this.#broadcast({ type: 'TASK_STATUS', task, previous });
    if (isTerminalState(task.state)) this.#broadcast({ type: 'TASK_COMPLETE', task });
  }

  #forgetFinishedWhenMany(): void {
    if (++this.#finishedSinceClear < MAX_FINISHED_IN_MEMORY) return;
    this.#finishedSinceClear = 0;
    // Not from inside the supervisor's own event dispatch.
    setImmediate(() => this.#sup.clearFinished());
  }

  /**
   * A journal write that fails for a reason that can pass (disk full) is held and retried, in
   * order with the writes after it; the daemon and its clients carry on (see journal-writer.ts).
   */
  #journalWrite(write: () => unknown, options: WriteOptions): void {
    this.#writer.write(write, options);
  }

  #health(): DaemonHealth {
    const logs = this.#logs.health();
    return {
      journal: this.#writer.health(),
      logs: logs.writable
        ? { writable: true, droppedLines: 0 }
        : {
            writable: false,
            ...(logs.failingSince !== undefined ? { failingSince: logs.failingSince } : {}),
            ...(logs.error
              ? { cause: errorCode(logs.error).slice(0, 200), message: logs.error.message.slice(0, 2000) }
              : {}),
            droppedLines: logs.droppedLines,
          },
    };
  }

  /** Subscribers hear at once when journal or log writes start or stop failing. */
  #healthChanged(): void {
    this.#broadcast({ type: 'DAEMON_HEALTH', health: this.#health() });
  }

  /** Encoded once per value mode in use (plain, tagged), not once per client. */
  #broadcast(message: DaemonMessage): void {
    if (this.#subscribers.size === 0) return;
    const lines = new Map<ValueMode, string | undefined>();
    for (const connection of this.#subscribers) {
      if (!lines.has(connection.values))
        lines.set(connection.values, fitEvent(wireEvent(message, connection.values), this.#log));
      const line = lines.get(connection.values);
      if (line !== undefined) connection.sendLine(line);
    }
  }
}

/**
 * Logs of tasks the journal does not know (it was emptied, truncated or replaced
 * by an older copy): new ids continue past them, so a new task never takes an
 * old task's id and log. Said in the daemon log.
 */
function continueIdsPastLogs(journal: Journal, logs: LogStore, log: (message: string) => void): void {
  const logged = logs.highestTaskNumber();
  if (logged <= journal.lastTaskNumber) return;
  log(
    `${journal.path} knows no task id above ${journal.lastTaskNumber} but ${logs.dir} holds logs of task ${logged}: ` +
      `the journal was emptied or replaced; new task ids continue from ${logged + 1}`,
  );
  journal.continueTaskIdsAfter(logged);
}

/**
 * We hold the lock, so a socket file left behind belongs to a dead daemon.
 * Still, probe it first: a live daemon that lost its lock file must not lose its socket too.
 */
async function removeStaleSocket(path: string, home: string): Promise<void> {
  const answered = await new Promise<boolean>((resolve) => {
    const probe = net.createConnection(path);
    const done = (value: boolean) => {
      probe.destroy();
      resolve(value);
    };
    probe.once('connect', () => done(true));
    probe.once('error', () => done(false));
    probe.setTimeout(1000, () => done(false));
  });
  if (answered) throw new DaemonRunningError(undefined, home);
  rmSync(path, { force: true });
}

/** Timestamped lines on stderr (daemon.log for a background daemon) that survive a full disk. */
function stderrLog(): (message: string) => void {
  ignoreStdioErrors();
  return new DiagnosticLog().write;
}

function neverThrows(log: (message: string) => void): (message: string) => void {
  return (message) => {
    try {
      log(message);
    } catch {
      // a diagnostic must never take the daemon down
    }
  };
}

/** The lineage token of a state directory: the same for every daemon that serves it. */
function lineageTokenOf(home: string): string {
  return createHash('sha256').update(home).digest('hex').slice(0, 16);
}
