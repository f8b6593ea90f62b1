/**
 * Submitting a task to the cluster: its record first (an agent that takes the job finds it), under
 * a new cluster-wide id, then its job in the BullMQ queue; and the job of a task queued again.
 */
import { basename } from 'node:path';
import type { Redis } from 'ioredis';
import type { Queue } from 'bullmq';
import { encodeValue } from '../protocol/index.js';
import { validateSpec } from '../supervisor/options.js';
import type { TaskSpec } from '../supervisor/types.js';
import { ClusterError } from './cluster-error.js';
import type { ClusterKeys } from './keys.js';
import { encodeEvent, newRecordFields, snapshotFromHash, type ClusterTaskSnapshot } from './records.js';

/** BullMQ keeps this many output lines per job. */
const KEEP_LOG_LINES = 1000;

/** A task's job: which task, and what BullMQ needs to run it. */
export interface TaskJob {
  taskId: string;
  jobId: string;
  name: string;
  spec: TaskSpec;
  createdAt: number;
  /** BullMQ attempts for a task that fails. */
  attempts: number;
}

/** Validates and queues a task; returns its record (state queued). */
export async function submitTask(
  redis: Redis,
  keys: ClusterKeys,
  queue: Queue,
  spec: TaskSpec,
  attempts: number,
): Promise<ClusterTaskSnapshot> {
  let owned: TaskSpec;
  try {
    owned = validateSpec(spec);
  } catch (error) {
    throw new ClusterError('BAD_SPEC', (error as Error).message);
  }
  const id = String(await redis.incr(keys.seq));
  const jobId = `t${id}`;
  const createdAt = Date.now();
  const kind = 'module' in owned && owned.module !== undefined ? 'module' : 'command';
  const name = owned.name ?? defaultName(owned);
  const fields = newRecordFields({ id, name, kind, spec: owned, createdAt, jobId });
  const task = snapshotFromHash(fields)!;
  // The record first: an agent that takes the job finds it.
  await redis
    .multi()
    .hset(keys.task(id), fields)
    .zadd(keys.tasks, createdAt, id)
    .publish(keys.events, encodeEvent({ type: 'TASK_STATUS', task }))
    .exec();
  await addTaskJob(queue, { taskId: id, jobId, name, spec: owned, createdAt, attempts });
  return task;
}

export async function addTaskJob(queue: Queue, job: TaskJob): Promise<void> {
  await queue.add(
    job.name,
    { taskId: job.taskId, spec: encodeValue(job.spec), createdAt: job.createdAt },
    {
      jobId: job.jobId,
      attempts: job.attempts,
      keepLogs: KEEP_LOG_LINES,
      removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
    },
  );
}

function defaultName(spec: TaskSpec): string {
  return 'module' in spec && spec.module !== undefined
    ? basename(spec.module).replace(/\.[cm]?[jt]s$/, '')
    : basename((spec as { command: string }).command);
}
