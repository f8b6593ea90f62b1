/**
 * The page's one connection to the server: the event stream (Server-Sent Events), resumed from the
 * last event id after a dropped connection; when the server closed it for good, the banner says
 * why (a restarted server's token, a server gone) before it tries again.
 */
import type { PageMessage } from './model.js';

export interface EventStreamHandlers {
  /** One message; `seq` is its event number (TASK_LOG lines are placed by it). */
  message(message: PageMessage, seq: number): void;
  /** The connection's trouble in words, or undefined when it is up. */
  banner(text: string | undefined): void;
}

const RETRY_MS = 1000;

export class EventStream {
  /** Messages received so far (the benchmark reads it). */
  received = 0;
  readonly #handlers: EventStreamHandlers;
  #lastEventId: string | undefined;

  constructor(handlers: EventStreamHandlers) {
    this.#handlers = handlers;
  }

  connect(): void {
    const url = this.#lastEventId ? `/api/events?lastEventId=${encodeURIComponent(this.#lastEventId)}` : '/api/events';
    const source = new EventSource(url);
    source.onopen = () => this.#handlers.banner(undefined);
    source.onmessage = (event) => {
      this.#lastEventId = event.lastEventId || this.#lastEventId;
      // One SSE message per server turn: an array whose last element is number lastEventId.
      const messages = JSON.parse(event.data as string) as PageMessage[];
      const first = seqOf(event.lastEventId) - messages.length + 1;
      this.received += messages.length;
      for (let i = 0; i < messages.length; i++) this.#handlers.message(messages[i], first + i);
    };
    source.onerror = () => {
      if (source.readyState === EventSource.CONNECTING) {
        this.#handlers.banner('Lost the connection to the web server: reconnecting…');
        return;
      }
      // Closed for good (the server answered with an error): find out why, then try again.
      source.close();
      void this.#whyClosed();
    };
  }

  async #whyClosed(): Promise<void> {
    try {
      const response = await fetch('/api/session');
      if (response.status === 401) {
        this.#handlers.banner(
          'This page\'s access token is no longer valid (the web server was restarted): open the address "taskwarden web" printed.',
        );
        return;
      }
      this.#handlers.banner('The event stream was refused: reconnecting…');
    } catch {
      this.#handlers.banner('The web server is not answering ("taskwarden web" stopped?): reconnecting…');
    }
    setTimeout(() => this.connect(), RETRY_MS);
  }
}

function seqOf(lastEventId: string): number {
  const seq = Number(lastEventId.split('-')[1]);
  return Number.isFinite(seq) ? seq : 0;
}
