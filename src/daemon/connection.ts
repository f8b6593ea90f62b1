/**
 * One client connection on the daemon's side: framing in (bounded lines),
 * parsing (never throws), and writing out with a bounded buffer.
 *
 * A client that does not read its socket must never slow the daemon or grow its
 * memory without bound: once more than maxBufferedBytes wait in the socket's
 * user-space buffer, the connection is destroyed. The client sees the close and
 * may reconnect and subscribe again (it gets a fresh SNAPSHOT).
 */
import type { Socket } from 'node:net';
import {
  LineDecoder,
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

export class Connection {
  readonly id = ++nextConnectionId;
  /** HELLO with a matching version was received. */
  hello = false;
  clientName = '';
  subscribed = false;
  readonly #socket: Socket;
  readonly #decoder = new LineDecoder();
  readonly #maxBufferedBytes: number;
  readonly #hooks: ConnectionHooks;
  #closed = false;
  /** Requests being handled (async ones such as STOP_ALL); a half-closed peer still gets their replies. */
  #inflight = 0;
  #peerEnded = false;

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
      line = encodeMessage(errorReply(id, 'INTERNAL', `the reply could not be sent (${reason}); ask for less (e.g. LOGS tailBytes)`));
    }
    return this.sendLine(line);
  }

  /** Sends an encoded line (broadcasts encode once for all clients). Drops a client that stopped reading. */
  sendLine(line: string): boolean {
    if (this.#closed || this.#socket.destroyed || !this.#socket.writable) return false;
    if (this.#socket.writableLength > this.#maxBufferedBytes) {
      this.#hooks.log(`client ${this.id}${this.clientName ? ` (${this.clientName})` : ''} dropped: ${this.#socket.writableLength} bytes unread (it stopped reading)`);
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
    if (this.#peerEnded && this.#inflight === 0) this.end();
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
      if (this.#closed) return;
      if (item.kind === 'overflow') {
        this.send(errorReply(null, 'LINE_TOO_LONG', `a line exceeded ${item.maxBytes} bytes and was discarded; split the work into smaller messages`));
        continue;
      }
      const parsed = parseRequest(item.line);
      if (parsed.ok) this.#hooks.onRequest(this, parsed.request);
      else this.send(errorReply(parsed.error.id, parsed.error.code, parsed.error.message));
    }
  }

  #onEnd(): void {
    // A half-written last line cannot be a valid message: dropped, never parsed.
    const { unterminatedBytes } = this.#decoder.end();
    if (unterminatedBytes > 0) this.#hooks.log(`client ${this.id} left in the middle of a message (${unterminatedBytes} bytes dropped)`);
    this.#peerEnded = true;
    if (this.#inflight === 0) this.end();
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#hooks.onClose(this);
  }
}
