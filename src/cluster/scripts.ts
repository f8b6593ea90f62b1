/**
 * The Lua scripts that make the cluster's writes atomic, and the fencing: an agent's writes to a
 * task's record go in only while the job's BullMQ lock still holds that agent's token (BullMQ
 * fences the job's outcome the same way), so an agent that lost a job can never overwrite what
 * the agent now running it writes. Scripts run atomically in Redis: no check-then-act race.
 */
import type { Redis } from 'ioredis';

/** Ranks of stop kinds: a stronger stop replaces a weaker one, never the reverse. */
export const STOP_KINDS = ['restart', 'cancel', 'kill'] as const;
export type StopKind = (typeof STOP_KINDS)[number];

const TERMINAL = `local terminal = {completed=true, failed=true, cancelled=true, killed=true, interrupted=true}`;

/** The agent's fence: the job's lock and the record must both hold its token. KEYS[1] lock, KEYS[2] task, ARGV[1] token. */
const FENCE = `if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('HGET', KEYS[2], 'token') ~= ARGV[1] then return 0 end`;

/** A task's end in its record: the fields, the history, the job's stop record spent, the watchers told. */
const END_RECORD = `
local function endRecord(task, ended, stop, taskId, endedAt, channel, message, fields)
  redis.call('HSET', task, unpack(fields))
  redis.call('ZADD', ended, endedAt, taskId)
  redis.call('DEL', stop)
  if message ~= '' then redis.call('PUBLISH', channel, message) end
end`;

/**
 * The task's current job from its record, and the kind a stop of it takes: the one asked for, or
 * the stronger one its stop record holds (STOP_KINDS' order); the stop message every agent hears.
 */
const STOP_TARGET = `
local rank = {${STOP_KINDS.map((kind, i) => `${kind}=${i + 1}`).join(', ')}}
local function strongerKind(recorded, asked)
  if recorded and rank[recorded] >= rank[asked] then return recorded end
  return asked
end
local function publishStop(channel, taskId, jobId, kind, at)
  redis.call('PUBLISH', channel, cjson.encode({type = 'stop', taskId = taskId, jobId = jobId, kind = kind, at = tonumber(at)}))
end
local state = redis.call('HGET', KEYS[1], 'state')
local jobId = redis.call('HGET', KEYS[1], 'jobId')`;

/**
 * An agent begins a job: its lock must hold our token (renewed here), then the stop record
 * decides: a cancel or kill means the job never starts; a restart record is spent (the restart is
 * this very start). Otherwise the record becomes this attempt's: state starting, host, token.
 * KEYS: lock, stalled, task, stop, ended. ARGV: token, lockDurationMs, jobId, host, now, taskId.
 * Returns {-1, ''} lock lost, {0, kind} stopped before it started, {1, attempt} begun.
 */
const BEGIN = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1, ''} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SREM', KEYS[2], ARGV[3])
local stop = redis.call('HGET', KEYS[4], 'kind')
if stop and stop ~= 'restart' then
  redis.call('HSET', KEYS[3], 'token', ARGV[1], 'host', ARGV[4], 'jobId', ARGV[3])
  return {0, stop}
end
if stop then redis.call('DEL', KEYS[4]) end
local attempt = redis.call('HINCRBY', KEYS[3], 'attempt', 1)
redis.call('HDEL', KEYS[3], 'pid', 'progress', 'endedAt', 'outcome', 'stopReason')
redis.call('HSET', KEYS[3], 'state', 'starting', 'host', ARGV[4], 'token', ARGV[1], 'startedAt', ARGV[5], 'jobId', ARGV[3])
redis.call('ZREM', KEYS[5], ARGV[6])
return {1, attempt}
`;

/**
 * An agent updates the record of the attempt it runs, and tells watchers, only under its token.
 * KEYS: lock, task. ARGV: token, channel, message ('' for none), then field, value, ...
 */
const UPDATE = `
${FENCE}
if #ARGV > 3 then redis.call('HSET', KEYS[2], unpack(ARGV, 4)) end
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return 1
`;

/**
 * An agent ends the attempt it runs: the record takes the outcome, the task joins the history, the
 * stop record (if any) is spent. Only under its token.
 * KEYS: lock, task, ended, stop. ARGV: token, channel, message, taskId, endedAt, then field, value, ...
 */
const FINISH = `
${FENCE}
${END_RECORD}
endRecord(KEYS[2], KEYS[3], KEYS[4], ARGV[4], ARGV[5], ARGV[2], ARGV[3], {unpack(ARGV, 6)})
return 1
`;

/**
 * A client asks for a stop, in one round trip: the task's current job from its record, the durable
 * stop record of that job (a stronger kind replaces a weaker one), then the publish every agent
 * hears. Finished tasks are left alone.
 * KEYS: task. ARGV: kind, at, ttlSeconds, channel, publish ('1' or ''), stop key prefix, taskId.
 * Returns {state before, effective kind, jobId}; {'', '', ''} for an unknown task.
 */
const REQUEST_STOP = `
${TERMINAL}
${STOP_TARGET}
if not state or not jobId then return {'', '', ''} end
if terminal[state] then return {state, '', jobId} end
local stopKey = ARGV[6] .. jobId
local current = redis.call('HGET', stopKey, 'kind')
local kind = strongerKind(current, ARGV[1])
if kind ~= current then redis.call('HSET', stopKey, 'kind', kind, 'at', ARGV[2]) end
redis.call('EXPIRE', stopKey, ARGV[3])
if ARGV[5] == '1' then publishStop(ARGV[4], ARGV[7], jobId, kind, ARGV[2]) end
return {state, kind, jobId}
`;

/**
 * A client's stop, the signal only: the same publish as REQUEST_STOP's (the kind a stronger stop
 * record keeps), without a write. Redis with appendfsync always sends nothing a command publishes
 * before the fsync of the writes made beside it, and a publish alone writes nothing to the
 * append-only file: sent on its own, before REQUEST_STOP, it reaches the agent without waiting
 * for the disk. REQUEST_STOP still publishes too (an agent that took the job in between hears that).
 * KEYS: task. ARGV: kind, at, channel, stop key prefix, taskId. Returns the task's state before
 * the stop ('' for an unknown task): the agent may end the task before REQUEST_STOP runs.
 */
const SIGNAL_STOP = `
${TERMINAL}
${STOP_TARGET}
if not state or not jobId then return '' end
if state == 'queued' or terminal[state] then return state end
publishStop(ARGV[3], ARGV[5], jobId, strongerKind(redis.call('HGET', ARGV[4] .. jobId, 'kind'), ARGV[1]), ARGV[2])
return state
`;

/**
 * A client ends a task that never started (its job was removed from the queue before any agent
 * took it). Only while the record still says queued.
 * KEYS: task, ended, stop. ARGV: channel, message ('' for none), taskId, endedAt, then field, value, ...
 */
const FINISH_QUEUED = `
if redis.call('HGET', KEYS[1], 'state') ~= 'queued' then return 0 end
${END_RECORD}
endRecord(KEYS[1], KEYS[2], KEYS[3], ARGV[3], ARGV[4], ARGV[1], ARGV[2], {unpack(ARGV, 5)})
return 1
`;

/**
 * A client restarts a finished task: the record goes back to queued under a new job id (which the
 * client then adds to the queue). Only one of several concurrent restarts wins.
 * KEYS: task, ended. ARGV: taskId. Returns the new job id, or '' when the task is not finished.
 */
const REQUEUE_FINISHED = `
${TERMINAL}
local state = redis.call('HGET', KEYS[1], 'state')
if not state or not terminal[state] then return '' end
local run = redis.call('HINCRBY', KEYS[1], 'runs', 1)
local jobId = 't' .. ARGV[1] .. '-' .. run
redis.call('HDEL', KEYS[1], 'pid', 'progress', 'endedAt', 'outcome', 'stopReason', 'token')
redis.call('HSET', KEYS[1], 'state', 'queued', 'jobId', jobId)
redis.call('ZREM', KEYS[2], ARGV[1])
return jobId
`;

export interface ClusterScripts {
  twBegin(
    lock: string,
    stalled: string,
    task: string,
    stop: string,
    ended: string,
    token: string,
    lockDurationMs: number,
    jobId: string,
    host: string,
    now: number,
    taskId: string,
  ): Promise<[number, string | number]>;
  twUpdate(
    lock: string,
    task: string,
    token: string,
    channel: string,
    message: string,
    ...fields: string[]
  ): Promise<number>;
  twFinish(
    lock: string,
    task: string,
    ended: string,
    stop: string,
    token: string,
    channel: string,
    message: string,
    taskId: string,
    endedAt: number,
    ...fields: string[]
  ): Promise<number>;
  twRequestStop(
    task: string,
    kind: StopKind,
    at: number,
    ttlSeconds: number,
    channel: string,
    publish: '1' | '',
    stopPrefix: string,
    taskId: string,
  ): Promise<[string, string, string]>;
  twSignalStop(
    task: string,
    kind: StopKind,
    at: number,
    channel: string,
    stopPrefix: string,
    taskId: string,
  ): Promise<string>;
  twFinishQueued(
    task: string,
    ended: string,
    stop: string,
    channel: string,
    message: string,
    taskId: string,
    endedAt: number,
    ...fields: string[]
  ): Promise<number>;
  twRequeueFinished(task: string, ended: string, taskId: string): Promise<string>;
}

export type ScriptedRedis = Redis & ClusterScripts;

/** Defines the scripts on a connection (ioredis sends them by SHA, loading them when Redis lacks them). */
export function withScripts(redis: Redis): ScriptedRedis {
  redis.defineCommand('twBegin', { numberOfKeys: 5, lua: BEGIN });
  redis.defineCommand('twUpdate', { numberOfKeys: 2, lua: UPDATE });
  redis.defineCommand('twFinish', { numberOfKeys: 4, lua: FINISH });
  redis.defineCommand('twRequestStop', { numberOfKeys: 1, lua: REQUEST_STOP });
  redis.defineCommand('twSignalStop', { numberOfKeys: 1, lua: SIGNAL_STOP });
  redis.defineCommand('twFinishQueued', { numberOfKeys: 3, lua: FINISH_QUEUED });
  redis.defineCommand('twRequeueFinished', { numberOfKeys: 2, lua: REQUEUE_FINISHED });
  return redis as ScriptedRedis;
}

/** Hash fields as the flat list HSET takes. */
export function flatFields(fields: Record<string, string>): string[] {
  return Object.entries(fields).flat();
}
