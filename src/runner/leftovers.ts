/**
 * What a task left running in its runner process, judged by what keeps the event loop alive
 * (process.getActiveResourcesInfo()) after the task against just before it. A reusable runner
 * serves another task only when nothing is left: a leftover server, interval or child process
 * would run in the next task's time. Limit: what does not keep the loop alive (an unref'd timer,
 * a listener on a global emitter, module-level state) is not seen; the README says so.
 */

/**
 * Requests in flight that end by themselves (output still being written to stdout, stderr or the
 * IPC channel, a close under way): they say nothing about what the task left running.
 */
const TRANSIENT = new Set(['CloseReq', 'WriteWrap', 'SimpleWriteWrap', 'ShutdownWrap']);

/** The resource types `after` has more of than `before`, as "2 Timeout" entries (empty when nothing was left). */
export function leftoverResources(before: readonly string[], after: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const type of after) if (!TRANSIENT.has(type)) counts.set(type, (counts.get(type) ?? 0) + 1);
  for (const type of before) if (counts.has(type)) counts.set(type, counts.get(type)! - 1);
  return [...counts].filter(([, n]) => n > 0).map(([type, n]) => `${n} ${type}`);
}
