/**
 * The stored line format of task logs, one line per output line with its stream:
 *   [stdout] text
 *   [stderr] text
 * Text containing newlines is split into several lines; a line longer than
 * maxLineBytes is cut and ends with "... [N bytes cut]". Written by LogStore,
 * read back by LogStore.read and LogFollower.
 */
import type { LogLine } from '../supervisor/types.js';

export type LogStream = LogLine['stream'];

export interface StoredLogLine {
  stream: LogStream;
  line: string;
}

const PREFIX: Record<LogStream, string> = { stdout: '[stdout] ', stderr: '[stderr] ' };

export function formatLine(stream: LogStream, text: string, maxLineBytes: number): string {
  return text
    .split(/\r?\n/)
    .map((part) => `${PREFIX[stream]}${cut(part, maxLineBytes)}\n`)
    .join('');
}

function cut(text: string, maxBytes: number): string {
  const bytes = Buffer.byteLength(text);
  if (bytes <= maxBytes) return text;
  // toString may end in U+FFFD where the cut splits a character; acceptable for a marked cut.
  return `${Buffer.from(text).subarray(0, maxBytes).toString('utf8')}... [${bytes - maxBytes} bytes cut]`;
}

/** Parse stored text; a line without a known prefix (a file edited by hand) counts as stdout. */
export function parseLines(content: Buffer): StoredLogLine[] {
  const text = content.toString('utf8');
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.map((line) => {
    if (line.startsWith(PREFIX.stderr)) return { stream: 'stderr', line: line.slice(PREFIX.stderr.length) };
    if (line.startsWith(PREFIX.stdout)) return { stream: 'stdout', line: line.slice(PREFIX.stdout.length) };
    return { stream: 'stdout', line };
  });
}

/** The last `bytes` of content, starting at a line boundary. */
export function tailFrom(content: Buffer, bytes: number): Buffer {
  if (content.length <= bytes) return content;
  const start = content.length - bytes;
  if (content[start - 1] === 0x0a) return content.subarray(start);
  const newline = content.indexOf(0x0a, start);
  return newline === -1 ? Buffer.alloc(0) : content.subarray(newline + 1);
}
