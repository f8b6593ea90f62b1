/** The package's public entry (`import ... from 'taskwarden'`): the Supervisor, task definitions, the daemon client and their types. */
export { defineTask, isTaskDefinition } from './runner/define-task.js';
export type { TaskContext, TaskFunction, TaskDefinition } from './runner/define-task.js';
export * from './supervisor/types.js';
export * from './journal/recorded-state.js';
export { Supervisor, type StartOptions } from './supervisor/supervisor.js';
export type { SupervisorOptions } from './supervisor/options.js';
export { Task } from './supervisor/task.js';
export { MAX_TIMER_MS, MAX_INPUT_DEPTH } from './supervisor/limits.js';
// The daemon's client, typed end to end: request(type, payload) resolves with ResponseOf<type>.
export { DaemonClient, DaemonError, type ClientOptions, type Welcome } from './daemon/client.js';
export type { DaemonEvent, DaemonHealth, PayloadOf, RequestType, ResponseOf } from './protocol/index.js';
