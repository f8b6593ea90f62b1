/**
 * The light entry for task modules: `import { defineTask } from 'taskwarden/task'`
 * loads only the task contract, not the supervisor, so a task starts faster.
 */
export { defineTask, isTaskDefinition } from './runner/define-task.js';
export type { TaskContext, TaskFunction, TaskDefinition } from './runner/define-task.js';
