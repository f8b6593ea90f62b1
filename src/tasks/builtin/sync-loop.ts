/**
 * Built-in template: a task stuck in a synchronous loop. Its event loop never turns again, so
 * neither the abort signal nor a SIGTERM handler can run: a graceful cancel (k) escalates to
 * SIGKILL after the grace period, and only a force kill (K) stops it at once.
 */
import { defineTask } from '../../runner/define-task.js';

export default defineTask(async (_input, ctx) => {
  ctx.progress(0.05, 'stuck in a synchronous loop: only K stops me');
  await new Promise((resolve) => setTimeout(resolve, 50)); // let the progress message leave
  let x = 0;
  for (;;) x = (x + 1) | 0;
});
