/**
 * Task values on a client's connection: with the tagged encoding (protocol/values.ts) agreed in
 * HELLO, TASK_REQUEST's spec.input goes out encoded and every task, task list and attempt that
 * comes back is decoded; on a plain connection both pass as they are.
 */
import { decodeValue, encodeValue, mapPayloadValues, type RequestType } from '../protocol/index.js';

/** TASK_REQUEST's input in the tagged encoding (throws a TypeError for a value that is not structured-clonable). */
export function encodeRequestValues(type: RequestType, payload: object, tagged: boolean): object {
  const spec = (payload as { spec?: { input?: unknown } }).spec;
  if (type !== 'TASK_REQUEST' || !tagged || typeof spec !== 'object' || spec === null || spec.input === undefined)
    return payload;
  return { ...payload, spec: { ...spec, input: encodeValue(spec.input) } };
}

/** Task values in a reply or event, decoded (tagged connections only): the same shape, other values. */
export function decodeTaskValues<P extends object>(payload: P, tagged: boolean): P {
  return tagged
    ? (mapPayloadValues(payload as Record<string, unknown>, (value, field) => decodeValue(value, field)) as P)
    : payload;
}
