// A task that says, on its own clock, when it started and when its stop reached it:
// lines "start <taskId> <attempt> <ms since the epoch>" and "abort ..." in input.file.
import { appendFileSync } from 'node:fs';
import { defineTask } from 'taskwarden/task';

const now = () => performance.timeOrigin + performance.now();

export default defineTask(async (input, ctx) => {
  ctx.signal.addEventListener('abort', () =>
    appendFileSync(input.file, `abort ${ctx.taskId} ${ctx.attempt} ${now()}\n`),
  );
  appendFileSync(input.file, `start ${ctx.taskId} ${ctx.attempt} ${now()}\n`);
  await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
});
