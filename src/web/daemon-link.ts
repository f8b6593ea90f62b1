/**
 * The web server's one connection to the daemon: an ordinary protocol client (DaemonClient, as the
 * CLI and the terminal UI use), so every button on the page is a protocol request handled by the
 * daemon's own handlers. It subscribes, keeps a mirror of the tasks (the snapshot a newly opened
 * page starts from) and passes every event to the pages. When the daemon goes away it says so to
 * the pages at once and tries again every RETRY_MS; once a daemon answers, the pages get its fresh
 * snapshot and carry on.
 */
import { DaemonClient } from '../daemon/client.js';
import type { DaemonEvent, RequestType } from '../protocol/index.js';
import type { RecordedTask } from '../journal/recorded-state.js';
import { encodeReply, TaskMirror, type Backend, type BackendState } from './backend.js';
import type { EventHub } from './event-hub.js';

const RETRY_MS = 250;

export class DaemonDownError extends Error {
  readonly code = 'DAEMON_DOWN';
  constructor(state: BackendState) {
    super(
      `the taskwarden daemon for ${state.home} is not running (since ${new Date(state.since).toISOString()}${state.reason ? `: ${state.reason}` : ''}); ` +
        'start it with the page\'s "Start the daemon" button or "taskwarden daemon", then try again',
    );
    this.name = 'DaemonDownError';
  }
}

export interface DaemonLinkOptions {
  home: string;
  hub: EventHub;
  clientName: string;
  log: (line: string) => void;
}

export class DaemonLink implements Backend {
  readonly #options: DaemonLinkOptions;
  readonly #mirror: TaskMirror;
  #client: DaemonClient | undefined;
  #state: BackendState;
  #retry: NodeJS.Timeout | undefined;
  #connecting: Promise<void> | undefined;
  #closed = false;

  constructor(options: DaemonLinkOptions) {
    this.#options = options;
    this.#mirror = new TaskMirror(options.hub);
    this.#state = this.#downState('not connected yet', Date.now());
  }

  get state(): BackendState {
    return this.#state;
  }

  /** Connects now (starting a daemon when `autostart`); when that fails, keeps trying without starting one. */
  connect(autostart: boolean): Promise<void> {
    this.#connecting ??= this.#connect(autostart).finally(() => (this.#connecting = undefined));
    return this.#connecting;
  }

  /** What a page that starts from nothing is sent first. */
  snapshot(): object {
    return this.#mirror.snapshot(this.#state);
  }

  /**
   * One protocol request, answered by the daemon's handlers; resolves with the ACK's payload (task
   * values in tagged JSON) and `seq`, the id of the last event the pages were sent before the ACK:
   * what the reply shows includes every event up to it, and none after.
   */
  async request(type: RequestType, payload: object = {}): Promise<{ payload: Record<string, unknown>; seq: number }> {
    const client = this.#client;
    if (!client || client.closed) throw new DaemonDownError(this.#state);
    const reply = await client.request(type, payload);
    // Read here, one microtask after the ACK was read: events that followed it on the socket are
    // still queued (#onEvent defers each by a microtask), events before it are published.
    const seq = this.#mirror.seq;
    return { payload: encodeReply(reply), seq };
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#client?.close();
  }

  async #connect(autostart: boolean): Promise<void> {
    if (this.#closed || this.#state.up) return;
    clearTimeout(this.#retry);
    let client: DaemonClient;
    try {
      client = await DaemonClient.connect({
        home: this.#options.home,
        autostart,
        clientName: this.#options.clientName,
      });
    } catch (error) {
      this.#down(error instanceof Error ? error.message : String(error), false);
      return;
    }
    if (this.#closed) {
      client.close();
      return;
    }
    if (client.autostarted)
      this.#options.log(
        `started a daemon (pid ${client.autostarted.pid}) for ${client.autostarted.home}; it keeps running for its tasks ("taskwarden shutdown" stops it)`,
      );
    // Events that arrive before the snapshot is in wait for it (the daemon sends SNAPSHOT first, but
    // subscribe() resolves a microtask after the lines that follow it in the same read).
    let early: DaemonEvent[] | undefined = [];
    client.on('event', (event) => (early ? early.push(event) : queueMicrotask(() => this.#onEvent(event))));
    client.on('close', (error) => {
      if (this.#client === client) this.#down(error?.message ?? 'the connection was closed', true);
    });
    let tasks: RecordedTask[];
    try {
      tasks = await client.subscribe();
    } catch (error) {
      client.close();
      this.#down(error instanceof Error ? error.message : String(error), false);
      return;
    }
    this.#client = client;
    const { daemonPid, health } = client.welcome;
    this.#state = {
      kind: 'daemon',
      up: true,
      home: this.#options.home,
      pid: daemonPid,
      since: Date.now(),
      pause: true,
      ...(health ? { health } : {}),
    };
    this.#mirror.reset(tasks, this.#state);
    const queued = early;
    early = undefined;
    for (const event of queued) this.#onEvent(event);
  }

  #onEvent(event: DaemonEvent): void {
    if (this.#closed || event.type === 'SNAPSHOT') return;
    if (event.type === 'DAEMON_HEALTH') {
      this.#state = { ...this.#state, health: event.health };
      this.#mirror.publish(event);
      return;
    }
    this.#mirror.apply(event);
  }

  /** The daemon is gone (or never answered): tell the pages once, then keep trying. */
  #down(reason: string, wasUp: boolean): void {
    if (this.#closed) return;
    const client = this.#client;
    this.#client = undefined;
    client?.close();
    if (wasUp || this.#state.reason !== reason || this.#state.up) {
      this.#state = this.#downState(reason, wasUp || this.#state.up ? Date.now() : this.#state.since);
      this.#mirror.publish({ type: 'DAEMON_STATE', daemon: this.#state });
    }
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => void this.connect(false), RETRY_MS);
    this.#retry.unref();
  }

  #downState(reason: string, since: number): BackendState {
    return { kind: 'daemon', up: false, home: this.#options.home, since, reason, pause: true };
  }
}
