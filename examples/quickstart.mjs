// node examples/quickstart.mjs  (after `npm run build`)
import { Supervisor } from 'taskwarden';

const sup = new Supervisor({
  concurrency: 2,
  graceMs: 3000,
  stallAfterMs: 10_000,
  onStall: 'warn',
  prewarm: 1,
  nice: 10,
});

const tiles = sup.start({
  module: new URL('./tiles-task.mjs', import.meta.url).pathname,
  input: { tiles: 50 },
  name: 'tiles',
});
tiles.on('progress', ({ fraction, message }) => console.log(`tiles ${(fraction * 100).toFixed(0)}% ${message}`));
console.log('tiles finished:', await tiles.done);

const job = sup.start({ command: 'sh', args: ['-c', 'sleep 1000'], name: 'stuck job' });
setTimeout(() => job.cancel(), 200); // SIGTERM to the group; SIGKILL if still there after graceMs
console.log('job:', await job.done);

console.log(await sup.shutdown());
