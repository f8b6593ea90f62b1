/**
 * Framing: one JSON message per line, lines end with "\n" (0x0A).
 *
 * The decoder works on bytes and decodes a line to text only once it is
 * complete, so a multi-byte UTF-8 character split across two chunks is never
 * mangled. (Invalid UTF-8 becomes U+FFFD, as Buffer#toString does; the JSON
 * parser then rejects or keeps it, it never throws.) JSON.stringify escapes
 * newlines inside strings, so an encoded message never contains a raw "\n".
 */

/** Longest line accepted, in bytes, not counting the "\n". Longer lines are discarded. */
export const MAX_LINE_BYTES = 1024 * 1024;

const NEWLINE = 0x0a;

export type DecodedItem =
  /** A complete line, without its "\n". */
  | { kind: 'line'; line: string }
  /**
   * A line passed the limit. Reported once, as soon as it is known, and the
   * rest of that line is discarded up to and including its "\n".
   */
  | { kind: 'overflow'; maxBytes: number };

export interface LineDecoderOptions {
  maxLineBytes?: number;
}

/**
 * Splits a byte stream into lines. Memory stays bounded by maxLineBytes plus one
 * chunk: an oversized line is dropped as it arrives, never buffered whole.
 */
export class LineDecoder {
  readonly maxLineBytes: number;
  /** Pieces of the current, not yet terminated line. */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** True while skipping the rest of an oversized line. */
  #discarding = false;

  constructor(options: LineDecoderOptions = {}) {
    this.maxLineBytes = options.maxLineBytes ?? MAX_LINE_BYTES;
    if (!Number.isInteger(this.maxLineBytes) || this.maxLineBytes < 1) {
      throw new RangeError(`maxLineBytes must be a positive integer, got ${options.maxLineBytes}`);
    }
  }

  /** Bytes of an unfinished line held so far (0 while discarding). */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Feed the next chunk; returns the lines (and overflows) it completes, in order. */
  push(chunk: Uint8Array | string): DecodedItem[] {
    const buffer =
      typeof chunk === 'string'
        ? Buffer.from(chunk, 'utf8')
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const items: DecodedItem[] = [];
    let start = 0;
    while (start < buffer.length) {
      const newline = buffer.indexOf(NEWLINE, start);
      const end = newline === -1 ? buffer.length : newline;
      this.#take(buffer.subarray(start, end), items);
      if (newline === -1) break;
      this.#endLine(items);
      start = newline + 1;
    }
    return items;
  }

  /**
   * The stream ended. Returns the size of an unterminated last line, if any,
   * and resets the decoder. A half-written message cannot be a valid message:
   * it is dropped, never parsed.
   */
  end(): { unterminatedBytes: number } {
    const unterminatedBytes = this.#pendingBytes;
    this.#reset();
    return { unterminatedBytes };
  }

  #take(piece: Buffer, items: DecodedItem[]): void {
    if (this.#discarding || piece.length === 0) return;
    if (this.#pendingBytes + piece.length > this.maxLineBytes) {
      this.#reset();
      this.#discarding = true;
      items.push({ kind: 'overflow', maxBytes: this.maxLineBytes });
      return;
    }
    // Copy: the caller may reuse its chunk buffer after push() returns.
    this.#pending.push(Buffer.from(piece));
    this.#pendingBytes += piece.length;
  }

  #endLine(items: DecodedItem[]): void {
    if (!this.#discarding) {
      const bytes = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingBytes);
      items.push({ kind: 'line', line: bytes.toString('utf8') });
    }
    this.#reset();
  }

  #reset(): void {
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#discarding = false;
  }
}

/** Thrown by encodeMessage when the message would not fit in one line. */
export class MessageTooLargeError extends Error {
  readonly code = 'MESSAGE_TOO_LARGE';
  constructor(
    readonly bytes: number,
    readonly maxBytes: number,
  ) {
    super(`message of ${bytes} bytes exceeds the line limit of ${maxBytes} bytes`);
    this.name = 'MessageTooLargeError';
  }
}

/**
 * JSON + "\n". Does not validate (the sender's own messages are typed).
 * Throws MessageTooLargeError when the peer would have to discard the line (the
 * sender should reply with a small ERROR instead), and TypeError from
 * JSON.stringify on a BigInt or a cycle.
 */
export function encodeMessage(message: object, maxLineBytes: number = MAX_LINE_BYTES): string {
  const json = JSON.stringify(message);
  // A UTF-16 unit is at most 3 UTF-8 bytes: only measure when the cheap bound does not settle it.
  if (json.length * 3 > maxLineBytes) {
    const bytes = Buffer.byteLength(json, 'utf8');
    if (bytes > maxLineBytes) throw new MessageTooLargeError(bytes, maxLineBytes);
  }
  return `${json}\n`;
}
