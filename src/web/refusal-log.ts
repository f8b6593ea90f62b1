/**
 * The web server's log of refused requests: what was asked, from which Origin and Host, and why, at
 * most REFUSALS_LOGGED a minute, so that a hostile page that sends requests in a loop cannot flood
 * the log; how many more were refused is said when the minute is over.
 */
import type { IncomingMessage } from 'node:http';
import type { Refusal } from './security.js';

const REFUSALS_LOGGED = 20;
const WINDOW_MS = 60_000;

export class RefusalLog {
  readonly #log: (line: string) => void;
  #window = { start: 0, logged: 0, dropped: 0 };

  constructor(log: (line: string) => void) {
    this.#log = log;
  }

  record(request: IncomingMessage, refusal: Refusal): void {
    const now = Date.now();
    if (now - this.#window.start > WINDOW_MS) {
      if (this.#window.dropped > 0) this.#log(`${this.#window.dropped} more request(s) refused in the last minute`);
      this.#window = { start: now, logged: 0, dropped: 0 };
    }
    if (this.#window.logged++ >= REFUSALS_LOGGED) {
      this.#window.dropped += 1;
      return;
    }
    const from = `Origin ${request.headers.origin ?? '(none)'}, Host ${String(request.headers.host ?? '(none)').slice(0, 100)}`;
    this.#log(
      `refused ${request.method} ${(request.url ?? '').split('?')[0]!.slice(0, 100)} (${from}): ${refusal.code}`,
    );
  }
}
