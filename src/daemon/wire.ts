/**
 * Task inputs and results as each connection gets them: in the tagged encoding of
 * protocol/values.ts for a client that asked for it in HELLO (Maps, Dates, BigInts, typed arrays,
 * ... survive), as before for the others (JSON.stringify's view of them: a Map is {}, a Date its
 * ISO string). The supervisor and the journal hold the real values.
 */
import { encodeValue, mapPayloadValues, mapTaskValues, type DaemonMessage } from '../protocol/index.js';
import type { RecordedTask } from '../journal/recorded-state.js';

export type ValueMode = 'plain' | 'tagged';

function tagged(value: unknown): unknown {
  try {
    return encodeValue(value);
  } catch (error) {
    // Not reachable for values that crossed IPC or came from JSON; a note rather than no reply.
    return { unserializable: error instanceof Error ? error.message : String(error) };
  }
}

const CIRCULAR = '[a circular or repeated reference: plain JSON cannot hold it; ask for values "tagged"]';

/**
 * What JSON.stringify makes of the value, without ever throwing: a BigInt (which it refuses)
 * becomes its digits as a string, and a repeated or circular reference a note. (Before, a BigInt
 * in a result made the daemon skip the task's events for every client.)
 */
export function plainValue(value: unknown): unknown {
  try {
    JSON.stringify(value);
    return value;
  } catch {
    const seen = new WeakSet<object>();
    return JSON.parse(
      JSON.stringify(value, (_key, v: unknown) => {
        if (typeof v === 'bigint') return v.toString();
        if (typeof v === 'object' && v !== null) {
          if (seen.has(v)) return CIRCULAR;
          seen.add(v);
        }
        return v;
      }) ?? 'null',
    );
  }
}

function valueFor(mode: ValueMode): (value: unknown) => unknown {
  return mode === 'tagged' ? tagged : plainValue;
}

export function wireTask(task: RecordedTask, mode: ValueMode): RecordedTask {
  return mapTaskValues(task, valueFor(mode));
}

/** A reply payload's `task`, `tasks` and `attempts` with their values encoded for the connection. */
export function wirePayload(payload: Record<string, unknown>, mode: ValueMode): Record<string, unknown> {
  return mapPayloadValues(payload, valueFor(mode));
}

/** An event with its task's values encoded for the connection (only TASK_STATUS and TASK_COMPLETE carry values). */
export function wireEvent(message: DaemonMessage, mode: ValueMode): DaemonMessage {
  if (message.type !== 'TASK_STATUS' && message.type !== 'TASK_COMPLETE') return message;
  return { ...message, task: wireTask(message.task, mode) };
}
