// The baseline for the cluster bench: a plain BullMQ Worker whose processor runs the job's command
// in a child process and waits for it, as a BullMQ user would without taskwarden.
import { spawn } from 'node:child_process';
import { Worker } from 'bullmq';

const [path, queue, concurrency] = process.argv.slice(2);
const worker = new Worker(
  queue,
  (job) =>
    new Promise((resolve, reject) => {
      const child = spawn(job.data.command, job.data.args ?? [], { stdio: 'ignore' });
      child.once('error', reject);
      child.once('exit', (code) => (code === 0 ? resolve(null) : reject(new Error(`exit ${code}`))));
    }),
  { connection: { path, maxRetriesPerRequest: null }, concurrency: Number(concurrency) },
);
await worker.waitUntilReady();
process.stdout.write('ready:\n');
process.on('SIGTERM', () => worker.close().then(() => process.exit(0)));
