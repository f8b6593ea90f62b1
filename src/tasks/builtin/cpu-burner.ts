/**
 * Built-in template: CPU-bound but cooperative. It computes in slices of `sliceMs` and yields
 * between them, so a cancel lands within one slice. `seconds` 0 runs until stopped.
 */
import { defineTask } from '../../runner/define-task.js';

export default defineTask(async (input: { seconds?: number; sliceMs?: number } | undefined, ctx) => {
  const seconds = input?.seconds ?? 60;
  const sliceMs = input?.sliceMs ?? 20;
  const started = Date.now();
  let slices = 0;
  let x = 0;
  while (seconds <= 0 || Date.now() - started < seconds * 1000) {
    ctx.signal.throwIfAborted();
    const until = Date.now() + sliceMs;
    while (Date.now() < until) for (let i = 0; i < 10_000; i++) x = (x * 31 + i) | 0;
    slices += 1;
    const elapsed = (Date.now() - started) / 1000;
    ctx.progress(seconds > 0 ? elapsed / seconds : (slices % 100) / 100, `burning CPU: ${elapsed.toFixed(1)} s`);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { slices, x };
});
