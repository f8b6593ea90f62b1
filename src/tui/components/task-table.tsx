/** The task table as React components: a header line and one memoized single-line row per visible task (the text of both: row.ts). */
import { memo } from 'react';
import { Box, Text, Transform } from 'ink';
import { isFinishedState } from '../../journal/recorded-state.js';
import { headerText, rowText, type Layout } from '../row.js';
import type { TaskView } from '../task-view.js';

export function TableHeader({ layout }: { layout: Layout }) {
  return (
    <Text bold dimColor wrap="truncate-end">
      {headerText(layout)}
    </Text>
  );
}

export interface TaskRowProps {
  task: TaskView;
  selected: boolean;
  layout: Layout;
  /** Clock for elapsed time and stall silence; 0 for finished tasks, so their rows never re-render on a tick. */
  now: number;
}

/**
 * A row is a Text holding a constant blank of the row's width, transformed into the real row at
 * output time. Ink measures (and caches, without bound) the text of every Text node it lays out,
 * and takes its width on every frame: with the blank that is one cached, pure-ASCII string per
 * width instead of a new string with box-drawing characters for every progress report.
 */
export const TaskRow = memo(function TaskRow({ task, selected, layout, now }: TaskRowProps) {
  const text = rowText(task, selected, layout, now);
  return (
    <Transform transform={() => text}>
      <Text>{layout.blank}</Text>
    </Transform>
  );
});

export interface TaskTableProps {
  tasks: ReadonlyMap<string, TaskView>;
  order: readonly string[];
  selectedId?: string;
  scrollTop: number;
  height: number;
  layout: Layout;
  now: number;
  emptyHint: string;
}

/** Only the rows that fit are drawn; blank lines keep the frame's height fixed. */
export function TaskTable({ tasks, order, selectedId, scrollTop, height, layout, now, emptyHint }: TaskTableProps) {
  const rows = [];
  const end = Math.min(order.length, scrollTop + height);
  for (let i = scrollTop; i < end; i++) {
    const task = tasks.get(order[i]!);
    if (!task) continue;
    const live = !isFinishedState(task.state) || task.pending !== undefined;
    rows.push(
      <TaskRow key={task.id} task={task} selected={task.id === selectedId} layout={layout} now={live ? now : 0} />,
    );
  }
  return (
    <Box flexDirection="column" height={height}>
      {order.length === 0 ? (
        <Text dimColor wrap="truncate-end">
          {emptyHint}
        </Text>
      ) : (
        rows
      )}
    </Box>
  );
}
