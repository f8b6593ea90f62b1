/** What each daemon event changes in the UI's state (the store): one switch, so no event is handled in two places. */
import type { DaemonEvent } from '../protocol/messages.js';
import { oneLine } from './format.js';
import type { TuiStore } from './store.js';
import type { TaskView } from './task-view.js';

/** Applies `event` to the working state; returns the task whose state changed (a status or completion event), if shown. */
export function applyEvent(store: TuiStore, event: DaemonEvent): TaskView | undefined {
  switch (event.type) {
    case 'TASK_STATUS':
    case 'TASK_COMPLETE':
      return store.upsertTask(event.task);
    case 'TASK_PROGRESS':
      store.setProgress(event.taskId, event.progress);
      return undefined;
    case 'TASK_STALL':
      store.setStall(event.taskId, event.stall);
      return undefined;
    case 'TASK_USAGE':
      store.setUsage(event.taskId, event.usage);
      return undefined;
    case 'TASK_LOG':
      store.appendLog(
        event.log.taskId,
        oneLine(event.log.stream === 'stderr' ? `! ${event.log.line}` : event.log.line),
      );
      return undefined;
    case 'SNAPSHOT':
      store.replaceTasks(event.tasks);
      return undefined;
    case 'DAEMON_HEALTH':
      store.setHealth(event.health);
      return undefined;
  }
  return undefined;
}
