/** Built-in template: a well-behaved task that sleeps between steps and stops as soon as it is cancelled. */
import { defineTask } from '../../runner/define-task.js';
import { setTimeout as sleep } from 'node:timers/promises';

export default defineTask(async (input: { steps?: number; stepMs?: number } | undefined, ctx) => {
  const steps = input?.steps ?? 300;
  const stepMs = input?.stepMs ?? 100;
  for (let i = 0; i < steps; i++) {
    await sleep(stepMs, undefined, { signal: ctx.signal });
    ctx.progress((i + 1) / steps, `step ${i + 1}/${steps}`);
  }
  return { steps };
});
