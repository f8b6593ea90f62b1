/**
 * Server-Sent Events for the web page: every message gets a sequence number, the last MAX_KEPT are
 * kept, and a page that reconnects with Last-Event-ID gets exactly the messages it missed; one
 * whose id is too old, or from another run of the server (another epoch), gets a fresh snapshot
 * instead. What a page is sent in one write (one event-loop turn, or MIN_FLUSH_INTERVAL_MS in a flood) goes as one SSE message, a JSON array, whose
 * id (`<epoch>-<seq>`) is the sequence number of its last element (the elements before it are
 * numbered down from there): 500 tasks at 10 Hz are then a few dozen messages a second for the
 * browser to dispatch, not thousands. A page that stops reading is dropped once MAX_UNREAD_BYTES
 * wait for it: its browser reconnects and catches up, and nobody else waits for it.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';

/** Messages kept for resumption (about a second of 500 tasks at 10 Hz, plus their snapshots). */
const MAX_KEPT = 20_000;
const MAX_KEPT_BYTES = 32 * 1024 * 1024;
const MAX_UNREAD_BYTES = 8 * 1024 * 1024;
/** A comment line now and then keeps proxies and SSH tunnels from closing an idle stream. */
const KEEPALIVE_MS = 15_000;
/** How long the browser waits before reconnecting. */
const RETRY_MS = 1000;
/**
 * Writes to the pages are at least this far apart: a lone event goes out at once, a flood goes out
 * in a few dozen messages a second (each SSE message costs the browser a task to dispatch).
 */
const MIN_FLUSH_INTERVAL_MS = 20;

interface Kept {
  seq: number;
  json: string;
}

/** A page's stream: the JSON of the messages not written yet, and the number of the last of them. */
interface Client {
  pending: string[];
  lastSeq: number;
}

export class EventHub {
  /** Changes each run: an id from an earlier run of the server cannot be resumed. */
  readonly epoch = randomBytes(4).toString('hex');
  readonly #kept: Kept[] = [];
  #keptHead = 0;
  #keptBytes = 0;
  #seq = 0;
  readonly #clients = new Map<ServerResponse, Client>();
  #flushScheduled = false;
  #lastFlush = -Infinity;
  readonly #keepalive: NodeJS.Timeout;

  constructor() {
    this.#keepalive = setInterval(() => {
      for (const response of this.#clients.keys()) response.write(': keepalive\n\n');
    }, KEEPALIVE_MS);
    this.#keepalive.unref();
  }

  /** The number of the last message published: what a reply's `seq` refers to. */
  get seq(): number {
    return this.#seq;
  }

  get clients(): number {
    return this.#clients.size;
  }

  /** Sends a message to every page, and keeps it for those that reconnect. */
  publish(message: object): void {
    const seq = ++this.#seq;
    const json = JSON.stringify(message);
    this.#keep({ seq, json });
    for (const client of this.#clients.values()) {
      client.pending.push(json);
      client.lastSeq = seq;
    }
    this.#scheduleFlush();
  }

  /**
   * Starts an event stream on `response`. `lastEventId` (the browser's Last-Event-ID): resume after
   * it when every message since is kept; otherwise, and for a first connection, `snapshot()`
   * (the whole picture as of now, numbered as the last message published) comes first.
   */
  attach(response: ServerResponse, lastEventId: string | undefined, snapshot: () => object): void {
    response.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      Connection: 'keep-alive',
      // No buffering by a proxy in between (an nginx in front would otherwise hold events back).
      'X-Accel-Buffering': 'no',
    });
    response.write(`retry: ${RETRY_MS}\n\n`);
    const pending = this.#since(lastEventId) ?? [JSON.stringify(snapshot())];
    this.#clients.set(response, { pending, lastSeq: this.#seq });
    response.on('close', () => this.#clients.delete(response));
    this.#scheduleFlush();
  }

  /** Ends every stream (the server is closing). */
  close(): void {
    clearInterval(this.#keepalive);
    for (const response of this.#clients.keys()) response.end();
    this.#clients.clear();
  }

  /** The messages after `lastEventId`, or undefined when that cannot be resumed (unknown, other epoch, too old). */
  #since(lastEventId: string | undefined): string[] | undefined {
    const match = lastEventId === undefined ? null : /^([0-9a-f]{8})-(\d{1,15})$/.exec(lastEventId);
    if (!match || match[1] !== this.epoch) return undefined;
    const after = Number(match[2]);
    if (after > this.#seq) return undefined;
    const oldest = this.#keptHead < this.#kept.length ? this.#kept[this.#keptHead]!.seq : this.#seq + 1;
    if (after + 1 < oldest) return undefined;
    const out: string[] = [];
    for (let i = this.#keptHead; i < this.#kept.length; i++)
      if (this.#kept[i]!.seq > after) out.push(this.#kept[i]!.json);
    return out;
  }

  #keep(kept: Kept): void {
    this.#kept.push(kept);
    this.#keptBytes += kept.json.length;
    while (this.#kept.length - this.#keptHead > MAX_KEPT || this.#keptBytes > MAX_KEPT_BYTES) {
      this.#keptBytes -= this.#kept[this.#keptHead]!.json.length;
      this.#kept[this.#keptHead++] = undefined as unknown as Kept;
    }
    if (this.#keptHead > 4096 && this.#keptHead * 2 > this.#kept.length) {
      this.#kept.splice(0, this.#keptHead);
      this.#keptHead = 0;
    }
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    const wait = this.#lastFlush + MIN_FLUSH_INTERVAL_MS - performance.now();
    if (wait <= 0) setImmediate(() => this.#flush());
    else setTimeout(() => this.#flush(), wait);
  }

  #flush(): void {
    this.#flushScheduled = false;
    this.#lastFlush = performance.now();
    for (const [response, client] of this.#clients) {
      if (client.pending.length === 0) continue;
      if (response.writableLength > MAX_UNREAD_BYTES) {
        // It stopped reading: its browser reconnects with Last-Event-ID and catches up from what is kept.
        this.#clients.delete(response);
        response.destroy();
        continue;
      }
      // JSON never contains a raw newline, so the array is one data line.
      response.write(`id: ${this.epoch}-${client.lastSeq}\ndata: [${client.pending.join(',')}]\n\n`);
      client.pending = [];
    }
  }
}
