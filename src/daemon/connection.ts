/**
 * One client connection on the daemon's side: framing in (bounded lines),
 * parsing (never throws), and writing out with a bounded buffer.
 *
 * Fair share: a connection handles its lines for at most TURN_BUDGET_MS of each
 * event-loop turn (at least one line), then yields until the next turn, so a client
 * that floods the socket with lines cannot keep others waiting; while more than
 * MAX_QUEUED_BYTES of its lines wait, its socket is not read (the kernel's buffer
 * then pushes back on the sender), so the queue stays bounded.
 *
 * A client that does not read its socket must never slow the daemon or grow its
 * memory without bound: once more than maxBufferedBytes wait in the socket's
 * user-space buffer, the connection is destroyed. The client sees the close and
 * may reconnect and subscribe again (it gets a fresh SNAPSHOT).
 */
import type { Socket } from 'node:net';
import {
  LineDecoder,
  MAX_LINE_BYTES,
  type DecodedItem,
  MessageTooLargeError,
  encodeMessage,
  errorReply,
  parseRequest,
  type Request,
} from '../protocol/index.js';

export interface ConnectionHooks {
  onRequest(connection: Connection, request: Request): void;
  onClose(connection: Connection): void;
  log(message: string): void;
}

let nextConnectionId = 0;

/** Handling time one connection may take per event-loop turn before it lets the others in. */
const TURN_BUDGET_MS = 5;
/** Bytes of received, not yet handled lines above which the socket is no longer read... */
const MAX_QUEUED_BYTES = MAX_LINE_BYTES;
/** ...until they are down to this. */
const RESUME_QUEUED_BYTES = MAX_LINE_BYTES / 4;

export class Connection {
  readonly id = ++nextConnectionId;
  /** HELLO with a matching version was received. */
  hello = false;
  clientName = '';
  /** How task inputs and results cross this connection: plain JSON, or tagged (HELLO `values: "tagged"`, see protocol/values.ts). */
  values: 'plain' | 'tagged' = 'plain';
  readonly #socket: Socket;
  readonly #decoder = new LineDecoder();
  readonly #maxBufferedBytes: number;
  readonly #hooks: ConnectionHooks;
  #closed = false;
  /** Requests being handled (async ones such as STOP_ALL); a half-closed peer still gets their replies. */
  #inflight = 0;
  #peerEnded = false;
  /** Decoded lines not handled yet: #queue[#head...]. */
  #queue: Array<DecodedItem | undefined> = [];
  #head = 0;
  #queuedBytes = 0;
  /** Handling time spent in the current event-loop turn, and whether the next turn is scheduled. */
  #spentMs = 0;
  #turnScheduled = false;
  /** The budget of this turn is spent: lines wait for the next turn. */
  #yielded = false;
  #paused = false;

  constructor(socket: Socket, maxBufferedBytes: number, hooks: ConnectionHooks) {
    this.#socket = socket;
    this.#maxBufferedBytes = maxBufferedBytes;
    this.#hooks = hooks;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#onEnd());
    // ECONNRESET, EPIPE: the client vanished; 'close' follows and cleans up.
    socket.on('error', () => {});
    socket.on('close', () => this.#onClose());
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Encodes and sends one message. A message too large for a line becomes an INTERNAL error (replies) or is skipped. */
  send(message: object): boolean {
    let line: string;
    try {
      line = encodeMessage(message);
    } catch (error) {
      const id = (message as { id?: unknown }).id;
      const reason = error instanceof MessageTooLargeError ? error.message : `cannot encode: ${String(error)}`;
      this.#hooks.log(`client ${this.id}: ${reason}`);
      if (typeof id !== 'string' && typeof id !== 'number') return false;
      line = encodeMessage(
        errorReply(id, 'INTERNAL', `the reply could not be sent (${reason}); ask for less (e.g. LOGS tailBytes)`),
      );
    }
    return this.sendLine(line);
  }

  /** Sends an encoded line (broadcasts encode once for all clients). Drops a client that stopped reading. */
  sendLine(line: string): boolean {
    if (this.#closed || this.#socket.destroyed || !this.#socket.writable) return false;
    if (this.#socket.writableLength > this.#maxBufferedBytes) {
      this.#hooks.log(
        `client ${this.id}${this.clientName ? ` (${this.clientName})` : ''} dropped: ${this.#socket.writableLength} bytes unread (it stopped reading)`,
      );
      this.destroy();
      return false;
    }
    this.#socket.write(line);
    return true;
  }

  /** Brackets the handling of one request, so end-of-input waits for its reply. */
  beginRequest(): void {
    this.#inflight += 1;
  }

  endRequest(): void {
    this.#inflight -= 1;
    this.#endWhenDone();
  }

  /** Closes after what is queued has been written. */
  end(): void {
    if (!this.#socket.destroyed) this.#socket.end();
  }

  destroy(): void {
    this.#socket.destroy();
    this.#onClose();
  }

  #onData(chunk: Buffer): void {
    for (const item of this.#decoder.push(chunk)) {
      this.#queue.push(item);
      this.#queuedBytes += item.kind === 'line' ? item.line.length : 0;
    }
    this.#drain();
  }

  /** Handles queued lines until they run out or this turn's budget is spent. */
  #drain(): void {
    if (!this.#yielded) {
      const start = performance.now();
      while (this.#head < this.#queue.length && !this.#closed) {
        if (this.#spentMs + (performance.now() - start) >= TURN_BUDGET_MS) {
          this.#yielded = true;
          break;
        }
        const item = this.#queue[this.#head]!;
        this.#queue[this.#head++] = undefined;
        if (item.kind === 'line') this.#queuedBytes -= item.line.length;
        this.#handle(item);
      }
      this.#spentMs += performance.now() - start;
      if (this.#head === this.#queue.length) {
        this.#queue = [];
        this.#head = 0;
      } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
    }
    if (this.#closed) return;
    if (!this.#turnScheduled) {
      this.#turnScheduled = true;
      setImmediate(() => this.#nextTurn());
    }
    if (!this.#paused && this.#queuedBytes > MAX_QUEUED_BYTES) {
      this.#paused = true;
      this.#socket.pause();
    } else if (this.#paused && this.#queuedBytes <= RESUME_QUEUED_BYTES) {
      this.#paused = false;
      this.#socket.resume();
    }
    this.#endWhenDone();
  }

  #nextTurn(): void {
    this.#turnScheduled = false;
    this.#spentMs = 0;
    this.#yielded = false;
    if (this.#head < this.#queue.length || this.#paused) this.#drain();
  }

  #handle(item: DecodedItem): void {
    if (item.kind === 'overflow') {
      this.send(
        errorReply(
          null,
          'LINE_TOO_LONG',
          `a line exceeded ${item.maxBytes} bytes and was discarded; split the work into smaller messages`,
        ),
      );
      return;
    }
    const parsed = parseRequest(item.line);
    if (parsed.ok) this.#hooks.onRequest(this, parsed.request);
    else this.send(errorReply(parsed.error.id, parsed.error.code, parsed.error.message));
  }

  /** The peer sent its last line: close once every line is handled and every reply sent. */
  #endWhenDone(): void {
    if (this.#peerEnded && this.#inflight === 0 && this.#head === this.#queue.length) this.end();
  }

  #onEnd(): void {
    // A half-written last line cannot be a valid message: dropped, never parsed.
    const { unterminatedBytes } = this.#decoder.end();
    if (unterminatedBytes > 0)
      this.#hooks.log(`client ${this.id} left in the middle of a message (${unterminatedBytes} bytes dropped)`);
    this.#peerEnded = true;
    this.#endWhenDone();
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.#head = 0;
    this.#queuedBytes = 0;
    this.#hooks.onClose(this);
  }
}
