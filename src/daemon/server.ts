/**
 * The taskwarden daemon: one Supervisor, one journal, one Unix socket.
 *
 * Front ends (CLI, terminal UI) connect to `<home>/daemon.sock` and speak the
 * protocol of src/protocol: HELLO first, then requests, each answered by
 * exactly one ACK or ERROR; subscribers also get every task event. The work
 * lives here, so a front end can freeze, crash or go away without touching a
 * task, and a task can spin forever without freezing a front end.
 *
 * This file holds the daemon's lifecycle (start, listen, signals, shutdown)
 * and its connections (one reply per request). The supervisor's events are
 * recorded by event-recorder.ts, the journal's only writer: journal commit,
 * then broadcast to the subscribers (subscribers.ts). While the journal
 * cannot be written (disk full), new work is refused (handlers.ts).
 */
import { chmodSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { Journal, LogStore, type LogStoreOptions } from '../journal/index.js';
import { LineageMark } from '../process/lineage.js';
import { sweepLeftovers } from '../process/cgroup/owner.js';
import { MAX_TIMER_MS, MAX_TIMER_TEXT } from '../supervisor/limits.js';
import type { SupervisorOptions } from '../supervisor/options.js';
import { Supervisor } from '../supervisor/supervisor.js';
import { isTerminalState } from '../supervisor/types.js';
import { Connection } from './connection.js';
import { diagnosticLog, errorCode } from './diagnostics.js';
import { createHandlers, type HandlerContext, type Handlers } from './handlers.js';
import { resolveHome, socketPath } from './home.js';
import { DaemonRunningError, acquireLock, type DaemonLock } from './lock.js';
import { dispatchRequest } from './request-dispatch.js';
import { EventRecorder } from './event-recorder.js';
import { Subscribers } from './subscribers.js';
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
  const log = diagnosticLog(options.log);
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
  readonly #logs: LogStore;
  readonly #sup: Supervisor;
  readonly #recorder: EventRecorder;
  readonly #subscribers: Subscribers;
  readonly #handlers: Handlers;
  readonly #server: net.Server;
  readonly #maxClientBuffer: number;
  readonly #connections = new Set<Connection>();
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
    this.#subscribers = new Subscribers(log);
    this.#logs = new LogStore(home, {
      onError: (error) => {
        log(`task logs: writes failing, their lines are dropped until writing works again: ${error.message}`);
        this.#recorder.healthChanged();
      },
      onRecover: ({ since, droppedLines, error }) => {
        log(
          `task logs: writable again; ${droppedLines} line(s) dropped since ${new Date(since).toISOString()} (${errorCode(error)})`,
        );
        this.#recorder.healthChanged();
      },
      ...options.logStoreOptions,
    });
    const journal = this.#journal;
    continueIdsPastLogs(journal, this.#logs, log);
    // One lineage token per state directory: a later daemon finds what a crashed one left behind.
    const lineageToken = lineageTokenOf(home);
    this.#sup = new Supervisor({ lineageToken, ...options.supervisorOptions, nextId: () => journal.nextTaskId() });
    const sup = this.#sup;
    this.#recorder = new EventRecorder({
      journal,
      logs: this.#logs,
      broadcast: (message) => this.#subscribers.broadcast(message),
      clearFinished: () => sup.clearFinished(),
      log,
      progressJournalIntervalMs: options.progressJournalIntervalMs,
      journalRetryMs: options.journalRetryMs,
    });
    this.#sup.on('event', (event) => this.#recorder.record(event));
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
    this.#recorder.close();
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
      onRequest: (c, request) => dispatchRequest(c, request, this.#handlers, this.#log),
      onClose: (c) => {
        this.#connections.delete(c);
        this.#subscribers.delete(c);
      },
      log: this.#log,
    });
    this.#connections.add(connection);
  }

  #handlerContext(): HandlerContext {
    return {
      home: this.#home,
      sup: this.#sup,
      journal: this.#journal,
      logs: this.#logs,
      isShuttingDown: () => this.shuttingDown,
      health: () => this.#recorder.health(),
      retryJournal: () => this.#recorder.retryJournal(),
      recovered: () => this.recovery.interrupted,
      subscribe: (connection) => this.#subscribe(connection),
      unsubscribe: (connection) => this.#subscribers.delete(connection),
      shutdown: (reason) => void this.shutdown(reason),
      log: this.#log,
    };
  }

  /** The supervisor's tasks and those this daemon's recovery interrupted. */
  #subscribe(connection: Connection): void {
    const tasks = [...this.#sup.list(), ...this.recovery.interrupted.filter((t) => !this.#sup.get(t.id))];
    this.#subscribers.add(connection, tasks);
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

/** The lineage token of a state directory: the same for every daemon that serves it. */
function lineageTokenOf(home: string): string {
  return createHash('sha256').update(home).digest('hex').slice(0, 16);
}
