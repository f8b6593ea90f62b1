export { defineTask, isTaskDefinition } from './runner/define-task.js';
export type { TaskContext, TaskFunction, TaskDefinition } from './runner/define-task.js';
export * from './supervisor/types.js';
