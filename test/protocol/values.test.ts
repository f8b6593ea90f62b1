/** The tagged encoding of task values (src/protocol/values.ts): round trips, escaping, references, and errors that name where. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValueDecodeError, decodeValue, encodeValue, stringifyValue } from '../../src/protocol/index.js';

/** Through JSON text, as on the socket. */
const roundTrip = (value: unknown) => decodeValue(JSON.parse(JSON.stringify(encodeValue(value))));

describe('tagged task values', () => {
  it('plain JSON is left as it is', () => {
    const plain = { a: [1, 'two', null, true, { b: 2.5 }], c: {} };
    expect(encodeValue(plain)).toEqual(plain);
    expect(decodeValue(plain)).toEqual(plain);
  });

  it('every structured-clone kind comes back as what it was', () => {
    const value = {
      map: new Map<unknown, unknown>([
        ['a', 1],
        [{ key: 'object' }, new Set([1])],
      ]),
      set: new Set(['x', 3]),
      when: new Date(Date.UTC(2026, 11, 1, 15, 0, 0, 123)),
      invalid: new Date(NaN),
      big: -12345678901234567890n,
      numbers: [NaN, Infinity, -Infinity, -0, 0, 1.5],
      missing: undefined,
      list: [undefined, null],
      regexp: /a+b/gimsuy,
      error: new TypeError('bad type', { cause: new Error('inner') }),
      custom: Object.assign(new Error('custom'), { name: 'MyError' }),
      u8: new Uint8Array([0, 1, 255]),
      clamped: new Uint8ClampedArray([7]),
      i16: new Int16Array([-2, 300]),
      u32: new Uint32Array([4_000_000_000]),
      f32: new Float32Array([0.5]),
      f64: new Float64Array([Math.PI, -0]),
      i64: new BigInt64Array([-(2n ** 63n)]),
      u64: new BigUint64Array([2n ** 64n - 1n]),
      view: new Uint8Array([1, 2, 3, 4]).subarray(1, 3),
      buffer: Buffer.from('héllo'),
      arrayBuffer: new Uint8Array([9, 8]).buffer,
      dataView: new DataView(new Uint8Array([5, 6]).buffer),
      boxed: [Object(false), Object(3), Object('s')],
    };
    const back = roundTrip(value) as typeof value;
    expect(back).toEqual(value);
    expect(back.map).toBeInstanceOf(Map);
    expect([...back.map.keys()][1]).toEqual({ key: 'object' });
    expect(back.when.getTime()).toBe(value.when.getTime());
    expect(Number.isNaN(back.invalid.getTime())).toBe(true);
    expect(back.big).toBe(-12345678901234567890n);
    expect(Object.is(back.numbers[3], -0)).toBe(true);
    expect(Object.hasOwn(back, 'missing')).toBe(true);
    expect(back.regexp.flags).toBe('gimsuy');
    expect(back.error).toBeInstanceOf(TypeError);
    expect((back.error as Error & { cause: Error }).cause.message).toBe('inner');
    expect(back.error.stack).toBe(value.error.stack);
    expect(back.custom.name).toBe('MyError');
    expect(back.view).toEqual(new Uint8Array([2, 3]));
    expect(Buffer.isBuffer(back.buffer)).toBe(true);
    expect(back.arrayBuffer).toBeInstanceOf(ArrayBuffer);
    expect(back.dataView.getUint8(1)).toBe(6);
    expect(back.boxed[1]).toBeInstanceOf(Number);
  });

  it('shared and circular references are kept, as structured clone keeps them', () => {
    const shared = { n: 1 };
    const cycle: Record<string, unknown> = { name: 'cycle' };
    cycle.self = cycle;
    const map = new Map<string, unknown>();
    map.set('me', map);
    const back = roundTrip({ pair: [shared, shared], cycle, map }) as {
      pair: object[];
      cycle: { self: unknown };
      map: Map<string, unknown>;
    };
    expect(back.pair[0]).toBe(back.pair[1]);
    expect(back.cycle.self).toBe(back.cycle);
    expect(back.map.get('me')).toBe(back.map);
  });

  it('an object with a "$tw" key of its own is escaped, not mistaken for a tag', () => {
    const value = { $tw: 'Date', v: 'not a date', nested: { $tw: 'Map' } };
    expect(encodeValue(value)).toEqual({
      $tw: 'Object',
      v: { $tw: 'Date', v: 'not a date', nested: { $tw: 'Object', v: { $tw: 'Map' } } },
    });
    expect(roundTrip(value)).toEqual(value);
  });

  it('"__proto__" keys stay data', () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}');
    const back = roundTrip(value) as Record<string, unknown>;
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.hasOwn(back, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('functions and symbols are refused, as structuredClone refuses them', () => {
    expect(() => encodeValue({ f: () => 1 })).toThrow(TypeError);
    expect(() => encodeValue([Symbol('s')])).toThrow(TypeError);
  });

  it('a bad tag is an error that names where it is', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ when: { $tw: 'Date', v: 'yesterday' } }, /^input\.when\.v: not a date/],
      [{ x: [{ $tw: 'Frob' }] }, /^input\.x\[0\]\.\$tw: unknown tag "Frob"/],
      [{ n: { $tw: 'number', v: 'eleven' } }, /^input\.n\.v: unknown number "eleven"/],
      [{ b: { $tw: 'BigInt', v: '1.5' } }, /^input\.b\.v: BigInt expects a string of digits/],
      [{ r: { $tw: 'ref', v: 3 } }, /^input\.r\.v: ref 3 names no object/],
      [{ m: { $tw: 'Map', v: [[1]] } }, /^input\.m\.v\[0\]: expected a \[key, value\] pair/],
      [
        { t: { $tw: 'Float64Array', v: 'AAAA' } },
        /^input\.t\.v: 3 bytes are not a whole number of Float64Array elements/,
      ],
      [{ t: { $tw: 'Uint8Array', v: '%%%' } }, /^input\.t\.v: not base64 text/],
      [{ re: { $tw: 'RegExp', v: { source: '(', flags: '' } } }, /^input\.re\.v: Invalid regular expression/],
    ];
    for (const [json, message] of cases) {
      let error: unknown;
      try {
        decodeValue(json, 'input');
      } catch (e) {
        error = e;
      }
      expect(error, JSON.stringify(json)).toBeInstanceOf(ValueDecodeError);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('stringifyValue: what the CLI prints', () => {
    expect(stringifyValue({ map: new Map([['a', 1]]), when: new Date(Date.UTC(2026, 0, 1)) })).toBe(
      '{"map":{"$tw":"Map","v":[["a",1]]},"when":{"$tw":"Date","v":"2026-01-01T00:00:00.000Z"}}',
    );
  });

  it('any structured-clonable value survives (property)', () => {
    const leaf = fc.oneof(
      fc.anything({
        withBigInt: true,
        withDate: true,
        withMap: true,
        withSet: true,
        withTypedArray: true,
        withSparseArray: false,
        withNullPrototype: false,
        withBoxedValues: true,
      }),
    );
    fc.assert(
      fc.property(leaf, (value) => {
        expect(roundTrip(value)).toEqual(structuredClone(value));
      }),
      { numRuns: 300 },
    );
  });
});
