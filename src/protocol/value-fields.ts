/**
 * Where user values sit in what crosses the wire: a task's spec.input and outcome.result, an
 * attempt's result, and the tasks and attempts of a reply or event payload. The daemon, the clients
 * and the cluster map those fields with these to and from the tagged encoding (values.ts).
 */

/** The fields of a task that hold user values: its spec's input and its outcome's result. */
interface WithValues {
  spec: { input?: unknown } | object;
  outcome?: { result?: unknown };
}

/** A copy of the task with spec.input and outcome.result passed through fn (absent ones stay absent). */
export function mapTaskValues<T extends WithValues>(task: T, fn: (value: unknown, field: string) => unknown): T {
  let out = task;
  const spec = task.spec as { input?: unknown };
  if (spec.input !== undefined) out = { ...out, spec: { ...spec, input: fn(spec.input, 'spec.input') } };
  if (task.outcome?.result !== undefined)
    out = { ...out, outcome: { ...task.outcome, result: fn(task.outcome.result, 'outcome.result') } };
  return out;
}

/** A copy of an attempt record with its result passed through fn. */
export function mapAttemptValues<T extends { result?: unknown }>(
  attempt: T,
  fn: (value: unknown, field: string) => unknown,
): T {
  return attempt.result === undefined ? attempt : { ...attempt, result: fn(attempt.result, 'result') };
}

/**
 * The task-carrying fields of a reply or event payload (`task`, `tasks`, `attempts`) passed through
 * fn: how the daemon encodes and DaemonClient decodes them.
 */
export function mapPayloadValues(
  payload: Record<string, unknown>,
  fn: (value: unknown, field: string) => unknown,
): Record<string, unknown> {
  let out = payload;
  if (isTask(payload.task)) out = { ...out, task: mapTaskValues(payload.task, (v, f) => fn(v, `task.${f}`)) };
  if (Array.isArray(payload.tasks)) {
    out = {
      ...out,
      tasks: (payload.tasks as unknown[]).map((task, k) =>
        isTask(task) ? mapTaskValues(task, (v, f) => fn(v, `tasks[${k}].${f}`)) : task,
      ),
    };
  }
  if (Array.isArray(payload.attempts)) {
    out = {
      ...out,
      attempts: (payload.attempts as unknown[]).map((attempt, k) =>
        typeof attempt === 'object' && attempt !== null
          ? mapAttemptValues(attempt as { result?: unknown }, (v, f) => fn(v, `attempts[${k}].${f}`))
          : attempt,
      ),
    };
  }
  return out;
}

function isTask(value: unknown): value is WithValues {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { spec?: unknown }).spec === 'object' &&
    (value as { spec?: unknown }).spec !== null
  );
}
