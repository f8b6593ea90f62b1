import { describe, expect, it } from 'vitest';
import {
  LineDecoder,
  MAX_LINE_BYTES,
  MessageTooLargeError,
  encodeMessage,
  type DecodedItem,
} from '../../src/protocol/index.js';

const lines = (items: DecodedItem[]): string[] =>
  items.map((item) => (item.kind === 'line' ? item.line : '<overflow>'));

describe('LineDecoder', () => {
  it('exports a 1 MiB limit', () => {
    expect(MAX_LINE_BYTES).toBe(1024 * 1024);
    expect(new LineDecoder().maxLineBytes).toBe(MAX_LINE_BYTES);
  });

  it('returns many lines from one chunk, keeps the unterminated rest', () => {
    const decoder = new LineDecoder();
    expect(lines(decoder.push(Buffer.from('a\nbb\n\nccc\ndd')))).toEqual(['a', 'bb', '', 'ccc']);
    expect(decoder.pendingBytes).toBe(2);
    expect(lines(decoder.push(Buffer.from('d\n')))).toEqual(['ddd']);
    expect(decoder.pendingBytes).toBe(0);
  });

  it('joins a line split across many chunks (one byte at a time)', () => {
    const decoder = new LineDecoder();
    const text = JSON.stringify({ type: 'LIST', id: 1, note: 'x'.repeat(300) });
    const out: DecodedItem[] = [];
    for (const byte of Buffer.from(`${text}\n`)) out.push(...decoder.push(Buffer.from([byte])));
    expect(lines(out)).toEqual([text]);
  });

  it('decodes multi-byte UTF-8 split across chunks at every offset', () => {
    const text = 'ä€𝄞日本語 ✓';
    const bytes = Buffer.from(`${text}\n`);
    for (let cut = 1; cut < bytes.length; cut++) {
      const decoder = new LineDecoder();
      const out = [...decoder.push(bytes.subarray(0, cut)), ...decoder.push(bytes.subarray(cut))];
      expect(lines(out)).toEqual([text]);
    }
  });

  it('does not keep references to the caller chunk (buffer reuse)', () => {
    const decoder = new LineDecoder();
    const chunk = Buffer.from('abc');
    decoder.push(chunk);
    chunk.fill(0x7a);
    expect(lines(decoder.push('\n'))).toEqual(['abc']);
  });

  it('accepts a line of exactly the limit; reports one byte more once and discards it', () => {
    const decoder = new LineDecoder({ maxLineBytes: 10 });
    expect(lines(decoder.push('0123456789\n'))).toEqual(['0123456789']);
    const items = decoder.push('0123456789X');
    expect(items).toEqual([{ kind: 'overflow', maxBytes: 10 }]);
    expect(decoder.pendingBytes).toBe(0);
    // The rest of the oversized line, in further chunks, is dropped without another report.
    expect(decoder.push('more junk without newline')).toEqual([]);
    expect(decoder.pendingBytes).toBe(0);
    expect(lines(decoder.push('tail\nnext\n'))).toEqual(['next']);
  });

  it('reports an oversized line in the middle of a chunk and keeps the lines around it', () => {
    const decoder = new LineDecoder({ maxLineBytes: 5 });
    expect(lines(decoder.push('ok\n0123456789\nfine\n'))).toEqual(['ok', '<overflow>', 'fine']);
  });

  it('holds bounded memory while a huge line streams in', () => {
    const decoder = new LineDecoder();
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let overflows = 0;
    for (let i = 0; i < 64; i++) {
      // 4 MiB in all, no newline
      overflows += decoder.push(chunk).filter((item) => item.kind === 'overflow').length;
      expect(decoder.pendingBytes).toBeLessThanOrEqual(MAX_LINE_BYTES);
    }
    expect(overflows).toBe(1);
    expect(lines(decoder.push('\n{"ok":1}\n'))).toEqual(['{"ok":1}']);
  });

  it('end() reports an unterminated (half-written) message and resets', () => {
    const decoder = new LineDecoder();
    decoder.push('{"type":"LI');
    expect(decoder.end()).toEqual({ unterminatedBytes: 11 });
    expect(lines(decoder.push('x\n'))).toEqual(['x']);
    expect(decoder.end()).toEqual({ unterminatedBytes: 0 });
  });

  it('rejects a nonsense limit', () => {
    expect(() => new LineDecoder({ maxLineBytes: 0 })).toThrow(RangeError);
  });
});

describe('encodeMessage', () => {
  it('writes one line, escaping newlines inside strings', () => {
    const encoded = encodeMessage({ type: 'TASK_LOG', text: 'a\nb\r\n' });
    expect(encoded.endsWith('\n')).toBe(true);
    expect(encoded.slice(0, -1)).not.toContain('\n');
    expect(JSON.parse(encoded)).toEqual({ type: 'TASK_LOG', text: 'a\nb\r\n' });
  });

  it('throws MessageTooLargeError for a message the peer would discard', () => {
    const big = { type: 'ACK', id: 1, blob: 'é'.repeat(MAX_LINE_BYTES / 2) };
    expect(() => encodeMessage(big)).toThrow(MessageTooLargeError);
    expect(() => encodeMessage({ a: 'x'.repeat(20) }, 10)).toThrow(/exceeds the line limit of 10 bytes/);
    expect(encodeMessage({ blob: 'x'.repeat(MAX_LINE_BYTES - 20) }).length).toBe(MAX_LINE_BYTES - 20 + 12);
  });
});
