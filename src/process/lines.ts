/**
 * Splits a byte stream into lines. A line longer than maxLineBytes is cut
 * (and marked) so a task that prints megabytes without a newline cannot grow
 * the supervisor's memory without bound.
 */
import { StringDecoder } from 'node:string_decoder';

export class LineSplitter {
  readonly #decoder = new StringDecoder('utf8');
  #partial = '';
  #truncated = false;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLineBytes = 64 * 1024,
  ) {}

  push(chunk: Buffer): void {
    let text = this.#partial + this.#decoder.write(chunk);
    let start = 0;
    for (let nl = text.indexOf('\n', start); nl >= 0; nl = text.indexOf('\n', start)) {
      this.#emit(text.slice(start, nl));
      start = nl + 1;
    }
    text = text.slice(start);
    if (text.length > this.maxLineBytes) {
      if (!this.#truncated)
        this.onLine(`${text.slice(0, this.maxLineBytes)} …[line cut at ${this.maxLineBytes} bytes]`);
      this.#truncated = true;
      text = '';
    }
    this.#partial = text;
  }

  end(): void {
    const rest = this.#partial + this.#decoder.end();
    this.#partial = '';
    if (rest.length > 0) this.#emit(rest);
  }

  #emit(line: string): void {
    if (this.#truncated) {
      // The tail of a line already reported as cut.
      this.#truncated = false;
      return;
    }
    this.onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
  }
}
