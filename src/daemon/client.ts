/**
 * DaemonClient: what front ends (CLI, terminal UI) use to talk to the daemon.
 *
 *   const client = await DaemonClient.connect({ home, clientName: 'taskwarden-tui/0.1.0' });
 *   const tasks = await client.subscribe();          // SNAPSHOT, then 'event' for each TASK_* event
 *   client.on('event', (event) => ...);              // TASK_STATUS, TASK_PROGRESS, TASK_COMPLETE, TASK_STALL, TASK_LOG, TASK_USAGE, DAEMON_HEALTH
 *   const { task } = await client.request('TASK_REQUEST', { spec });
 *   client.on('close', (error) => ...);              // error undefined after close(), an Error when the daemon went away or dropped us
 *
 * request(type, payload) resolves with ResponseOf<type>, checked against the schemas of
 * protocol/replies.ts: TASK_REQUEST -> { task }; TASK_CANCEL, TASK_KILL, TASK_RESTART -> { task, previous };
 * STOP_ALL -> { result: { cancelled, killed, notStarted, finished, ms } } (once every process is reaped);
 * LIST -> { tasks }; GET -> { task, attempts, transitions }; HISTORY -> { tasks };
 * LOGS -> { attempt, lines, truncated? }; SUBSCRIBE, UNSUBSCRIBE, SHUTDOWN -> {}.
 *
 * client.welcome.health: whether the journal and the task logs can be written (absent from an
 * older daemon); DAEMON_HEALTH events bring its changes to subscribers.
 *
 * Task values: a task's input and result are what the task module got and returned, Maps, Dates,
 * BigInts, typed arrays and all (structured-clone types): the client asks for the tagged encoding
 * of protocol/values.ts in HELLO, encodes TASK_REQUEST's spec.input and decodes every task, task
 * list and attempt it receives. With a daemon older than that (welcome.values undefined) values are
 * plain JSON both ways, as JSON.stringify writes them. `values: 'plain'` asks for plain JSON.
 *
 * Notes on the contract (as built):
 * - connect() with autostart false and no daemon rejects with a plain Error whose
 *   code is 'NO_DAEMON' (not a DaemonError: no daemon, so no protocol error code).
 * - Every state change arrives as TASK_STATUS (with `previous`); a change to a
 *   terminal state is followed by a TASK_COMPLETE with the same snapshot. A task
 *   created by TASK_REQUEST is announced by a TASK_STATUS without `previous`.
 * - SNAPSHOT is not emitted as an 'event': subscribe() resolves with its tasks.
 *   The snapshot includes tasks this daemon's recovery marked 'interrupted'.
 * - A message from the daemon that fails validation rejects the request it
 *   answers (code BAD_MESSAGE); so does an ACK whose payload is not what its
 *   request is answered with (protocol/replies.ts). An invalid event is dropped.
 */
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import {
  LineDecoder,
  PROTOCOL_VERSION,
  TAGGED_VALUES,
  encodeMessage,
  parseDaemonMessage,
  parseReply,
  type DaemonEvent,
  type ContainmentInfo,
  type DaemonHealth,
  type DaemonMessage,
  type ErrorCode,
  type PayloadArgs,
  type RequestType,
  type ResponseOf,
} from '../protocol/index.js';
import type { RecordedTask } from '../journal/recorded-state.js';
import { startBackgroundDaemon } from './background.js';
import { resolveHome, socketPath } from './home.js';
import { checkSocketOwner, connectSocket, isNoDaemon } from './daemon-socket.js';
import { decodeTaskValues, encodeRequestValues } from './client-values.js';

export interface ClientOptions {
  /** State directory (as --home); default $TASKWARDEN_HOME, $XDG_STATE_HOME/taskwarden, ~/.local/state/taskwarden. */
  home?: string;
  /** Start a background daemon when none serves home. Default true. */
  autostart?: boolean;
  /** Shown in the daemon's log, e.g. 'taskwarden-cli/0.1.0'. */
  clientName?: string;
  /** For connecting and the HELLO exchange. Default 5000 ms (an autostart gets at least 15 s). */
  connectTimeoutMs?: number;
  /**
   * How task inputs and results travel: 'tagged' (the default) keeps Maps, Dates, BigInts, typed
   * arrays, undefined, NaN, ... (see protocol/values.ts); 'plain' is JSON as JSON.stringify writes it.
   */
  values?: 'tagged' | 'plain';
}

export class DaemonError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** The request type that got this error. */
    readonly requestType?: string,
  ) {
    super(message);
    this.name = 'DaemonError';
  }
}

export interface Welcome {
  version: number;
  daemonPid: number;
  home: string;
  /** Absent from a daemon older than this field. */
  health?: DaemonHealth;
  /** How the daemon holds task processes; absent from a daemon older than this field. */
  containment?: ContainmentInfo;
  /** 'tagged' when task values travel in the tagged encoding (the daemon agreed), else absent. */
  values?: 'tagged';
}

interface Pending {
  type: RequestType;
  /** With the reply checked against `type`'s schema (protocol/replies.ts) and its task values decoded. */
  resolve(reply: unknown): void;
  reject(error: Error): void;
}

interface SnapshotWaiter {
  resolve(tasks: RecordedTask[]): void;
  reject(error: Error): void;
}

const DEFAULT_CLIENT_NAME = 'taskwarden-client';

export class DaemonClient extends EventEmitter<{ event: [DaemonEvent]; close: [Error | undefined] }> {
  /** Connects (starting a daemon if none runs and autostart is on) and exchanges HELLO/WELCOME. */
  static async connect(options: ClientOptions = {}): Promise<DaemonClient> {
    const home = resolveHome({ home: options.home });
    const path = socketPath(home);
    const timeoutMs = options.connectTimeoutMs ?? 5000;
    try {
      return await DaemonClient.#open(path, options, timeoutMs);
    } catch (error) {
      if (!isNoDaemon(error)) throw error;
      if (options.autostart === false) {
        throw Object.assign(
          new Error(`no taskwarden daemon serves ${home}: start one with "taskwarden daemon --home ${home}"`),
          { code: 'NO_DAEMON' },
        );
      }
    }
    const probe = () =>
      DaemonClient.#open(path, { ...options, clientName: 'taskwarden-probe' }, timeoutMs).then(
        (c) => (c.close(), true),
        () => false,
      );
    const started = await startBackgroundDaemon({ home, probe, timeoutMs: Math.max(timeoutMs, 15_000) });
    const client = await DaemonClient.#open(path, options, timeoutMs);
    // pid undefined: another front end's daemon won the race; this one started nothing that runs.
    if (started.pid !== undefined && started.pid === client.welcome.daemonPid)
      client.#autostarted = { pid: started.pid, home };
    return client;
  }

  static async #open(path: string, options: ClientOptions, timeoutMs: number): Promise<DaemonClient> {
    checkSocketOwner(path);
    const socket = await connectSocket(path, timeoutMs);
    const client = new DaemonClient(socket);
    const timer = setTimeout(
      () => client.#closeWith(new Error(`the daemon at ${path} did not answer HELLO within ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      const tagged = (options.values ?? 'tagged') === 'tagged';
      const welcome = await client.request('HELLO', {
        version: PROTOCOL_VERSION,
        client: options.clientName ?? DEFAULT_CLIENT_NAME,
        ...(tagged ? { values: TAGGED_VALUES } : {}),
      });
      client.#welcome = {
        version: welcome.version,
        daemonPid: welcome.daemonPid,
        home: welcome.home,
        ...(welcome.health ? { health: welcome.health } : {}),
        ...(welcome.containment ? { containment: welcome.containment } : {}),
        ...(tagged && welcome.values === TAGGED_VALUES ? { values: TAGGED_VALUES } : {}),
      };
      return client;
    } catch (error) {
      client.close();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  readonly #socket: net.Socket;
  readonly #decoder = new LineDecoder();
  readonly #pending = new Map<number, Pending>();
  readonly #snapshotWaiters: SnapshotWaiter[] = [];
  #nextId = 0;
  #closed = false;
  #welcome: Welcome | undefined;
  #autostarted: { pid: number; home: string } | undefined;

  private constructor(socket: net.Socket) {
    super();
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (error) =>
      this.#closeWith(new Error(`connection to the taskwarden daemon failed: ${error.message}`)),
    );
    socket.on('close', () => this.#closeWith(new Error('the taskwarden daemon closed the connection')));
  }

  get welcome(): Welcome {
    if (!this.#welcome) throw new Error('not connected: use DaemonClient.connect()');
    return this.#welcome;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Set when connect() started the daemon this client talks to (autostart): its pid and state directory. */
  get autostarted(): { pid: number; home: string } | undefined {
    return this.#autostarted;
  }

  /** Whether task values travel in the tagged encoding on this connection (the daemon agreed in WELCOME). */
  get #tagged(): boolean {
    return this.#welcome?.values === TAGGED_VALUES;
  }

  /**
   * Sends a request; resolves with the ACK's payload, checked against what `type` is answered with
   * (protocol/replies.ts: ResponseOf). Rejects with a DaemonError on ERROR and on a reply that does
   * not have that shape (code BAD_MESSAGE, naming the field), or an Error when the connection closes.
   */
  request<T extends RequestType>(type: T, ...[payload]: PayloadArgs<T>): Promise<ResponseOf<T>> {
    if (this.#closed) return Promise.reject(new Error(`cannot send ${type}: the connection to the daemon is closed`));
    const id = ++this.#nextId;
    return new Promise<ResponseOf<T>>((resolve, reject) => {
      this.#pending.set(id, { type, resolve: resolve, reject });
      try {
        this.#socket.write(encodeMessage({ ...encodeRequestValues(type, payload ?? {}, this.#tagged), type, id }));
      } catch (error) {
        this.#pending.delete(id);
        reject(error);
      }
    });
  }

  /** Subscribes to events: resolves with the SNAPSHOT's tasks; 'event' fires for every TASK_* event after it. */
  async subscribe(): Promise<RecordedTask[]> {
    const snapshot = new Promise<RecordedTask[]>((resolve, reject) => this.#snapshotWaiters.push({ resolve, reject }));
    snapshot.catch(() => {}); // rejected with the request below if that fails
    try {
      await this.request('SUBSCRIBE');
    } catch (error) {
      this.#snapshotWaiters.pop();
      throw error;
    }
    return snapshot;
  }

  close(): void {
    this.#closeWith(undefined);
  }

  #closeWith(error: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
    const reason = error ?? new Error('the connection to the daemon was closed');
    for (const pending of [...this.#pending.values(), ...this.#snapshotWaiters]) pending.reject(reason);
    this.#pending.clear();
    this.#snapshotWaiters.length = 0;
    this.emit('close', error);
  }

  #onData(chunk: Buffer): void {
    for (const item of this.#decoder.push(chunk)) {
      if (this.#closed) return;
      if (item.kind === 'line') this.#onLine(item.line);
    }
  }

  #onLine(line: string): void {
    const parsed = parseDaemonMessage(line);
    if (!parsed.ok) {
      const { id, code, message } = parsed.error;
      if (typeof id === 'number')
        this.#settle(id, undefined, new DaemonError(code, `invalid reply from the daemon: ${message}`));
      return;
    }
    this.#onMessage(parsed.message);
  }

  #onMessage(message: DaemonMessage): void {
    switch (message.type) {
      case 'WELCOME':
      case 'ACK': {
        const { type, id, ...payload } = message;
        if (typeof id === 'number') this.#onReply(id, type, payload);
        return;
      }
      case 'ERROR':
        // id null: a line the daemon could not read (e.g. over the size limit); no request to answer.
        if (typeof message.id === 'number')
          this.#settle(
            message.id,
            undefined,
            new DaemonError(message.code, message.message, this.#pending.get(message.id)?.type),
          );
        return;
      case 'SNAPSHOT': {
        const waiter = this.#snapshotWaiters.shift();
        try {
          waiter?.resolve(decodeTaskValues({ tasks: message.tasks }, this.#tagged).tasks);
        } catch (error) {
          waiter?.reject(
            new DaemonError('BAD_MESSAGE', `invalid SNAPSHOT from the daemon: ${(error as Error).message}`),
          );
        }
        return;
      }
      case 'TASK_STATUS':
      case 'TASK_COMPLETE': {
        let decoded: typeof message;
        try {
          decoded = decodeTaskValues(message, this.#tagged);
        } catch {
          return; // an event that cannot be read is dropped, as an invalid one is
        }
        this.emit('event', decoded);
        return;
      }
      default:
        this.emit('event', message);
    }
  }

  /** An ACK or WELCOME: checked against what its request is answered with, then its task values decoded. */
  #onReply(id: number, type: 'ACK' | 'WELCOME', payload: object): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    const invalid = (message: string) =>
      this.#settle(
        id,
        undefined,
        new DaemonError('BAD_MESSAGE', `invalid reply from the daemon to ${pending.type}: ${message}`, pending.type),
      );
    if ((type === 'WELCOME') !== (pending.type === 'HELLO'))
      return invalid(`expected ${pending.type === 'HELLO' ? 'WELCOME' : 'ACK'}, got ${type}`);
    const checked = parseReply(pending.type, payload, id);
    if (!checked.ok) return invalid(checked.error.message);
    let decoded: object;
    try {
      decoded = decodeTaskValues(checked.reply, this.#tagged);
    } catch (error) {
      return invalid((error as Error).message);
    }
    this.#settle(id, decoded);
  }

  #settle(id: number, reply: unknown, error?: Error): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    if (error) pending.reject(error);
    else pending.resolve(reply);
  }
}
