/**
 * What the UI needs from a daemon connection: the subset of src/daemon/client.ts's DaemonClient
 * it uses, so components and the controller can be tested against a fake, and so the UI keeps
 * working (with a message) when the daemon goes away. A cluster's ClusterClient is one too, through
 * cluster-client.ts: the same UI over every agent's tasks.
 */
import type { DaemonEvent, DaemonHealth, RequestType } from '../protocol/messages.js';
import type { PayloadArgs, ResponseOf } from '../protocol/replies.js';
import type { RecordedTask } from '../journal/recorded-state.js';

/** What a DaemonClient and a ClusterClient both have: a subscription to task events, and an end. */
interface EventedClient {
  subscribe(): Promise<RecordedTask[]>;
  on(name: 'event', listener: (event: DaemonEvent) => void): unknown;
  on(name: 'close', listener: (error: Error | undefined) => void): unknown;
  close(): void;
  readonly closed: boolean;
}

export interface TuiClient {
  /**
   * The daemon's greeting; absent for a cluster, which has no one daemon (nor one state directory).
   * health: whether the daemon can write its journal and task logs (absent from an older daemon).
   */
  readonly welcome?: { version: number; daemonPid: number; home: string; health?: DaemonHealth };
  /** Resolves with the ACK payload, checked against its type's schema; rejects with an Error (a DaemonError carries `code`). */
  request<T extends RequestType>(type: T, ...payload: PayloadArgs<T>): Promise<ResponseOf<T>>;
  /** Resolves with the SNAPSHOT's tasks; afterwards every TASK_* event arrives through onEvent. */
  subscribe(): Promise<RecordedTask[]>;
  onEvent(listener: (event: DaemonEvent) => void): void;
  /** Called once when the connection ends: `error` when it was lost, undefined after close(). */
  onClose(listener: (error: Error | undefined) => void): void;
  close(): void;
  readonly closed: boolean;
}

/** A client as the UI's: its own requests (and greeting), and the subscription and end every client has alike. */
export function tuiClientOf(client: EventedClient, own: Pick<TuiClient, 'request' | 'welcome'>): TuiClient {
  return {
    ...own,
    subscribe: () => client.subscribe(),
    onEvent: (listener) => void client.on('event', listener),
    onClose: (listener) => void client.on('close', listener),
    close: () => client.close(),
    get closed() {
      return client.closed;
    },
  };
}

export interface ConnectOptions {
  /** Start a background daemon when none runs. */
  autostart: boolean;
}

export type ConnectFn = (options: ConnectOptions) => Promise<TuiClient>;

/** "UNKNOWN_TASK: no task 7" for a DaemonError, the message otherwise. */
export function errorText(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}
