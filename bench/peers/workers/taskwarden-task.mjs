// taskwarden module task: cooperative cancel through ctx.signal. Imports the light entry, as the README recommends.
import { defineTask } from 'taskwarden/task';
import { behave } from './behaviours.mjs';

export default defineTask(async (input, ctx) => {
  let cancelled = false;
  const result = await behave(input, (cb) =>
    ctx.signal.addEventListener(
      'abort',
      () => {
        cancelled = true;
        void cb();
      },
      { once: true },
    ),
  );
  if (cancelled) throw ctx.signal.reason;
  return result;
});
