// A cooperative task module: checks ctx.signal, reports progress, cleans up on cancel.
import { defineTask } from 'taskwarden/task';
import { setTimeout as sleep } from 'node:timers/promises';

export default defineTask(async (input, ctx) => {
  ctx.onCleanup(() => console.log('cleanup: releasing the GPU, removing temp files'));
  let sum = 0;
  for (let tile = 1; tile <= input.tiles; tile++) {
    await sleep(20, undefined, { signal: ctx.signal }); // rejects at once when cancelled
    sum += tile;
    ctx.progress(tile / input.tiles, `tile ${tile}/${input.tiles}`);
  }
  return { sum };
});
