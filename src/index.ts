export { defineTask, isTaskDefinition } from './runner/define-task.js';
export type { TaskContext, TaskFunction, TaskDefinition } from './runner/define-task.js';
export * from './supervisor/types.js';
export { Supervisor, type StartOptions } from './supervisor/supervisor.js';
export type { SupervisorOptions } from './supervisor/options.js';
export { Task } from './supervisor/task.js';
export { MAX_TIMER_MS, MAX_INPUT_DEPTH } from './supervisor/limits.js';
