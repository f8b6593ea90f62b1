/**
 * Built-in template: a cooperative task that fails now and then (by default one run in three,
 * part-way through), to try restart (r) on a failed task.
 */
import { defineTask } from '../../runner/define-task.js';
import { setTimeout as sleep } from 'node:timers/promises';

export default defineTask(async (input: { steps?: number; stepMs?: number; failRate?: number } | undefined, ctx) => {
  const steps = input?.steps ?? 40;
  const stepMs = input?.stepMs ?? 100;
  const failRate = input?.failRate ?? 1 / 3;
  const failAt = Math.random() < failRate ? Math.floor(steps * (0.2 + Math.random() * 0.6)) : -1;
  for (let i = 0; i < steps; i++) {
    await sleep(stepMs, undefined, { signal: ctx.signal });
    if (i === failAt)
      throw new Error(`flaky task failed at step ${i + 1}/${steps} (attempt ${ctx.attempt}); press r to run it again`);
    ctx.progress((i + 1) / steps, `step ${i + 1}/${steps}`);
  }
  return { steps, attempt: ctx.attempt };
});
