/**
 * What one TASK_REQUEST may carry beyond what any spec may (supervisor/spec.ts has those limits,
 * the same for every caller): the size of a module task's input as JSON, which must leave room
 * in a 1 MiB line for the ACK and the events that carry it. Checked before the spec's schema
 * runs, in time linear in the input.
 */
import type { SpecIssue } from '../supervisor/spec.js';

/** JSON size of a module task's input. */
export const MAX_INPUT_BYTES = 512 * 1024;

/** The wire's own limit on a spec: its input's JSON size. */
export function inputBytesIssue(spec: Record<string, unknown>, isModule: boolean): SpecIssue | undefined {
  if (!isModule || spec.input === undefined) return undefined;
  const bytes = Buffer.byteLength(JSON.stringify(spec.input) ?? '');
  if (bytes <= MAX_INPUT_BYTES) return undefined;
  return {
    path: ['input'],
    message: `${bytes} bytes of JSON, more than the ${MAX_INPUT_BYTES} (512 KiB) a task request may carry; write the data to a file and pass its path in the input`,
  };
}
