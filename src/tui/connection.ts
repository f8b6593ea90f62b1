/**
 * The UI's one connection to the daemon: reaching it (starting a daemon only when none runs),
 * subscribing, holding back the events that arrive before the task list, and noticing it go away.
 * What the screen makes of that (status lines, keys kept for later, quitting) is connection-view.ts's.
 */
import type { DaemonEvent, RequestType } from '../protocol/messages.js';
import type { PayloadArgs, ResponseOf } from '../protocol/replies.js';
import type { RecordedTask } from '../journal/recorded-state.js';
import { errorText, type ConnectFn, type TuiClient } from './client.js';

/** 'starting': this UI is starting a daemon (the connection attempt that spawns it is under way). */
export type DaemonPhase = 'down' | 'connecting' | 'starting' | 'up';

export interface ConnectionHandlers {
  /** A connection attempt began: to a running daemon, or one that starts a daemon (after finding none). */
  onConnecting(how: 'connecting' | 'starting' | 'starting-none-ran'): void;
  /** Subscribed: the daemon's tasks, before any event (events that came earlier follow, in order). */
  onTasks(client: TuiClient, tasks: RecordedTask[]): void;
  onEvent(event: DaemonEvent): void;
  /** The open connection ended without close(): the daemon died or the socket broke. */
  onLost(reason: string): void;
}

export type OpenResult =
  | { kind: 'up'; client: TuiClient; tasks: RecordedTask[] }
  /** Could not connect or subscribe. */
  | { kind: 'failed'; error: unknown }
  /** Connected, and lost again before the task list was in (onLost has been called). */
  | { kind: 'lost' }
  /** Another attempt is under way, or the connection was abandoned (the UI is leaving). */
  | { kind: 'busy' }
  | { kind: 'abandoned' };

export class Connection {
  readonly #connect: ConnectFn;
  readonly #handlers: ConnectionHandlers;
  #client: TuiClient | undefined;
  #phase: DaemonPhase = 'down';
  #startedDaemon = false;
  #abandoned = false;

  constructor(connect: ConnectFn, handlers: ConnectionHandlers) {
    this.#connect = connect;
    this.#handlers = handlers;
  }

  /** The open connection, if any. */
  get client(): TuiClient | undefined {
    return this.#client && !this.#client.closed ? this.#client : undefined;
  }

  get phase(): DaemonPhase {
    return this.#phase;
  }

  /** Whether a connection attempt (to a running daemon, or one that starts a daemon) is under way. */
  get reaching(): boolean {
    return this.#phase === 'connecting' || this.#phase === 'starting';
  }

  /** Whether this UI started the daemon it is (or was last) connected to. */
  get startedDaemon(): boolean {
    return this.#startedDaemon;
  }

  /**
   * Connects and subscribes. With `autostart` a daemon is started if none runs; without it one is
   * started only when the first try finds no daemon at all (any other failure is a real problem).
   */
  async open(autostart: boolean): Promise<OpenResult> {
    if (this.reaching || this.#abandoned) return { kind: 'busy' };
    let client: TuiClient;
    try {
      client = await this.#reach(autostart);
    } catch (error) {
      this.#phase = this.#client ? 'up' : 'down';
      return this.#abandoned ? { kind: 'abandoned' } : { kind: 'failed', error };
    }
    if (this.#abandoned) {
      this.#phase = 'down';
      client.close();
      return { kind: 'abandoned' };
    }
    try {
      return await this.#attach(client);
    } catch (error) {
      this.#phase = 'down';
      return { kind: 'failed', error };
    }
  }

  async #reach(autostart: boolean): Promise<TuiClient> {
    this.#phase = autostart ? 'starting' : 'connecting';
    this.#handlers.onConnecting(autostart ? 'starting' : 'connecting');
    try {
      const client = await this.#connect({ autostart });
      // A client without a daemon's welcome (a cluster) started nothing.
      if (autostart && client.welcome) this.#startedDaemon = true;
      return client;
    } catch (first) {
      const code = (first as { code?: unknown }).code;
      if (autostart || (code !== undefined && code !== 'NO_DAEMON') || this.#abandoned) throw first;
    }
    this.#phase = 'starting';
    this.#handlers.onConnecting('starting-none-ran');
    const client = await this.#connect({ autostart: true });
    if (client.welcome) this.#startedDaemon = true;
    return client;
  }

  async #attach(client: TuiClient): Promise<OpenResult> {
    let ready = false;
    const early: DaemonEvent[] = [];
    client.onEvent((event) => {
      if (client !== this.#client) return;
      if (!ready) early.push(event);
      else this.#handlers.onEvent(event);
    });
    client.onClose((error) => this.#closed(client, error));
    this.#client = client;
    const tasks = await client.subscribe();
    if (client !== this.#client) return { kind: 'lost' };
    this.#phase = 'up';
    this.#handlers.onTasks(client, tasks);
    ready = true;
    for (const event of early) this.#handlers.onEvent(event);
    return { kind: 'up', client, tasks };
  }

  #closed(client: TuiClient, error: Error | undefined): void {
    if (client !== this.#client) return;
    this.#client = undefined;
    this.#phase = 'down';
    if (this.#abandoned) return;
    this.#handlers.onLost(error ? errorText(error) : 'connection closed');
  }

  async request<T extends RequestType>(type: T, ...payload: PayloadArgs<T>): Promise<ResponseOf<T>> {
    const client = this.client;
    if (!client) throw new Error('not connected to the daemon');
    return client.request(type, ...payload);
  }

  /**
   * The UI is leaving: an attempt under way is closed when it lands, no daemon is started after
   * this, and the connection's end is nobody's news. The open connection stays for the caller.
   */
  abandon(): void {
    this.#abandoned = true;
  }
}
