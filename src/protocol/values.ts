/**
 * Task inputs and results cross the daemon's socket as JSON, which has no Map, Set, Date, BigInt,
 * typed array, undefined, NaN or Infinity, RegExp or Error: JSON.stringify turns a Map into {}, a
 * Set into {}, a Date into a string and NaN into null. What a task module gets and returns is
 * structured-clonable (it crosses into the task's process by structured clone), so the daemon
 * carries those values in a tagged encoding:
 *
 *   { "$tw": "<tag>", "v": <payload> }
 *
 * | value                           | encoded                                                        |
 * |---------------------------------|----------------------------------------------------------------|
 * | Map                             | {"$tw":"Map","v":[[key, value], ...]}                          |
 * | Set                             | {"$tw":"Set","v":[value, ...]}                                 |
 * | Date                            | {"$tw":"Date","v":"2026-12-01T15:00:00.000Z"} (null: invalid)  |
 * | BigInt                          | {"$tw":"BigInt","v":"12345678901234567890"}                    |
 * | undefined (in an object/array)  | {"$tw":"undefined"}                                            |
 * | NaN, Infinity, -Infinity, -0    | {"$tw":"number","v":"NaN"} ("Infinity", "-Infinity", "-0")     |
 * | RegExp                          | {"$tw":"RegExp","v":{"source":"a+","flags":"gi"}}              |
 * | Error (and its subclasses)      | {"$tw":"Error","v":{"name","message","stack"?,"cause"?}}       |
 * | Uint8Array, Float64Array, ...   | {"$tw":"Float64Array","v":"<base64 of the bytes>"}             |
 * | Buffer, ArrayBuffer, DataView   | {"$tw":"Buffer" / "ArrayBuffer" / "DataView","v":"<base64>"}   |
 * | Boolean, Number, String objects | {"$tw":"Boolean" / "Number" / "String","v":<primitive>}        |
 * | an object with a "$tw" key      | {"$tw":"Object","v":{...its keys...}}                          |
 * | a second reference to an object | {"$tw":"ref","v":n}: the n-th object met, depth first (0-based) |
 *
 * Everything else is plain JSON: strings, finite numbers, booleans, null, arrays, plain objects
 * (class instances become plain objects, as structured clone makes them). Shared and circular
 * references are kept ("ref"). Typed array bytes are little-endian (the byte order of every
 * platform taskwarden runs on). A hole in an array becomes undefined. Functions and symbols are not
 * structured-clonable and throw a TypeError, as structuredClone() would.
 *
 * A value without tags decodes to itself: plain JSON needs no encoding. Which fields of a task carry
 * such values is value-fields.ts's.
 */

/** The key that marks a tagged value. */
export const TAG = '$tw';

/** The name a client gives in HELLO `values` (and the daemon confirms in WELCOME) to use the encoding. */
export const TAGGED_VALUES = 'tagged';

/** Why a tagged value could not be decoded; `path` is where (e.g. `input.when`). */
export class ValueDecodeError extends Error {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'ValueDecodeError';
  }
}

const TYPED_ARRAYS = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
} as const;
type TypedArrayName = keyof typeof TYPED_ARRAYS;

const ERROR_TYPES: Record<string, ErrorConstructor> = {
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
};

/** A JSON-safe copy of value in the tagged encoding. Throws a TypeError for what structured clone refuses. */
export function encodeValue(value: unknown): unknown {
  const seen = new Map<object, number>();
  const encode = (v: unknown): unknown => {
    switch (typeof v) {
      case 'string':
      case 'boolean':
        return v;
      case 'number':
        if (Number.isNaN(v)) return { [TAG]: 'number', v: 'NaN' };
        if (v === Infinity) return { [TAG]: 'number', v: 'Infinity' };
        if (v === -Infinity) return { [TAG]: 'number', v: '-Infinity' };
        if (Object.is(v, -0)) return { [TAG]: 'number', v: '-0' };
        return v;
      case 'bigint':
        return { [TAG]: 'BigInt', v: v.toString() };
      case 'undefined':
        return { [TAG]: 'undefined' };
      case 'function':
      case 'symbol':
        throw new TypeError(`a ${typeof v} is not structured-clonable, so it cannot be a task's input or result`);
    }
    if (v === null) return null;
    const object = v as object;
    const known = seen.get(object);
    if (known !== undefined) return { [TAG]: 'ref', v: known };
    seen.set(object, seen.size);
    if (Array.isArray(object)) {
      const out: unknown[] = new Array(object.length);
      for (let k = 0; k < object.length; k++) out[k] = encode(object[k]);
      return out;
    }
    if (object instanceof Map)
      return { [TAG]: 'Map', v: [...object].map(([key, item]) => [encode(key), encode(item)]) };
    if (object instanceof Set) return { [TAG]: 'Set', v: [...object].map(encode) };
    if (object instanceof Date)
      return { [TAG]: 'Date', v: Number.isNaN(object.getTime()) ? null : object.toISOString() };
    if (object instanceof RegExp) return { [TAG]: 'RegExp', v: { source: object.source, flags: object.flags } };
    if (object instanceof Error) {
      const fields: Record<string, unknown> = { name: String(object.name), message: String(object.message) };
      if (typeof object.stack === 'string') fields.stack = object.stack;
      if ('cause' in object) fields.cause = encode(object.cause);
      return { [TAG]: 'Error', v: fields };
    }
    if (Buffer.isBuffer(object)) return { [TAG]: 'Buffer', v: object.toString('base64') };
    if (ArrayBuffer.isView(object)) {
      const bytes = Buffer.from(object.buffer, object.byteOffset, object.byteLength).toString('base64');
      if (object instanceof DataView) return { [TAG]: 'DataView', v: bytes };
      const name = typedArrayName(object);
      if (name === undefined)
        throw new TypeError(`a ${object.constructor?.name ?? 'typed array'} is not supported in task values`);
      return { [TAG]: name, v: bytes };
    }
    if (object instanceof ArrayBuffer) return { [TAG]: 'ArrayBuffer', v: Buffer.from(object).toString('base64') };
    if (object instanceof Boolean || object instanceof Number || object instanceof String) {
      return { [TAG]: object.constructor.name, v: encode(object.valueOf()) };
    }
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(object)) define(out, key, encode((object as Record<string, unknown>)[key]));
    return Object.hasOwn(object, TAG) ? { [TAG]: 'Object', v: out } : out;
  };
  return encode(value);
}

/**
 * The value a tagged encoding stands for. Throws ValueDecodeError (naming where, below `root`) for
 * an unknown tag or a malformed payload: the input may come from any client.
 */
export function decodeValue(json: unknown, root = 'value'): unknown {
  const objects: unknown[] = [];
  const fail = (path: string, reason: string): never => {
    throw new ValueDecodeError(path, reason);
  };
  const decode = (v: unknown, path: string): unknown => {
    if (typeof v !== 'object' || v === null) return v;
    if (Array.isArray(v)) {
      const out: unknown[] = [];
      objects.push(out);
      for (let k = 0; k < v.length; k++) out.push(decode(v[k], `${path}[${k}]`));
      return out;
    }
    const record = v as Record<string, unknown>;
    if (!Object.hasOwn(record, TAG)) {
      const out: Record<string, unknown> = {};
      objects.push(out);
      for (const key of Object.keys(record)) define(out, key, decode(record[key], `${path}.${key}`));
      return out;
    }
    const tag = record[TAG];
    const payload = record.v;
    const at = `${path}.v`;
    const string = (what: string): string =>
      typeof payload === 'string' ? payload : fail(at, `${String(tag)} expects ${what}, got ${describe(payload)}`);
    switch (tag) {
      case 'undefined':
        return undefined;
      case 'number': {
        const numbers: Record<string, number> = { NaN, Infinity, '-Infinity': -Infinity, '-0': -0 };
        const name = string('"NaN", "Infinity", "-Infinity" or "-0"');
        return Object.hasOwn(numbers, name) ? numbers[name] : fail(at, `unknown number ${JSON.stringify(name)}`);
      }
      case 'BigInt': {
        const text = string('a string of digits');
        if (!/^-?\d{1,100000}$/.test(text)) fail(at, 'BigInt expects a string of digits');
        return BigInt(text);
      }
      case 'ref': {
        if (!Number.isInteger(payload) || (payload as number) < 0 || (payload as number) >= objects.length) {
          fail(at, `ref ${JSON.stringify(payload)} names no object decoded before it`);
        }
        return objects[payload as number];
      }
      case 'Object': {
        if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
          fail(at, `Object expects an object, got ${describe(payload)}`);
        const out: Record<string, unknown> = {};
        objects.push(out);
        for (const key of Object.keys(payload as object))
          define(out, key, decode((payload as Record<string, unknown>)[key], `${at}.${key}`));
        return out;
      }
      case 'Map': {
        if (!Array.isArray(payload)) fail(at, `Map expects an array of [key, value] pairs, got ${describe(payload)}`);
        const out = new Map<unknown, unknown>();
        objects.push(out);
        (payload as unknown[]).forEach((entry, k) => {
          if (!Array.isArray(entry) || entry.length !== 2)
            fail(`${at}[${k}]`, `expected a [key, value] pair, got ${describe(entry)}`);
          const pair = entry as [unknown, unknown];
          const key = decode(pair[0], `${at}[${k}][0]`);
          out.set(key, decode(pair[1], `${at}[${k}][1]`));
        });
        return out;
      }
      case 'Set': {
        if (!Array.isArray(payload)) fail(at, `Set expects an array, got ${describe(payload)}`);
        const out = new Set<unknown>();
        objects.push(out);
        (payload as unknown[]).forEach((item, k) => out.add(decode(item, `${at}[${k}]`)));
        return out;
      }
      case 'Date': {
        const out = payload === null ? new Date(NaN) : new Date(string('an ISO 8601 string or null'));
        if (payload !== null && Number.isNaN(out.getTime()))
          fail(at, `not a date: ${JSON.stringify(payload).slice(0, 80)}`);
        objects.push(out);
        return out;
      }
      case 'RegExp': {
        const { source, flags } = (payload ?? {}) as { source?: unknown; flags?: unknown };
        if (typeof source !== 'string' || typeof flags !== 'string') fail(at, 'RegExp expects {source, flags} strings');
        let out: RegExp;
        try {
          out = new RegExp(source as string, flags as string);
        } catch (error) {
          return fail(at, (error as Error).message);
        }
        objects.push(out);
        return out;
      }
      case 'Error': {
        const fields = (payload ?? {}) as Record<string, unknown>;
        if (typeof fields !== 'object' || typeof fields.message !== 'string')
          fail(at, 'Error expects {name, message, stack?, cause?}');
        const name = typeof fields.name === 'string' ? fields.name : 'Error';
        const Type = Object.hasOwn(ERROR_TYPES, name) ? ERROR_TYPES[name]! : Error;
        const out = new Type(fields.message as string);
        if (out.name !== name) define(out, 'name', name);
        // stack and cause as a thrown error has them: own, not enumerable
        if (typeof fields.stack === 'string') define(out, 'stack', fields.stack, false);
        objects.push(out);
        if (Object.hasOwn(fields, 'cause')) define(out, 'cause', decode(fields.cause, `${at}.cause`), false);
        return out;
      }
      case 'Buffer':
      case 'ArrayBuffer':
      case 'DataView': {
        const bytes = base64(string('base64 text'), at);
        const out =
          tag === 'Buffer' ? bytes : tag === 'ArrayBuffer' ? copyBuffer(bytes) : new DataView(copyBuffer(bytes));
        objects.push(out);
        return out;
      }
      case 'Boolean':
        if (typeof payload !== 'boolean') fail(at, `Boolean expects true or false, got ${describe(payload)}`);
        objects.push(Object(payload));
        return objects.at(-1);
      case 'Number': {
        const n = decode(payload, at);
        if (typeof n !== 'number') fail(at, `Number expects a number, got ${describe(payload)}`);
        objects.push(Object(n));
        return objects.at(-1);
      }
      case 'String':
        objects.push(Object(string('a string')));
        return objects.at(-1);
      default: {
        if (typeof tag === 'string' && Object.hasOwn(TYPED_ARRAYS, tag)) {
          const Type = TYPED_ARRAYS[tag as TypedArrayName] as unknown as {
            new (buffer: ArrayBuffer): ArrayBufferView;
            BYTES_PER_ELEMENT: number;
          };
          const bytes = base64(string('base64 text'), at);
          if (bytes.length % Type.BYTES_PER_ELEMENT !== 0)
            fail(at, `${bytes.length} bytes are not a whole number of ${tag} elements`);
          const out = new Type(copyBuffer(bytes));
          objects.push(out);
          return out;
        }
        return fail(
          `${path}.${TAG}`,
          `unknown tag ${JSON.stringify(tag)?.slice(0, 80)}; an object with a "${TAG}" key of its own is written {"${TAG}":"Object","v":{...}}`,
        );
      }
    }
  };
  return decode(json, root);
}

/** JSON text of value in the tagged encoding (what `taskwarden run --wait` and `show` print). */
export function stringifyValue(value: unknown, indent?: number): string {
  return JSON.stringify(encodeValue(value), null, indent) ?? 'undefined';
}

function typedArrayName(view: ArrayBufferView): TypedArrayName | undefined {
  for (const name of Object.keys(TYPED_ARRAYS) as TypedArrayName[]) if (view instanceof TYPED_ARRAYS[name]) return name;
  return undefined;
}

function base64(text: string, path: string): Buffer {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0)
    throw new ValueDecodeError(path, 'not base64 text');
  return Buffer.from(text, 'base64');
}

/** An ArrayBuffer of exactly these bytes (a Buffer may share a larger pool). */
function copyBuffer(bytes: Buffer): ArrayBuffer {
  const out = new ArrayBuffer(bytes.length);
  new Uint8Array(out).set(bytes);
  return out;
}

/** Sets a key as an own data property, "__proto__" included (plain assignment would set the prototype). */
function define(target: object, key: string, value: unknown, enumerable = true): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable, configurable: true });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)?.slice(0, 40)}`;
}
