/**
 * What a task id is: 1-64 letters, digits, "_" and "-". One rule for the supervisor's ids, the
 * protocol, the CLI's arguments and the log files named after them (ids are file names there).
 */
export const TASK_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The rule in words, for error messages. */
export const TASK_ID_RULE = '1-64 of A-Z a-z 0-9 _ -';

export function isTaskId(value: unknown): value is string {
  return typeof value === 'string' && TASK_ID_PATTERN.test(value);
}
