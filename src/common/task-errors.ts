/**
 * The codes taskwarden gives the errors it makes for a task (TaskError.code), as one union, and
 * the small factories every layer builds them with: the runner (a bad module), the supervisor
 * (a spawn that failed, an exit, an escalation) and the journal (a task whose daemon died).
 * A task's own error keeps whatever code it had (ENOENT, ...): the union is what we make.
 */

export const TASK_ERROR_CODES = [
  // the runner, loading and running a task module
  'MODULE_NOT_FOUND', // the module's own file
  'IMPORT_NOT_FOUND', // something it imports
  'NO_TASK_EXPORT',
  'MODULE_SYNTAX_ERROR',
  'RESULT_NOT_CLONABLE',
  'UNCAUGHT_EXCEPTION',
  'UNHANDLED_REJECTION',
  // the supervisor, starting and stopping task processes
  'COMMAND_NOT_FOUND',
  'SPAWN_FAILED',
  'INPUT_NOT_SENDABLE',
  'EXIT_CODE',
  'EXIT_SIGNAL',
  'GRACE_EXPIRED',
  'RESTART_LIMIT',
  'UNKNOWN_TASK',
  'OOM_KILLED', // over its memory limit: the kernel's OOM killer ended it
  'NOT_PAUSABLE', // pause() of a task that is not running, resume() of one that is not paused
  'CGROUP_FAILED', // its cgroup could not be made
  // the journal, for a task whose daemon exited before it finished
  'INTERRUPTED',
] as const;
export type TaskErrorCode = (typeof TASK_ERROR_CODES)[number];

/** An error as a task's outcome carries it: plain data, safe to send and store. */
export interface TaskError {
  name: string;
  message: string;
  stack?: string;
  /** Machine-readable reason: a TaskErrorCode for the errors taskwarden makes, else the code of what the task threw. */
  code?: string;
}

/** A TaskError of taskwarden's own; its name is the code in words (GRACE_EXPIRED: GraceExpired). */
export function taskError(code: TaskErrorCode, message: string): TaskError {
  return { name: nameOf(code), code, message };
}

/** `error` with `code` set, to be thrown (and become a TaskError through toTaskError where it is caught). */
export function withCode<E extends Error>(
  code: TaskErrorCode,
  error: E,
  extra: { stack?: string | undefined } = {},
): E & { code: TaskErrorCode } {
  return Object.assign(error, { code }, 'stack' in extra ? { stack: extra.stack } : {});
}

/** Anything thrown, as a TaskError; `code` overrides the error's own. */
export function toTaskError(error: unknown, code?: TaskErrorCode): TaskError {
  if (error instanceof Error) {
    const errno = (error as NodeJS.ErrnoException).code;
    const resolvedCode = code ?? (typeof errno === 'string' ? errno : undefined);
    return {
      name: error.name,
      message: error.message,
      ...(error.stack ? { stack: error.stack } : {}),
      ...(resolvedCode ? { code: resolvedCode } : {}),
    };
  }
  return { name: 'Error', message: `non-Error thrown: ${safeString(error)}`, ...(code ? { code } : {}) };
}

function nameOf(code: TaskErrorCode): string {
  return code
    .toLowerCase()
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}

function safeString(value: unknown): string {
  try {
    return typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  } catch {
    return String(value);
  }
}
