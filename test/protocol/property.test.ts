import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineDecoder, parseDaemonMessage, parseRequest, type DecodedItem } from '../../src/protocol/index.js';
import { DAEMON_SAMPLES, REQUEST_SAMPLES } from './samples.js';

/** Split a buffer at the given (sorted, deduplicated) cut points. */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  return chunks;
}

const MAX = 64;

describe('protocol property tests', () => {
  it('arbitrary bytes in arbitrary chunks: never throws, one result per complete line', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.array(fc.nat(), { maxLength: 12 }), (bytes, cuts) => {
        const decoder = new LineDecoder({ maxLineBytes: MAX });
        const items: DecodedItem[] = [];
        for (const chunk of split(bytes, cuts)) items.push(...decoder.push(chunk));
        // Expected framing, computed the obvious way.
        const text = Buffer.from(bytes);
        const complete = [];
        let start = 0;
        for (let nl = text.indexOf(10); nl !== -1; nl = text.indexOf(10, start)) {
          complete.push(text.subarray(start, nl));
          start = nl + 1;
        }
        expect(items).toHaveLength(complete.length + countOverflowedTail(text.subarray(start)));
        complete.forEach((line, index) => {
          const item = items[index];
          if (line.length > MAX) expect(item.kind).toBe('overflow');
          else expect(item).toEqual({ kind: 'line', line: line.toString('utf8') });
        });
        for (const item of items) {
          if (item.kind !== 'line') continue;
          const request = parseRequest(item.line);
          const message = parseDaemonMessage(item.line);
          expect(typeof request.ok).toBe('boolean');
          expect(typeof message.ok).toBe('boolean');
        }
      }),
      { numRuns: 500 },
    );
  });

  it('arbitrary strings and JSON values never make the parsers throw', () => {
    const anyLine = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.json(),
      fc.jsonValue().map((value) => JSON.stringify(value)),
      fc
        .record({
          type: fc.constantFrom(...Object.keys(REQUEST_SAMPLES), ...Object.keys(DAEMON_SAMPLES)),
          id: fc.jsonValue(),
          rest: fc.jsonValue(),
        })
        .map((record) => JSON.stringify(record)),
    );
    fc.assert(
      fc.property(anyLine, (line) => {
        for (const result of [parseRequest(line), parseDaemonMessage(line)]) {
          if (!result.ok) {
            expect(typeof result.error.message).toBe('string');
            expect(result.error.message.length).toBeLessThan(1000);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('valid messages with fields mutated to arbitrary JSON: no throw, and an error keeps the id', () => {
    const samples = Object.values(REQUEST_SAMPLES) as Record<string, unknown>[];
    fc.assert(
      fc.property(
        fc.constantFrom(...samples),
        fc.string({ maxLength: 10 }).filter((k) => k !== 'id'),
        fc.jsonValue(),
        (sample, key, value) => {
          const field = Object.keys(sample).filter((k) => k !== 'id' && k !== 'type')[0] ?? key;
          const mutated = { ...sample, [field]: value };
          const result = parseRequest(JSON.stringify(mutated));
          if (!result.ok) expect(result.error.id).toBe(sample.id);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('truncating an encoded message anywhere never throws', () => {
    const encoded = Object.values(REQUEST_SAMPLES).map((sample) => JSON.stringify(sample));
    fc.assert(
      fc.property(fc.constantFrom(...encoded), fc.nat(), (line, cut) => {
        const result = parseRequest(line.slice(0, cut % (line.length + 1)));
        if (cut % (line.length + 1) < line.length) expect(result.ok).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });
});

/** An unterminated tail longer than the limit has already been reported as an overflow. */
function countOverflowedTail(tail: Buffer): number {
  return tail.length > MAX ? 1 : 0;
}
