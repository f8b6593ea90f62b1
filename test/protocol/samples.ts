import type { DaemonMessage, DaemonMessageType, Request, RequestType } from '../../src/protocol/index.js';
import type { TaskSnapshot } from '../../src/supervisor/types.js';

export const runningTask: TaskSnapshot = {
  id: '7',
  name: 'texture',
  kind: 'module',
  spec: { module: './tasks/texture.js', input: { size: 512, tags: ['a', 'ü'] }, timeoutMs: 60_000, graceMs: 2000 },
  state: 'running',
  attempt: 1,
  pid: 4242,
  progress: { fraction: 0.25, message: 'step 1/4' },
  usage: { cpuPercent: 97.5, rssBytes: 50_000_000, processes: 2, sampledAt: 1_700_000_000_500, windowMs: 1000 },
  createdAt: 1_700_000_000_000,
  startedAt: 1_700_000_000_100,
};

export const killedTask: TaskSnapshot = {
  id: '8',
  name: 'sleep',
  kind: 'command',
  spec: { command: 'sleep', args: ['100'], env: { LANG: 'C' }, cwd: '/tmp' },
  state: 'killed',
  attempt: 2,
  createdAt: 1_700_000_000_000,
  startedAt: 1_700_000_000_100,
  endedAt: 1_700_000_001_100,
  stopReason: 'kill',
  outcome: {
    state: 'killed',
    exitCode: null,
    signal: 'SIGKILL',
    stopReason: 'kill',
    escalated: true,
    durationMs: 1000,
    attempt: 2,
    error: { name: 'Killed', message: 'killed by user', code: 'GRACE_EXPIRED' },
  },
};

/** One sample per request type; the test checks this covers every type. */
export const REQUEST_SAMPLES: { [K in RequestType]: Extract<Request, { type: K }> } = {
  HELLO: { type: 'HELLO', id: 1, version: 1, client: 'taskwarden-cli/0.1.0' },
  TASK_REQUEST: { type: 'TASK_REQUEST', id: 'req-2', spec: { module: './m.js', input: null, name: 'm' } },
  TASK_CANCEL: { type: 'TASK_CANCEL', id: 3, taskId: '7' },
  TASK_KILL: { type: 'TASK_KILL', id: 4, taskId: '7' },
  TASK_RESTART: { type: 'TASK_RESTART', id: 5, taskId: '7' },
  TASK_PAUSE: { type: 'TASK_PAUSE', id: 5, taskId: '7' },
  TASK_RESUME: { type: 'TASK_RESUME', id: 5, taskId: '7' },
  STOP_ALL: { type: 'STOP_ALL', id: 6 },
  LIST: { type: 'LIST', id: 7, includeFinished: true },
  GET: { type: 'GET', id: 8, taskId: '7' },
  HISTORY: { type: 'HISTORY', id: 9, limit: 20 },
  LOGS: { type: 'LOGS', id: 10, taskId: '7', attempt: 2, tailBytes: 4096 },
  SUBSCRIBE: { type: 'SUBSCRIBE', id: 11 },
  UNSUBSCRIBE: { type: 'UNSUBSCRIBE', id: 12 },
  SHUTDOWN: { type: 'SHUTDOWN', id: 13 },
};

export const DAEMON_SAMPLES: { [K in DaemonMessageType]: Extract<DaemonMessage, { type: K }> } = {
  WELCOME: { type: 'WELCOME', id: 1, version: 1, daemonPid: 999, home: '/home/u/.local/state/taskwarden' },
  ACK: { type: 'ACK', id: 'req-2', task: runningTask },
  ERROR: { type: 'ERROR', id: null, code: 'BAD_JSON', message: 'not valid JSON' },
  TASK_STATUS: { type: 'TASK_STATUS', task: runningTask, previous: 'starting' },
  TASK_PROGRESS: { type: 'TASK_PROGRESS', taskId: '7', progress: { fraction: 1 } },
  TASK_COMPLETE: { type: 'TASK_COMPLETE', task: killedTask },
  TASK_STALL: {
    type: 'TASK_STALL',
    taskId: '7',
    stall: { taskId: '7', silentForMs: 12_000, diagnosis: 'spinning', cpuPercent: 99 },
  },
  TASK_LOG: {
    type: 'TASK_LOG',
    log: { taskId: '7', attempt: 1, stream: 'stderr', line: 'warn: ✓ 日本', at: 1_700_000_000_200 },
  },
  TASK_USAGE: {
    type: 'TASK_USAGE',
    taskId: '7',
    usage: { cpuPercent: 0, rssBytes: 1, processes: 1, sampledAt: 5, windowMs: 0 },
  },
  DAEMON_HEALTH: {
    type: 'DAEMON_HEALTH',
    health: {
      journal: {
        writable: false,
        failingSince: 1_700_000_000_300,
        cause: 'ENOSPC',
        message: 'database or disk is full (SQLITE_FULL)',
        held: 4,
      },
      logs: { writable: true, droppedLines: 0 },
    },
  },
  SNAPSHOT: { type: 'SNAPSHOT', tasks: [runningTask, killedTask] },
};
