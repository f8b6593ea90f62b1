/**
 * Built-in template: a task that ignores cancellation. It never looks at ctx.signal, catches
 * SIGTERM and carries on, so a graceful cancel (k) is escalated to SIGKILL when the grace period
 * runs out; K kills it at once.
 */
import { defineTask } from '../../runner/define-task.js';

export default defineTask(async (input: { steps?: number; stepMs?: number } | undefined, ctx) => {
  process.prependListener('SIGTERM', () => ctx.log('got SIGTERM: ignoring it'));
  const steps = input?.steps ?? 600;
  const stepMs = input?.stepMs ?? 100;
  for (let i = 0; i < steps; i++) {
    await new Promise((resolve) => setTimeout(resolve, stepMs)); // no signal: cancellation is ignored
    ctx.progress((i + 1) / steps, `step ${i + 1}/${steps}, ignoring cancellation`);
  }
  return { steps };
});
